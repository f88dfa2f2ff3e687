"""The built-in element types: triggers from contact signals, actions, conditions, wall clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from terminflow.campaigns import engine
from terminflow.campaigns.elements import wall_clock_due
from terminflow.campaigns.models import Enrollment, Run
from terminflow.campaigns.services import pause_campaign
from terminflow.contacts import consent
from terminflow.contacts import tags as contact_tags

from .factories import (
    edge,
    element,
    enrollments,
    make_campaign,
    make_contact,
    make_field,
    run_of,
    runs,
)

pytestmark = pytest.mark.django_db


# --- triggers -----------------------------------------------------------------------------


def test_adding_the_tag_lets_the_contact_in(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("hi", "contact.tag", add=["hi"]),
        ],
        [edge("start", "hi")],
    )
    contact = make_contact(workspace)

    contact_tags.add_tags(contact, ["other", "booked"])

    assert runs(campaign, contact) == [("start", 0, "completed"), ("hi", 0, "pending")]
    assert Enrollment.objects.get().context == {"source": "tag", "tag": "booked"}


def test_another_tag_or_an_inactive_campaign_lets_nobody_in(workspace):
    make_campaign(workspace, [element("start", "contact.tag_added", tag="booked")])
    paused = make_campaign(
        workspace, [element("start", "contact.tag_added", tag="vip")], name="Paused"
    )
    pause_campaign(paused)
    contact = make_contact(workspace)

    contact_tags.add_tags(contact, ["vip", "Booked"])

    assert Run.objects.count() == 0
    assert Enrollment.objects.count() == 0


def test_confirming_double_opt_in_lets_the_contact_in(workspace):
    campaign = make_campaign(workspace, [element("start", "contact.doi_confirmed")])
    contact = make_contact(workspace)

    consent.set_email_status(contact, "confirmed_doi", source="test")

    assert runs(campaign, contact) == [("start", 0, "completed")]
    assert enrollments(campaign, contact) == [(0, "completed")]


# --- actions ------------------------------------------------------------------------------


def test_the_tag_action_adds_and_removes_tags(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("swap", "contact.tag", add=["customer"], remove=["lead-magnet", "booked"]),
        ],
        [edge("start", "swap")],
    )
    contact = make_contact(workspace, tags=["lead-magnet"])

    contact_tags.add_tags(contact, ["booked"])
    engine.advance_due()

    assert contact_tags.tag_names(contact) == ["customer"]
    assert run_of(campaign, contact, "swap").status == "completed"


def test_a_tag_added_by_a_campaign_can_start_another(workspace):
    make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("mark", "contact.tag", add=["customer"]),
        ],
        [edge("start", "mark")],
        name="First",
    )
    second = make_campaign(
        workspace, [element("customer", "contact.tag_added", tag="customer")], name="Second"
    )
    contact = make_contact(workspace)

    contact_tags.add_tags(contact, ["booked"])
    engine.advance_due()

    assert runs(second, contact) == [("customer", 0, "completed")]


def test_the_set_field_action_writes_the_value(workspace):
    make_field(workspace, "stage", "select", options=["new", "customer"])
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("stage", "contact.set_field", field="stage", value="customer"),
        ],
        [edge("start", "stage")],
    )
    contact = make_contact(workspace)
    contact_tags.add_tags(contact, ["booked"])

    engine.advance_due()

    contact.refresh_from_db()
    assert contact.fields == {"stage": "customer"}
    assert run_of(campaign, contact, "stage").status == "completed"


def test_a_field_removed_after_saving_fails_the_set_field_run_with_the_reason(workspace):
    field = make_field(workspace, "stage", "text")
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("stage", "contact.set_field", field="stage", value="x"),
        ],
        [edge("start", "stage")],
    )
    field.delete()
    contact = make_contact(workspace)
    contact_tags.add_tags(contact, ["booked"])

    engine.advance_due()

    run = run_of(campaign, contact, "stage")
    assert (run.status, run.reason) == (
        "failed",
        "stage: no such field; define it under fields first.",
    )
    contact.refresh_from_db()
    assert contact.fields == {}


# --- conditions ---------------------------------------------------------------------------


def branch_taken(workspace, condition, contact_kwargs):
    campaign = make_campaign(
        workspace,
        [element("start", "contact.tag_added", tag="go"), condition],
        [edge("start", condition["id"])],
    )
    contact = make_contact(workspace, **contact_kwargs)
    contact_tags.add_tags(contact, ["go"])
    engine.advance_due()
    run = run_of(campaign, contact, condition["id"])
    assert run.status == "completed", run.reason
    return run.branch


@pytest.mark.parametrize(
    ("field_type", "op", "value", "stored", "branch"),
    [
        ("text", "eq", "zürich", "Zürich", "yes"),
        ("text", "ne", "Bern", "Zürich", "yes"),
        ("text", "eq", "Bern", None, "no"),
        ("text", "ne", "Bern", None, "yes"),
        ("text", "empty", None, None, "yes"),
        ("text", "empty", None, "Zürich", "no"),
        ("text", "not_empty", None, "Zürich", "yes"),
        ("number", "gt", 3, 4, "yes"),
        ("number", "gt", "3.5", 3, "no"),
        ("number", "lt", 10, 9.5, "yes"),
        ("number", "eq", "4", 4, "yes"),
        ("date", "lt", "2026-07-01", "2026-06-30", "yes"),
        ("date", "gt", "2026-07-01", "2026-07-01", "no"),
        ("datetime", "gt", "2026-07-01T10:00:00+02:00", "2026-07-01T08:30:00+00:00", "yes"),
        ("datetime", "eq", "2026-07-01T10:30:00+02:00", "2026-07-01T08:30:00+00:00", "yes"),
        ("checkbox", "eq", True, True, "yes"),
        ("checkbox", "eq", "false", True, "no"),
        ("select", "eq", "gold", "gold", "yes"),
    ],
)
def test_the_field_condition_compares_by_the_field_s_type(
    workspace, field_type, op, value, stored, branch
):
    make_field(
        workspace, "f", field_type, options=["gold", "silver"] if field_type == "select" else None
    )
    condition = element("check", "condition.field", field="f", op=op, value=value)
    fields = {} if stored is None else {"f": stored}

    assert branch_taken(workspace, condition, {"fields": fields}) == branch


@pytest.mark.parametrize(
    ("status", "branch"), [("confirmed_doi", "yes"), ("confirmed_soi", "no"), ("unknown", "no")]
)
def test_the_email_status_condition(workspace, status, branch):
    condition = element(
        "doi", "condition.email_status", statuses=["confirmed_doi", "confirmed_manual"]
    )

    assert branch_taken(workspace, condition, {"email_status": status}) == branch


def test_the_tag_condition(workspace):
    condition = element("vip", "condition.tag", tag="vip")

    assert branch_taken(workspace, condition, {"tags": ["vip"]}) == "yes"


# --- wall clock arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "offset", "expected"),
    [
        # spring change 2026-03-29 02:00: a day before 09:00 CEST on the 30th is 09:00 CEST
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), -1440, datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # a day before 18:00 CEST on the 29th is 18:00 CET on the 28th
        (datetime(2026, 3, 29, 16, 0, tzinfo=UTC), -1440, datetime(2026, 3, 28, 17, 0, tzinfo=UTC)),
        # autumn change 2026-10-25 03:00: a day before 18:00 CET is 18:00 CEST
        (
            datetime(2026, 10, 25, 17, 0, tzinfo=UTC),
            -1440,
            datetime(2026, 10, 24, 16, 0, tzinfo=UTC),
        ),
        # a day after 10:00 CEST on the 24th is 10:00 CET on the 25th
        (datetime(2026, 10, 24, 8, 0, tzinfo=UTC), 1440, datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
        # two hours before 03:30 CEST on the change day is 01:30 CET, across the change
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), -120, datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
        # two hours before 04:30 CEST is 02:30, which the change skips: read with the offset
        # before it, i.e. 01:30 UTC (03:30 CEST on the clock)
        (datetime(2026, 3, 29, 2, 30, tzinfo=UTC), -120, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_offsets_count_on_the_wall_clock_of_the_zone(moment, offset, expected):
    assert wall_clock_due(moment, offset, "Europe/Zurich") == expected
