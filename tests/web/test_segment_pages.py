"""The segments pages: the list with counts, the row editor, its live preview, and roles."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.segments.models import Segment
from tests.conftest import make_workspace
from tests.contacts.factories import make_field
from tests.segments.factories import make_contact, make_segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(workspace: Any) -> None:
    make_field(workspace, "birthday", "date")
    make_contact(
        workspace, "anna@example.ch", email_status="confirmed_doi", tags=["Newsletter"],
        fields={"birthday": "1980-03-15"},
    )  # fmt: skip
    make_contact(workspace, "ben@example.ch", tags=["Newsletter"])
    make_contact(workspace, "carla@example.ch", email_status="confirmed_doi")


def rows(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The editor's form fields for the given rows."""
    data: dict[str, Any] = {"name": "Newsletter", "match": "all", "rows": len(conditions), **extra}
    for i, condition in enumerate(conditions):
        for key, value in condition.items():
            data[f"c{i}-{key}"] = value
    return data


def test_the_list_shows_each_segment_with_its_count(editor_client, workspace, people):
    segment = make_segment(workspace, {"type": "tags", "match": "any", "tags": ["Newsletter"]})
    page = editor_client.get("/segments/")
    assert page.status_code == 200
    assert f'hx-get="/segments/{segment.pk}/count/"' in page.content.decode()
    assert editor_client.get(f"/segments/{segment.pk}/count/").content.decode() == "2"


def test_a_segment_is_made_from_rows_and_saved(editor_client, workspace, people):
    response = editor_client.post(
        "/segments/new/",
        rows(
            {"kind": "email_status", "statuses": ["confirmed_doi"]},
            {"kind": "tags", "match": "any", "tags": ["Newsletter"]},
        ),
    )
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/segments/{segment.pk}/"
    assert segment.definition == {
        "match": "all",
        "conditions": [
            {"type": "email_status", "statuses": ["confirmed_doi"]},
            {"type": "tags", "match": "any", "tags": ["Newsletter"]},
        ],
    }
    page = editor_client.get(f"/segments/{segment.pk}/").content.decode()
    assert 'data-testid="segment-count">1<' in page
    assert "anna@example.ch" in page and "carla@example.ch" not in page


def test_the_editor_offers_the_fields_comparisons_and_counts_live(editor_client, people):
    # when a field row is added and a date field chosen
    added = editor_client.post("/segments/editor/", rows(add="1"), HTTP_HX_REQUEST="true")
    assert added.content.decode().count('data-testid="segment-row"') == 1
    chosen = editor_client.post(
        "/segments/editor/",
        rows({"kind": "field", "field": "birthday", "op": "this_month"}),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    # then its comparisons are those of a date, and the preview counts
    assert 'value="this_month"' in chosen and 'value="contains"' not in chosen
    assert 'data-testid="segment-count">' in chosen
    # and nothing is stored meanwhile
    assert not Segment.objects.exists()


def test_an_unfinished_row_shows_why_and_saving_it_stores_nothing(editor_client, people):
    data = rows({"kind": "field", "field": "birthday", "op": "next_days", "days": ""})
    preview = editor_client.post("/segments/editor/", data, HTTP_HX_REQUEST="true")
    assert "braucht days" in preview.content.decode()
    saved = editor_client.post("/segments/new/", data)
    assert saved.status_code == 422
    assert "braucht days" in saved.content.decode()
    assert not Segment.objects.exists()


def test_a_viewer_sees_the_segment_but_cannot_change_it(viewer_client, workspace, people):
    segment = make_segment(workspace, {"type": "email_status", "statuses": ["confirmed_doi"]})
    page = viewer_client.get(f"/segments/{segment.pk}/").content.decode()
    assert 'data-testid="segment-count">2<' in page
    assert 'data-testid="segment-save"' not in page
    refused = viewer_client.post(f"/segments/{segment.pk}/", rows(name="Changed"))
    assert refused.status_code == 403
    assert viewer_client.post(f"/segments/{segment.pk}/delete/").status_code == 403
    assert Segment.objects.get().name == "Segment"


def test_another_workspaces_segment_is_not_found(editor_client):
    theirs = make_segment(make_workspace("Zahnarzt Oerlikon"))
    for path in ("/", "/count/"):
        assert editor_client.get(f"/segments/{theirs.pk}{path}").status_code == 404
    assert editor_client.post(f"/segments/{theirs.pk}/delete/").status_code == 404
    assert Segment.objects.filter(pk=theirs.pk).exists()


def test_the_pages_speak_german(editor_client, workspace, people):
    from terminflow.workspaces.models import User

    User.objects.filter(email="editor@praxis.example").update(language="de")
    segment = make_segment(workspace, {"type": "tags", "match": "none", "tags": ["Newsletter"]})
    page = editor_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "hat keines der Tags" in page
    assert "Kontakt ist jetzt in diesem Segment." in page
