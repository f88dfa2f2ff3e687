"""/api/v1/emails and /api/v1/outbox."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.mail import services
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

DOI = {
    "name": "Bestätigung",
    "subject": "Bitte bestätigen, {{ contact.first_name }}",
    "body_html": '<p><a href="{{ links.confirm }}">Bestätigen</a></p>',
    "kind": "doi",
}


def test_create_list_get_and_update_an_email(api: ApiClient) -> None:
    created = api.post("/api/v1/emails", DOI)
    assert created.status_code == 201
    body = created.json()
    assert {
        k: body[k] for k in ("name", "subject", "body_text", "kind", "attach_ics", "version")
    } == {
        "name": "Bestätigung",
        "subject": "Bitte bestätigen, {{ contact.first_name }}",
        "body_text": "",
        "kind": "doi",
        "attach_ics": False,
        "version": 1,
    }

    listed = api.get("/api/v1/emails").json()
    assert [e["id"] for e in listed] == [body["id"]]

    updated = api.put(f"/api/v1/emails/{body['id']}", {**DOI, "subject": "Neu"})
    assert updated.status_code == 200
    assert (updated.json()["subject"], updated.json()["version"]) == ("Neu", 2)
    assert api.get(f"/api/v1/emails/{body['id']}").json()["subject"] == "Neu"


def test_syntax_error_is_a_422_with_line_and_message(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/emails", {**DOI, "body_html": "{{ links.confirm }}\n{% for x in %}"}
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == [
        {
            "field": "body_html",
            "line": 2,
            "message": "Expected an expression, got 'end of statement block'",
        }
    ]
    assert EmailTemplate.objects.count() == 0


def test_doi_without_confirmation_link_is_a_422(api: ApiClient) -> None:
    response = api.post("/api/v1/emails", {**DOI, "body_html": "<p>Hallo</p>"})

    assert response.status_code == 422
    assert "confirmation link" in response.json()["detail"]
    assert EmailTemplate.objects.count() == 0


def test_other_workspaces_emails_are_not_found(api: ApiClient, api_for: Any) -> None:
    other = make_email(make_workspace("Andere Praxis"), "marketing")

    assert api.get(f"/api/v1/emails/{other.pk}").status_code == 404
    assert api.put(f"/api/v1/emails/{other.pk}", DOI).status_code == 404
    assert EmailTemplate.objects.get(pk=other.pk).version == 1


def test_preview_renders_for_a_contact_with_a_sample_appointment(
    api: ApiClient, workspace: Workspace
) -> None:
    template = make_email(
        workspace,
        "marketing",
        subject="Termin {{ appointment.calendar_name }} für {{ contact.first_name }}",
    )
    contact = make_contact(workspace, first_name="Zoë")

    response = api.post(f"/api/v1/emails/{template.pk}/preview", {"contact_id": contact.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == "Termin Kalender für Zoë"
    assert body["sample_appointment"] is True
    assert body["headers"]["List-Unsubscribe"] == "<http://testserver/mail/unsubscribe/preview/>"
    assert services.list_outbox(workspace) == []


def test_preview_for_another_workspaces_contact_is_not_found(
    api: ApiClient, workspace: Workspace
) -> None:
    template = make_email(workspace, "marketing")
    stranger = make_contact(make_workspace("Andere Praxis"))

    response = api.post(f"/api/v1/emails/{template.pk}/preview", {"contact_id": stranger.pk})

    assert response.status_code == 404


def test_outbox_lists_a_contacts_emails_with_status_and_rendered_subject(
    api: ApiClient, workspace: Workspace
) -> None:
    template = make_email(workspace, "marketing")
    anna = make_contact(workspace, email="anna@example.com")
    ben = make_contact(workspace, email="ben@example.com", first_name="Ben")
    row = services.queue_email(template, anna)
    services.queue_email(template, ben)

    response = api.get(f"/api/v1/outbox?contact_id={anna.pk}")

    assert response.status_code == 200
    [item] = response.json()
    assert {
        k: item[k] for k in ("id", "contact_id", "email_id", "to", "subject", "status", "reason")
    } == {
        "id": row.pk,
        "contact_id": anna.pk,
        "email_id": template.pk,
        "to": "anna@example.com",
        "subject": "Hallo Anna",
        "status": "queued",
        "reason": "not sent: no SMTP server configured",
    }
    assert len(api.get("/api/v1/outbox").json()) == 2
    other = ApiClient(make_workspace("Andere Praxis"))
    assert other.get("/api/v1/outbox").json() == []
