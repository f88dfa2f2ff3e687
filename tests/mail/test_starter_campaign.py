"""The starter campaign "Termine mit Erinnerung": one click, a calendar, active."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.campaigns.models import Campaign
from terminflow.campaigns.services import campaign_graph
from terminflow.campaigns.validation import validate_graph
from terminflow.contacts.models import Field
from terminflow.etermin.services import connect_account
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient
from tests.etermin.factories import make_account, make_field
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/starters/appointments-with-reminder"
CALENDAR = 211614


def stored(workspace: Workspace) -> dict[str, Any]:
    """What the workspace holds: campaigns, emails and fields by name."""
    return {
        "campaigns": list(
            Campaign.objects.filter(workspace=workspace).values_list("name", "status")
        ),
        "emails": list(
            EmailTemplate.objects.filter(workspace=workspace).values_list("name", "kind")
        ),
        "fields": list(
            Field.objects.filter(workspace=workspace).values_list("key", "type", "label")
        ),
    }


def expected_graph(
    workspace: Workspace, campaign_id: int, account_id: int | None, field: str = "appointment_start"
) -> list[dict[str, Any]]:
    doi = EmailTemplate.objects.get(workspace=workspace, kind="doi")
    reminder = EmailTemplate.objects.get(workspace=workspace, kind="marketing")
    trigger = {
        "account_id": account_id,
        "calendar": "all",
        "end_field": None,
        "save_notes": False,
        "newsletter_only": False,
    }
    return [
        {
            "id": "booking",
            "type": "etermin.appointment",
            "kind": "trigger",
            "config": {**trigger, "event": "created", "start_field": field},
            "position": {"x": 80, "y": 40},
        },
        {
            "id": "doi",
            "type": "email.doi",
            "kind": "action",
            "config": {"email_id": doi.pk},
            "position": {"x": 80, "y": 200},
        },
        {
            "id": "wait",
            "type": "wait.until_field",
            "kind": "wait",
            "config": {
                "field": field,
                "offset_minutes": -1440,
                "if_past": "continue",
                "stop_if_appointment_deleted": None,
            },
            "position": {"x": 80, "y": 360},
        },
        {
            "id": "reminder",
            "type": "email.send",
            "kind": "action",
            "config": {"email_id": reminder.pk},
            "position": {"x": 80, "y": 520},
        },
        {
            "id": "cancelled",
            "type": "etermin.appointment",
            "kind": "trigger",
            "config": {**trigger, "event": "deleted", "start_field": None},
            "position": {"x": 420, "y": 40},
        },
        {
            "id": "stop",
            "type": "campaign.stop",
            "kind": "action",
            "config": {"campaign_id": campaign_id},
            "position": {"x": 420, "y": 200},
        },
    ]


def test_one_click_makes_the_draft_with_its_emails_and_date_field(
    api: ApiClient, workspace: Workspace
) -> None:
    # given a workspace with one eTermin account
    account = make_account(workspace)
    # when
    response = api.post(URL)
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["status"], body["warnings"]) == (
        "Termine mit Erinnerung",
        "draft",
        [],
    )
    assert body["elements"] == expected_graph(workspace, body["id"], account.pk)
    assert body["edges"] == [
        {"source": "booking", "target": "doi", "branch": "next"},
        {"source": "doi", "target": "wait", "branch": "next"},
        {"source": "wait", "target": "reminder", "branch": "next"},
        {"source": "cancelled", "target": "stop", "branch": "next"},
    ]
    assert stored(workspace) == {
        "campaigns": [("Termine mit Erinnerung", "draft")],
        "emails": [("Double-Opt-in-Anfrage", "doi"), ("Erinnerung 24 Stunden vorher", "marketing")],
        "fields": [("appointment_start", "datetime", "Terminbeginn")],
    }
    # and its graph passes the checks an active campaign must pass
    campaign = Campaign.objects.get()
    errors, warnings = validate_graph(workspace, campaign_graph(campaign), activating=True)
    assert (errors, warnings) == ([], [])


def test_it_activates_after_choosing_a_calendar(
    api: ApiClient, workspace: Workspace, etermin_sandbox: SandboxHandle
) -> None:
    # given the campaign made from the starter, for an account in eTermin
    etermin_sandbox.add_account("pk-praxis", "sk-praxis", calendars=[(CALENDAR, "Seefeld")])
    connect_account(workspace, name="Praxis", public_key="pk-praxis", private_key="sk-praxis")
    campaign = api.post(URL).json()
    elements = [{k: v for k, v in e.items() if k != "kind"} for e in campaign["elements"]]
    for element in elements:
        if element["type"] == "etermin.appointment":
            element["config"]["calendar"] = str(CALENDAR)  # as the builder's dropdown sends it
    # when the calendar is chosen and the campaign activated
    saved = api.put(
        f"/api/v1/campaigns/{campaign['id']}",
        {"name": campaign["name"], "elements": elements, "edges": campaign["edges"]},
    )
    activated = api.post(f"/api/v1/campaigns/{campaign['id']}/activate")
    # then
    assert saved.status_code == 200, saved.content
    assert activated.status_code == 200, activated.content
    assert activated.json()["status"] == "active"
    assert [e["config"]["calendar"] for e in activated.json()["elements"][::4]] == [
        CALENDAR,
        CALENDAR,
    ]
    # and a calendar the account does not have is refused
    elements[0]["config"]["calendar"] = "999"
    refused = api.put(
        f"/api/v1/campaigns/{campaign['id']}",
        {"name": campaign["name"], "elements": elements, "edges": campaign["edges"]},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == (
        "Element “eTermin”: Calendar 999 does not exist in eTermin account “Praxis”."
    )


def test_without_an_etermin_account_it_is_still_made_and_says_what_to_set(
    api: ApiClient, workspace: Workspace
) -> None:
    # when the workspace has no eTermin account yet
    response = api.post(URL)
    # then the draft is there, with the account still to connect
    assert response.status_code == 201
    body = response.json()
    message = "Connect an eTermin account first (Settings → API info → eTermin)."
    assert body["warnings"] == [
        {
            "element": "booking",
            "message": f"Element “eTermin”: {message}",
            "code": "invalid_reference",
        },
        {
            "element": "cancelled",
            "message": f"Element “eTermin 2”: {message}",
            "code": "invalid_reference",
        },
    ]
    # and it cannot be activated until the account is connected
    refused = api.post(f"/api/v1/campaigns/{body['id']}/activate")
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_graph")
    assert [e["element"] for e in refused.json()["errors"]] == ["booking", "cancelled"]
    assert Campaign.objects.get().status == "draft"
    make_account(workspace)
    assert api.post(f"/api/v1/campaigns/{body['id']}/activate").json()["status"] == "active"


def test_with_several_accounts_the_account_is_left_to_choose(
    api: ApiClient, workspace: Workspace
) -> None:
    # given two eTermin accounts
    make_account(workspace, name="Seefeld", public_key="pub-1")
    make_account(workspace, name="Oerlikon", public_key="pub-2")
    # when
    body = api.post(URL).json()
    # then
    assert [(w["element"], w["message"]) for w in body["warnings"]] == [
        ("booking", "Element “eTermin”: Choose the eTermin account: this workspace has several."),
        (
            "cancelled",
            "Element “eTermin 2”: Choose the eTermin account: this workspace has several.",
        ),
    ]
    assert [e["config"]["account_id"] for e in body["elements"][::4]] == [None, None]


def test_in_english_and_next_to_what_the_workspace_already_has(
    api: ApiClient, workspace: Workspace
) -> None:
    # given a text field already called appointment_start, and a first copy of the campaign
    account = make_account(workspace)
    make_field(workspace, "appointment_start", type="text")
    api.post(URL, {"language": "en"})
    # when it is made a second time
    body = api.post(URL, {"language": "en"}).json()
    # then names and the field do not clash
    assert body["name"] == "Appointments with reminder (2)"
    doi, reminder = EmailTemplate.objects.filter(name__endswith="(2)").order_by("id")
    configs = [e["config"] for e in body["elements"]]
    assert configs[0]["start_field"] == configs[2]["field"] == "appointment_start_2"
    assert (configs[1]["email_id"], configs[3]["email_id"]) == (doi.pk, reminder.pk)
    assert configs[0]["account_id"] == account.pk
    assert stored(workspace) == {
        "campaigns": [
            ("Appointments with reminder", "draft"),
            ("Appointments with reminder (2)", "draft"),
        ],
        "emails": [
            ("Double opt-in request", "doi"),
            ("Reminder 24 hours before", "marketing"),
            ("Double opt-in request (2)", "doi"),
            ("Reminder 24 hours before (2)", "marketing"),
        ],
        "fields": [
            ("appointment_start", "text", "Appointment_Start"),
            ("appointment_start_2", "datetime", "Appointment start"),
        ],
    }


def test_an_existing_datetime_field_is_used_rather_than_a_new_one(
    api: ApiClient, workspace: Workspace
) -> None:
    # given
    make_account(workspace)
    make_field(workspace, "appointment_start")
    # when
    body = api.post(URL).json()
    # then
    assert body["elements"][2]["config"]["field"] == "appointment_start"
    assert Field.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/campaigns/starters/newsletter", {}, 404, "starter_not_found"),
        (URL, {"language": "fr"}, 422, "starter_language"),
        (URL, {"lang": "de"}, 422, "invalid"),
    ],
)
def test_unknown_starters_and_languages_store_nothing(
    api: ApiClient, workspace: Workspace, path: str, body: dict, status: int, code: str
) -> None:
    # when
    response = api.post(path, body)
    # then
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert stored(workspace) == {"campaigns": [], "emails": [], "fields": []}


def test_the_starter_campaigns_are_listed(api: ApiClient, workspace: Workspace) -> None:
    assert api.get("/api/v1/campaigns/starters").json() == [
        {"key": "appointments-with-reminder", "label": "Appointments with reminder"}
    ]
    german = ApiClient(workspace, language="de")
    assert german.get("/api/v1/campaigns/starters").json()[0]["label"] == ("Termine mit Erinnerung")
