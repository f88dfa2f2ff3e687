from django.apps import AppConfig


class EterminConfig(AppConfig):
    name = "terminflow.etermin"
    label = "etermin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # processing declares the inbox reasons that pages translate (kit.reasons).
        from . import elements, privacy, processing  # noqa: F401

        elements.register()
        privacy.register_holder()
