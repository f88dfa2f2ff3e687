"""Small builders for the sign-up form tests: a DOI email, a form, a campaign it starts."""

from __future__ import annotations

from typing import Any

from terminflow.campaigns.models import Campaign
from terminflow.forms import services
from terminflow.forms.models import Form
from terminflow.mail import services as mail
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.campaigns.factories import make_campaign

CONSENT = "Ich möchte den Newsletter der Praxis erhalten und kann mich jederzeit abmelden."
DOI_HTML = (
    "<p>Hallo {{ contact.first_name }}, bitte bestätigen Sie Ihre Anmeldung:</p>"
    '<p><a href="{{ links.confirm }}">Anmeldung bestätigen</a></p>'
)
WELCOME_HTML = "<p>Willkommen {{ contact.first_name }}!</p>"


def make_doi_email(workspace: Workspace, *, name: str = "Anmeldung bestätigen") -> EmailTemplate:
    return mail.create_template(
        workspace,
        mail.TemplateData(name=name, subject="Bitte bestätigen", body_html=DOI_HTML, kind="doi"),
    )


def make_marketing_email(workspace: Workspace, *, name: str = "Willkommen") -> EmailTemplate:
    return mail.create_template(
        workspace,
        mail.TemplateData(name=name, subject="Willkommen!", body_html=WELCOME_HTML),
    )


def form_data(doi_email: EmailTemplate | None, **changes: Any) -> services.FormData:
    values: dict[str, Any] = {
        "name": "Newsletter",
        "doi_email_id": doi_email.pk if doi_email is not None else None,
        "consent_text": CONSENT,
        "fields": [
            {"key": "email", "label": "E-Mail", "required": True},
            {"key": "first_name", "label": "Vorname", "required": False},
        ],
        "tags": ["newsletter"],
    }
    values.update(changes)
    return services.FormData(**values)


def make_form(workspace: Workspace, doi_email: EmailTemplate | None = None, **changes: Any) -> Form:
    doi_email = doi_email or make_doi_email(workspace)
    return services.create_form(workspace, form_data(doi_email, **changes))


def make_form_campaign(
    workspace: Workspace, form: Form, email: EmailTemplate, *, name: str = "Willkommen"
) -> Campaign:
    """An active campaign: form.submitted → send the marketing email."""
    return make_campaign(
        workspace,
        [
            {
                "id": "signup",
                "type": "form.submitted",
                "config": {"form_id": form.pk},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "welcome",
                "type": "email.send",
                "config": {"email_id": email.pk},
                "position": {"x": 0, "y": 100},
            },
        ],
        [{"source": "signup", "target": "welcome", "branch": "next"}],
        name=name,
    )
