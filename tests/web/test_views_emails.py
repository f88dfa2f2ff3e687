"""Email templates: create, save errors, live preview for a contact."""

from __future__ import annotations

from terminflow.contacts.services import create_contact
from terminflow.mail.models import EmailTemplate
from terminflow.mail.services import TemplateData, create_template

HTMX = {"HX-Request": "true"}


def _form(**changes) -> dict:
    form = {
        "name": "Bestätigung",
        "kind": "marketing",
        "subject": "Hallo {{ contact.first_name }}",
        "body_html": "<p>Hallo {{ contact.first_name }}</p>",
        "body_text": "",
    }
    form.update(changes)
    return form


def test_create_an_email(editor_client, workspace) -> None:
    # when
    response = editor_client.post("/emails/new/", _form())
    # then
    template = EmailTemplate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/emails/{template.pk}/"
    assert (template.workspace_id, template.name, template.kind) == (
        workspace.pk,
        "Bestätigung",
        "marketing",
    )


def test_a_template_error_is_shown_with_its_line_and_nothing_is_stored(editor_client) -> None:
    # when
    response = editor_client.post(
        "/emails/new/", _form(body_html="<p>ok</p>\n<p>{{ contact.first_name </p>")
    )
    # then
    assert response.status_code == 422
    assert "body_html, Zeile 2" in response.content.decode()
    assert EmailTemplate.objects.count() == 0


def test_doi_email_without_the_confirm_link_is_refused(editor_client) -> None:
    # when
    response = editor_client.post("/emails/new/", _form(kind="doi"))
    # then
    assert response.status_code == 422
    assert "links.confirm" in response.content.decode()
    assert EmailTemplate.objects.count() == 0


def test_live_preview_renders_the_draft_for_the_chosen_contact(editor_client, workspace) -> None:
    # given
    lea = create_contact(workspace, email="lea@example.com", first_name="Lea")
    create_contact(workspace, email="max@example.com", first_name="Max")
    # when
    response = editor_client.post(
        "/emails/preview/", {**_form(), "preview_contact": lea.pk}, headers=HTMX
    )
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="preview-subject">Hallo Lea<' in body
    assert "Hallo Lea" in body
    assert EmailTemplate.objects.count() == 0


def test_preview_of_a_saved_email_for_viewers(viewer_client, workspace) -> None:
    # given
    create_contact(workspace, email="lea@example.com", first_name="Lea")
    template = create_template(
        workspace,
        TemplateData(name="B", subject="Hi {{ contact.first_name }}", body_html="<p>x</p>"),
    )
    # when
    response = viewer_client.get(f"/emails/preview/?email_id={template.pk}")
    # then
    assert 'data-testid="preview-subject">Hi Lea<' in response.content.decode()


def test_preview_reports_a_render_error(editor_client, workspace) -> None:
    # given
    create_contact(workspace, email="lea@example.com")
    # when
    response = editor_client.post(
        "/emails/preview/", _form(body_html="<p>{{ contact.fields.nope }}</p>"), headers=HTMX
    )
    # then
    assert "nope" in response.content.decode()


def test_saving_a_hostile_template_on_the_page_is_a_422_and_stores_nothing(editor_client) -> None:
    # when: before, this froze the server for ~20 s while compiling, then answered 500
    response = editor_client.post("/emails/new/", _form(body_html="<p>{{ 9**(9**7) }}</p>"))
    # then
    assert response.status_code == 422
    assert "** ergäbe eine Zahl mit mehr als 4096 Bit" in response.content.decode()
    assert EmailTemplate.objects.count() == 0


def test_live_preview_of_a_hostile_draft_is_a_422_with_the_reason(editor_client, workspace) -> None:
    # given
    create_contact(workspace, email="lea@example.com", first_name="Lea")
    body = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    # when
    response = editor_client.post("/emails/preview/", _form(body_html=body), headers=HTMX)
    # then
    page = response.content.decode()
    assert response.status_code == 422
    assert "die Schleifen der Vorlage liefen öfter als 100\u2009000 Mal" in page
    assert 'data-testid="preview-subject"' not in page
    assert EmailTemplate.objects.count() == 0
