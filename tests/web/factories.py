"""Small builders for page tests: emails in the outbox, web pushes in the inbox."""

from __future__ import annotations

from datetime import datetime

from terminflow.contacts.models import Contact
from terminflow.mail import services as mail
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace

HTML = (
    "<p>Hallo {{ contact.first_name }}</p><script>alert(1)</script>"
    '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p>'
)


def make_email(
    workspace: Workspace, *, name: str = "Erinnerung", kind: str = "marketing"
) -> EmailTemplate:
    html = HTML if kind == "marketing" else HTML + '<a href="{{ links.confirm }}">Bestätigen</a>'
    return mail.create_template(
        workspace,
        mail.TemplateData(
            name=name,
            subject="Ihr Termin, {{ contact.first_name }}",
            body_html=html,
            body_text="Hallo {{ contact.first_name }}, bis bald.",
            kind=kind,
        ),
    )


def queued(
    template: EmailTemplate,
    contact: Contact,
    *,
    at: datetime,
    failed_because: str = "",
) -> Outbox:
    """An email as the outbox holds it; ``failed_because`` marks it failed as the sender does."""
    row = mail.queue_email(template, contact, now=at)
    if failed_because:
        Outbox.objects.filter(pk=row.pk).update(status="failed", reason=failed_because)
        row.refresh_from_db()
    return row
