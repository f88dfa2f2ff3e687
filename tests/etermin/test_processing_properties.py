"""Property tests: random sequences of created / modified / deleted pushes, repeats, reorderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminflow.campaigns.engine import advance_due
from terminflow.campaigns.models import Enrollment, Run, RunStatus
from terminflow.contacts.models import Contact
from terminflow.etermin.models import Appointment, AppointmentStatus, EterminAccount, WebPush
from terminflow.etermin.processing import process_pending
from terminflow.etermin.sync import push_fields
from terminflow.mail.models import Outbox
from tests.mail.conftest import make_email

from .factories import (
    etermin_element,
    make_account,
    make_campaign,
    push_body,
    store_push,
    tag_element,
)

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
UIDS = ["uid-a", "uid-b", "uid-c"]
EMAILS = ["anna@example.ch", "beat@example.ch"]


def _start(slot: int) -> str:
    return (datetime(2026, 12, 1, 8, 0, tzinfo=UTC) + timedelta(hours=slot)).isoformat()


@st.composite
def push_sequences(draw):
    """Per appointment a life as eTermin produces it, then interleaved, repeated and shuffled."""
    produced = []
    for uid in draw(st.lists(st.sampled_from(UIDS), min_size=1, max_size=3, unique=True)):
        email = draw(st.sampled_from(EMAILS))
        life = [("CREATED", uid, email, 0)]
        for slot in range(1, draw(st.integers(0, 3)) + 1):
            life.append(("MODIFIED", uid, email, slot))
        if draw(st.booleans()):
            life.append(("DELETED", uid, email, life[-1][3]))
        produced.extend(life)
    repeats = draw(st.lists(st.sampled_from(produced), max_size=3))
    return draw(st.permutations(produced + repeats)), produced


def _the_account(workspace):
    """The workspace's account, connected once: the campaigns' elements name it by id."""
    return EterminAccount.objects.filter(workspace=workspace).first() or make_account(workspace)


def _reset_tables() -> None:
    for model in (Outbox, Run, Enrollment, WebPush, Appointment, Contact):
        model.objects.all().delete()


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=push_sequences())
def test_any_push_order_keeps_the_rules(workspace, case):
    arrived, produced = case
    _reset_tables()
    account = make_account(workspace)
    if not Enrollment.objects.exists() and not workspace.campaigns.exists():
        make_campaign(
            workspace,
            [
                etermin_element(),
                {"id": "wait", "type": "wait.duration", "config": {"minutes": 10}, "position": {}},
                tag_element("tag", "booked"),
            ],
            [("booking", "wait"), ("wait", "tag")],
            name="Bookings",
        )
        make_campaign(workspace, [etermin_element("edit", event="modified")], name="Edits")
        make_campaign(
            workspace,
            [etermin_element("cancel", event="deleted"), tag_element("tag", "cancelled")],
            [("cancel", "tag")],
            name="Cancellations",
        )

    # given the pushes stored in arrival order
    for command, uid, email, slot in arrived:
        store_push(
            account, push_body(command, uid, email=email, start=_start(slot), end=_start(slot + 1))
        )

    # when everything is processed and time moves on until nothing is due
    process_pending(now=NOW)
    moment = NOW
    for _ in range(5):
        moment += timedelta(minutes=11)
        advance_due(now=moment)

    # then no row is left pending, and at most one run per (element, contact, rotation)
    assert not WebPush.objects.filter(status="pending").exists()
    keys = list(Run.objects.values_list("element_id", "contact_id", "rotation"))
    assert len(keys) == len(set(keys))
    # no run was executed before it was due
    for due_at, finished_at in Run.objects.exclude(finished_at=None).values_list(
        "due_at", "finished_at"
    ):
        assert finished_at >= due_at
    # every enrollment reached its end
    assert not Run.objects.filter(status=RunStatus.PENDING).exists()
    assert set(Enrollment.objects.values_list("status", flat=True)) <= {"completed"}

    # the registry holds what eTermin last produced, whatever the arrival order
    for uid in {p[1] for p in produced}:
        life = [p for p in produced if p[1] == uid]
        appointment = Appointment.objects.get(uid=uid)
        first_arrived = next(p for p in arrived if p[1] == uid)
        if first_arrived[0] == "DELETED":
            assert appointment.status == AppointmentStatus.DELETED
            continue
        expected_deleted = life[-1][0] == "DELETED"
        assert (appointment.status == AppointmentStatus.DELETED) == expected_deleted
        # eTermin numbers nothing, so the newest is by command rank, then by arrival; pushes
        # arriving after the deletion are not applied
        applied = []
        for push in arrived:
            if push[1] != uid:
                continue
            applied.append(push)
            if push[0] == "DELETED":
                break
        rank = {"CREATED": 0, "MODIFIED": 1, "DELETED": 2}
        newest = max(enumerate(applied), key=lambda item: (rank[item[1][0]], item[0]))[1]
        if newest[0] != "DELETED":
            assert appointment.start == datetime.fromisoformat(_start(newest[3]))

    # a deletion triggers only where a created or edited element took the appointment in first
    cancelled_contacts = set(
        Run.objects.filter(element__key="cancel").values_list("contact__email", flat=True)
    )
    allowed = set()
    for uid in {p[1] for p in produced}:
        before_delete = []
        for push in arrived:
            if push[1] != uid:
                continue
            if push[0] == "DELETED":
                if before_delete:
                    allowed.add(push[2])
                break
            before_delete.append(push)
    assert cancelled_contacts <= allowed


# -- a push and a sync seeing the same change --------------------------------------------------


def _sync_body(command: str, uid: str, email: str, slot: int) -> bytes:
    """The change as a sync queues it: eTermin's API row written as a push (etermin/sync.py)."""
    row = {
        "externalid": uid,
        "startdatetimeutc": _start(slot)[:19],
        "enddatetimeutc": _start(slot + 1)[:19],
        "calendarid": 211614,
        "calendarname": "Praxis Seefeld",
        "firstname": "Lea",
        "lastname": "Brunner",
        "email": email,
        "newsletter": True,
        "creationdate": "2026-11-27T09:00:00",
    }
    return json.dumps(push_fields(command, uid, row)).encode()


@st.composite
def push_and_sync_deliveries(draw):
    """Each change eTermin produced arrives as a push, as a sync row, or as both; any order."""
    produced = []
    for uid in draw(st.lists(st.sampled_from(UIDS), min_size=1, max_size=3, unique=True)):
        email = draw(st.sampled_from(EMAILS))
        life = [("CREATED", uid, email, 0)]
        for slot in range(1, draw(st.integers(0, 2)) + 1):
            life.append(("MODIFIED", uid, email, slot))
        if draw(st.booleans()):
            life.append(("DELETED", uid, email, life[-1][3]))
        produced.extend(life)
    items = []
    for index in range(len(produced)):
        channel = draw(st.sampled_from(["push", "sync", "both"]))
        if channel != "sync":
            items.append((index, "push"))
        if channel != "push":
            items.append((index, "sync"))
    return produced, draw(st.permutations(items))


def _deliver(account, produced, arrived) -> None:
    for index, channel in arrived:
        command, uid, email, slot = produced[index]
        if channel == "push":
            store_push(
                account,
                push_body(command, uid, email=email, start=_start(slot), end=_start(slot + 1)),
            )
        else:
            row = store_push(account, _sync_body(command, uid, email, slot))
            row.source = "sync"
            row.save(update_fields=["source"])
    process_pending(now=NOW)
    moment = NOW
    for _ in range(5):
        moment += timedelta(minutes=11)
        advance_due(now=moment)


def _effects() -> dict:
    return {
        "contacts": sorted(Contact.objects.values_list("email", flat=True)),
        "runs": sorted(
            Run.objects.values_list(
                "campaign__name", "element__key", "contact__email", "rotation", "status"
            )
        ),
        "emails": sorted(Outbox.objects.values_list("to_email", "template__name")),
        "appointments": sorted(Appointment.objects.values_list("uid", "status", "taken_in")),
    }


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=push_and_sync_deliveries())
def test_a_push_and_a_sync_of_one_change_have_one_effect(workspace, case):
    produced, arrived = case
    _reset_tables()
    account = _the_account(workspace)
    if not workspace.campaigns.exists():
        doi = make_email(workspace, "doi", name="Bestätigung")
        make_campaign(
            workspace,
            [
                etermin_element(),
                {"id": "doi", "type": "email.doi", "config": {"email_id": doi.pk}, "position": {}},
                tag_element("tag", "booked"),
            ],
            [("booking", "doi"), ("doi", "tag")],
            name="Bookings",
        )
        make_campaign(workspace, [etermin_element("edit", event="modified")], name="Edits")
        make_campaign(
            workspace,
            [etermin_element("cancel", event="deleted"), tag_element("tag", "cancelled")],
            [("cancel", "tag")],
            name="Cancellations",
        )

    # given each change delivered once, as a push, in the order its first copy arrived
    once = []
    for index, _ in arrived:
        if index not in once:
            once.append(index)
    _deliver(account, produced, [(index, "push") for index in once])
    reference = _effects()

    # when the same changes arrive as pushes, sync rows or both, in the drawn order
    _reset_tables()
    account = _the_account(workspace)
    _deliver(account, produced, arrived)

    # then the effect is the same: one contact per email, the same runs and emails
    assert _effects() == reference
    assert not WebPush.objects.filter(status="pending").exists()
    assert Outbox.objects.count() == len(set(Outbox.objects.values_list("to_email", flat=True)))
