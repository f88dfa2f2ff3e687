from django.apps import AppConfig


class FormsConfig(AppConfig):
    name = "terminflow.forms"
    label = "forms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import elements, privacy, submissions

        elements.register()
        privacy.register_holder()
        submissions.connect()
