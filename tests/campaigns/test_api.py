"""The campaign API over HTTP: graphs, status changes, isolation, stats, history, resets."""

from __future__ import annotations

import pytest
from django.db import transaction

from terminflow.campaigns import engine
from terminflow.campaigns.models import Campaign, Edge, Element, Enrollment, Run
from terminflow.contacts.models import Field
from tests.conftest import make_workspace

from .factories import T0, edge, element, make_campaign, make_contact, make_field, node, runs

pytestmark = pytest.mark.django_db

START = element("start", "contact.tag_added", tag="booked")
WELCOME = element("welcome", "contact.tag", add=["welcome"])
WAIT = element("wait", "wait.duration", minutes=60)


def body(**overrides):
    data = {
        "name": "Welcome",
        "status": "draft",
        "elements": [START, WELCOME, WAIT],
        "edges": [edge("start", "welcome"), edge("welcome", "wait")],
    }
    data.update(overrides)
    return data


def test_creating_a_campaign_returns_its_graph(api):
    response = api.post("/api/v1/campaigns", body())

    assert response.status_code == 201
    data = response.json()
    campaign = Campaign.objects.get()
    assert data == {
        "id": campaign.pk,
        "name": "Welcome",
        "status": "draft",
        "version": 1,
        "elements": [
            {
                "id": "start",
                "type": "contact.tag_added",
                "kind": "trigger",
                "config": {"tag": "booked"},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "welcome",
                "type": "contact.tag",
                "kind": "action",
                "config": {"add": ["welcome"], "remove": []},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "wait",
                "type": "wait.duration",
                "kind": "wait",
                "config": {"minutes": 60},
                "position": {"x": 0, "y": 0},
            },
        ],
        "edges": [
            {"source": "start", "target": "welcome", "branch": "next"},
            {"source": "welcome", "target": "wait", "branch": "next"},
        ],
        "warnings": [],
        "archived": False,
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
    }
    assert campaign.workspace_id == api.workspace.pk


def test_an_invalid_graph_is_refused_with_every_problem_and_nothing_is_stored(api):
    response = api.post(
        "/api/v1/campaigns",
        body(
            elements=[START, element("x", "sms.send"), element("wait", "wait.duration")],
            edges=[edge("start", "x"), edge("start", "wait", "yes")],
        ),
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": "The campaign cannot be saved: 4 problems in its graph.",
        "code": "invalid_graph",
        "errors": [
            {
                "element": "x",
                "message": "Element “sms.send”: unknown element type sms.send.",
                "code": "unknown_type",
            },
            {
                "element": "wait",
                "message": "Element “Wait”: Minutes: required.",
                "code": "invalid_config",
            },
            {
                "element": "start",
                "message": "Element “Tag added”: the connection to “Wait” leaves from “yes”; "
                "use next.",
                "code": "edge_branch",
            },
            {
                "element": "wait",
                "message": "Element “Wait” is not reachable from any event.",
                "code": "unreachable",
            },
        ],
    }
    assert Campaign.objects.count() == 0
    assert Element.objects.count() == 0


def test_a_malformed_body_is_a_422_not_a_500(api):
    response = api.post("/api/v1/campaigns", {"elements": "many"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert Campaign.objects.count() == 0


def test_put_replaces_the_graph_keeps_removed_elements_and_bumps_the_version(api):
    campaign_id = api.post("/api/v1/campaigns", body(status="active")).json()["id"]
    contact = make_contact(api.workspace)
    with transaction.atomic():
        engine.enter(node(Campaign.objects.get(), "start"), contact, now=T0)
    engine.advance_due(now=T0)  # welcome ran; the wait is scheduled

    response = api.put(
        f"/api/v1/campaigns/{campaign_id}",
        body(
            name="Welcome v2",
            status="active",
            elements=[START, element("welcome", "contact.tag", add=["hello"])],
            edges=[edge("start", "welcome")],
        ),
    )

    assert response.status_code == 200
    data = response.json()
    assert (data["name"], data["version"], data["status"]) == ("Welcome v2", 2, "active")
    assert [e["id"] for e in data["elements"]] == ["start", "welcome"]
    assert data["elements"][1]["config"] == {"add": ["hello"], "remove": []}
    assert list(
        Element.objects.filter(campaign_id=campaign_id).order_by("id").values_list("key", "removed")
    ) == [("start", False), ("welcome", False), ("wait", True)]
    assert Edge.objects.filter(campaign_id=campaign_id).count() == 1
    campaign = Campaign.objects.get()
    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("welcome", 0, "completed"),
        ("wait", 0, "cancelled"),
    ]
    assert Enrollment.objects.get().status == "completed"


def test_a_refused_put_changes_nothing(api):
    campaign_id = api.post("/api/v1/campaigns", body()).json()["id"]

    response = api.put(
        f"/api/v1/campaigns/{campaign_id}", body(name="Broken", edges=[edge("start", "nowhere")])
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_graph"
    campaign = Campaign.objects.get()
    assert (campaign.name, campaign.version) == ("Welcome", 1)
    assert Edge.objects.count() == 2


def test_list_and_get_show_only_the_workspace_s_campaigns(api, api_for):
    mine = api.post("/api/v1/campaigns", body(name="Mine")).json()["id"]
    other_api = api_for(make_workspace("Praxis Enge"))
    theirs = other_api.post("/api/v1/campaigns", body(name="Theirs")).json()["id"]

    assert [c["name"] for c in api.get("/api/v1/campaigns").json()] == ["Mine"]
    assert api.get(f"/api/v1/campaigns/{mine}").json()["name"] == "Mine"
    for path in (
        f"/api/v1/campaigns/{theirs}",
        f"/api/v1/campaigns/{theirs}/stats",
    ):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "detail": f"Campaign {theirs} does not exist.",
            "code": "not_found",
        }
    assert api.put(f"/api/v1/campaigns/{theirs}", body(name="Stolen")).status_code == 404
    assert api.post(f"/api/v1/campaigns/{theirs}/activate").status_code == 404
    assert api.post(f"/api/v1/campaigns/{theirs}/reset").status_code == 404
    assert Campaign.objects.get(pk=theirs).name == "Theirs"


def test_a_contact_of_another_workspace_is_not_found(api, api_for):
    campaign_id = api.post("/api/v1/campaigns", body()).json()["id"]
    stranger = make_contact(make_workspace("Praxis Enge"), "stranger@example.ch")

    for method, suffix in (("get", ""), ("post", "/reset"), ("post", "/stop")):
        response = getattr(api, method)(
            f"/api/v1/campaigns/{campaign_id}/contacts/{stranger.pk}{suffix}"
        )
        assert response.status_code == 404
        assert response.json() == {
            "detail": f"Contact {stranger.pk} does not exist.",
            "code": "not_found",
        }
    assert Enrollment.objects.count() == 0


def test_requests_without_a_token_are_refused(client):
    response = client.get("/api/v1/campaigns")

    assert response.status_code == 401


def test_activate_and_pause_change_the_status(api):
    campaign_id = api.post("/api/v1/campaigns", body()).json()["id"]

    activated = api.post(f"/api/v1/campaigns/{campaign_id}/activate")
    paused = api.post(f"/api/v1/campaigns/{campaign_id}/pause")

    assert (activated.status_code, activated.json()["status"]) == (200, "active")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert Campaign.objects.get().status == "paused"


def test_activation_validates_again(api):
    field = make_field(api.workspace, "appointment", "datetime")
    campaign_id = api.post(
        "/api/v1/campaigns",
        body(
            elements=[START, element("before", "wait.until_field", field="appointment")],
            edges=[edge("start", "before")],
        ),
    ).json()["id"]
    Field.objects.filter(pk=field.pk).delete()

    response = api.post(f"/api/v1/campaigns/{campaign_id}/activate")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "element": "before",
            "message": "Element “Wait until a date”: field 'appointment' does not exist",
            "code": "invalid_reference",
        }
    ]
    assert Campaign.objects.get().status == "draft"


def test_a_campaign_without_a_trigger_cannot_be_activated(api):
    campaign_id = api.post("/api/v1/campaigns", body(elements=[], edges=[])).json()["id"]

    response = api.post(f"/api/v1/campaigns/{campaign_id}/activate")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "element": None,
            "message": "An active campaign needs at least one event.",
            "code": "no_trigger",
        }
    ]


def flow_with_two_contacts(workspace):
    campaign = make_campaign(
        workspace,
        [
            START,
            element("vip", "condition.tag", tag="vip"),
            element("gold", "contact.tag", add=["gold"]),
            WAIT,
        ],
        [edge("start", "vip"), edge("vip", "gold", "yes"), edge("vip", "wait", "no")],
    )
    vip = make_contact(workspace, "vip@example.ch", tags=["vip"])
    plain = make_contact(workspace, "plain@example.ch")
    with transaction.atomic():
        engine.enter(node(campaign, "start"), vip, now=T0)
        engine.enter(node(campaign, "start"), plain, now=T0)
    engine.advance_due(now=T0)
    return campaign, vip, plain


def test_stats_count_runs_per_element(api):
    campaign, _, _ = flow_with_two_contacts(api.workspace)

    response = api.get(f"/api/v1/campaigns/{campaign.pk}/stats")

    assert response.status_code == 200
    zero = {"skipped": 0, "failed": 0, "cancelled": 0, "removed": False, "failures": []}
    assert response.json() == {
        "campaign_id": campaign.pk,
        "enrollments": {"active": 1, "completed": 1, "stopped": 0, "reset": 0, "ready": 0},
        "elements": [
            {
                "id": "start",
                "type": "contact.tag_added",
                "entered": 2,
                "completed": 2,
                "waiting": 0,
                **zero,
            },
            {
                "id": "vip",
                "type": "condition.tag",
                "entered": 2,
                "completed": 2,
                "waiting": 0,
                **zero,
            },
            {
                "id": "gold",
                "type": "contact.tag",
                "entered": 1,
                "completed": 1,
                "waiting": 0,
                **zero,
            },
            {
                "id": "wait",
                "type": "wait.duration",
                "entered": 1,
                "completed": 0,
                "waiting": 1,
                **zero,
            },
        ],
    }


def test_a_contact_s_runs_over_every_rotation_and_its_reset(api):
    campaign, vip, _ = flow_with_two_contacts(api.workspace)

    reset = api.post(f"/api/v1/campaigns/{campaign.pk}/contacts/{vip.pk}/reset")
    with transaction.atomic():
        engine.enter(node(campaign, "start"), vip, now=T0)
    history = api.get(f"/api/v1/campaigns/{campaign.pk}/contacts/{vip.pk}")

    assert reset.status_code == 200
    assert {k: reset.json()[k] for k in ("campaign_id", "contact_id", "rotation", "status")} == {
        "campaign_id": campaign.pk,
        "contact_id": vip.pk,
        "rotation": 1,
        "status": "ready",
    }
    data = history.json()
    assert [(e["rotation"], e["status"]) for e in data["enrollments"]] == [
        (0, "completed"),
        (1, "active"),
    ]
    assert [(r["element"], r["rotation"], r["status"], r["branch"]) for r in data["runs"]] == [
        ("start", 0, "completed", "next"),
        ("vip", 0, "completed", "yes"),
        ("gold", 0, "completed", "next"),
        ("start", 1, "completed", "next"),
        ("vip", 1, "pending", ""),
    ]
    assert data["runs"][0]["due_at"] == "2026-03-02T08:00:00Z"


def test_stopping_a_contact_cancels_its_waiting_run(api):
    campaign, _, plain = flow_with_two_contacts(api.workspace)

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/contacts/{plain.pk}/stop")

    assert response.status_code == 200
    assert response.json() == {"campaign_id": campaign.pk, "contact_id": plain.pk, "cancelled": 1}
    assert Run.objects.get(contact=plain, element__key="wait").status == "cancelled"
    assert Enrollment.objects.get(contact=plain).status == "stopped"


def test_the_mass_reset_starts_a_new_rotation_for_every_contact(api):
    campaign, vip, plain = flow_with_two_contacts(api.workspace)

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/reset")

    assert response.status_code == 200
    assert response.json() == {"campaign_id": campaign.pk, "reset": 2}
    assert list(
        Enrollment.objects.order_by("contact_id", "rotation").values_list(
            "contact_id", "rotation", "status"
        )
    ) == [
        (vip.pk, 0, "completed"),
        (vip.pk, 1, "ready"),
        (plain.pk, 0, "reset"),
        (plain.pk, 1, "ready"),
    ]
    assert Run.objects.get(contact=plain, element__key="wait").status == "cancelled"
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/reset").json()["reset"] == 0


def test_the_element_types_are_listed_for_the_builder(api):
    response = api.get("/api/v1/elements")

    assert response.status_code == 200
    by_key = {t["key"]: t for t in response.json()}
    assert {
        "contact.tag_added",
        "contact.doi_confirmed",
        "contact.tag",
        "contact.set_field",
        "campaign.reset",
        "campaign.stop",
        "wait.duration",
        "wait.until_field",
        "condition.tag",
        "condition.field",
        "condition.email_status",
    } <= set(by_key)
    wait = by_key["wait.until_field"]
    assert (wait["kind"], wait["branches"], wait["label"]) == (
        "wait",
        ["next"],
        "Wait until a date",
    )
    assert wait["config_schema"]["required"] == ["field"]
    assert wait["config_schema"]["properties"]["if_past"]["enum"] == ["continue", "stop"]
    assert wait["config_schema"]["additionalProperties"] is False
    assert by_key["condition.tag"]["branches"] == ["yes", "no"]
