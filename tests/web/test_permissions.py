"""Roles, workspaces and CSRF, checked on the server for pages and for the API (session auth)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import Contact, Field
from terminflow.contacts.services import create_contact
from terminflow.workspaces.api import SESSION_WORKSPACE_KEY
from terminflow.workspaces.models import Membership, Role

from .conftest import logged_in, make_user

# Every page a viewer may open, and every form a viewer must not be able to submit.
VIEWER_FORBIDDEN_POSTS = [
    ("/contacts/new/", {"email": "x@example.com", "email_status": "unknown"}),
    ("/fields/", {"key": "birthday", "label": "Birthday", "type": "date"}),
    ("/emails/new/", {"name": "n", "kind": "marketing", "subject": "s", "body_html": "b"}),
    ("/campaigns/new/", {"name": "Nope"}),
    ("/settings/api/etermin/accounts/new/", {"name": "a", "public_key": "p", "private_key": "k"}),
    ("/settings/api/", {"name": "token"}),
    ("/settings/privacy/", {"submission_retention_days": "1"}),
    ("/contacts/import/", {}),
    ("/inbox/retry-failed/", {}),
]


def test_pages_need_login(client: Client, db: None) -> None:
    # when
    response = client.get("/contacts/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/contacts/"


def test_htmx_request_without_login_is_told_to_go_to_login(client: Client, db: None) -> None:
    # when
    response = client.get("/contacts/", headers={"HX-Request": "true"})
    # then
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/"


@pytest.mark.parametrize(("path", "data"), VIEWER_FORBIDDEN_POSTS)
def test_viewer_cannot_post_any_form(viewer_client: Client, path: str, data: dict) -> None:
    # when
    response = viewer_client.post(path, data)
    # then
    assert response.status_code == 403
    assert Contact.objects.count() == 0
    assert Field.objects.count() == 0
    assert Campaign.objects.count() == 0


def test_viewer_cannot_change_a_contact(viewer_client: Client, workspace) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com", first_name="Anna")
    # when
    edit = viewer_client.post(
        f"/contacts/{contact.pk}/edit/",
        {"email": "evil@example.com", "email_status": "unknown", "first_name": "Eve"},
    )
    delete = viewer_client.post(f"/contacts/{contact.pk}/delete/")
    note = viewer_client.post(f"/contacts/{contact.pk}/notes/", {"text": "hi"})
    # then
    assert (edit.status_code, delete.status_code, note.status_code) == (403, 403, 403)
    contact.refresh_from_db()
    assert (contact.email, contact.first_name) == ("anna@example.com", "Anna")
    assert contact.notes.count() == 0


def test_viewer_reads_pages(viewer_client: Client) -> None:
    # when
    pages = [viewer_client.get(p) for p in ("/", "/contacts/", "/campaigns/", "/inbox/")]
    # then
    assert [p.status_code for p in pages] == [200, 200, 200, 200]
    assert "+ Neuer Kontakt" not in pages[1].content.decode()


def test_editor_sees_the_buttons_a_viewer_does_not(editor_client: Client) -> None:
    # when
    page = editor_client.get("/contacts/").content.decode()
    # then
    assert "Neuer Kontakt" in page


def test_api_with_session_reads_for_viewer_but_refuses_writes(viewer_client: Client) -> None:
    # when
    listed = viewer_client.get("/api/v1/fields")
    created = viewer_client.post(
        "/api/v1/fields",
        data=json.dumps({"key": "birthday", "label": "Birthday", "type": "date"}),
        content_type="application/json",
    )
    # then
    assert listed.status_code == 200
    assert listed.json() == []
    assert created.status_code == 403
    assert created.json()["code"] == "forbidden"
    assert Field.objects.count() == 0


def test_api_with_session_writes_for_editor(editor_client: Client, workspace) -> None:
    # when
    created = editor_client.post(
        "/api/v1/fields",
        data=json.dumps({"key": "birthday", "label": "Birthday", "type": "date"}),
        content_type="application/json",
    )
    # then
    assert created.status_code == 201
    assert list(Field.objects.values_list("workspace_id", "key")) == [(workspace.pk, "birthday")]


def test_api_with_session_enforces_csrf(editor) -> None:
    # given a browser session without the CSRF token
    client = logged_in(editor, enforce_csrf_checks=True)
    # when
    response = client.post(
        "/api/v1/fields",
        data=json.dumps({"key": "birthday", "label": "Birthday", "type": "date"}),
        content_type="application/json",
    )
    # then
    assert response.status_code == 403
    assert Field.objects.count() == 0


def test_api_with_session_accepts_the_csrf_token(editor) -> None:
    # given
    client = logged_in(editor, enforce_csrf_checks=True)
    client.get("/contacts/")
    token = client.cookies["csrftoken"].value
    # when
    response = client.post(
        "/api/v1/fields",
        data=json.dumps({"key": "birthday", "label": "Birthday", "type": "date"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    # then
    assert response.status_code == 201


def test_api_without_session_or_token_is_401(client: Client, db: None) -> None:
    # when
    response = client.get("/api/v1/fields")
    # then
    assert response.status_code == 401


def test_forms_refuse_posts_without_csrf_token(editor) -> None:
    # given
    client = logged_in(editor, enforce_csrf_checks=True)
    # when
    responses = [
        client.post("/contacts/new/", {"email": "x@example.com", "email_status": "unknown"}),
        client.post("/fields/", {"key": "k", "label": "K", "type": "text"}),
        client.post("/campaigns/new/", {"name": "C"}),
        client.post("/preferences/", {"language": "en"}),
        client.post("/logout/"),
    ]
    # then
    assert [r.status_code for r in responses] == [403, 403, 403, 403, 403]
    assert Contact.objects.count() == 0
    assert Campaign.objects.count() == 0


def test_login_form_refuses_posts_without_csrf_token(editor) -> None:
    # given
    client = Client(enforce_csrf_checks=True)
    # when
    response = client.post("/login/", {"email": editor.email, "password": "whatever"})
    # then
    assert response.status_code == 403


def test_user_switches_between_workspaces(editor, workspace, other_workspace) -> None:
    # given the editor is a viewer in a second workspace
    Membership.objects.create(user=editor, workspace=other_workspace, role=Role.VIEWER)
    create_contact(other_workspace, email="oerlikon@example.com")
    client = logged_in(editor)
    client.get("/")
    assert client.session[SESSION_WORKSPACE_KEY] == workspace.pk
    # when
    response = client.post("/workspace/", {"workspace": other_workspace.pk})
    # then
    assert response.status_code == 302
    assert client.session[SESSION_WORKSPACE_KEY] == other_workspace.pk
    page = client.get("/contacts/").content.decode()
    assert "oerlikon@example.com" in page
    # and the role there is the one of that workspace
    assert client.post("/campaigns/new/", {"name": "x"}).status_code == 403
    assert client.get("/api/v1/contacts").status_code == 200


def test_user_cannot_switch_into_a_foreign_workspace(editor_client, workspace, other_workspace):
    # when
    response = editor_client.post("/workspace/", {"workspace": other_workspace.pk})
    # then
    assert response.status_code == 403
    assert editor_client.session[SESSION_WORKSPACE_KEY] == workspace.pk


def test_pages_of_another_workspace_are_not_found(editor_client, other_workspace) -> None:
    # given
    foreign = create_contact(other_workspace, email="foreign@example.com")
    # when
    page = editor_client.get(f"/contacts/{foreign.pk}/")
    api = editor_client.get(f"/api/v1/contacts/{foreign.pk}")
    # then
    assert page.status_code == 404
    assert api.status_code == 404


def test_user_without_workspace_is_refused(db: None) -> None:
    # given
    client = logged_in(make_user("lonely@example.com"))
    # when
    response = client.get("/contacts/")
    # then
    assert response.status_code == 403
