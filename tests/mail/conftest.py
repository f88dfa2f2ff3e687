"""Factories for the mail tests: contacts in a given email status, email templates."""

from __future__ import annotations

from typing import Any

from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact
from terminflow.mail import services
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.contacts.factories import DOI_PROOF

DOI_HTML = (
    "<p>Hallo {{ contact.first_name }}</p>"
    '<p><a href="{{ links.confirm }}">Adresse bestätigen</a></p>'
)
MARKETING_HTML = (
    "<p>Hallo {{ contact.first_name }}, Neuigkeiten!</p>"
    '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p>'
)


def make_contact(
    workspace: Workspace,
    email: str = "anna@example.com",
    status: str = "confirmed_doi",
    **extra: Any,
) -> Contact:
    return contacts.create_contact(
        workspace,
        email=email,
        first_name=extra.pop("first_name", "Anna"),
        email_status=status,
        doi_proof=DOI_PROOF if status == "confirmed_doi" else None,
        **extra,
    )


def make_email(
    workspace: Workspace,
    kind: str = "marketing",
    *,
    name: str = "",
    subject: str = "Hallo {{ contact.first_name }}",
    body_html: str = "",
    body_text: str = "",
    attach_ics: bool = False,
) -> EmailTemplate:
    return services.create_template(
        workspace,
        services.TemplateData(
            name=name or f"{kind} email",
            subject=subject,
            body_html=body_html or (DOI_HTML if kind == "doi" else MARKETING_HTML),
            body_text=body_text,
            kind=kind,
            attach_ics=attach_ics,
        ),
    )
