"""``/api/v1/segments``: save with validation, count live, page members, tenants sealed."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.segments.models import Segment
from tests.campaigns.factories import element, make_campaign
from tests.conftest import ApiClient, make_workspace
from tests.contacts.factories import make_field
from tests.mail.conftest import make_email
from tests.segments.factories import make_contact

pytestmark = pytest.mark.django_db

NEWSLETTER_DOI = {
    "match": "all",
    "conditions": [
        {"type": "email_status", "statuses": ["confirmed_doi"]},
        {"type": "tags", "match": "any", "tags": ["Newsletter"]},
    ],
}


@pytest.fixture
def people(workspace: Any) -> list[Any]:
    found = []
    for n in range(5):
        found.append(
            make_contact(
                workspace,
                f"person{n}@example.ch",
                email_status="confirmed_doi" if n % 2 == 0 else "unknown",
                tags=["Newsletter"],
            )
        )
    return found


def test_create_get_update_and_delete_a_segment(api: ApiClient, people: list[Any]):
    created = api.post("/api/v1/segments", {"name": "Newsletter", "definition": NEWSLETTER_DOI})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["name"], body["count"]) == ("Newsletter", 3)
    assert body["definition"]["conditions"][1] == {
        "type": "tags",
        "match": "any",
        "tags": ["Newsletter"],
    }

    got = api.get(f"/api/v1/segments/{body['id']}").json()
    assert (got["name"], got["count"]) == ("Newsletter", 3)
    assert [s["name"] for s in api.get("/api/v1/segments").json()] == ["Newsletter"]

    everyone = api.put(f"/api/v1/segments/{body['id']}", {"name": "Alle", "definition": {}})
    assert everyone.status_code == 200
    assert (everyone.json()["name"], everyone.json()["count"]) == ("Alle", 5)

    assert api.delete(f"/api/v1/segments/{body['id']}").status_code == 204
    assert not Segment.objects.exists()


def test_members_are_paged_newest_first_with_a_cursor(api: ApiClient, people: list[Any]):
    segment_id = api.post("/api/v1/segments", {"name": "DOI", "definition": NEWSLETTER_DOI}).json()[
        "id"
    ]
    first = api.get(f"/api/v1/segments/{segment_id}/contacts?limit=2").json()
    assert [c["email"] for c in first["items"]] == ["person4@example.ch", "person2@example.ch"]
    assert first["items"][0]["tags"] == ["Newsletter"]
    second = api.get(
        f"/api/v1/segments/{segment_id}/contacts?limit=2&cursor={first['next_cursor']}"
    ).json()
    assert [c["email"] for c in second["items"]] == ["person0@example.ch"]
    assert second["next_cursor"] is None
    bad = api.get(f"/api/v1/segments/{segment_id}/contacts?cursor=nonsense")
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (
            {"conditions": [{"type": "field", "field": "birthday", "op": "this_month"}]},
            "Condition 1: field 'birthday' does not exist",
        ),
        (
            {"conditions": [{"type": "field", "field": "visits", "op": "this_month"}]},
            "Condition 1: the comparison 'this_month' does not work on the number field "
            "'visits'; use one of: eq, gt, lt, between, empty, not_empty",
        ),
        (
            {"conditions": [{"type": "field", "field": "visits", "op": "gt", "value": "many"}]},
            "Condition 1: visits: 'many' is not a number.",
        ),
        (
            {"conditions": [{"type": "tags", "tags": ["Unbekannt"]}]},
            "Condition 1: the tag 'Unbekannt' does not exist",
        ),
        (
            {"conditions": [{"type": "campaign", "campaign_id": 999999}]},
            "Condition 1: campaign 999999 does not exist",
        ),
        (
            {
                "conditions": [
                    {"type": "email_status", "statuses": ["confirmed_doi"]},
                    {
                        "type": "group",
                        "match": "any",
                        "conditions": [{"type": "email", "email_id": 999999, "op": "opened"}],
                    },
                ]
            },
            "Condition 2.1: email 999999 does not exist",
        ),
    ],
)
def test_references_that_do_not_exist_are_422_and_nothing_is_stored(
    api: ApiClient, workspace: Any, definition: dict[str, Any], message: str
):
    make_field(workspace, "visits", "number")
    response = api.post("/api/v1/segments", {"name": "X", "definition": definition})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_segment"
    assert response.json()["detail"] == message
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ({"conditions": [{"type": "colour", "value": "red"}]}, "has an unknown type"),
        ({"conditions": [{"type": "field", "field": "x", "op": "gt"}]}, "needs a value"),
        ({"conditions": [{"type": "field", "field": "x", "op": "next_days"}]}, "needs days"),
        (
            {"conditions": [{"type": "field", "field": "x", "op": "next_days", "days": 99999}]},
            "may be at most 3660",
        ),
        (
            {"conditions": [{"type": "email_status", "statuses": ["confirmed_doi"]}] * 21},
            "may have at most 20 entries",
        ),
        (
            {
                "conditions": [
                    {
                        "type": "group",
                        "conditions": [{"type": "group", "conditions": []}],
                    }
                ]
            },
            "has an unknown type",
        ),
        ({"match": "sometimes", "conditions": []}, "must be one of"),
        ({"conditions": [], "extra": 1}, "is not allowed here"),
    ],
)
def test_malformed_definitions_are_422_with_a_reason(
    api: ApiClient, definition: dict[str, Any], fragment: str
):
    response = api.post("/api/v1/segments", {"name": "X", "definition": definition})
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert not Segment.objects.exists()


def test_twenty_conditions_across_groups_are_the_most(api: ApiClient):
    rule = {"type": "email_status", "statuses": ["confirmed_doi"]}
    group = {"type": "group", "match": "any", "conditions": [rule] * 10}
    ok = api.post("/api/v1/segments", {"name": "20", "definition": {"conditions": [group] * 2}})
    assert ok.status_code == 201
    too_many = api.post(
        "/api/v1/segments",
        {"name": "21", "definition": {"conditions": [group, group, rule]}},
    )
    assert too_many.status_code == 422
    assert "at most 20 conditions" in too_many.json()["detail"]
    assert list(Segment.objects.values_list("name", flat=True)) == ["20"]


def test_the_reasons_come_in_german(workspace: Any):
    german = ApiClient(workspace, language="de")
    response = german.post(
        "/api/v1/segments",
        {"name": "X", "definition": {"conditions": [{"type": "tags", "tags": ["Unbekannt"]}]}},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "Bedingung 1: Das Tag 'Unbekannt' existiert nicht"


def test_another_workspaces_segments_and_references_are_not_found(api: ApiClient, people):
    other = make_workspace("Praxis Oerlikon")
    theirs = ApiClient(other)
    foreign = theirs.post("/api/v1/segments", {"name": "Theirs", "definition": {}}).json()
    for method, path in (
        ("get", f"/api/v1/segments/{foreign['id']}"),
        ("get", f"/api/v1/segments/{foreign['id']}/contacts"),
        ("delete", f"/api/v1/segments/{foreign['id']}"),
    ):
        assert getattr(api, method)(path).status_code == 404
    renamed = api.put(f"/api/v1/segments/{foreign['id']}", {"name": "Mine", "definition": {}})
    assert renamed.status_code == 404
    assert [s["id"] for s in api.get("/api/v1/segments").json()] == []
    # Their campaign, email and field read as not existing.
    their_campaign = make_campaign(other, [element("t", "contact.tag_added", tag="x")])
    their_email = make_email(other)
    make_field(other, "birthday", "date")
    for condition in (
        {"type": "campaign", "campaign_id": their_campaign.pk},
        {"type": "email", "email_id": their_email.pk, "op": "opened"},
        {"type": "field", "field": "birthday", "op": "this_month"},
    ):
        response = api.post(
            "/api/v1/segments", {"name": "Mine", "definition": {"conditions": [condition]}}
        )
        assert response.status_code == 422, condition
    assert list(Segment.objects.values_list("name", flat=True)) == ["Theirs"]


def test_a_segment_a_campaign_uses_cannot_be_deleted(api: ApiClient, workspace: Any):
    segment_id = api.post("/api/v1/segments", {"name": "Alle", "definition": {}}).json()["id"]
    make_campaign(
        workspace,
        [element("start", "segment.entered", segment_id=segment_id)],
        name="Willkommen",
    )
    response = api.delete(f"/api/v1/segments/{segment_id}")
    assert response.status_code == 409
    assert response.json()["code"] == "segment_in_use"
    assert response.json()["detail"] == "The segment is used by the campaign(s) “Willkommen”."
    assert Segment.objects.filter(pk=segment_id).exists()
