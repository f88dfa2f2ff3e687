from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "terminflow.campaigns"
    label = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from terminflow.contacts.fields import register_field_users

        # engine declares the run reasons that pages translate (kit.reasons).
        from . import elements, engine, privacy, services  # noqa: F401

        elements.register()
        privacy.register_holder()
        register_field_users(services.campaigns_using_field)
