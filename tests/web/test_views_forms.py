"""The sign-up form pages: list with counts, editor with URL and snippet, roles, workspaces."""

from __future__ import annotations

import pytest
from django.test import Client

from terminflow.contacts import fields as contact_fields
from terminflow.forms import submissions
from terminflow.forms.models import ConsentVersion, Form
from terminflow.workspaces.models import Workspace
from tests.forms.factories import CONSENT, make_doi_email, make_form

pytestmark = pytest.mark.django_db


def editor_post(doi_email_id: int, **changes: str) -> dict[str, str]:
    data = {
        "name": "Newsletter Praxis",
        "use_first_name": "1",
        "label_first_name": "Ihr Vorname",
        "required_first_name": "1",
        "doi_email_id": str(doi_email_id),
        "consent_text": CONSENT,
        "success_message": "Danke!",
        "redirect_url": "",
        "tags": "newsletter, website",
        "active": "1",
    }
    data.update(changes)
    return data


def test_the_list_shows_each_form_with_its_sign_ups(
    workspace: Workspace, editor_client: Client
) -> None:
    form = make_form(workspace, name="Newsletter")
    submissions.submit(form, {"email": "a@example.com"}, ip="192.0.2.1")
    submissions.submit(form, {"email": "b@example.com"}, ip="192.0.2.1")

    response = editor_client.get("/forms/")

    assert response.status_code == 200
    [row] = response.context["forms"]
    assert (row.name, row.submission_count, row.confirmed_count) == ("Newsletter", 2, 0)
    assert "Newsletter</a>" in response.content.decode()


def test_an_editor_creates_a_form_and_sees_its_url_and_snippet(
    workspace: Workspace, editor_client: Client
) -> None:
    contact_fields.create_field(workspace, key="city", type="text", label="Ort")
    doi = make_doi_email(workspace)

    created = editor_client.post(
        "/forms/new/", editor_post(doi.pk, use_city="1", label_city="Wohnort")
    )

    form = Form.objects.get()
    assert created.status_code == 302
    assert created["Location"] == f"/forms/{form.pk}/"
    assert form.fields == [
        {"key": "email", "label": "E-Mail-Adresse", "required": True},
        {"key": "first_name", "label": "Ihr Vorname", "required": True},
        {"key": "city", "label": "Wohnort", "required": False},
    ]
    assert (form.tags, form.success_message, form.active) == (
        ["newsletter", "website"],
        "Danke!",
        True,
    )
    page = editor_client.get(f"/forms/{form.pk}/").content.decode()
    assert f'value="http://testserver/f/{form.public_id}"' in page
    assert "&lt;form method=&quot;post&quot; action=&quot;http://testserver/f/" in page
    assert 'data-copy="form-snippet"' in page


def test_changing_the_consent_text_in_the_editor_makes_a_new_version(
    workspace: Workspace, editor_client: Client
) -> None:
    form = make_form(workspace)

    editor_client.post(
        f"/forms/{form.pk}/", editor_post(form.doi_email_id, consent_text="Version zwei.")
    )

    assert list(ConsentVersion.objects.filter(form=form).values_list("version", flat=True)) == [
        1,
        2,
    ]


def test_a_bad_redirect_is_shown_with_422_and_nothing_is_saved(
    workspace: Workspace, editor_client: Client
) -> None:
    doi = make_doi_email(workspace)

    response = editor_client.post(
        "/forms/new/", editor_post(doi.pk, redirect_url="javascript:alert(1)")
    )

    assert response.status_code == 422
    assert "ist keine http- oder https-Adresse" in response.content.decode()
    assert 'value="javascript:alert(1)"' in response.content.decode()
    assert Form.objects.count() == 0


def test_a_viewer_reads_but_cannot_create_change_or_delete(
    workspace: Workspace, viewer_client: Client
) -> None:
    form = make_form(workspace)

    page = viewer_client.get(f"/forms/{form.pk}/")
    create = viewer_client.post("/forms/new/", editor_post(form.doi_email_id))
    change = viewer_client.post(f"/forms/{form.pk}/", editor_post(form.doi_email_id, name="X"))
    delete = viewer_client.post(f"/forms/{form.pk}/delete/")

    assert page.status_code == 200
    assert "<fieldset" in page.content.decode() and "disabled>" in page.content.decode()
    assert (create.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert list(Form.objects.values_list("name", flat=True)) == ["Newsletter"]


def test_another_workspaces_form_is_404(other_workspace: Workspace, editor_client: Client) -> None:
    theirs = make_form(other_workspace)

    page = editor_client.get(f"/forms/{theirs.pk}/")
    delete = editor_client.post(f"/forms/{theirs.pk}/delete/")

    assert (page.status_code, delete.status_code) == (404, 404)
    assert Form.objects.filter(pk=theirs.pk).exists()
    assert editor_client.get("/forms/").context["forms"] == []


def test_delete_removes_the_form(workspace: Workspace, editor_client: Client) -> None:
    form = make_form(workspace)

    response = editor_client.post(f"/forms/{form.pk}/delete/")

    assert response.status_code == 302
    assert Form.objects.count() == 0
