"""The seed's campaign scenario over real HTTP, however eTermin's changes reach us.

Confirm the booking with a double-opt-in email, remind a day before, tag newsletter takers, react
to moves and cancellations (DESIGN.md §1). The same story runs with every web push variant an
eTermin account may send, and once with pushes lost (paused in the sandbox) and reconciled by a
sync: each time the contacts, fields, notes, runs, emails and appointments end the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from terminflow.campaigns import engine
from terminflow.campaigns.models import Run
from terminflow.contacts.models import Contact, Note
from terminflow.etermin.models import Appointment, EterminAccount, WebPush
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account
from terminflow.kit import clock
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from terminflow.workspaces.services import issue_api_token
from tests.fixtures.sandbox import SandboxHandle, ServerThread
from tests.mail.conftest import make_email

from .factories import etermin_element, make_campaign, make_field, tag_element

PUBLIC = "pk-scenario"
PRIVATE = "sk-scenario-secret"
CALENDAR = 211614


def seed_campaigns(workspace: Workspace) -> None:
    make_field(workspace, "termin_start")
    doi = make_email(workspace, "doi", name="Bestätigung", subject="Ihr Termin")
    make_campaign(
        workspace,
        [
            etermin_element(calendar=CALENDAR, start_field="termin_start", save_notes=True),
            {"id": "doi", "type": "email.doi", "config": {"email_id": doi.pk}, "position": {}},
            {
                "id": "remind",
                "type": "wait.until_field",
                "config": {"field": "termin_start", "offset_minutes": -1440, "if_past": "stop"},
                "position": {},
            },
            tag_element("reminded", "erinnert"),
        ],
        [("booking", "doi"), ("doi", "remind"), ("remind", "reminded")],
        name="Buchung",
    )
    make_campaign(
        workspace,
        [etermin_element("news", newsletter_only=True), tag_element("tag", "newsletter")],
        [("news", "tag")],
        name="Newsletter",
    )
    make_campaign(
        workspace,
        [etermin_element("moved", event="modified"), tag_element("tag", "verschoben")],
        [("moved", "tag")],
        name="Verschoben",
    )
    make_campaign(
        workspace,
        [etermin_element("cancel", event="deleted"), tag_element("tag", "abgesagt")],
        [("cancel", "tag")],
        name="Absage",
    )


def slot(days: int, hour: int) -> tuple[datetime, datetime]:
    start = (clock.now() + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    return start, start + timedelta(minutes=45)


def work() -> None:
    """The worker's sweeps, in this process, until nothing moves."""
    while process_pending() or engine.advance_due():
        pass


def book(sandbox: SandboxHandle, email: str, first: str, when, newsletter: bool) -> str:
    start, end = when
    return sandbox.book(
        PUBLIC,
        calendar_id=CALENDAR,
        start=start,
        end=end,
        email=email,
        first_name=first,
        last_name="Muster",
        notes=f"Notiz von {first}",
        newsletter=newsletter,
    )


def snapshot(workspace: Workspace) -> dict[str, Any]:
    """Everything a person would see of the story, keyed by email rather than database ids."""
    contacts = Contact.objects.filter(workspace=workspace).prefetch_related("contact_tags__tag")
    return {
        "contacts": sorted(
            (c.email, c.email_status, c.fields, sorted(t.tag.name for t in c.contact_tags.all()))
            for c in contacts
        ),
        "notes": sorted(Note.objects.values_list("contact__email", "text")),
        # A finished run's due time is when it ran; a waiting one's is the reminder's time.
        "runs": sorted(
            (name, key, email, status, due_at if status != "completed" else None)
            for name, key, email, status, due_at in Run.objects.values_list(
                "campaign__name", "element__key", "contact__email", "status", "due_at"
            )
        ),
        "emails": sorted(Outbox.objects.values_list("template__name", "to_email", "subject")),
        "appointments": sorted(
            Appointment.objects.values_list(
                "contact__email", "status", "start", "end", "calendar_id", "taken_in"
            )
        ),
    }


def expected(a_moved, b_slot, c_slot) -> dict[str, Any]:
    lea, marco, nora = "lea@example.ch", "marco@example.ch", "nora@example.ch"

    def remind_at(when):
        return when[0] - timedelta(days=1)

    return {
        "contacts": [
            (
                lea,
                "confirmed_soi",
                {"termin_start": a_moved[0].isoformat()},
                ["newsletter", "verschoben"],
            ),
            (marco, "confirmed_soi", {"termin_start": b_slot[0].isoformat()}, ["abgesagt"]),
            (nora, "confirmed_soi", {"termin_start": c_slot[0].isoformat()}, ["newsletter"]),
        ],
        "notes": [(lea, "Notiz von Lea"), (marco, "Notiz von Marco"), (nora, "Notiz von Nora")],
        "runs": sorted(
            [
                ("Absage", "cancel", marco, "completed", None),
                ("Absage", "tag", marco, "completed", None),
                ("Newsletter", "news", lea, "completed", None),
                ("Newsletter", "tag", lea, "completed", None),
                ("Newsletter", "news", nora, "completed", None),
                ("Newsletter", "tag", nora, "completed", None),
                ("Verschoben", "moved", lea, "completed", None),
                ("Verschoben", "tag", lea, "completed", None),
                *[
                    row
                    for email, when in ((lea, a_moved), (marco, b_slot), (nora, c_slot))
                    for row in (
                        ("Buchung", "booking", email, "completed", None),
                        ("Buchung", "doi", email, "completed", None),
                        # Marco's appointment was cancelled: his reminder stops with it.
                        (
                            "Buchung",
                            "remind",
                            email,
                            "cancelled" if email == marco else "pending",
                            remind_at(when),
                        ),
                    )
                ],
            ],
            key=repr,
        ),
        "emails": [
            ("Bestätigung", lea, "Ihr Termin"),
            ("Bestätigung", marco, "Ihr Termin"),
            ("Bestätigung", nora, "Ihr Termin"),
        ],
        "appointments": [
            (lea, "active", a_moved[0], a_moved[1], str(CALENDAR), True),
            (marco, "deleted", b_slot[0], b_slot[1], str(CALENDAR), True),
            (nora, "active", c_slot[0], c_slot[1], str(CALENDAR), True),
        ],
    }


def run_story(
    workspace: Workspace,
    sandbox: SandboxHandle,
    front: ServerThread,
    *,
    format: str = "json",
    variant: str = "standard",
    lose_pushes: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], EterminAccount]:
    sandbox.add_account(PUBLIC, PRIVATE, calendars=[(CALENDAR, "Praxis Seefeld")])
    account = connect_account(workspace, name="Praxis", public_key=PUBLIC, private_key=PRIVATE)
    seed_campaigns(workspace)
    sandbox.configure_push(
        PUBLIC,
        f"{front.url}/hooks/etermin/{account.web_push_token}",
        format=format,
        variant=variant,
    )
    a_slot, b_slot, c_slot = slot(10, 8), slot(12, 9), slot(14, 10)
    a_moved = slot(11, 13)

    # two bookings arrive as pushes
    lea = book(sandbox, "lea@example.ch", "Lea", a_slot, newsletter=True)
    marco = book(sandbox, "marco@example.ch", "Marco", b_slot, newsletter=False)
    sandbox.wait_for_deliveries(2)
    work()

    # then a booking, a move and a cancellation
    if lose_pushes:
        sandbox.pause_pushes(PUBLIC)
    book(sandbox, "nora@example.ch", "Nora", c_slot, newsletter=True)
    sandbox.reschedule(PUBLIC, lea, *a_moved)
    sandbox.cancel(PUBLIC, marco)
    if lose_pushes:
        sandbox.pause_pushes(PUBLIC, paused=False)
        answer = sync_over_http(workspace, front, account)
        assert answer == {"checked": 3, "created": 1, "modified": 1, "deleted": 1}
    else:
        sandbox.wait_for_deliveries(5)
    work()
    return snapshot(workspace), expected(a_moved, b_slot, c_slot), account


def sync_over_http(workspace: Workspace, front: ServerThread, account: EterminAccount) -> dict:
    token = issue_api_token(workspace).token
    response = httpx.post(
        f"{front.url}/api/v1/etermin/accounts/{account.pk}/sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("format", "variant"),
    [
        ("json", "standard"),
        ("form", "standard"),
        ("json", "upper_compact"),
        ("form", "upper_compact"),
        ("json", "sparse"),
        ("form", "utc_without_z"),
    ],
)
def test_every_push_variant_ends_the_same(
    workspace, etermin_sandbox, terminflow_front, format, variant
):
    got, want, _ = run_story(
        workspace, etermin_sandbox, terminflow_front, format=format, variant=variant
    )
    for key in want:
        assert got[key] == want[key], key
    assert set(WebPush.objects.values_list("source", "status")) == {("push", "processed")}


@pytest.mark.django_db(transaction=True)
def test_pushes_lost_and_synced_end_as_if_every_push_had_arrived(
    workspace, etermin_sandbox, terminflow_front
):
    # given pushes paused while a booking, a move and a cancellation happen; then a sync
    got, want, account = run_story(workspace, etermin_sandbox, terminflow_front, lose_pushes=True)
    # then everything is as with every push delivered
    assert got == want
    assert sorted(WebPush.objects.values_list("source", "command", "status")) == [
        ("push", "CREATED", "processed"),
        ("push", "CREATED", "processed"),
        ("sync", "CREATED", "processed"),
        ("sync", "DELETED", "processed"),
        ("sync", "MODIFIED", "processed"),
    ]
    # and a second sync changes nothing
    again = sync_over_http(workspace, terminflow_front, account)
    assert again == {"checked": 3, "created": 0, "modified": 0, "deleted": 0}
    work()
    assert WebPush.objects.count() == 5
    assert snapshot(workspace) == want
