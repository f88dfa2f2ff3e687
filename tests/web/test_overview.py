"""The overview's charts: bookings and emails per day of the workspace's zone, the double
opt-in rate, and what the page hands to the chart script."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from terminflow.contacts.models import Contact
from terminflow.etermin.models import EterminAccount
from terminflow.mail import links, sending
from terminflow.mail import services as mail
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.web import overview
from terminflow.workspaces.models import Workspace
from tests.etermin.factories import make_account, push_body, store_push
from tests.fixtures.smtp import SmtpServer
from tests.mail.conftest import make_contact
from tests.mail.factories import engagement

from .factories import make_email

pytestmark = pytest.mark.django_db

# Zurich moves its clocks forward on Sunday 29 March 2026 (a day of 23 hours).
NOW = datetime(2026, 4, 10, 10, 0, tzinfo=UTC)
DST_DAY = date(2026, 3, 29)
FIRST_DAY = date(2026, 3, 12)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def send_at(template: EmailTemplate, contact: Contact, at: datetime) -> Outbox:
    row = mail.queue_email(template, contact, now=at)
    sending.send_due(now=at)
    return Outbox.objects.get(pk=row.pk)


def push_at(account: EterminAccount, command: str, uid: str, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        store_push(account, push_body(command, uid, start=f"2026-05-01T08:{len(uid):02d}:00Z"))


def by_day(series: dict[str, Any], day: date) -> dict[str, int]:
    index = (day - FIRST_DAY).days
    return {name: values[index] for name, values in series.items()}


def test_the_window_is_thirty_local_days_bounded_by_local_midnights(workspace: Workspace) -> None:
    span = overview.window(workspace, NOW)

    assert (span.days[0], span.days[-1], len(span.days)) == (FIRST_DAY, date(2026, 4, 10), 30)
    assert span.start == utc("2026-03-11T23:00:00")  # midnight in winter time (UTC+1)
    assert span.end == utc("2026-04-10T22:00:00")  # midnight in summer time (UTC+2)


def test_emails_count_on_the_local_day_also_around_the_dst_change(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: emails sent around the change and at the window's edges
    template = make_email(workspace)
    sent = {
        "before the window": utc("2026-03-11T22:59:00"),
        "first minute": utc("2026-03-11T23:00:00"),
        "00:30 on the DST day (still winter time)": utc("2026-03-28T23:30:00"),
        "23:59 on the DST day (summer time)": utc("2026-03-29T21:59:00"),
        "00:00 the day after": utc("2026-03-29T22:00:00"),
    }
    rows = {
        name: send_at(template, make_contact(workspace, email=f"p{n}@example.com"), at)
        for n, (name, at) in enumerate(sent.items())
    }
    # Opened and clicked count each email once, on the day of its first human open or click.
    dst_row = rows["00:30 on the DST day (still winter time)"]
    engagement(dst_row, "click", at=utc("2026-03-29T06:00:00"))
    engagement(dst_row, "open", at=utc("2026-03-29T07:00:00"))
    late_row = rows["23:59 on the DST day (summer time)"]
    engagement(late_row, "open", at=utc("2026-03-29T22:30:00"))
    engagement(late_row, "click", at=utc("2026-03-30T08:00:00"))
    engagement(rows["first minute"], "open", count=0, bot_count=4, at=utc("2026-03-12T00:00:00"))
    # when
    figures = overview.figures(workspace, NOW)
    # then
    assert figures["days"][0] == "2026-03-12"
    assert by_day(figures["emails"], FIRST_DAY) == {"sent": 1, "opened": 0, "clicked": 0}
    assert by_day(figures["emails"], date(2026, 3, 28)) == {"sent": 0, "opened": 0, "clicked": 0}
    assert by_day(figures["emails"], DST_DAY) == {"sent": 2, "opened": 1, "clicked": 1}
    assert by_day(figures["emails"], date(2026, 3, 30)) == {"sent": 1, "opened": 1, "clicked": 1}
    assert (figures["totals"]["sent"], figures["totals"]["opened"]) == (4, 2)


def test_bookings_count_distinct_appointments_per_local_day_and_command(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    # given
    account = make_account(workspace)
    push_at(account, "CREATED", "a-1", utc("2026-03-28T23:30:00"))  # 29 March, 00:30 local
    push_at(account, "CREATED", "a-2", utc("2026-03-29T09:00:00"))
    push_at(account, "MODIFIED", "a-1", utc("2026-03-29T10:00:00"))
    push_at(account, "MODIFIED", "a-1", utc("2026-03-29T11:00:00"))  # same one, changed again
    push_at(account, "DELETED", "a-2", utc("2026-03-29T22:30:00"))  # 30 March, 00:30 local
    push_at(account, "CREATED", "a-3", utc("2026-03-11T22:00:00"))  # before the window
    foreign = make_account(other_workspace, public_key="pub-2")
    push_at(foreign, "CREATED", "f-1", utc("2026-03-29T09:00:00"))
    # when
    figures = overview.figures(workspace, NOW)
    # then
    assert by_day(figures["bookings"], date(2026, 3, 28)) == {
        "created": 0,
        "changed": 0,
        "deleted": 0,
    }
    assert by_day(figures["bookings"], DST_DAY) == {"created": 2, "changed": 1, "deleted": 0}
    assert by_day(figures["bookings"], date(2026, 3, 30)) == {
        "created": 0,
        "changed": 0,
        "deleted": 1,
    }
    assert (figures["totals"]["created"], figures["totals"]["deleted"]) == (2, 1)


def confirm(row: Outbox) -> None:
    mail.confirm_doi(links.make_token(links.Purpose.CONFIRM, row.public_id))


def test_doi_rate_counts_contacts_asked_in_the_window_who_confirmed_through_the_link(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: four asked in the window (three confirmed), one asked before it and confirmed
    doi = make_email(workspace, kind="doi")
    times = ["2026-03-20T08:00:00", "2026-03-21T08:00:00", "2026-04-01T08:00:00", "2026-04-02"]
    asked = [
        send_at(
            doi,
            make_contact(workspace, email=f"d{n}@example.com", status="confirmed_soi"),
            utc(at),
        )
        for n, at in enumerate(times)
    ]
    early = send_at(
        doi,
        make_contact(workspace, email="early@example.com", status="confirmed_soi"),
        utc("2026-03-01T08:00:00"),
    )
    for row in (asked[0], asked[1], asked[3], early):
        confirm(row)
    # when
    figures = overview.figures(workspace, NOW)
    # then
    assert figures["doi"] == {"requested": 4, "confirmed": 3, "rate": 0.75}
    assert overview.percent(3, 4) == 75
    assert (overview.percent(1, 3), overview.percent(2, 3), overview.percent(0, 0)) == (
        33,
        67,
        None,
    )


def chart_json(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script id="dashboard-charts" type="application/json">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_hands_the_exact_figures_to_the_charts_in_german(
    editor_client: Client, workspace: Workspace, smtp: SmtpServer
) -> None:
    # given
    template = make_email(workspace)
    row = send_at(template, make_contact(workspace), utc("2026-03-28T23:30:00"))
    engagement(row, "open", at=utc("2026-03-29T08:00:00"))
    push_at(make_account(workspace), "CREATED", "a-1", utc("2026-03-29T09:00:00"))
    # when
    with time_machine.travel(NOW, tick=False):
        response = editor_client.get("/")
    html = response.content.decode()
    # then
    data = chart_json(html)
    index = (DST_DAY - FIRST_DAY).days
    assert (len(data["days"]), data["days"][index]) == (30, "2026-03-29")
    assert (data["day_labels"][index], data["day_ticks"][index]) == ("29. März", "29. Mär")
    assert [(s["label"], s["values"][index]) for s in data["charts"]["bookings"]] == [
        ("Erstellt", 1),
        ("Geändert", 0),
        ("Gelöscht", 0),
    ]
    assert [
        (s["label"], s["values"][index], sum(s["values"])) for s in data["charts"]["emails"]
    ] == [
        ("Gesendet", 1, 1),
        ("Geöffnet", 1, 1),
        ("Angeklickt", 0, 0),
    ]
    # The same figures as a table for screen readers, and the chart code from static files.
    assert '<th scope="row">29. März</th><td>1</td><td>1</td><td>0</td>' in html
    assert 'data-chart="emails"' in html and 'src="/static/web/uplot.min.js"' in html
    assert "In den letzten 30 Tagen wurde keine Double-Opt-in-Anfrage gesendet." in html


def test_the_page_speaks_english_to_an_english_user(workspace: Workspace, user_factory) -> None:
    # given
    user = user_factory("en@praxis.example", workspace)
    user.language = "en"
    user.save()
    client = Client()
    client.force_login(user)
    # when
    with time_machine.travel(NOW, tick=False):
        html = client.get("/").content.decode()
    # then
    data = chart_json(html)
    assert (data["day_labels"][0], data["day_ticks"][0]) == ("12 March", "12 Mar")
    assert [s["label"] for s in data["charts"]["emails"]] == ["Sent", "Opened", "Clicked"]
    assert "Bookings per day" in html and "The last 30 days" in html


def test_a_viewer_sees_the_charts(viewer_client: Client) -> None:
    response = viewer_client.get("/")

    assert response.status_code == 200
    assert 'data-testid="chart-bookings"' in response.content.decode()
