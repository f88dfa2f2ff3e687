"""Processing inbox rows into appointments, contacts and enrollments (DESIGN §1-2, issue 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from terminflow.campaigns.engine import advance_due
from terminflow.campaigns.models import Enrollment, Run, RunStatus
from terminflow.campaigns.services import reset_contact
from terminflow.contacts.models import ConsentEvent, Contact, EmailStatus, FieldValue, Note
from terminflow.contacts.services import create_contact
from terminflow.etermin.models import Appointment, AppointmentStatus, WebPush
from terminflow.etermin.processing import process_pending

from .factories import (
    CALENDAR_ID,
    etermin_element,
    make_account,
    make_campaign,
    make_field,
    push_body,
    store_push,
    tag_element,
)

UID = "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"
NOW = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def inbox(push: WebPush) -> tuple[str, str]:
    push.refresh_from_db()
    return push.status, push.reason


def runs_of(contact: Contact) -> list[tuple[str, int, str]]:
    return sorted(
        Run.objects.filter(contact=contact).values_list("element__key", "rotation", "status")
    )


def test_created_push_makes_soi_contact_with_fields_note_and_run(workspace):
    # given a campaign whose eTermin element maps start and end and saves notes
    account = make_account(workspace)
    make_field(workspace, "appointment_start")
    make_field(workspace, "appointment_end")
    make_campaign(
        workspace,
        [
            etermin_element(
                start_field="appointment_start", end_field="appointment_end", save_notes=True
            ),
            tag_element("tag", "booked"),
        ],
        [("booking", "tag")],
    )
    push = store_push(account, push_body("CREATED", UID))

    # when
    handled = process_pending(now=NOW)

    # then
    assert handled == 1
    assert inbox(push) == ("processed", "")
    contact = Contact.objects.get(workspace=workspace)
    assert contact.email == "lea.brunner@example.ch"
    assert (contact.first_name, contact.last_name) == ("Lea", "Brunner")
    assert contact.email_status == EmailStatus.CONFIRMED_SOI
    assert contact.fields == {
        "appointment_start": "2026-12-03T08:30:00+00:00",
        "appointment_end": "2026-12-03T09:15:00+00:00",
    }
    assert list(Note.objects.filter(contact=contact).values_list("text", flat=True)) == [
        "Bitte Parkplatz reservieren."
    ]
    assert runs_of(contact) == [("booking", 0, "completed"), ("tag", 0, "pending")]
    appointment = Appointment.objects.get(uid=UID)
    assert appointment.contact_id == contact.id
    assert appointment.taken_in is True
    assert appointment.calendar_id == str(CALENDAR_ID)
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("kind", flat=True)) == [
        "soi"
    ]


def test_same_push_processed_twice_changes_nothing(workspace):
    # given a created push that was stored twice (e.g. two web processes raced)
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element(save_notes=True)])
    first = store_push(account, push_body("CREATED", UID))
    second = store_push(account, push_body("CREATED", UID))

    # when
    process_pending(now=NOW)
    process_pending(now=NOW)

    # then one contact, one note, one run
    contact = Contact.objects.get(workspace=workspace)
    assert Note.objects.filter(contact=contact).count() == 1
    assert runs_of(contact) == [("booking", 0, "completed")]
    assert inbox(first) == ("processed", "")
    assert inbox(second)[0] == "ignored"
    assert "already passed" in inbox(second)[1]


def test_processed_row_is_not_processed_again(workspace):
    # given a processed row
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()])
    push = store_push(account, push_body("CREATED", UID))
    process_pending(now=NOW)

    # when the sweep runs again
    handled = process_pending(now=NOW)

    # then nothing is picked up
    assert handled == 0
    assert push.__class__.objects.get(pk=push.pk).attempts == 1


def test_existing_unsubscribed_contact_stays_unsubscribed(workspace):
    # given a contact who unsubscribed earlier
    account = make_account(workspace)
    create_contact(workspace, email="Lea.Brunner@example.ch", email_status="unsubscribed")
    make_campaign(workspace, [etermin_element()])
    store_push(account, push_body("CREATED", UID))

    # when she books again
    process_pending(now=NOW)

    # then her status is untouched and no second contact exists
    contact = Contact.objects.get(workspace=workspace)
    assert contact.email_status == EmailStatus.UNSUBSCRIBED
    assert runs_of(contact) == [("booking", 0, "completed")]


def test_modified_push_moves_fields_and_retimes_waiting_reminder(workspace):
    # given a created flow with a reminder one day before the start
    account = make_account(workspace)
    make_field(workspace, "appointment_start")
    campaign = make_campaign(
        workspace,
        [
            etermin_element(start_field="appointment_start"),
            {
                "id": "remind",
                "type": "wait.until_field",
                "config": {"field": "appointment_start", "offset_minutes": -1440},
                "position": {},
            },
            tag_element("tag", "reminded"),
        ],
        [("booking", "remind"), ("remind", "tag")],
    )
    store_push(account, push_body("CREATED", UID))
    process_pending(now=NOW)
    advance_due(now=NOW)
    contact = Contact.objects.get(workspace=workspace)
    wait = Run.objects.get(element__key="remind", contact=contact)
    assert wait.due_at == datetime(2026, 12, 2, 8, 30, tzinfo=UTC)

    # when the appointment is moved by a day and a half
    push = store_push(
        account,
        push_body("MODIFIED", UID, start="2026-12-04T20:00:00Z", end="2026-12-04T21:00:00Z"),
    )
    process_pending(now=NOW)

    # then the field follows and the reminder is re-timed; nobody entered twice
    assert inbox(push) == ("processed", "")
    contact.refresh_from_db()
    assert contact.fields["appointment_start"] == "2026-12-04T20:00:00+00:00"
    assert list(FieldValue.objects.filter(contact=contact).values_list("moment", flat=True)) == [
        datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    ]
    wait.refresh_from_db()
    assert wait.status == RunStatus.PENDING
    assert wait.due_at == datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert Enrollment.objects.filter(campaign=campaign, contact=contact).count() == 1


def test_deleted_without_created_or_edited_element_is_ignored(workspace):
    # given only a deleted element, and a booking nobody took in
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element("cancel", event="deleted")])
    created = store_push(account, push_body("CREATED", UID))
    deleted = store_push(account, push_body("DELETED", UID))

    # when
    process_pending(now=NOW)

    # then the deleted push triggers nothing and no contact is made
    assert inbox(created) == ("ignored", "no active eTermin element reacts to created appointments")
    assert inbox(deleted) == (
        "ignored",
        "deleted appointment was never taken in by a created or edited element",
    )
    assert Contact.objects.filter(workspace=workspace).count() == 0
    assert Run.objects.count() == 0
    assert Appointment.objects.get(uid=UID).status == AppointmentStatus.DELETED


def test_deleted_after_created_in_another_campaign_triggers(workspace):
    # given a booking campaign and a separate cancellation campaign
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()], name="Bookings")
    make_campaign(
        workspace,
        [etermin_element("cancel", event="deleted"), tag_element("tag", "cancelled")],
        [("cancel", "tag")],
        name="Cancellations",
    )
    store_push(account, push_body("CREATED", UID))
    deleted = store_push(account, push_body("DELETED", UID, email="", newsletter=None))

    # when
    process_pending(now=NOW)
    advance_due(now=NOW)

    # then the cancellation campaign runs for the contact the booking made
    assert inbox(deleted) == ("processed", "")
    contact = Contact.objects.get(workspace=workspace)
    assert runs_of(contact) == [
        ("booking", 0, "completed"),
        ("cancel", 0, "completed"),
        ("tag", 0, "completed"),
    ]
    assert Appointment.objects.get(uid=UID).status == AppointmentStatus.DELETED


def test_a_batch_nothing_reacts_to_stores_its_appointments_with_one_insert(workspace):
    # given eight new bookings, and a campaign that reacts only to deletions
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element("cancel", event="deleted")])
    uids = [f"uid-{n}" for n in range(8)]
    pushes = [store_push(account, push_body("CREATED", uid)) for uid in uids]

    # when they are processed as one batch
    with CaptureQueriesContext(connection) as queries:
        handled = process_pending(now=NOW)

    # then every appointment is in the registry, written by one statement (each statement is
    # time in SQLite's write lock, which ingest waits for), and every push is done
    assert handled == 8
    inserts = [
        q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "etermin_appointment"')
    ]
    assert len(inserts) == 1
    stored = Appointment.objects.filter(account=account).order_by("uid")
    assert [(a.uid, a.status, a.start) for a in stored] == [
        (uid, AppointmentStatus.ACTIVE, datetime(2026, 12, 3, 8, 30, tzinfo=UTC)) for uid in uids
    ]
    assert all(a.created_at is not None and a.updated_at is not None for a in stored)
    assert {inbox(push) for push in pushes} == {
        ("ignored", "no active eTermin element reacts to created appointments")
    }
    assert Contact.objects.filter(workspace=workspace).count() == 0


def test_calendar_filter_matches_only_its_calendar(workspace):
    # given an element for one calendar
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element(calendar=CALENDAR_ID)])
    other = store_push(account, push_body("CREATED", "uid-other", calendar_id=999))
    mine = store_push(account, push_body("CREATED", UID))

    # when
    process_pending(now=NOW)

    # then
    assert inbox(other) == ("ignored", "no active eTermin element reacts to this calendar")
    assert inbox(mine) == ("processed", "")
    assert Contact.objects.filter(workspace=workspace).count() == 1


def test_all_calendars_includes_one_created_later(workspace):
    # given an "all calendars" element saved before calendar 777 existed
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element(calendar="all")])

    # when a push arrives from the new calendar
    push = store_push(account, push_body("CREATED", UID, calendar_id=777, calendar_name="Neu"))
    process_pending(now=NOW)

    # then it matches
    assert inbox(push) == ("processed", "")


def test_newsletter_only_uses_flag_from_push(workspace):
    # given an element that reacts only to the newsletter checkbox
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element(newsletter_only=True)])
    no = store_push(account, push_body("CREATED", "uid-no", email="no@example.ch", newsletter="0"))
    yes = store_push(account, push_body("CREATED", UID, newsletter="1"))

    # when
    process_pending(now=NOW)

    # then only the customer who ticked it enters; the other is not even stored as a contact
    assert inbox(no) == ("ignored", "the customer did not tick the eTermin newsletter checkbox")
    assert inbox(yes) == ("processed", "")
    assert list(Contact.objects.values_list("email", flat=True)) == ["lea.brunner@example.ch"]


def test_push_without_email_fails_with_reason_and_next_push_still_processed(workspace):
    # given a push whose email is not an address, followed by a good one
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()])
    bad = store_push(account, push_body("CREATED", "uid-bad", email="not-an-address"))
    good = store_push(account, push_body("CREATED", UID))

    # when
    process_pending(now=NOW)

    # then
    status, reason = inbox(bad)
    assert status == "failed"
    assert reason.startswith("no usable email address: ")
    assert inbox(good) == ("processed", "")
    assert list(Contact.objects.values_list("email", flat=True)) == ["lea.brunner@example.ch"]


def test_second_booking_needs_reset_for_second_pass(workspace):
    # given a contact who passed the campaign with a first booking
    account = make_account(workspace)
    campaign = make_campaign(workspace, [etermin_element()])
    store_push(account, push_body("CREATED", "uid-first"))
    process_pending(now=NOW)
    contact = Contact.objects.get(workspace=workspace)

    # when she books a second time
    second = store_push(account, push_body("CREATED", "uid-second"))
    process_pending(now=NOW)

    # then no second pass
    assert inbox(second)[0] == "ignored"
    assert runs_of(contact) == [("booking", 0, "completed")]

    # when the contact is reset and books a third time
    reset_contact(campaign, contact)
    third = store_push(account, push_body("CREATED", "uid-third"))
    process_pending(now=NOW)

    # then a second pass in rotation 1, history kept
    assert inbox(third) == ("processed", "")
    assert runs_of(contact) == [("booking", 0, "completed"), ("booking", 1, "completed")]


def test_modified_arriving_before_created_keeps_newer_data(workspace):
    # given pushes that arrive out of order: MODIFIED (new time) before CREATED (old time)
    account = make_account(workspace)
    make_field(workspace, "appointment_start")
    make_campaign(workspace, [etermin_element(start_field="appointment_start")])
    store_push(account, push_body("MODIFIED", UID, start="2026-12-05T10:00:00Z"))
    store_push(account, push_body("CREATED", UID, start="2026-12-03T08:30:00Z"))

    # when
    process_pending(now=NOW)

    # then the created element took it in with the newest start
    appointment = Appointment.objects.get(uid=UID)
    assert appointment.start == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    contact = Contact.objects.get(workspace=workspace)
    assert contact.fields == {"appointment_start": "2026-12-05T10:00:00+00:00"}


def test_created_arriving_after_deleted_does_not_revive(workspace):
    # given a DELETED push that overtook its CREATED push
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()])
    store_push(account, push_body("DELETED", UID))
    late = store_push(account, push_body("CREATED", UID))

    # when
    process_pending(now=NOW)

    # then the cancelled appointment starts nothing
    assert inbox(late) == (
        "ignored",
        "the appointment was deleted in eTermin; this older push arrived after the deletion",
    )
    assert Contact.objects.count() == 0
    assert Run.objects.count() == 0


def test_paused_campaign_does_not_react(workspace):
    # given a draft (never activated) campaign
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()], active=False)
    push = store_push(account, push_body("CREATED", UID))

    # when
    process_pending(now=NOW)

    # then
    assert inbox(push) == ("ignored", "no active campaign has an eTermin element")
    assert Contact.objects.count() == 0


def test_unreadable_row_fails_with_reason(workspace):
    # given a row whose stored body cannot be read (as ingest stores bad pushes)
    account = make_account(workspace)
    make_campaign(workspace, [etermin_element()])
    row = WebPush.objects.create(
        account=account,
        workspace=workspace,
        received_at=NOW - timedelta(seconds=1),
        body=b"{not json",
        body_sha256="x",
        content_type="application/json",
    )

    # when
    process_pending(now=NOW)

    # then
    status, reason = inbox(row)
    assert status == "failed"
    assert reason != ""
    assert Contact.objects.count() == 0


def test_two_workers_on_postgresql_read_different_inbox_rows_and_a_dead_ones_lease_lapses(
    workspace,
):
    from django.db import connection

    from terminflow.etermin.processing import LEASE, _pending_rows

    if connection.vendor != "postgresql":
        pytest.skip("inbox leases are for several workers on PostgreSQL")
    # given four pending pushes
    account = make_account(workspace)
    rows = [store_push(account, push_body("CREATED", uid=f"uid-{n}")) for n in range(4)]

    def pending_ids(now: datetime) -> list[int]:
        return [row.id for row in _pending_rows(now, 2)]

    # when two workers read two rows each, one right after the other
    first = pending_ids(NOW)
    second = pending_ids(NOW)

    # then the second gets the next rows, not the same ones; nothing is left for a third
    assert first == [rows[0].id, rows[1].id]
    assert second == [rows[2].id, rows[3].id]
    assert pending_ids(NOW) == []
    # and when the first worker died, its rows are read again once its lease has lapsed
    assert pending_ids(NOW + LEASE) == first
