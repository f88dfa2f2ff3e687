"""``/api/v1/emails`` with a visual editor design, and rendering a draft for the editor."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

DESIGN: dict[str, Any] = {
    "version": 1,
    "settings": {"width": 600},
    "blocks": [
        {"type": "heading", "text": "Hallo {{contact.first_name}}"},
        {"type": "text", "html": "<p>Wir freuen uns.<script>x()</script></p>"},
        {"type": "button", "text": "Abmelden", "href": "{{ links.unsubscribe }}"},
    ],
}


def email_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Willkommen",
        "subject": "Hallo {{ contact.first_name }}",
        "design": DESIGN,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_an_email_saved_with_a_design_is_rendered_to_html_and_returned(api: ApiClient) -> None:
    response = api.post("/api/v1/emails", email_body())

    assert response.status_code == 201
    body = response.json()
    assert body["design"]["blocks"][0] == {
        "type": "heading",
        "text": "Hallo {{ contact.first_name }}",
        "level": 1,
        "align": "left",
    }
    assert body["design"]["blocks"][1]["html"] == "<p>Wir freuen uns.</p>"
    assert body["body_html"].startswith("<!DOCTYPE html>")
    assert "Hallo {{ contact.first_name }}</h1>" in body["body_html"]
    stored = EmailTemplate.objects.get(pk=body["id"])
    assert stored.design == body["design"]
    assert api.get(f"/api/v1/emails/{body['id']}").json()["design"] == body["design"]


def test_html_emails_keep_working_and_have_no_design(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/emails", email_body(design=None, body_html="<p>{{ contact.first_name }}</p>")
    )

    assert response.status_code == 201
    assert response.json()["design"] is None
    assert response.json()["body_html"] == "<p>{{ contact.first_name }}</p>"


@pytest.mark.parametrize("body_html", [None, "<p>x</p>"])
def test_exactly_one_of_body_html_and_design_is_required(api: ApiClient, body_html: Any) -> None:
    design = None if body_html is None else DESIGN

    response = api.post("/api/v1/emails", email_body(design=design, body_html=body_html))

    assert response.status_code == 422
    assert response.json()["code"] == "body_html_or_design"
    assert response.json()["detail"] == (
        "HTML content: required."
        if body_html is None
        else "Give either body_html (HTML) or design (visual editor), exactly one of them."
    )
    assert EmailTemplate.objects.count() == 0


def test_a_bad_design_is_refused_with_every_problem_and_nothing_is_stored(api: ApiClient) -> None:
    design = {
        "version": 1,
        "blocks": [
            {"type": "button", "text": "x", "href": "javascript:alert(1)"},
            {"type": "marquee"},
        ],
    }

    response = api.post("/api/v1/emails", email_body(design=design))

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "design_invalid"
    assert body["detail"] == (
        "Block 1, link: the link must start with https://, http://, mailto: or tel: "
        "(not “javascript:alert(1)”)"
    )
    assert [e["path"] for e in body["errors"]] == ["blocks.0.href", "blocks.1"]
    assert EmailTemplate.objects.count() == 0


def test_a_bad_design_is_explained_in_german(workspace: Workspace) -> None:
    api = ApiClient(workspace, language="de")
    design = {"version": 1, "blocks": [{"type": "spacer", "height": 500}]}

    response = api.post("/api/v1/emails", email_body(design=design))

    assert response.status_code == 422
    assert response.json()["detail"] == "Block 1, Höhe: muss eine ganze Zahl von 4 bis 200 sein"


def test_a_doi_design_needs_the_confirmation_link(api: ApiClient) -> None:
    response = api.post("/api/v1/emails", email_body(kind="doi"))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "design"
    assert EmailTemplate.objects.count() == 0


def test_put_with_a_design_replaces_it_and_put_with_html_ends_it(
    api: ApiClient, workspace: Workspace
) -> None:
    email = api.post("/api/v1/emails", email_body()).json()
    changed = {**DESIGN, "blocks": [{"type": "heading", "text": "Neu"}]}

    first = api.put(f"/api/v1/emails/{email['id']}", email_body(design=changed))
    second = api.put(
        f"/api/v1/emails/{email['id']}", email_body(design=None, body_html="<p>Hand</p>")
    )

    assert first.status_code == 200
    assert first.json()["version"] == 2
    assert "Neu</h1>" in first.json()["body_html"]
    assert second.json()["design"] is None
    assert EmailTemplate.objects.get(pk=email["id"]).design is None


def test_a_draft_is_previewed_for_a_contact_without_being_stored(
    api: ApiClient, workspace: Workspace
) -> None:
    contact = make_contact(workspace, first_name="Zoë")

    response = api.post(
        "/api/v1/emails/preview",
        {"subject": "Hallo {{ contact.first_name }}", "design": DESIGN, "contact_id": contact.pk},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == "Hallo Zoë"
    assert "Hallo Zoë</h1>" in body["body_html"]
    assert body["body_text"].startswith("Hallo Zoë\n\nWir freuen uns.\n\nAbmelden (")
    assert EmailTemplate.objects.count() == 0
    assert Outbox.objects.count() == 0


def test_a_draft_preview_is_refused_like_a_save(api: ApiClient, workspace: Workspace) -> None:
    contact = make_contact(workspace)
    design = {"version": 1, "blocks": [{"type": "text", "html": "<p>{{ nope }}</p>"}]}

    response = api.post(
        "/api/v1/emails/preview",
        {"subject": "x", "design": design, "contact_id": contact.pk},
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "design", "line": None, "message": "unknown placeholder 'nope'"}
    ]


def test_another_workspaces_email_and_contact_give_404(
    api: ApiClient, workspace: Workspace
) -> None:
    other = make_workspace("Zahnarzt Oerlikon")
    theirs = make_email(other)
    stranger = make_contact(other)

    assert api.get(f"/api/v1/emails/{theirs.pk}").status_code == 404
    assert api.put(f"/api/v1/emails/{theirs.pk}", email_body()).status_code == 404
    preview = api.post(
        "/api/v1/emails/preview", {"subject": "x", "design": DESIGN, "contact_id": stranger.pk}
    )
    assert preview.status_code == 404
