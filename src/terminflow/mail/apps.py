from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "terminflow.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from terminflow.workspaces import team

        # sending declares the outbox reasons that pages translate (kit.reasons).
        from . import elements, invitations, privacy, sending, starter_campaign  # noqa: F401

        elements.register()
        starter_campaign.register()
        privacy.register_holder()
        team.register_invitation_sender(invitations.send_invitation)
