from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "terminflow.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from terminflow.campaigns import registry
        from terminflow.workspaces import team

        # sending declares the outbox reasons that pages translate (kit.reasons).
        from . import conditions, elements, invitations, privacy, sending, stats  # noqa: F401

        elements.register()
        conditions.register()
        registry.register_element_stats(stats.element_stats)
        privacy.register_holder()
        team.register_invitation_sender(invitations.send_invitation)
