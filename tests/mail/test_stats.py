"""Email results in unique contacts: emails sent through a real SMTP server, then opened,
clicked, bounced and unsubscribed from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from terminflow.contacts import consent
from terminflow.mail import sending, services, stats
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace
from tests.fixtures.smtp import SmtpServer

from .conftest import make_contact, make_email
from .factories import bounce, engagement, unsubscribe_via

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def send(template: EmailTemplate, *addresses: str) -> dict[str, Outbox]:
    """Queue ``template`` for each address (a new confirmed contact, or the existing one) and
    let the sender deliver them; returns the sent rows by address, the last copy for repeats."""
    rows = {}
    for address in addresses:
        contact = template.workspace.contacts.filter(email=address).first() or make_contact(
            template.workspace, email=address
        )
        rows[address] = services.queue_email(template, contact)
    while sending.send_due():
        pass
    return {address: Outbox.objects.get(pk=row.pk) for address, row in rows.items()}


def test_each_figure_counts_unique_contacts_and_bots_do_not_count(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: eight contacts got the email, one twice; another email and a refused address
    with time_machine.travel(T0, tick=False):
        news = make_email(workspace, name="News")
        other = make_email(workspace, name="Other")
        smtp.handler.refuse["gone@example.com"] = "550 5.1.1 no such user"
        rows = send(
            news,
            "reader@example.com",
            "scanned@example.com",
            "clicker@example.com",
            "bounced@example.com",
            "twice@example.com",
            "leaver@example.com",
            "delayed@example.com",
            "elsewhere@example.com",
            "gone@example.com",
        )
        again = send(news, "twice@example.com")["twice@example.com"]
        other_rows = send(other, "reader@example.com", "otherleaver@example.com")
    assert rows["gone@example.com"].status == "failed"
    assert Outbox.objects.filter(template=news, status="sent").count() == 9

    # when: people and scanners act on them
    engagement(rows["reader@example.com"], "open", count=2)
    engagement(rows["reader@example.com"], "click", count=1, bot_count=1)
    engagement(rows["scanned@example.com"], "open", count=0, bot_count=3)
    engagement(rows["scanned@example.com"], "click", count=0, bot_count=5)
    engagement(rows["clicker@example.com"], "click", count=1)  # pixel blocked, link followed
    bounce(rows["bounced@example.com"], "hard")
    engagement(again, "open", count=1)
    unsubscribe_via(rows["leaver@example.com"])
    bounce(rows["delayed@example.com"], "delayed")
    consent.set_email_status(rows["elsewhere@example.com"].contact, "unsubscribed", source="api")
    engagement(other_rows["reader@example.com"], "click", count=4)
    unsubscribe_via(other_rows["otherleaver@example.com"], channel="one-click")

    # then
    assert stats.email_stats(news) == {
        "sent": 8,
        "delivered": 7,
        "bounced": 1,
        "opened": 3,  # reader, clicker (a click is an open), twice (second copy)
        "clicked": 2,  # reader, clicker; scanned only by bots
        "unsubscribed": 1,  # leaver; elsewhere unsubscribed without this email's link
    }
    assert stats.email_stats(other) == {
        "sent": 2,
        "delivered": 2,
        "bounced": 0,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 1,
    }


def test_a_contact_with_one_bounced_and_one_delivered_copy_counts_as_bounced(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given
    news = make_email(workspace)
    first = send(news, "anna@example.com")["anna@example.com"]
    send(news, "anna@example.com")
    # when
    bounce(first, "soft")
    # then
    assert stats.email_stats(news) == {
        "sent": 1,
        "delivered": 0,
        "bounced": 1,
        "opened": 0,
        "clicked": 0,
        "unsubscribed": 0,
    }


def test_an_email_nobody_got_yet_has_zeros_and_queued_rows_do_not_count(
    workspace: Workspace,
) -> None:
    # given: no SMTP server configured, so the email stays queued
    news = make_email(workspace)
    services.queue_email(news, make_contact(workspace))
    # then
    assert stats.email_stats(news) == dict.fromkeys(stats.KEYS, 0)


def test_figures_of_another_workspace_never_mix_in(workspace: Workspace, smtp: SmtpServer) -> None:
    # given: the same addresses and activity in two workspaces
    other_workspace = make_workspace("Zahnarzt Oerlikon")
    ours, theirs = make_email(workspace), make_email(other_workspace)
    [our_row] = send(ours, "anna@example.com").values()
    their_rows = send(theirs, "anna@example.com", "ben@example.com")
    # when
    engagement(our_row, "click")
    for row in their_rows.values():
        engagement(row, "open")
        bounce(row, "hard")
    # then
    assert stats.email_stats(ours) == {
        "sent": 1,
        "delivered": 1,
        "bounced": 0,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 0,
    }
    assert stats.email_stats(theirs)["bounced"] == 2


def test_the_figures_take_five_queries_whatever_the_number_of_emails(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given
    news = make_email(workspace)
    rows = send(news, *(f"p{n}@example.com" for n in range(12)))
    for row in list(rows.values())[:5]:
        engagement(row, "open", at=T0 + timedelta(hours=1))
    # when
    with CaptureQueriesContext(connection) as queries:
        figures = stats.email_stats(news)
    # then
    assert (figures["sent"], figures["opened"]) == (12, 5)
    # sent, bounced, opened, clicked, unsubscribed: one aggregate each
    assert len(queries) == 5
