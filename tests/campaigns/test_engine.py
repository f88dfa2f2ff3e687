"""The engine: entering, the sweep, waits, conditions, one pass per rotation, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from pydantic import BaseModel, ConfigDict

from terminflow.campaigns import engine, registry
from terminflow.campaigns.models import Enrollment, Run
from terminflow.campaigns.services import (
    activate_campaign,
    pause_campaign,
    reset_contact,
    stop_contact,
)
from terminflow.campaigns.tasks import SWEEPS
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import tags as contact_tags
from terminflow.kit.errors import Unprocessable

from .factories import (
    T0,
    edge,
    element,
    enrollments,
    make_campaign,
    make_contact,
    make_field,
    node,
    registered,
    run_of,
    runs,
)

pytestmark = pytest.mark.django_db(transaction=False)

MINUTE = timedelta(minutes=1)


def tag_flow(workspace, *, wait_minutes: int = 60):
    """start (tag_added "booked") → tag "welcome" → wait → tag "reminded"."""
    return make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("welcome", "contact.tag", add=["welcome"]),
            element("wait", "wait.duration", minutes=wait_minutes),
            element("remind", "contact.tag", add=["reminded"]),
        ],
        [edge("start", "welcome"), edge("welcome", "wait"), edge("wait", "remind")],
    )


def enter(campaign, contact, key="start", now=T0, **kwargs):
    with transaction.atomic():
        return engine.enter(node(campaign, key), contact, now=now, **kwargs)


def tags(contact) -> list[str]:
    return contact_tags.tag_names(contact)


# --- enter --------------------------------------------------------------------------------


def test_enter_writes_the_trigger_run_and_a_pending_run_due_now_for_what_follows(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)

    enrollment = enter(campaign, contact, context={"appointment_id": 7})

    assert (enrollment.rotation, enrollment.status) == (0, "active")
    assert enrollment.context == {"appointment_id": 7}
    assert runs(campaign, contact) == [("start", 0, "completed"), ("welcome", 0, "pending")]
    welcome = run_of(campaign, contact, "welcome")
    assert welcome.due_at == T0
    assert run_of(campaign, contact, "start").finished_at == T0


def test_entering_the_same_trigger_again_in_the_rotation_writes_nothing(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)

    again = enter(campaign, contact, now=T0 + MINUTE)

    assert again is None
    assert runs(campaign, contact) == [("start", 0, "completed"), ("welcome", 0, "pending")]
    assert enrollments(campaign, contact) == [(0, "active")]


def test_a_completed_contact_does_not_pass_again_until_reset(workspace):
    campaign = tag_flow(workspace, wait_minutes=1)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)
    engine.advance_due(now=T0 + MINUTE)
    assert enrollments(campaign, contact) == [(0, "completed")]

    assert enter(campaign, contact, now=T0 + 2 * MINUTE) is None
    assert Run.objects.filter(campaign=campaign).count() == 4


def test_reset_starts_a_second_pass_and_keeps_the_first_in_the_history(workspace):
    campaign = tag_flow(workspace, wait_minutes=1)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)
    engine.advance_due(now=T0 + MINUTE)

    ready = reset_contact(campaign, contact)
    assert (ready.rotation, ready.status) == (1, "ready")
    second = enter(campaign, contact, now=T0 + 10 * MINUTE)
    engine.advance_due(now=T0 + 10 * MINUTE)
    engine.advance_due(now=T0 + 11 * MINUTE)

    assert second.pk == ready.pk
    assert enrollments(campaign, contact) == [(0, "completed"), (1, "completed")]
    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("welcome", 0, "completed"),
        ("wait", 0, "completed"),
        ("remind", 0, "completed"),
        ("start", 1, "completed"),
        ("welcome", 1, "completed"),
        ("wait", 1, "completed"),
        ("remind", 1, "completed"),
    ]


def test_a_second_trigger_of_the_campaign_lets_a_completed_contact_in_within_the_rotation(
    workspace,
):
    campaign = make_campaign(
        workspace,
        [
            element("booked", "contact.tag_added", tag="booked"),
            element("paid", "contact.tag_added", tag="paid"),
            element("welcome", "contact.tag", add=["welcome"]),
            element("thanks", "contact.tag", add=["thanks"]),
        ],
        [edge("booked", "welcome"), edge("paid", "welcome"), edge("paid", "thanks")],
    )
    contact = make_contact(workspace)
    enter(campaign, contact, "booked")
    engine.advance_due(now=T0)
    assert enrollments(campaign, contact) == [(0, "completed")]

    enter(campaign, contact, "paid", now=T0 + MINUTE, context={"tag": "paid"})
    engine.advance_due(now=T0 + MINUTE)

    # "welcome" was passed already: it does not run a second time.
    assert runs(campaign, contact) == [
        ("booked", 0, "completed"),
        ("welcome", 0, "completed"),
        ("paid", 0, "completed"),
        ("thanks", 0, "completed"),
    ]
    assert enrollments(campaign, contact) == [(0, "completed")]


def test_a_trigger_without_successors_completes_the_enrollment_at_once(workspace):
    campaign = make_campaign(workspace, [element("start", "contact.tag_added", tag="x")])
    contact = make_contact(workspace)

    enrollment = enter(campaign, contact)

    assert enrollment.status == "completed"
    assert Enrollment.objects.get(pk=enrollment.pk).ended_at == T0


def test_an_inactive_campaign_lets_nobody_in(workspace):
    campaign = tag_flow(workspace)
    pause_campaign(campaign)
    contact = make_contact(workspace)

    assert enter(campaign, contact) is None
    assert runs(campaign, contact) == []
    assert enrollments(campaign, contact) == []


def enter_many(campaign, items, key="start", now=T0):
    with transaction.atomic():
        return engine.enter_many(node(campaign, key), items, now=now)


def test_enter_many_keeps_the_rules_of_enter_for_each_contact(workspace):
    # given a contact who passed the trigger already and one whose enrollment was stopped
    campaign = tag_flow(workspace)
    new, passed, stopped, other = (
        make_contact(workspace, f"{name}@example.ch") for name in ("new", "passed", "stop", "o")
    )
    enter(campaign, passed)
    enter(campaign, stopped)
    stop_contact(campaign, stopped)

    # when
    entered = enter_many(
        campaign,
        [
            (new, {"appointment_id": 1}),
            (passed, {"appointment_id": 2}),
            (stopped, None),
            (other, {"appointment_id": 4}),
            (new, {"appointment_id": 5}),
        ],
        now=T0 + MINUTE,
    )

    # then
    assert [e is None for e in entered] == [False, True, True, False, True]
    assert (entered[0].contact_id, entered[0].rotation, entered[0].status) == (new.pk, 0, "active")
    assert Enrollment.objects.get(pk=entered[0].pk).context == {"appointment_id": 1}
    assert Enrollment.objects.get(pk=entered[3].pk).context == {"appointment_id": 4}
    for contact in (new, other):
        assert runs(campaign, contact) == [("start", 0, "completed"), ("welcome", 0, "pending")]
        assert run_of(campaign, contact, "welcome").due_at == T0 + MINUTE
        assert run_of(campaign, contact, "start").finished_at == T0 + MINUTE
    assert runs(campaign, passed) == [("start", 0, "completed"), ("welcome", 0, "pending")]
    assert run_of(campaign, passed, "start").finished_at == T0
    assert enrollments(campaign, stopped) == [(0, "stopped")]
    assert runs(campaign, stopped) == [("start", 0, "completed"), ("welcome", 0, "cancelled")]


def test_enter_many_reopens_a_completed_enrollment_and_merges_the_context(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("booked", "contact.tag_added", tag="booked"),
            element("paid", "contact.tag_added", tag="paid"),
            element("thanks", "contact.tag", add=["thanks"]),
        ],
        [edge("paid", "thanks")],
    )
    contact = make_contact(workspace)
    enter(campaign, contact, "booked", context={"source": "tag", "tag": "booked"})
    assert enrollments(campaign, contact) == [(0, "completed")]

    [enrollment] = enter_many(campaign, [(contact, {"tag": "paid"})], "paid", now=T0 + MINUTE)

    assert (enrollment.status, enrollment.ended_at) == ("active", None)
    stored = Enrollment.objects.get(pk=enrollment.pk)
    assert (stored.status, stored.context) == ("active", {"source": "tag", "tag": "paid"})
    assert runs(campaign, contact) == [
        ("booked", 0, "completed"),
        ("paid", 0, "completed"),
        ("thanks", 0, "pending"),
    ]


def test_enter_many_completes_at_once_behind_a_trigger_without_successors(workspace):
    campaign = make_campaign(workspace, [element("start", "contact.tag_added", tag="x")])
    first, second = make_contact(workspace, "a@example.ch"), make_contact(workspace, "b@example.ch")

    entered = enter_many(campaign, [(first, None), (second, None)])

    assert [e.status for e in entered] == ["completed", "completed"]
    assert sorted(Enrollment.objects.values_list("status", "ended_at")) == [
        ("completed", T0),
        ("completed", T0),
    ]


def test_enter_many_at_an_inactive_campaign_lets_nobody_in(workspace):
    campaign = tag_flow(workspace)
    pause_campaign(campaign)
    contact = make_contact(workspace)

    assert enter_many(campaign, [(contact, None)]) == [None]
    assert runs(campaign, contact) == []
    assert enrollments(campaign, contact) == []


def test_enter_many_that_meets_a_concurrent_entry_takes_the_contacts_one_at_a_time(workspace):
    # given a contact whose trigger run another worker wrote after the batch looked
    campaign = tag_flow(workspace)
    early, late = make_contact(workspace, "a@example.ch"), make_contact(workspace, "b@example.ch")
    enter(campaign, late)
    real_filter = Run.objects.filter
    calls: list[int] = []

    def filter_missing_the_run(*args, **kwargs):
        calls.append(1)
        query = real_filter(*args, **kwargs)
        return query.none() if len(calls) == 1 else query

    # when
    with mock.patch.object(Run.objects, "filter", side_effect=filter_missing_the_run):
        entered = enter_many(campaign, [(early, None), (late, None)], now=T0 + MINUTE)

    # then the insert hit the unique index and each contact went through ``enter``
    assert [e is None for e in entered] == [False, True]
    assert runs(campaign, early) == [("start", 0, "completed"), ("welcome", 0, "pending")]
    assert run_of(campaign, late, "start").finished_at == T0


# --- the sweep ----------------------------------------------------------------------------


def test_actions_run_when_due_and_a_wait_holds_the_contact_until_its_time(workspace):
    campaign = tag_flow(workspace, wait_minutes=60)
    contact = make_contact(workspace)
    enter(campaign, contact)

    moved = engine.advance_due(now=T0)

    assert moved == 2  # welcome ran, and the wait it led to was scheduled
    assert tags(contact) == ["welcome"]
    wait = run_of(campaign, contact, "wait")
    assert (wait.status, wait.wait_until, wait.due_at) == (
        "pending",
        T0 + 60 * MINUTE,
        T0 + 60 * MINUTE,
    )

    assert engine.advance_due(now=T0 + 59 * MINUTE) == 0
    assert run_of(campaign, contact, "wait").status == "pending"
    assert tags(contact) == ["welcome"]

    assert engine.advance_due(now=T0 + 60 * MINUTE) == 2
    assert tags(contact) == ["reminded", "welcome"]
    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("welcome", 0, "completed"),
        ("wait", 0, "completed"),
        ("remind", 0, "completed"),
    ]
    assert run_of(campaign, contact, "wait").finished_at == T0 + 60 * MINUTE
    assert enrollments(campaign, contact) == [(0, "completed")]


def test_a_wait_counts_from_when_the_contact_reached_it_not_from_when_the_sweep_came(workspace):
    campaign = tag_flow(workspace, wait_minutes=30)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)  # welcome runs; the wait's run is due at T0

    Run.objects.filter(element__key="wait").update(wait_until=None, due_at=T0)
    engine.advance_due(now=T0 + 5 * MINUTE)

    assert run_of(campaign, contact, "wait").wait_until == T0 + 30 * MINUTE


def test_nothing_runs_before_it_is_due(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact, now=T0)

    assert engine.advance_due(now=T0 - timedelta(seconds=1)) == 0
    assert run_of(campaign, contact, "welcome").status == "pending"
    assert tags(contact) == []


def test_the_limit_bounds_one_sweep(workspace):
    campaign = tag_flow(workspace)
    people = [make_contact(workspace, f"p{i}@example.ch") for i in range(3)]
    for person in people:
        enter(campaign, person)

    assert engine.advance_due(now=T0, limit=2) == 2
    assert Run.objects.filter(element__key="welcome", status="completed").count() == 2


def test_a_condition_takes_the_yes_or_the_no_edge(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("vip", "condition.tag", tag="vip"),
            element("gold", "contact.tag", add=["gold"]),
            element("plain", "contact.tag", add=["plain"]),
        ],
        [edge("start", "vip"), edge("vip", "gold", "yes"), edge("vip", "plain", "no")],
    )
    vip = make_contact(workspace, "vip@example.ch", tags=["vip"])
    other = make_contact(workspace, "other@example.ch")
    enter(campaign, vip)
    enter(campaign, other)

    engine.advance_due(now=T0)

    assert runs(campaign, vip) == [
        ("start", 0, "completed"),
        ("vip", 0, "completed"),
        ("gold", 0, "completed"),
    ]
    assert run_of(campaign, vip, "vip").branch == "yes"
    assert runs(campaign, other) == [
        ("start", 0, "completed"),
        ("vip", 0, "completed"),
        ("plain", 0, "completed"),
    ]
    assert run_of(campaign, other, "vip").branch == "no"
    assert tags(vip) == ["gold", "vip"]
    assert tags(other) == ["plain"]


# --- stop and reset -----------------------------------------------------------------------


def test_stop_cancels_the_waiting_run_and_keeps_the_contact_out(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)

    cancelled = stop_contact(campaign, contact, now=T0 + MINUTE)

    assert cancelled == 1
    wait = run_of(campaign, contact, "wait")
    assert (wait.status, wait.reason, wait.finished_at) == (
        "cancelled",
        "the contact was stopped",
        T0 + MINUTE,
    )
    assert enrollments(campaign, contact) == [(0, "stopped")]
    assert engine.advance_due(now=T0 + 120 * MINUTE) == 0
    assert tags(contact) == ["welcome"]
    assert enter(campaign, contact, now=T0 + 121 * MINUTE) is None


def test_stopping_a_contact_that_never_entered_writes_nothing(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)

    assert stop_contact(campaign, contact) == 0
    assert enrollments(campaign, contact) == []


def test_the_stop_element_takes_the_contact_out_of_another_campaign(workspace):
    reminders = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(reminders, contact)
    engine.advance_due(now=T0)
    cancel = make_campaign(
        workspace,
        [
            element("cancelled", "contact.tag_added", tag="cancelled"),
            element("stop", "campaign.stop", campaign_id=reminders.pk),
        ],
        [edge("cancelled", "stop")],
        name="Cancellation",
    )

    enter(cancel, contact, "cancelled", now=T0 + MINUTE)
    engine.advance_due(now=T0 + MINUTE)

    assert run_of(cancel, contact, "stop").reason == "1 waiting runs cancelled"
    assert run_of(reminders, contact, "wait").status == "cancelled"
    assert enrollments(reminders, contact) == [(0, "stopped")]
    assert enrollments(cancel, contact) == [(0, "completed")]


def test_the_reset_element_ends_the_pass_and_lets_the_next_trigger_start_another(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("welcome", "contact.tag", add=["welcome"]),
            element("again", "campaign.reset"),
            element("never", "contact.tag", add=["never"]),
        ],
        [edge("start", "welcome"), edge("welcome", "again"), edge("again", "never")],
    )
    contact = make_contact(workspace)
    enter(campaign, contact)

    engine.advance_due(now=T0)

    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("welcome", 0, "completed"),
        ("again", 0, "completed"),
    ]
    assert enrollments(campaign, contact) == [(0, "reset"), (1, "ready")]
    assert enter(campaign, contact, now=T0 + MINUTE).rotation == 1


def test_reset_cancels_what_was_still_waiting(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)

    reset_contact(campaign, contact, now=T0 + MINUTE)

    wait = run_of(campaign, contact, "wait")
    assert (wait.status, wait.reason) == ("cancelled", "the campaign was reset")
    assert enrollments(campaign, contact) == [(0, "reset"), (1, "ready")]
    assert engine.advance_due(now=T0 + 120 * MINUTE) == 0


def test_resetting_twice_before_entering_again_makes_one_new_rotation(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)

    first = reset_contact(campaign, contact)
    second = reset_contact(campaign, contact)

    assert first.pk == second.pk
    assert enrollments(campaign, contact) == [(0, "reset"), (1, "ready")]


# --- wait.until_field ---------------------------------------------------------------------


def reminder_flow(workspace, *, offset_minutes=-1440, if_past="continue", field_type="datetime"):
    make_field(workspace, "appointment", field_type)
    return make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element(
                "before",
                "wait.until_field",
                field="appointment",
                offset_minutes=offset_minutes,
                if_past=if_past,
            ),
            element("remind", "contact.tag", add=["reminded"]),
        ],
        [edge("start", "before"), edge("before", "remind")],
    )


def test_a_reminder_a_day_before_keeps_the_wall_clock_time_across_the_dst_change(workspace):
    # 2026-03-29 is the spring change in Zurich: 09:00 on the 30th is 07:00 UTC (CEST), and
    # 09:00 on the 29th, after the change at 02:00, is 07:00 UTC too.
    campaign = reminder_flow(workspace)
    contact = make_contact(workspace, fields={"appointment": "2026-03-30T09:00:00+02:00"})
    enter(campaign, contact, now=datetime(2026, 3, 20, tzinfo=UTC))

    engine.advance_due(now=datetime(2026, 3, 20, tzinfo=UTC))

    before = run_of(campaign, contact, "before")
    assert before.wait_until == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert engine.advance_due(now=datetime(2026, 3, 29, 6, 59, 59, tzinfo=UTC)) == 0
    assert engine.advance_due(now=datetime(2026, 3, 29, 7, 0, tzinfo=UTC)) == 2
    assert tags(contact) == ["reminded"]


def test_a_reminder_a_day_before_an_evening_appointment_after_the_change_is_at_the_same_hour(
    workspace,
):
    # 18:00 CEST on the 29th (16:00 UTC); a day before is 18:00 CET on the 28th (17:00 UTC),
    # where subtracting 24 hours in UTC would give 17:00 local.
    campaign = reminder_flow(workspace)
    contact = make_contact(workspace, fields={"appointment": "2026-03-29T16:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 3, 20, tzinfo=UTC))

    engine.advance_due(now=datetime(2026, 3, 20, tzinfo=UTC))

    assert run_of(campaign, contact, "before").wait_until == datetime(
        2026, 3, 28, 17, 0, tzinfo=UTC
    )


def test_a_date_field_counts_from_midnight_in_the_workspace_zone(workspace):
    campaign = reminder_flow(workspace, offset_minutes=8 * 60, field_type="date")
    contact = make_contact(workspace, fields={"appointment": "2026-07-01"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))

    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))

    # 08:00 CEST
    assert run_of(campaign, contact, "before").wait_until == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


def test_moving_the_appointment_re_times_the_waiting_reminder(workspace):
    campaign = reminder_flow(workspace)
    contact = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))
    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))

    contact_fields.set_field(contact, "appointment", "2026-06-12T13:30:00+00:00")

    before = run_of(campaign, contact, "before")
    expected = datetime(2026, 6, 11, 13, 30, tzinfo=UTC)
    assert (before.status, before.wait_until, before.due_at) == ("pending", expected, expected)
    assert engine.advance_due(now=datetime(2026, 6, 9, 7, 0, tzinfo=UTC)) == 0
    assert run_of(campaign, contact, "before").status == "pending"


def test_a_change_of_another_field_leaves_the_reminder_alone(workspace):
    campaign = reminder_flow(workspace)
    make_field(workspace, "city", "text")
    contact = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))
    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))

    assert engine.retime_waits(contact, "city") == 0
    contact_fields.set_field(contact, "city", "Zürich")

    assert run_of(campaign, contact, "before").wait_until == datetime(2026, 6, 9, 7, 0, tzinfo=UTC)


def test_moving_the_appointment_into_the_past_fires_the_reminder_at_once_with_continue(workspace):
    campaign = reminder_flow(workspace, if_past="continue")
    contact = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))
    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))
    now = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)

    contact_fields.set_field(
        contact, "appointment", "2026-06-06T07:00:00+00:00"
    )  # reminder: 5 June 07:00
    engine.advance_due(now=now)

    assert runs(campaign, contact)[-2:] == [("before", 0, "completed"), ("remind", 0, "completed")]


def test_a_reminder_whose_time_has_passed_stops_with_stop(workspace):
    campaign = reminder_flow(workspace, if_past="stop")
    contact = make_contact(workspace, fields={"appointment": "2026-06-01T10:00:00+00:00"})
    now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # two hours before: a day before is past
    enter(campaign, contact, now=now)

    engine.advance_due(now=now)

    before = run_of(campaign, contact, "before")
    assert (before.status, before.reason) == (
        "skipped",
        "the time (2026-05-31T10:00:00+00:00) had already passed",
    )
    assert runs(campaign, contact) == [("start", 0, "completed"), ("before", 0, "skipped")]
    assert enrollments(campaign, contact) == [(0, "completed")]
    assert tags(contact) == []


def test_a_reminder_whose_time_has_passed_runs_at_once_with_continue(workspace):
    campaign = reminder_flow(workspace, if_past="continue")
    contact = make_contact(workspace, fields={"appointment": "2026-06-01T10:00:00+00:00"})
    now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    enter(campaign, contact, now=now)

    engine.advance_due(now=now)

    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("before", 0, "completed"),
        ("remind", 0, "completed"),
    ]
    assert run_of(campaign, contact, "before").finished_at == now
    assert tags(contact) == ["reminded"]


def test_an_empty_field_stops_the_flow_with_the_reason(workspace):
    campaign = reminder_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)

    engine.advance_due(now=T0)

    before = run_of(campaign, contact, "before")
    assert (before.status, before.reason) == ("skipped", "field 'appointment' is empty")
    assert runs(campaign, contact) == [("start", 0, "completed"), ("before", 0, "skipped")]
    assert enrollments(campaign, contact) == [(0, "completed")]


def test_emptying_the_field_stops_a_waiting_reminder(workspace):
    campaign = reminder_flow(workspace)
    contact = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))
    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))

    contact_fields.set_field(contact, "appointment", None)

    before = run_of(campaign, contact, "before")
    assert (before.status, before.reason) == ("skipped", "field 'appointment' is empty")
    assert enrollments(campaign, contact) == [(0, "completed")]


# --- paused campaigns ---------------------------------------------------------------------


def test_a_paused_campaign_holds_its_runs_and_activation_releases_them(workspace):
    campaign = tag_flow(workspace, wait_minutes=10)
    contact = make_contact(workspace)
    enter(campaign, contact)
    engine.advance_due(now=T0)

    pause_campaign(campaign)
    assert run_of(campaign, contact, "wait").due_at is None
    assert engine.advance_due(now=T0 + 60 * MINUTE) == 0
    assert run_of(campaign, contact, "wait").status == "pending"

    activate_campaign(campaign)
    # The wait's time passed while paused: it is due at its own time, so it fires now.
    assert run_of(campaign, contact, "wait").due_at == T0 + 10 * MINUTE
    engine.advance_due(now=T0 + 61 * MINUTE)
    assert tags(contact) == ["reminded", "welcome"]


# --- failures -----------------------------------------------------------------------------


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


def flaky_type(handler):
    return registry.ElementType(
        key="test.flaky", kind="action", label="Flaky", config_schema=NoConfig, handler=handler
    )


def flaky_flow(workspace):
    return make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("flaky", "test.flaky"),
            element("after", "contact.tag", add=["after"]),
        ],
        [edge("start", "flaky"), edge("flaky", "after")],
    )


def test_a_handler_that_raises_is_retried_with_backoff_and_its_writes_rolled_back(workspace):
    def explode(context):
        contact_tags.add_tags(context.run.contact, ["half-done"])
        raise RuntimeError("SMTP is down")

    with registered(flaky_type(explode)):
        campaign = flaky_flow(workspace)
        contact = make_contact(workspace)
        enter(campaign, contact)

        engine.advance_due(now=T0)

    flaky = run_of(campaign, contact, "flaky")
    assert (flaky.status, flaky.attempts, flaky.due_at, flaky.reason) == (
        "pending",
        1,
        T0 + MINUTE,
        "RuntimeError: SMTP is down",
    )
    assert tags(contact) == []
    assert runs(campaign, contact) == [("start", 0, "completed"), ("flaky", 0, "pending")]


def test_a_handler_that_keeps_raising_fails_after_the_last_attempt(workspace):
    def explode(context):
        raise RuntimeError("still down")

    with registered(flaky_type(explode)):
        campaign = flaky_flow(workspace)
        contact = make_contact(workspace)
        enter(campaign, contact)
        now = T0
        for _ in range(engine.MAX_ATTEMPTS):
            engine.advance_due(now=now)
            now += timedelta(hours=2)

    flaky = run_of(campaign, contact, "flaky")
    assert (flaky.status, flaky.attempts, flaky.reason) == (
        "failed",
        engine.MAX_ATTEMPTS,
        f"gave up after {engine.MAX_ATTEMPTS} attempts: RuntimeError: still down",
    )
    assert enrollments(campaign, contact) == [(0, "completed")]
    assert runs(campaign, contact) == [("start", 0, "completed"), ("flaky", 0, "failed")]


def test_an_expected_error_fails_the_run_at_once_and_ends_that_path(workspace):
    def refuse(context):
        raise Unprocessable("email 3 does not exist")

    with registered(flaky_type(refuse)):
        campaign = flaky_flow(workspace)
        contact = make_contact(workspace)
        enter(campaign, contact)
        engine.advance_due(now=T0)

    flaky = run_of(campaign, contact, "flaky")
    assert (flaky.status, flaky.attempts, flaky.reason) == ("failed", 1, "email 3 does not exist")
    assert runs(campaign, contact) == [("start", 0, "completed"), ("flaky", 0, "failed")]
    assert enrollments(campaign, contact) == [(0, "completed")]


def test_a_skipped_action_still_continues_on_next(workspace):
    with registered(flaky_type(lambda context: registry.Outcome("skipped", reason="no email"))):
        campaign = flaky_flow(workspace)
        contact = make_contact(workspace)
        enter(campaign, contact)
        engine.advance_due(now=T0)

    assert runs(campaign, contact) == [
        ("start", 0, "completed"),
        ("flaky", 0, "skipped"),
        ("after", 0, "completed"),
    ]
    assert run_of(campaign, contact, "flaky").reason == "no email"


def test_a_retry_outcome_is_due_again_at_the_time_it_asked_for(workspace):
    later = T0 + timedelta(minutes=17)
    with registered(flaky_type(lambda context: registry.Outcome("retry", retry_at=later))):
        campaign = flaky_flow(workspace)
        contact = make_contact(workspace)
        enter(campaign, contact)
        engine.advance_due(now=T0)

    flaky = run_of(campaign, contact, "flaky")
    assert (flaky.status, flaky.due_at, flaky.attempts) == ("pending", later, 1)


# --- claiming -----------------------------------------------------------------------------


def test_a_run_claimed_by_another_worker_waits_until_the_lease_lapses(workspace):
    campaign = tag_flow(workspace)
    contact = make_contact(workspace)
    enter(campaign, contact)
    Run.objects.filter(element__key="welcome").update(claimed_until=T0 + engine.LEASE)

    assert engine.advance_due(now=T0) == 0
    assert engine.advance_due(now=T0 + engine.LEASE) == 2
    assert run_of(campaign, contact, "welcome").status == "completed"


def query_plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return " ".join(row[0] for row in cursor.fetchall())


def test_the_sweep_reads_the_partial_index_of_pending_runs(workspace):
    # On PostgreSQL a tiny table is cheaper to scan; with scans ruled out the index must serve.
    plan = query_plan(engine.due_runs(T0).values_list("id", flat=True)[:100])

    assert "run_pending_due" in plan


def test_the_worker_sweeps_runs():
    assert [sweep.name for sweep in SWEEPS] == ["runs"]


def test_within_a_retime_scope_another_field_costs_no_query_and_the_waited_one_still_retimes(
    workspace,
):
    campaign = reminder_flow(workspace)
    make_field(workspace, "city", "text")
    contact = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    enter(campaign, contact, now=datetime(2026, 6, 1, tzinfo=UTC))
    engine.advance_due(now=datetime(2026, 6, 1, tzinfo=UTC))

    with transaction.atomic(), engine.retime_scope():
        engine.retime_waits(contact, "city")  # learns the workspace's waited fields
        with CaptureQueriesContext(connection) as queries:
            assert engine.retime_waits(contact, "city") == 0
        contact_fields.set_field(contact, "appointment", "2026-06-12T13:30:00+00:00")

    assert len(queries) == 0
    expected = datetime(2026, 6, 11, 13, 30, tzinfo=UTC)
    assert run_of(campaign, contact, "before").wait_until == expected


def test_announced_contacts_without_a_wait_cost_no_query_and_one_with_a_wait_still_retimes(
    workspace,
):
    # given anna waits for her reminder and beat, who has the field too, waits for nothing
    campaign = reminder_flow(workspace)
    june = datetime(2026, 6, 1, tzinfo=UTC)
    anna = make_contact(workspace, fields={"appointment": "2026-06-10T07:00:00+00:00"})
    beat = make_contact(
        workspace, email="beat@example.ch", fields={"appointment": "2026-06-10T07:00:00+00:00"}
    )
    enter(campaign, anna, now=june)
    engine.advance_due(now=june)

    # when a batch announces both and then moves both appointments
    with transaction.atomic(), engine.retime_scope():
        with CaptureQueriesContext(connection) as announcing:
            engine.expect_field_changes(workspace.pk, ["appointment"], [anna.pk, beat.pk])
        with CaptureQueriesContext(connection) as queries:
            assert engine.retime_waits(beat, "appointment") == 0
        contact_fields.set_field(anna, "appointment", "2026-06-12T13:30:00+00:00")

    # then the announcement read the waited fields and the waiting contacts, beat's change
    # nothing, and anna's wait moved
    assert len(announcing) == 2
    assert len(queries) == 0
    assert run_of(campaign, anna, "before").wait_until == datetime(2026, 6, 11, 13, 30, tzinfo=UTC)
    assert not Run.objects.filter(contact=beat).exists()


def test_expecting_field_changes_outside_a_retime_scope_reads_nothing(workspace):
    reminder_flow(workspace)
    anna = make_contact(workspace)
    with CaptureQueriesContext(connection) as queries:
        engine.expect_field_changes(workspace.pk, ["appointment"], [anna.pk])
    assert len(queries) == 0


def test_announcing_a_change_of_fields_no_wait_counts_from_reads_no_runs(workspace):
    # given waits that count from "appointment" only
    reminder_flow(workspace)
    make_field(workspace, "city", "text")
    anna = make_contact(workspace)
    # when a batch announces a change of "city"
    with (
        transaction.atomic(),
        engine.retime_scope(),
        CaptureQueriesContext(connection) as queries,
    ):
        engine.expect_field_changes(workspace.pk, ["city"], [anna.pk])
    # then it read the waited fields and no run
    assert len(queries) == 1
    assert "campaigns_run" not in queries[0]["sql"]


def test_within_a_trigger_scope_triggers_are_read_once_and_still_let_contacts_in(workspace):
    # given a campaign that starts when the tag "vip" is added, and two contacts
    campaign = make_campaign(workspace, [element("start", "contact.tag_added", tag="vip")])
    anna = make_contact(workspace, email="anna@example.ch")
    beat = make_contact(workspace, email="beat@example.ch")

    # when both get the tag inside one scope, as in one sweep batch
    with transaction.atomic(), engine.trigger_scope():
        contact_tags.add_tags(anna, ["vip"])
        with CaptureQueriesContext(connection) as queries:
            found = engine.active_triggers(workspace, "contact.tag_added")
        contact_tags.add_tags(beat, ["vip"])

    # then the second look-up cost nothing, and both entered the campaign
    assert len(queries) == 0
    assert [e.key for e, _ in found] == ["start"]
    entered = set(
        Enrollment.objects.filter(campaign=campaign).values_list("contact__email", flat=True)
    )
    assert entered == {"anna@example.ch", "beat@example.ch"}


def test_outside_a_trigger_scope_a_newly_activated_campaign_is_seen_at_once(workspace):
    # given a contact and a draft campaign on the tag "vip"
    contact = make_contact(workspace, email="anna@example.ch")
    campaign = make_campaign(
        workspace, [element("start", "contact.tag_added", tag="vip")], status="draft"
    )
    assert engine.active_triggers(workspace, "contact.tag_added") == []

    # when the campaign is activated and the tag added
    activate_campaign(campaign)
    contact_tags.add_tags(contact, ["vip"])

    # then no stale cache kept the contact out
    assert Enrollment.objects.filter(campaign=campaign, contact=contact).count() == 1


def test_a_batch_of_actions_reads_each_workspace_tag_once_and_no_enrollment_again(workspace):
    # given three contacts entered into a flow whose first action tags them
    campaign = tag_flow(workspace, wait_minutes=60)
    contacts = [make_contact(workspace, email=f"c{n}@example.ch") for n in range(3)]
    for contact in contacts:
        enter(campaign, contact)
    contact_tags.add_tags(contacts[0], ["welcome"])
    contact_tags.remove_tags(contacts[0], ["welcome"])  # the tag exists before the batch

    # when one sweep runs their tag actions (and schedules the waits behind them)
    with CaptureQueriesContext(connection) as queries:
        assert engine.advance_due(now=T0) == 6

    # then every contact is tagged and waits, and neither the tag nor any enrollment's status
    # was read again per run: no action here can end an enrollment
    assert [tags(contact) for contact in contacts] == [["welcome"]] * 3
    assert [run_of(campaign, c, "wait").status for c in contacts] == ["pending"] * 3
    sql = [q["sql"] for q in queries]
    assert sum('FROM "contacts_tag"' in s and '"contacts_tag"."name" IN' in s for s in sql) == 1
    assert not [s for s in sql if s.startswith('SELECT "campaigns_enrollment"."status"')]
