"""``/api/v1/forms``: create, read, change, delete; validation reasons; sealed workspaces."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.contacts import fields as contact_fields
from terminflow.forms.models import ConsentVersion, Form
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace

from .factories import CONSENT, make_doi_email, make_form, make_marketing_email

pytestmark = pytest.mark.django_db


def body(doi_email_id: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Newsletter",
        "doi_email_id": doi_email_id,
        "consent_text": CONSENT,
        "fields": [
            {"key": "first_name", "label": "Vorname", "required": True},
            {"key": "email", "label": "Ihre E-Mail"},
        ],
        "tags": ["newsletter", "web"],
    }
    values.update(changes)
    return values


@pytest.fixture
def other() -> Workspace:
    return make_workspace("Zahnarzt Oerlikon")


def test_create_puts_email_first_and_required_and_returns_url_and_snippet(
    workspace: Workspace, api: ApiClient
) -> None:
    doi = make_doi_email(workspace)

    response = api.post("/api/v1/forms", body(doi.pk))

    assert response.status_code == 201, response.json()
    data = response.json()
    form = Form.objects.get()
    assert data["id"] == form.pk
    assert data["fields"] == [
        {"key": "email", "label": "Ihre E-Mail", "required": True},
        {"key": "first_name", "label": "Vorname", "required": True},
    ]
    assert data["consent_version"] == 1
    assert data["url"] == f"http://testserver/f/{form.public_id}"
    assert len(form.public_id) >= 20
    assert str(form.pk) != form.public_id
    snippet = data["embed_html"]
    assert snippet.startswith(f'<form method="post" action="http://testserver/f/{form.public_id}"')
    assert '<input type="email" name="email" required>' in snippet
    assert 'name="website"' in snippet
    assert "<script" not in snippet
    assert (data["submissions"], data["confirmed"], data["active"]) == (0, 0, True)


def test_a_missing_email_field_is_added_with_the_workspace_language_label(
    workspace: Workspace, api: ApiClient
) -> None:
    doi = make_doi_email(workspace)

    response = api.post("/api/v1/forms", body(doi.pk, fields=[]))

    assert response.json()["fields"] == [
        {"key": "email", "label": "E-Mail-Adresse", "required": True}
    ]


def test_changing_the_consent_text_makes_a_new_version_and_keeps_the_old(
    workspace: Workspace, api: ApiClient
) -> None:
    doi = make_doi_email(workspace)
    form_id = api.post("/api/v1/forms", body(doi.pk)).json()["id"]

    same = api.put(f"/api/v1/forms/{form_id}", body(doi.pk, name="Renamed"))
    changed = api.put(f"/api/v1/forms/{form_id}", body(doi.pk, consent_text="Neu."))

    assert same.json()["consent_version"] == 1
    assert changed.json()["consent_version"] == 2
    assert list(ConsentVersion.objects.filter(form_id=form_id).values_list("version", "text")) == [
        (1, CONSENT),
        (2, "Neu."),
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"redirect_url": "javascript:alert(1)"}, "is not an http or https address"),
        ({"redirect_url": "ftp://example.com/x"}, "is not an http or https address"),
        ({"fields": [{"key": "shoe_size"}]}, "'shoe_size' is not a contact field"),
        ({"fields": [{"key": "email"}, {"key": "email"}]}, "'email' is listed twice"),
        ({"consent_text": "   "}, "consent_text: must not be empty"),
        ({"tags": [" "]}, "every tag must be non-empty text"),
        ({"doi_email_id": 999999}, "email 999999 does not exist"),
    ],
)
def test_bad_input_is_422_with_the_reason_and_stores_nothing(
    workspace: Workspace, api: ApiClient, changes: dict[str, Any], reason: str
) -> None:
    doi = make_doi_email(workspace)

    response = api.post("/api/v1/forms", {**body(doi.pk), **changes})

    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert Form.objects.count() == 0


def test_a_marketing_email_cannot_be_the_doi_email(workspace: Workspace, api: ApiClient) -> None:
    news = make_marketing_email(workspace)

    response = api.post("/api/v1/forms", body(news.pk))

    assert response.status_code == 422
    assert response.json() == {
        "detail": f"doi_email_id: email {news.pk} is not a double opt-in email.",
        "code": "invalid",
        "field": "doi_email_id",
    }


def test_contact_fields_of_the_workspace_are_accepted_with_their_labels(
    workspace: Workspace, api: ApiClient
) -> None:
    contact_fields.create_field(workspace, key="birthday", type="date", label="Geburtstag")
    doi = make_doi_email(workspace)

    response = api.post("/api/v1/forms", body(doi.pk, fields=[{"key": "birthday"}]))

    assert response.status_code == 201
    assert response.json()["fields"][1] == {
        "key": "birthday",
        "label": "Geburtstag",
        "required": False,
    }
    assert '<input type="date" name="field_birthday">' in response.json()["embed_html"]


def test_another_workspaces_doi_email_and_field_are_refused_as_unknown(
    workspace: Workspace, api: ApiClient, other: Workspace
) -> None:
    theirs = make_doi_email(other)
    contact_fields.create_field(other, key="theirs", type="text")
    mine = make_doi_email(workspace)

    email = api.post("/api/v1/forms", body(theirs.pk))
    field = api.post("/api/v1/forms", body(mine.pk, fields=[{"key": "theirs"}]))

    assert email.status_code == 422
    assert email.json()["detail"] == f"doi_email_id: email {theirs.pk} does not exist."
    assert field.status_code == 422
    assert Form.objects.count() == 0


def test_another_workspaces_form_is_404_for_every_method(
    workspace: Workspace, api: ApiClient, other: Workspace
) -> None:
    theirs = make_form(other)
    mine = make_doi_email(workspace)

    answers = [
        api.get(f"/api/v1/forms/{theirs.pk}").status_code,
        api.put(f"/api/v1/forms/{theirs.pk}", body(mine.pk)).status_code,
        api.delete(f"/api/v1/forms/{theirs.pk}").status_code,
    ]

    assert answers == [404, 404, 404]
    assert api.get("/api/v1/forms").json() == []
    theirs.refresh_from_db()
    assert (theirs.name, theirs.doi_email.workspace_id) == ("Newsletter", other.pk)


def test_list_and_delete(workspace: Workspace, api: ApiClient) -> None:
    form = make_form(workspace)

    listed = api.get("/api/v1/forms").json()
    deleted = api.delete(f"/api/v1/forms/{form.pk}")

    assert [f["id"] for f in listed] == [form.pk]
    assert deleted.status_code == 204
    assert Form.objects.count() == 0
    assert api.get(f"/api/v1/forms/{form.pk}").status_code == 404


def test_reasons_in_german(workspace: Workspace) -> None:
    german = ApiClient(workspace, language="de")
    doi = make_doi_email(workspace)

    response = german.post("/api/v1/forms", body(doi.pk, redirect_url="mailto:x@example.com"))

    assert response.json()["detail"] == (
        "redirect_url: «mailto:x@example.com» ist keine http- oder https-Adresse."
    )
