from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "terminflow.segments"
    label = "segments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # elements declares the run reasons that pages translate (kit.reasons).
        from . import elements

        elements.register()
