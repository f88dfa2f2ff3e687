from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "terminflow.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # sending declares the outbox reasons that pages translate (kit.reasons).
        from . import elements, privacy, sending  # noqa: F401

        elements.register()
        privacy.register_holder()
