from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "terminflow.campaigns"
    label = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # engine declares the run reasons that pages translate (kit.reasons).
        from . import elements, engine, privacy  # noqa: F401

        elements.register()
        privacy.register_holder()
