"""The visual editor's pages: a new visual email, designed emails open in it, HTML ones do not."""

from __future__ import annotations

import pytest

from terminflow.mail.models import EmailTemplate
from terminflow.mail.services import TemplateData, create_template
from tests.conftest import make_workspace

pytestmark = pytest.mark.django_db

DESIGN = {"version": 1, "blocks": [{"type": "heading", "text": "Hallo {{ contact.first_name }}"}]}


def _email(workspace, **changes) -> EmailTemplate:
    data = {"name": "Willkommen", "subject": "Hallo", "body_html": "<p>Hand</p>"}
    data.update(changes)
    return create_template(workspace, TemplateData(**data))


def test_a_new_visual_email_opens_the_editor_island(editor_client, editor) -> None:
    response = editor_client.get("/emails/new/visual/?kind=doi")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="email-editor-root"' in page
    assert 'data-email-id=""' in page
    assert 'data-kind="doi"' in page
    assert f'data-me="{editor.email}"' in page
    assert 'data-read-only="false"' in page
    assert "email-editor/email-editor.js" in page


def test_a_designed_email_opens_in_the_visual_editor_and_an_html_one_in_the_form(
    editor_client, workspace
) -> None:
    designed = _email(workspace, body_html="", design=DESIGN)
    handwritten = _email(workspace, name="Hand")

    visual = editor_client.get(f"/emails/{designed.pk}/").content.decode()
    form = editor_client.get(f"/emails/{handwritten.pk}/").content.decode()

    assert f'data-email-id="{designed.pk}"' in visual
    assert 'name="body_html"' not in visual
    assert 'name="body_html"' in form
    assert "email-editor-root" not in form


def test_a_designed_email_cannot_be_overwritten_by_the_html_form(editor_client, workspace) -> None:
    designed = _email(workspace, body_html="", design=DESIGN)

    response = editor_client.post(
        f"/emails/{designed.pk}/",
        {"name": "x", "kind": "marketing", "subject": "x", "body_html": "<p>x</p>"},
    )

    assert response.status_code == 403
    assert EmailTemplate.objects.get(pk=designed.pk).design is not None


def test_viewers_see_the_editor_read_only_and_cannot_start_one(viewer_client, workspace) -> None:
    designed = _email(workspace, body_html="", design=DESIGN)

    page = viewer_client.get(f"/emails/{designed.pk}/").content.decode()
    new = viewer_client.get("/emails/new/visual/")

    assert 'data-read-only="true"' in page
    assert new.status_code == 403


def test_another_workspaces_designed_email_is_not_found(editor_client) -> None:
    theirs = _email(make_workspace("Zahnarzt Oerlikon"), body_html="", design=DESIGN)

    assert editor_client.get(f"/emails/{theirs.pk}/").status_code == 404


def test_the_list_offers_both_ways_to_write_an_email(editor_client) -> None:
    with_language = editor_client.get("/emails/", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert "/emails/new/visual/" in with_language
    assert "/emails/new/" in with_language
