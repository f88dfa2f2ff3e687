"""A wait tied to an eTermin appointment stops when the appointment is deleted in eTermin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from terminflow.campaigns.engine import advance_due
from terminflow.campaigns.models import Element, Run, RunStatus
from terminflow.campaigns.services import save_campaign
from terminflow.campaigns.validation import InvalidGraph
from terminflow.contacts.models import Contact
from terminflow.etermin.processing import process_pending
from tests.campaigns.factories import graph
from tests.conftest import ApiClient

from .factories import (
    etermin_element,
    make_account,
    make_campaign,
    make_field,
    push_body,
    store_push,
)

UID = "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"
NOW = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def reminder_flow(workspace: Any, **wait_config: Any) -> Any:
    """eTermin created → wait until one day before the start → tag."""
    make_field(workspace, "termin_beginn")
    return make_campaign(
        workspace,
        [
            etermin_element(start_field="termin_beginn"),
            {
                "id": "remind",
                "type": "wait.until_field",
                "config": {"field": "termin_beginn", "offset_minutes": -1440, **wait_config},
                "position": {},
            },
            {"id": "tag", "type": "contact.tag", "config": {"add": ["erinnert"]}, "position": {}},
        ],
        [("booking", "remind"), ("remind", "tag")],
    )


def book_then_delete(account: Any) -> Run:
    store_push(account, push_body("CREATED", UID))
    process_pending(now=NOW)
    advance_due(now=NOW)
    wait = Run.objects.get(element__key="remind")
    assert (wait.status, wait.due_at) == ("pending", datetime(2026, 12, 2, 8, 30, tzinfo=UTC))
    store_push(account, push_body("DELETED", UID))
    process_pending(now=NOW)
    wait.refresh_from_db()
    return wait


def test_deleting_the_appointment_stops_the_wait_by_default_with_its_reason(workspace):
    # given a reminder waiting for a booked appointment
    account = make_account(workspace)
    campaign = reminder_flow(workspace)

    # when the appointment is deleted in eTermin
    wait = book_then_delete(account)

    # then the wait is stopped with the reason and the reminder never runs
    assert (wait.status, wait.reason) == ("cancelled", "the appointment was deleted in eTermin")
    advance_due(now=datetime(2026, 12, 3, tzinfo=UTC))
    assert not Run.objects.filter(element__key="tag").exists()
    # and the contact's steps say so, in German with a stable code
    contact = Contact.objects.get()
    german = ApiClient(workspace, language="de")
    runs = german.get(f"/api/v1/campaigns/{campaign.pk}/contacts/{contact.pk}").json()["runs"]
    remind = next(run for run in runs if run["element"] == "remind")
    assert (remind["status"], remind["reason"], remind["reason_code"]) == (
        "cancelled",
        "Termin in eTermin gelöscht",
        "appointment_deleted",
    )


def test_with_the_option_off_the_wait_goes_on(workspace):
    account = make_account(workspace)
    reminder_flow(workspace, stop_if_appointment_deleted=False)

    wait = book_then_delete(account)

    assert (wait.status, wait.reason) == ("pending", "")
    advance_due(now=datetime(2026, 12, 2, 9, tzinfo=UTC))
    assert Run.objects.get(element__key="tag").status == RunStatus.COMPLETED


def test_a_wait_reached_after_the_deletion_stops_at_once(workspace):
    # given the wait comes after a one-day wait, and the appointment is deleted meanwhile
    account = make_account(workspace)
    make_field(workspace, "termin_beginn")
    make_campaign(
        workspace,
        [
            etermin_element(start_field="termin_beginn"),
            {"id": "pause", "type": "wait.duration", "config": {"minutes": 60}, "position": {}},
            {
                "id": "remind",
                "type": "wait.until_field",
                "config": {"field": "termin_beginn", "offset_minutes": -60},
                "position": {},
            },
        ],
        [("booking", "pause"), ("pause", "remind")],
    )
    store_push(account, push_body("CREATED", UID))
    process_pending(now=NOW)
    advance_due(now=NOW)
    store_push(account, push_body("DELETED", UID))
    process_pending(now=NOW)

    # when the contact reaches the wait
    advance_due(now=datetime(2026, 11, 27, 15, 10, tzinfo=UTC))

    # then it stops there with the reason
    wait = Run.objects.get(element__key="remind")
    assert (wait.status, wait.reason) == ("skipped", "the appointment was deleted in eTermin")


def test_the_option_needs_a_field_an_etermin_element_fills(workspace):
    # given a date field that nothing from eTermin fills
    make_field(workspace, "geburtstag", "date")
    data = graph(
        [
            {"id": "start", "type": "contact.tag_added", "config": {"tag": "x"}, "position": {}},
            {
                "id": "wait",
                "type": "wait.until_field",
                "config": {"field": "geburtstag", "stop_if_appointment_deleted": True},
                "position": {},
            },
        ],
        [{"source": "start", "target": "wait"}],
    )

    # when the campaign is saved with the option switched on
    with pytest.raises(InvalidGraph) as raised:
        save_campaign(workspace, data)

    # then saving is refused with the reason, and nothing is stored
    assert [e.message for e in raised.value.errors] == [
        "Element “Wait until a date”: “Stop when the appointment is deleted” needs a field that "
        "an eTermin element fills; no eTermin element fills “geburtstag”."
    ]
    assert Element.objects.count() == 0


def test_the_registry_offers_the_option(api):
    types = {t["key"]: t for t in api.get("/api/v1/elements").json()}

    schema = types["wait.until_field"]["config_schema"]["properties"]
    assert schema["stop_if_appointment_deleted"]["default"] is None
