from django.apps import AppConfig


class EterminConfig(AppConfig):
    name = "terminflow.etermin"
    label = "etermin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import elements, privacy

        elements.register()
        privacy.register_holder()
