from django.apps import AppConfig


class NewslettersConfig(AppConfig):
    name = "terminflow.newsletters"
    label = "newsletters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # sending declares the recipient reasons that pages translate (kit.reasons).
        from . import sending  # noqa: F401
