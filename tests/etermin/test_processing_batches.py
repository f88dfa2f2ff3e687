"""Processing a batch together gives what processing its rows one at a time gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminflow.campaigns.models import Enrollment, Run
from terminflow.contacts import consent, signals
from terminflow.contacts import services as contacts
from terminflow.contacts.models import ConsentEvent, Contact, Note
from terminflow.etermin import processing
from terminflow.etermin.models import Appointment, EterminAccount, WebPush
from terminflow.etermin.processing import process_pending
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace

from .factories import (
    etermin_element,
    make_account,
    make_campaign,
    make_field,
    push_body,
    store_push,
    tag_element,
)

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
UIDS = ["uid-a", "uid-b", "uid-c", "uid-d"]
EMAILS = ["anna@example.ch", "beat@example.ch", "carla@example.ch"]

pytestmark = pytest.mark.django_db


def _start(slot: int) -> str:
    return (datetime(2026, 12, 1, 8, 0, tzinfo=UTC) + timedelta(hours=slot)).isoformat()


@st.composite
def push_sequences(draw: Any) -> list[tuple[str, str, str, int, str]]:
    """Lives of appointments (some sharing a contact), interleaved, repeated and shuffled."""
    produced = []
    for uid in draw(st.lists(st.sampled_from(UIDS), min_size=1, max_size=4, unique=True)):
        email = draw(st.sampled_from(EMAILS))
        notes = draw(st.sampled_from(["", "Bitte Parkplatz reservieren."]))
        life = [("CREATED", uid, email, 0, notes)]
        for slot in range(1, draw(st.integers(0, 2)) + 1):
            life.append(("MODIFIED", uid, email, slot, notes))
        if draw(st.booleans()):
            life.append(("DELETED", uid, email, life[-1][3], notes))
        produced.extend(life)
    repeats = draw(st.lists(st.sampled_from(produced), max_size=2))
    return draw(st.permutations(produced + repeats))


def _campaigns(workspace: Workspace) -> None:
    if workspace.campaigns.exists():
        return
    make_field(workspace, "appointment_start")
    make_campaign(
        workspace,
        [
            etermin_element(start_field="appointment_start", save_notes=True),
            {
                "id": "before",
                "type": "wait.until_field",
                "config": {"field": "appointment_start", "offset_minutes": -60},
                "position": {},
            },
            tag_element("tag", "booked"),
        ],
        [("booking", "before"), ("before", "tag")],
        name="Bookings",
    )
    make_campaign(
        workspace,
        [etermin_element("edit", event="modified", start_field="appointment_start")],
        name="Edits",
    )
    make_campaign(
        workspace,
        [etermin_element("cancel", event="deleted"), tag_element("tag", "cancelled")],
        [("cancel", "tag")],
        name="Cancellations",
    )


def _given(workspace: Workspace, arrived: list[tuple[str, str, str, int, str]]) -> EterminAccount:
    account = make_account(workspace)
    _campaigns(workspace)
    # A known contact without names who unsubscribed: a booking fills names, keeps the status.
    known = contacts.create_contact(workspace, email="beat@example.ch")
    consent.set_email_status(known, "unsubscribed", source="test")
    for command, uid, email, slot, notes in arrived:
        store_push(
            account,
            push_body(
                command, uid, email=email, start=_start(slot), end=_start(slot + 1), notes=notes
            ),
        )
    return account


def _snapshot(workspace: Workspace, account: EterminAccount) -> dict[str, list[Any]]:
    """The state processing left, with ids replaced by what they stand for."""
    pushes = list(WebPush.objects.filter(account=account).order_by("id"))
    index = {push.id: n for n, push in enumerate(pushes)}
    uid_of = dict(Appointment.objects.filter(account=account).values_list("id", "uid"))

    def context(value: dict[str, Any]) -> dict[str, Any]:
        named = dict(value)
        if "appointment_id" in named:
            named["appointment_id"] = uid_of[named["appointment_id"]]
        if "push_id" in named:
            named["push_id"] = index[named["push_id"]]
        return named

    def ordered(rows: Any) -> list[Any]:
        return sorted(rows, key=repr)

    return {
        "inbox": [(push.status, push.reason, push.attempts) for push in pushes],
        "appointments": ordered(
            (
                a.uid,
                a.contact.email if a.contact else None,
                a.start,
                a.end,
                a.status,
                a.taken_in,
                a.last_command,
                index.get(a.last_push_id),
                a.notes,
                a.calendar_id,
            )
            for a in Appointment.objects.filter(account=account).select_related("contact")
        ),
        "contacts": ordered(
            (c.email, c.first_name, c.last_name, c.phone, c.email_status, c.fields)
            for c in Contact.objects.filter(workspace=workspace)
        ),
        "enrollments": ordered(
            (e.campaign.name, e.contact.email, e.rotation, e.status, context(e.context))
            for e in Enrollment.objects.filter(workspace=workspace).select_related(
                "campaign", "contact"
            )
        ),
        "runs": ordered(
            (
                r.campaign.name,
                r.element.key,
                r.contact.email,
                r.rotation,
                r.status,
                r.branch,
                r.due_at,
                r.wait_until,
                r.reason,
            )
            for r in Run.objects.filter(workspace=workspace).select_related(
                "campaign", "element", "contact"
            )
        ),
        "notes": ordered(
            (n.contact.email, n.text, n.source, (n.source_key or "").rsplit(":", 1)[-1])
            for n in Note.objects.filter(contact__workspace=workspace).select_related("contact")
        ),
        "consent": ordered(
            (
                e.contact.email,
                e.kind,
                e.source,
                {k: v for k, v in e.details.items() if k != "account_id"},
            )
            for e in ConsentEvent.objects.filter(workspace=workspace).select_related("contact")
        ),
    }


def _row_by_row(rows: list[WebPush], events: Any, context: Any) -> tuple[dict, list[WebPush]]:
    return {}, rows


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arrived=push_sequences())
def test_a_batch_together_ends_as_its_rows_one_at_a_time(workspace, arrived):
    for model in (Run, Enrollment, WebPush, Appointment, Contact):
        model.objects.all().delete()
    together = _given(workspace, arrived)
    alone = make_workspace("Praxis Enge")
    one_by_one = _given(alone, arrived)
    WebPush.objects.filter(account=one_by_one).update(status="held")

    # when the first workspace's rows are processed as one batch, the other's row by row
    process_pending(now=NOW)
    WebPush.objects.filter(account=one_by_one).update(status="pending")
    with mock.patch.object(processing, "_process_together", _row_by_row):
        process_pending(now=NOW)

    # then both end the same
    assert _snapshot(workspace, together) == _snapshot(alone, one_by_one)


def test_a_row_that_fails_in_the_batch_fails_alone(workspace):
    # given three bookings, one of whose field changes raises
    account = make_account(workspace)
    _campaigns(workspace)
    pushes = [
        store_push(account, push_body("CREATED", uid, email=email))
        for uid, email in (("uid-a", "anna@example.ch"), ("uid-b", "bad@example.ch"))
    ]
    pushes.append(store_push(account, push_body("CREATED", "uid-c", email="carla@example.ch")))

    def refuse(sender: Any, contact: Contact, **kwargs: Any) -> None:
        if contact.email == "bad@example.ch":
            raise RuntimeError("disk full")

    # when
    signals.field_changed.connect(refuse, weak=False)
    try:
        handled = process_pending(now=NOW)
    finally:
        signals.field_changed.disconnect(refuse)

    # then the batch fell back to one row at a time: the bad row failed and wrote nothing
    assert handled == 3
    statuses = [WebPush.objects.values_list("status", "reason").get(pk=p.pk) for p in pushes]
    assert statuses == [
        ("processed", ""),
        ("failed", "processing error: RuntimeError: disk full"),
        ("processed", ""),
    ]
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "anna@example.ch",
        "carla@example.ch",
    ]
    assert sorted(Appointment.objects.values_list("uid", flat=True)) == ["uid-a", "uid-c"]
    assert sorted(Enrollment.objects.values_list("contact__email", flat=True)) == [
        "anna@example.ch",
        "carla@example.ch",
    ]
    assert Contact.objects.get(email="anna@example.ch").fields == {
        "appointment_start": "2026-12-03T08:30:00+00:00"
    }
