"""Test emails from the editor: sent at once over real SMTP, never an outbox row, rate-limited."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.contacts.models import ConsentEvent
from terminflow.mail import trial
from terminflow.mail.models import EmailTemplate, Outbox, TrialEmail
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace
from tests.web.conftest import logged_in, make_user

from .conftest import make_contact

pytestmark = pytest.mark.django_db

DESIGN = {
    "version": 1,
    "blocks": [
        {"type": "heading", "text": "Hallo {{ contact.first_name }}"},
        {"type": "appointment"},
        {"type": "button", "text": "Abmelden", "href": "{{ links.unsubscribe }}"},
    ],
}


def designed_email(api: ApiClient) -> dict[str, Any]:
    response = api.post(
        "/api/v1/emails",
        {"name": "Willkommen", "subject": "Willkommen {{ contact.first_name }}", "design": DESIGN},
    )
    assert response.status_code == 201
    return response.json()


def test_a_test_email_arrives_with_the_contacts_data_and_leaves_no_trace(
    workspace: Workspace, smtp: Any
) -> None:
    editor = make_user("lea@praxis.example", workspace, "editor")
    client = logged_in(editor)
    api = ApiClient(workspace)
    email = designed_email(api)
    contact = make_contact(workspace, first_name="Zoë")
    events = ConsentEvent.objects.count()

    response = client.post(
        f"/api/v1/emails/{email['id']}/test",
        {"contact_id": contact.pk},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json() == {
        "to": "lea@praxis.example",
        "subject": "[Test] Willkommen Zoë",
        "with_appointment": False,
    }
    [received] = smtp.messages
    assert received.rcpt_tos == ["lea@praxis.example"]
    assert received.message["Subject"] == "[Test] Willkommen Zoë"
    assert received.message["X-Terminflow-Test"] == "1"
    html = received.part("text/html")
    assert "Hallo Zoë</h1>" in html
    assert "border-left:4px" not in html  # no appointment: the block renders nothing
    assert 'href="http://testserver/mail/unsubscribe/preview/"' in html
    assert received.part("text/plain").startswith("Hallo Zoë\n")
    # not an outbox row, not in the contact's history
    assert Outbox.objects.count() == 0
    assert ConsentEvent.objects.count() == events
    assert TrialEmail.objects.filter(sender=f"user:{editor.pk}").count() == 1


def test_a_test_goes_to_the_address_given(api: ApiClient, workspace: Workspace, smtp: Any) -> None:
    email = designed_email(api)
    contact = make_contact(workspace)

    response = api.post(
        f"/api/v1/emails/{email['id']}/test", {"contact_id": contact.pk, "to": "Ich@Example.ch"}
    )

    assert response.status_code == 200
    assert [m.rcpt_tos for m in smtp.messages] == [["Ich@example.ch"]]


def test_an_api_token_must_say_where_the_test_goes(
    api: ApiClient, workspace: Workspace, smtp: Any
) -> None:
    email = designed_email(api)
    contact = make_contact(workspace)

    missing = api.post(f"/api/v1/emails/{email['id']}/test", {"contact_id": contact.pk})
    invalid = api.post(
        f"/api/v1/emails/{email['id']}/test", {"contact_id": contact.pk, "to": "kein-mail"}
    )

    assert (missing.status_code, missing.json()["code"]) == (422, "to_missing")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "to_invalid")
    assert smtp.messages == []


def test_tests_are_limited_per_person_and_hour(
    api: ApiClient, workspace: Workspace, smtp: Any
) -> None:
    email = designed_email(api)
    contact = make_contact(workspace)
    body = {"contact_id": contact.pk, "to": "ich@example.ch"}
    for _ in range(trial.PER_HOUR):
        assert api.post(f"/api/v1/emails/{email['id']}/test", body).status_code == 200

    refused = api.post(f"/api/v1/emails/{email['id']}/test", body)

    assert refused.status_code == 429
    assert refused.json()["detail"] == "At most 20 test emails an hour; please wait a little."
    assert len(smtp.messages) == trial.PER_HOUR


def test_viewers_cannot_send_tests(workspace: Workspace, smtp: Any) -> None:
    email = designed_email(ApiClient(workspace))
    contact = make_contact(workspace)
    viewer = logged_in(make_user("viewer@praxis.example", workspace, "viewer"))

    response = viewer.post(
        f"/api/v1/emails/{email['id']}/test",
        {"contact_id": contact.pk},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert smtp.messages == []
    assert TrialEmail.objects.count() == 0


def test_without_smtp_nothing_is_sent_and_the_reason_is_given(
    api: ApiClient, workspace: Workspace, settings: Any
) -> None:
    settings.SMTP_URL = ""
    email = designed_email(api)
    contact = make_contact(workspace)

    response = api.post(
        f"/api/v1/emails/{email['id']}/test", {"contact_id": contact.pk, "to": "ich@example.ch"}
    )

    assert (response.status_code, response.json()["code"]) == (422, "no_smtp")
    assert TrialEmail.objects.count() == 0


def test_another_workspaces_email_or_contact_gives_404(
    api: ApiClient, workspace: Workspace, smtp: Any
) -> None:
    other = make_workspace("Zahnarzt Oerlikon")
    theirs = designed_email(ApiClient(other))
    mine = designed_email(api)
    stranger = make_contact(other)
    contact = make_contact(workspace)
    body = {"to": "ich@example.ch"}

    foreign_email = api.post(
        f"/api/v1/emails/{theirs['id']}/test", {**body, "contact_id": contact.pk}
    )
    foreign_contact = api.post(
        f"/api/v1/emails/{mine['id']}/test", {**body, "contact_id": stranger.pk}
    )

    assert (foreign_email.status_code, foreign_contact.status_code) == (404, 404)
    assert smtp.messages == []
    assert EmailTemplate.objects.count() == 2
