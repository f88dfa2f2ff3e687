from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "terminflow.web"
    label = "web"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import privacy

        privacy.register_holder()
