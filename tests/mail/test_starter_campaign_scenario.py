"""The starter campaign over real HTTP and a real SMTP server: booking → double opt-in → reminder.

The campaign is made and activated through the API on terminflow's front; eTermin's sandbox
pushes the bookings and the cancellation to it; the worker's sweeps run in this process, moved
through time with their ``now``; emails arrive at aiosmtpd on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.test import Client

from terminflow.campaigns import engine
from terminflow.campaigns.models import Enrollment, Run
from terminflow.contacts.models import Contact
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account
from terminflow.mail import sending
from terminflow.workspaces.models import Workspace
from terminflow.workspaces.services import issue_api_token
from tests.fixtures.sandbox import SandboxHandle, ServerThread
from tests.fixtures.smtp import Received, SmtpServer

PUBLIC = "pk-starter"
PRIVATE = "sk-starter-secret"
SEEFELD, OERLIKON = 211614, 211615
ZURICH = ZoneInfo("Europe/Zurich")
LEA_START = datetime(2030, 3, 12, 9, 0, tzinfo=ZURICH)  # Tuesday
MARCO_START = datetime(2030, 3, 13, 9, 0, tzinfo=ZURICH)


def work(now: datetime | None = None) -> None:
    """The worker's sweeps, in order, until nothing moves."""
    while process_pending():
        pass
    while engine.advance_due(now=now):
        pass
    while sending.send_due(now=now):
        pass


def book(sandbox: SandboxHandle, calendar: int, start: datetime, email: str, first: str) -> str:
    return sandbox.book(
        PUBLIC,
        calendar_id=calendar,
        start=start,
        end=start + timedelta(minutes=45),
        email=email,
        first_name=first,
        last_name="Muster",
    )


def confirm_path(message: Received) -> str:
    found = re.search(r"http://testserver(/mail/confirm/[^\s)\"]+/)", message.part("text/plain"))
    assert found is not None
    return found.group(1)


def start_from_the_starter(front: ServerThread, workspace: Workspace) -> int:
    """What a user does: one click, point the triggers at a calendar, activate."""
    token = issue_api_token(workspace).token
    with httpx.Client(
        base_url=front.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        created = http.post("/api/v1/campaigns/starters/appointments-with-reminder", json={})
        assert created.status_code == 201, created.text
        campaign = created.json()
        elements = [
            {key: value for key, value in element.items() if key != "kind"}
            for element in campaign["elements"]
        ]
        for element in elements:
            if element["type"] == "etermin.appointment":
                element["config"]["calendar"] = SEEFELD
        graph = {"name": campaign["name"], "elements": elements, "edges": campaign["edges"]}
        saved = http.put(f"/api/v1/campaigns/{campaign['id']}", json=graph)
        assert saved.status_code == 200, saved.text
        activated = http.post(f"/api/v1/campaigns/{campaign['id']}/activate")
        assert activated.json()["status"] == "active", activated.text
        return int(campaign["id"])


@pytest.mark.django_db(transaction=True)
def test_booking_gets_double_opt_in_then_the_reminder_a_day_before_and_cancelling_stops_it(
    workspace: Workspace,
    etermin_sandbox: SandboxHandle,
    terminflow_front: ServerThread,
    smtp: SmtpServer,
) -> None:
    # given an eTermin account with two calendars, and the starter campaign on one of them
    etermin_sandbox.add_account(
        PUBLIC, PRIVATE, calendars=[(SEEFELD, "Praxis Seefeld"), (OERLIKON, "Praxis Oerlikon")]
    )
    account = connect_account(workspace, name="Praxis", public_key=PUBLIC, private_key=PRIVATE)
    etermin_sandbox.configure_push(
        PUBLIC, f"{terminflow_front.url}/hooks/etermin/{account.web_push_token}", format="json"
    )
    campaign_id = start_from_the_starter(terminflow_front, workspace)

    # when Lea and Marco book in Seefeld and Nora in Oerlikon
    book(etermin_sandbox, SEEFELD, LEA_START, "lea@example.ch", "Lea")
    marco = book(etermin_sandbox, SEEFELD, MARCO_START, "marco@example.ch", "Marco")
    book(etermin_sandbox, OERLIKON, LEA_START, "nora@example.ch", "Nora")
    etermin_sandbox.wait_for_deliveries(3)
    work()

    # then Lea and Marco get the double opt-in email, Nora nothing
    assert sorted((m.rcpt_tos[0], m.message["Subject"]) for m in smtp.messages) == [
        ("lea@example.ch", "Bitte bestätigen Sie Ihre E-Mail-Adresse"),
        ("marco@example.ch", "Bitte bestätigen Sie Ihre E-Mail-Adresse"),
    ]
    [to_lea] = [m for m in smtp.messages if m.rcpt_tos == ["lea@example.ch"]]
    assert "Guten Tag Lea Muster" in to_lea.part("text/plain")
    assert Contact.objects.get(email="lea@example.ch").fields == {
        "appointment_start": LEA_START.astimezone(UTC).isoformat()
    }

    # when Lea confirms, and Marco cancels his appointment in eTermin
    assert Client().post(confirm_path(to_lea)).status_code == 200
    etermin_sandbox.cancel(PUBLIC, marco)
    etermin_sandbox.wait_for_deliveries(4)
    work()

    # then Marco has left the campaign: his reminder is cancelled, the stop step ran
    marco_contact = Contact.objects.get(email="marco@example.ch")
    assert Enrollment.objects.get(contact=marco_contact).status == "stopped"
    marco_runs = dict(
        Run.objects.filter(contact=marco_contact).values_list("element__key", "status")
    )
    assert marco_runs == {
        "booking": "completed",
        "doi": "completed",
        "wait": "cancelled",
        "cancelled": "completed",
        "stop": "completed",
    }

    # and a minute before 24 hours ahead of Lea's appointment nothing is sent yet
    reminder_at = datetime(2030, 3, 11, 9, 0, tzinfo=ZURICH)
    work(now=reminder_at - timedelta(minutes=1))
    assert len(smtp.messages) == 2

    # when the time comes
    work(now=reminder_at)

    # then Lea gets the reminder with her appointment, in German and in Zurich time
    assert len(smtp.messages) == 3
    reminder = smtp.messages[-1]
    assert reminder.rcpt_tos == ["lea@example.ch"]
    assert reminder.message["Subject"] == "Erinnerung: Ihr Termin morgen bei Praxis Seefeld"
    assert (
        "Gerne erinnern wir Sie an Ihren Termin:\n\n"
        "Dienstag, 12. März 2030 um 09:00\n\nKalender: Praxis Seefeld\n\n"
    ) in reminder.part("text/plain")
    lea_runs = Run.objects.filter(campaign_id=campaign_id, contact__email="lea@example.ch")
    assert sorted(lea_runs.values_list("element__key", "status")) == [
        ("booking", "completed"),
        ("doi", "completed"),
        ("reminder", "completed"),
        ("wait", "completed"),
    ]

    # and Marco gets no reminder, even when his would have been due
    work(now=MARCO_START)
    assert len(smtp.messages) == 3
    assert not Enrollment.objects.filter(contact__email="nora@example.ch").exists()
