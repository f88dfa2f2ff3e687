from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "terminflow.mail"
    label = "mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from terminflow.campaigns import registry
        from terminflow.workspaces import team

        # sending declares the outbox reasons that pages translate (kit.reasons).
        from . import (  # noqa: F401
            conditions,
            elements,
            invitations,
            privacy,
            sending,
            starter_campaign,
            stats,
        )

        elements.register()
        conditions.register()
        starter_campaign.register()
        registry.register_element_stats(stats.element_stats)
        privacy.register_holder()
        team.register_invitation_sender(invitations.send_invitation)
