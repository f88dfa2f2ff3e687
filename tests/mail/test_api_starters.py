"""/api/v1/emails/starters: the starter emails, and one click to copy one into the workspace."""

from __future__ import annotations

import pytest
from django.test import Client

from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

KEYS = [
    "appointment-confirmation",
    "reminder-24h",
    "review-request",
    "cancellation-confirmed",
    "doi-request",
]


def test_the_list_names_every_starter_in_both_languages(api: ApiClient) -> None:
    # when
    listed = api.get("/api/v1/emails/starters").json()
    # then
    assert [(s["key"], s["language"]) for s in listed] == [
        *[(key, "de") for key in KEYS],
        *[(key, "en") for key in KEYS],
    ]
    assert [(s["name"], s["kind"], s["attach_ics"]) for s in listed[:5]] == [
        ("Terminbestätigung", "marketing", True),
        ("Erinnerung 24 Stunden vorher", "marketing", False),
        ("Nachfassen mit Bitte um Bewertung", "marketing", False),
        ("Absage bestätigt", "marketing", True),
        ("Double-Opt-in-Anfrage", "doi", False),
    ]
    assert listed[9] == {
        "key": "doi-request",
        "language": "en",
        "name": "Double opt-in request",
        "subject": "Please confirm your email address",
        "kind": "doi",
        "attach_ics": False,
    }


def test_the_list_in_one_language(api: ApiClient) -> None:
    listed = api.get("/api/v1/emails/starters?language=en").json()
    assert [s["name"] for s in listed] == [
        "Appointment confirmation",
        "Reminder 24 hours before",
        "Follow-up asking for a review",
        "Cancellation confirmed",
        "Double opt-in request",
    ]
    refused = api.get("/api/v1/emails/starters?language=fr")
    assert (refused.status_code, refused.json()["code"]) == (422, "starter_language")


def test_one_click_creates_exactly_one_email(api: ApiClient, workspace: Workspace) -> None:
    # when
    response = api.post("/api/v1/emails/starters/doi-request", {"language": "de"})
    # then
    assert response.status_code == 201
    body = response.json()
    email = EmailTemplate.objects.get()
    assert (email.pk, email.workspace_id) == (body["id"], workspace.pk)
    assert {k: body[k] for k in ("name", "subject", "kind", "attach_ics", "version")} == {
        "name": "Double-Opt-in-Anfrage",
        "subject": "Bitte bestätigen Sie Ihre E-Mail-Adresse",
        "kind": "doi",
        "attach_ics": False,
        "version": 1,
    }
    assert 'href="{{ links.confirm }}"' in body["body_html"]
    assert body["body_text"] == ""  # generated from the HTML when sent
    # and it can be previewed like any email
    assert api.get(f"/api/v1/emails/{email.pk}").json()["name"] == "Double-Opt-in-Anfrage"


def test_without_a_language_the_workspace_language_is_used(
    api: ApiClient, workspace: Workspace
) -> None:
    # given an English-speaking workspace
    workspace.locale = "en-GB"
    workspace.save()
    # when no body is sent at all
    bare = Client(HTTP_AUTHORIZATION=f"Bearer {api.token}")
    response = bare.generic("POST", "/api/v1/emails/starters/reminder-24h")
    # then
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Reminder 24 hours before"
    # and an empty body does the same
    again = api.post("/api/v1/emails/starters/reminder-24h", {})
    assert again.json()["name"] == "Reminder 24 hours before (2)"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/emails/starters/newsletter", {"language": "de"}, 404, "starter_not_found"),
        ("/api/v1/emails/starters/doi-request", {"language": "fr"}, 422, "starter_language"),
        ("/api/v1/emails/starters/doi-request", {"language": "de", "x": 1}, 422, "invalid"),
        ("/api/v1/emails/starters/doi-request", {"language": "d" * 9}, 422, "invalid"),
    ],
)
def test_unknown_keys_and_languages_are_refused_and_store_nothing(
    api: ApiClient, path: str, body: dict, status: int, code: str
) -> None:
    # when
    response = api.post(path, body)
    # then
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert EmailTemplate.objects.count() == 0


def test_german_error_messages(workspace: Workspace) -> None:
    german = ApiClient(workspace, language="de")
    response = german.post("/api/v1/emails/starters/newsletter", {})
    assert response.json()["detail"] == "Es gibt keine Startvorlage «newsletter»."


def test_starters_need_a_token(client: Client) -> None:
    assert client.get("/api/v1/emails/starters").status_code == 401
    assert client.post("/api/v1/emails/starters/doi-request").status_code == 401
    assert EmailTemplate.objects.count() == 0
