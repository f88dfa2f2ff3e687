"""Processing against the eTermin sandbox over real HTTP: bookings, lookups, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from terminflow.campaigns.models import Run
from terminflow.contacts.models import Contact, EmailStatus, Note
from terminflow.etermin.models import WebPush
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account

from .factories import etermin_element, make_campaign, make_field, push_body, store_push

PUBLIC_KEY = "pk-seefeld"
PRIVATE_KEY = "sk-seefeld-very-secret"
NOW = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


def connect(workspace, sandbox, calendars=None):
    sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY, calendars=calendars)
    return connect_account(
        workspace, name="Praxis Seefeld", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY
    )


@pytest.mark.django_db(transaction=True)
def test_booking_in_sandbox_becomes_enrolled_contact(workspace, etermin_sandbox, terminflow_front):
    # given a connected account whose Web Push URL is set in eTermin
    account = connect(workspace, etermin_sandbox)
    make_field(workspace, "termin_start")
    make_campaign(
        workspace,
        [etermin_element(start_field="termin_start", save_notes=True, calendar=211614)],
    )
    etermin_sandbox.configure_push(
        PUBLIC_KEY, f"{terminflow_front.url}/hooks/etermin/{account.web_push_token}", format="form"
    )

    # when a customer books in eTermin
    uid = etermin_sandbox.book(
        PUBLIC_KEY,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
        email="Lea.Brunner@Example.ch",
        first_name="Lea",
        last_name="Brunner",
        notes="Bitte Parkplatz reservieren.\nDanke! 🙂",
    )
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    handled = process_pending(now=NOW)

    # then the push was stored, processed and the contact entered the campaign
    assert delivery["status_code"] == 200
    assert handled == 1
    push = WebPush.objects.get()
    assert (push.command, push.appointment_uid, push.status) == ("CREATED", uid, "processed")
    contact = Contact.objects.get(workspace=workspace)
    assert contact.email == "lea.brunner@example.ch"
    assert contact.email_status == EmailStatus.CONFIRMED_SOI
    assert contact.fields == {"termin_start": "2026-12-03T09:30:00+00:00"}
    assert list(Note.objects.filter(contact=contact).values_list("text", flat=True)) == [
        "Bitte Parkplatz reservieren.\nDanke! 🙂"
    ]
    assert list(Run.objects.filter(contact=contact).values_list("status", flat=True)) == [
        "completed"
    ]


@pytest.mark.django_db
def test_newsletter_absent_from_push_is_looked_up_in_etermin(workspace, etermin_sandbox):
    # given an eTermin contact who ticked the newsletter box, and a push without the flag
    account = connect(workspace, etermin_sandbox)
    etermin_sandbox.book_as_customer(
        PUBLIC_KEY,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
        email="lea.brunner@example.ch",
        first_name="Lea",
        last_name="Brunner",
        newsletter=True,
    )
    make_campaign(workspace, [etermin_element(newsletter_only=True)])
    push = store_push(account, push_body("CREATED", "uid-1", newsletter=None))
    calls_before = len(etermin_sandbox.calls(PUBLIC_KEY))

    # when
    process_pending(now=NOW)

    # then the flag came from GET /api/contact and the contact entered
    push.refresh_from_db()
    assert (push.status, push.reason) == ("processed", "")
    lookups = [
        c for c in etermin_sandbox.calls(PUBLIC_KEY)[calls_before:] if c["path"] == "/api/contact"
    ]
    assert len(lookups) == 1
    assert Contact.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_newsletter_lookup_failing_retries_later_instead_of_guessing(workspace, etermin_sandbox):
    # given a push without the flag and an eTermin that answers 500 for a while
    account = connect(workspace, etermin_sandbox)
    make_campaign(workspace, [etermin_element(newsletter_only=True)])
    push = store_push(account, push_body("CREATED", "uid-1", newsletter=None))
    etermin_sandbox.fail_next(10, status=500)

    # when
    process_pending(now=NOW)

    # then the row waits, with the reason, and nothing was decided
    push.refresh_from_db()
    assert push.status == "pending"
    assert push.next_attempt_at == NOW + timedelta(minutes=1)
    assert push.reason.startswith("eTermin newsletter lookup failed: ")
    assert Contact.objects.count() == 0
    assert Run.objects.count() == 0
    # and it is not picked up before its time
    assert process_pending(now=NOW + timedelta(seconds=30)) == 0

    # when eTermin is back (no such contact there: the box was not ticked) and the time has come
    etermin_sandbox.fail_next(0)
    process_pending(now=NOW + timedelta(minutes=2))

    # then it is decided on eTermin's answer
    push.refresh_from_db()
    assert (push.status, push.reason) == (
        "ignored",
        "the customer did not tick the eTermin newsletter checkbox",
    )
    assert push.attempts == 2
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_calendar_missing_from_push_is_resolved_by_name(workspace, etermin_sandbox):
    # given a form push that names its calendar but carries no id, and a one-calendar element
    account = connect(
        workspace, etermin_sandbox, calendars=[(211614, "Praxis Seefeld"), (300, "Praxis Enge")]
    )
    make_campaign(workspace, [etermin_element(calendar=300)])
    enge = store_push(
        account, push_body("CREATED", "uid-enge", calendar_id=None, calendar_name="Praxis Enge")
    )
    seefeld = store_push(
        account,
        push_body(
            "CREATED",
            "uid-seefeld",
            email="other@example.ch",
            calendar_id=None,
            calendar_name="Praxis Seefeld",
        ),
    )

    # when
    process_pending(now=NOW)

    # then
    enge.refresh_from_db()
    seefeld.refresh_from_db()
    assert (enge.status, seefeld.status) == ("processed", "ignored")
    assert list(Contact.objects.values_list("email", flat=True)) == ["lea.brunner@example.ch"]
