from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "terminflow.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import elements, privacy

        elements.register()
        privacy.register_holder()
