"""The whole story from an eTermin booking: double opt-in, marketing email, one-click unsubscribe.

Real HTTP all the way: the eTermin sandbox pushes to terminflow's front, the worker's steps run
in this process, and emails go to a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from terminflow.campaigns import engine
from terminflow.campaigns.models import Run
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account
from terminflow.mail import sending
from terminflow.workspaces.models import Workspace
from tests.etermin.factories import etermin_element
from tests.etermin.factories import make_campaign as make_etermin_campaign
from tests.fixtures.sandbox import SandboxHandle, ServerThread
from tests.fixtures.smtp import Received, SmtpServer

from .conftest import make_email

PUBLIC_KEY = "pk-seefeld"
PRIVATE_KEY = "sk-seefeld-very-secret"


def work() -> None:
    """One pass of what the worker's sweeps do, in order."""
    while process_pending():
        pass
    while engine.advance_due():
        pass
    while sending.send_due():
        pass


def path_in(message: Received, kind: str) -> str:
    found = re.search(rf"http://testserver(/mail/{kind}/[^\s)\"]+/)", message.part("text/plain"))
    assert found is not None, message.part("text/plain")
    return found.group(1)


@pytest.mark.django_db(transaction=True)
def test_booking_to_double_opt_in_to_marketing_to_one_click_unsubscribe(
    workspace: Workspace,
    etermin_sandbox: SandboxHandle,
    terminflow_front: ServerThread,
    smtp: SmtpServer,
) -> None:
    # given a connected eTermin account and three campaigns
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY, calendars=[(211614, "Praxis Seefeld")])
    account = connect_account(
        workspace, name="Praxis Seefeld", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY
    )
    etermin_sandbox.configure_push(
        PUBLIC_KEY, f"{terminflow_front.url}/hooks/etermin/{account.web_push_token}", format="json"
    )
    doi = make_email(
        workspace,
        "doi",
        subject='Ihr Termin am {{ appointment.start|datetime("full") }}',
        body_html=(
            "<p>Guten Tag {{ contact.first_name }}, Ihr Termin im {{ appointment.calendar_name }}"
            ' ist gebucht.</p><p><a href="{{ links.confirm }}">Newsletter bestätigen</a></p>'
        ),
    )
    news = make_email(workspace, "marketing", subject="Neuigkeiten", name="news")
    make_etermin_campaign(
        workspace,
        [
            etermin_element(calendar=211614),
            {"id": "doi", "type": "email.doi", "config": {"email_id": doi.pk}, "position": {}},
        ],
        [("booking", "doi")],
        name="Buchung",
    )
    make_etermin_campaign(
        workspace,
        [
            {"id": "ok", "type": "contact.doi_confirmed", "config": {}, "position": {}},
            {"id": "mail", "type": "email.send", "config": {"email_id": news.pk}, "position": {}},
        ],
        [("ok", "mail")],
        name="Willkommen",
    )
    later = make_etermin_campaign(
        workspace,
        [
            {"id": "tag", "type": "contact.tag_added", "config": {"tag": "news"}, "position": {}},
            {"id": "mail", "type": "email.send", "config": {"email_id": news.pk}, "position": {}},
        ],
        [("tag", "mail")],
        name="Newsletter",
    )

    # when a customer books in eTermin
    etermin_sandbox.book(
        PUBLIC_KEY,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
        email="Lea.Brunner@Example.ch",
        first_name="Lea",
        last_name="Brunner",
    )
    etermin_sandbox.wait_for_deliveries(1)
    work()

    # then the new contact is single-opt-in and gets the DOI email with the date in German
    contact = Contact.objects.get(workspace=workspace)
    assert contact.email_status == "confirmed_soi"
    [doi_mail] = smtp.messages
    assert doi_mail.rcpt_tos == ["lea.brunner@example.ch"]
    assert doi_mail.message["Subject"] == "Ihr Termin am Donnerstag, 3. Dezember 2026 um 10:30"
    assert "Ihr Termin im Praxis Seefeld ist gebucht." in doi_mail.part("text/plain")
    confirm = path_in(doi_mail, "confirm")

    # a mail scanner fetching the link changes nothing
    assert Client().get(confirm).status_code == 200
    work()
    assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_soi"
    assert len(smtp.messages) == 1

    # the POST confirms, and the marketing email follows with RFC 8058 headers
    assert Client().post(confirm).status_code == 200
    assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_doi"
    work()
    [_, welcome] = smtp.messages
    assert welcome.message["Subject"] == "Neuigkeiten"
    assert welcome.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = welcome.message["List-Unsubscribe"].removeprefix("<http://testserver")[:-1]

    # one-click unsubscribe, and no further marketing email
    response = Client().post(one_click, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Contact.objects.get(pk=contact.pk).email_status == "unsubscribed"
    contact_tags.add_tags(Contact.objects.get(pk=contact.pk), ["news"])
    work()

    assert len(smtp.messages) == 2
    skipped = Run.objects.get(campaign=later, contact=contact, element__key="mail")
    assert (skipped.status, skipped.reason) == ("skipped", "contact is unsubscribed: no email")
    ledger = list(
        ConsentEvent.objects.filter(contact=contact).order_by("id").values_list("kind", flat=True)
    )
    assert ledger == ["soi", "doi_requested", "doi_sent", "doi_confirmed", "unsubscribed"]
    requested = ConsentEvent.objects.get(contact=contact, kind="doi_requested")
    assert requested.details["calendar"] == "Praxis Seefeld"
    assert requested.details["consent_text_version"] == f"email {doi.pk} v1"
