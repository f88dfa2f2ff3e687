from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WebConfig(AppConfig):
    name = "terminflow.web"
    label = "web"
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import privacy

        privacy.register_holder()


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin on the operators' site (``web/admin_site.py``)."""

    default = False
    default_site = "terminflow.web.admin_site.OperatorAdminSite"
