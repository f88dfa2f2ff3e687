from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "terminflow.campaigns"
    label = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import elements, privacy

        elements.register()
        privacy.register_holder()
