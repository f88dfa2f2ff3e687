"""The segments pages: the list with counts, the row editor, its live preview, and roles."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from terminflow.segments.definition import MAX_CONDITIONS
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
    """The editor's form fields for the given rows; a group is ``{"kind": "group", "match": …,
    "rows": [rows…]}``."""
    data: dict[str, Any] = {"name": "Newsletter", "match": "all", "rows": len(conditions), **extra}
    for i, condition in enumerate(conditions):
        for key, value in condition.items():
            if key == "rows":
                data[f"c{i}-rows"] = len(value)
                for j, inner in enumerate(value):
                    data.update({f"c{i}.{j}-{k}": v for k, v in inner.items()})
            else:
                data[f"c{i}-{key}"] = value
    return data


class _FormFields(HTMLParser):
    """What a browser submits for the segment form: named inputs, ticked boxes, chosen options."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and "disabled" not in a:
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.setdefault(name, []).append(a.get("value", ""))
        elif tag == "textarea" and name:
            raise AssertionError("the form has a textarea: " + name)
        elif tag == "select" and "disabled" not in a:
            self._select, self._multiple, self._options = name, "multiple" in a, []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not self._multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields.setdefault(self._select, []).extend(chosen)
            self._select = None


def submitted(page: str) -> dict[str, list[str]]:
    form = re.search(r'<form method="post" id="segment-form".*?</form>', page, re.DOTALL)
    assert form is not None
    parser = _FormFields()
    parser.feed(form.group(0))
    return parser.fields


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


GROUPED = {
    "match": "all",
    "conditions": [
        {"type": "tags", "match": "any", "tags": ["Newsletter"]},
        {
            "type": "group",
            "match": "any",
            "conditions": [
                {"type": "field", "field": "birthday", "op": "this_month"},
                {"type": "email_status", "statuses": ["confirmed_doi", "confirmed_soi"]},
            ],
        },
        {
            "type": "group",
            "match": "all",
            "conditions": [
                {
                    "type": "field",
                    "field": "birthday",
                    "op": "between",
                    "value": "1970-01-01",
                    "value2": "1990-12-31",
                },
                {"type": "appointment", "op": "next_days", "days": 7},
            ],
        },
    ],
}


def test_a_segment_with_groups_is_edited_as_rows_and_saved_back_unchanged(
    editor_client, workspace, people
):
    # given a segment with two groups, made through the API's shape
    segment = make_segment(workspace, *GROUPED["conditions"], match="all")
    stored = Segment.objects.get().definition

    # when its page is opened and the form sent back as the browser would
    page = editor_client.get(f"/segments/{segment.pk}/").content.decode()
    fields = submitted(page)
    saved = editor_client.post(f"/segments/{segment.pk}/", fields)

    # then the groups are rows, not JSON, and saving changes nothing
    assert page.count('data-testid="segment-group"') == 2
    assert page.count('data-testid="segment-row"') == 5
    assert "definition_json" not in page
    assert fields["c1-kind"] == ["group"] and fields["c1-match"] == ["any"]
    assert fields["c1-rows"] == ["2"] and fields["c1.1-statuses"] == [
        "confirmed_doi",
        "confirmed_soi",
    ]
    assert fields["c2.0-value2"] == ["1990-12-31"] and fields["c2.1-days"] == ["7"]
    assert saved.status_code == 302
    assert Segment.objects.get().definition == stored
    # and it is counted: the last group asks for an appointment, and nobody has one
    assert 'data-testid="segment-count">0<' in page


def test_posted_groups_become_the_exact_definition(editor_client, workspace, people):
    response = editor_client.post(
        "/segments/new/",
        rows(
            {"kind": "email_status", "statuses": ["confirmed_doi"]},
            {
                "kind": "group",
                "match": "any",
                "rows": [
                    {"kind": "tags", "match": "all", "tags": ["Newsletter"]},
                    {"kind": "field", "field": "birthday", "op": "next_days", "days": "30"},
                ],
            },
        ),
    )

    assert response.status_code == 302
    assert Segment.objects.get().definition == {
        "match": "all",
        "conditions": [
            {"type": "email_status", "statuses": ["confirmed_doi"]},
            {
                "type": "group",
                "match": "any",
                "conditions": [
                    {"type": "tags", "match": "all", "tags": ["Newsletter"]},
                    {
                        "type": "field",
                        "field": "birthday",
                        "op": "next_days",
                        "value": None,
                        "value2": None,
                        "days": 30,
                    },
                ],
            },
        ],
    }


def test_groups_are_added_filled_and_removed_with_a_live_count(editor_client, people):
    def editor(data: dict[str, Any]) -> str:
        return editor_client.post(
            "/segments/editor/", data, HTTP_HX_REQUEST="true"
        ).content.decode()

    # when a group is added: it comes with one condition of its own
    added = editor(rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, add="group"))
    assert added.count('data-testid="segment-group"') == 1
    assert 'name="c1-kind" value="group"' in added and 'name="c1.0-kind"' in added
    # when a second condition is added to the group
    group = {"kind": "group", "match": "any", "rows": [{"kind": "tags", "tags": ["Newsletter"]}]}
    two = editor(rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, group, add_to="1"))
    assert 'name="c1.1-kind"' in two and 'name="c1.2-kind"' not in two
    # then the count follows the group: confirmed and (Newsletter or born this month)
    filled = {
        "kind": "group",
        "match": "any",
        "rows": [
            {"kind": "tags", "match": "any", "tags": ["Newsletter"]},
            {"kind": "email_status", "statuses": ["unknown"]},
        ],
    }
    counted = editor(rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, filled))
    assert 'data-testid="segment-count">1<' in counted  # anna: confirmed, Newsletter
    filled["match"] = "all"
    assert 'data-testid="segment-count">0<' in editor(
        rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, filled)
    )
    # when one of the group's rows is removed, then the other stays in the group
    one = editor(
        rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, filled, remove="1.1")
    )
    assert one.count('data-testid="segment-group"') == 1
    assert 'name="c1-rows" value="1"' in one
    # when its last row is removed, then the group goes with it
    single = {"kind": "group", "match": "all", "rows": [{"kind": "tags", "tags": ["Newsletter"]}]}
    gone = editor(
        rows({"kind": "email_status", "statuses": ["confirmed_doi"]}, single, remove="1.0")
    )
    assert 'data-testid="segment-group"' not in gone
    assert 'name="rows" value="1"' in gone
    # and nothing is stored meanwhile
    assert not Segment.objects.exists()


def test_no_condition_is_added_to_a_group_beyond_the_limit(editor_client, people):
    full = {
        "kind": "group",
        "match": "any",
        "rows": [{"kind": "email_status", "statuses": ["confirmed_doi"]}] * MAX_CONDITIONS,
    }
    for extra in ({"add_to": "0"}, {"add": "1"}, {"add": "group"}):
        page = editor_client.post(
            "/segments/editor/", rows(full, **extra), HTTP_HX_REQUEST="true"
        ).content.decode()
        assert page.count('data-testid="segment-row"') == MAX_CONDITIONS, extra
        assert 'data-testid="group-add"' not in page
        assert 'data-testid="segment-add-group"' not in page
    assert not Segment.objects.exists()


def test_the_group_controls_speak_german_and_a_viewer_cannot_use_them(
    viewer_client, workspace, people
):
    from terminflow.workspaces.models import User

    User.objects.filter(email="viewer@praxis.example").update(language="de")
    segment = make_segment(workspace, *GROUPED["conditions"], match="all")
    page = viewer_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "<legend>Bedingungsgruppe</legend>" in page
    assert (
        '<option value="any" selected>mindestens eine ihrer Bedingungen erfüllen</option>' in page
    )
    assert 'data-testid="group-add"' not in page and 'data-testid="group-remove"' not in page
    assert 'data-testid="segment-add-group"' not in page
