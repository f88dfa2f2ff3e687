"""Sending limits in the outbox sweep: per recipient domain per minute, and the warm-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from terminflow.mail import limits, sending, services
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from tests.fixtures.smtp import SmtpServer

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def queue(workspace: Workspace, *addresses: str) -> None:
    template = make_email(workspace, "marketing")
    for address in addresses:
        services.queue_email(template, make_contact(workspace, address), now=T0)


def delivered(smtp: SmtpServer) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in smtp.messages)


def test_a_limited_domain_gets_at_most_its_share_per_minute(
    workspace: Workspace, smtp: SmtpServer, settings: Any
) -> None:
    # given five emails to gmail.com (limit 2 a minute) and two to another domain
    settings.DOMAIN_LIMITS = "gmail.com=2, outlook.com=100"
    queue(workspace, *[f"g{n}@gmail.com" for n in range(5)], "a@praxis.ch", "b@praxis.ch")

    # when the sender runs now and again within the minute
    sending.send_due(now=T0)
    sending.send_due(now=T0 + timedelta(seconds=30))

    # then two went to gmail.com, all of the others went, and the rest wait unclaimed
    assert delivered(smtp) == ["a@praxis.ch", "b@praxis.ch", "g0@gmail.com", "g1@gmail.com"]
    waiting = Outbox.objects.filter(status="queued").order_by("id")
    assert [(r.to_email, r.attempts, r.claimed_at) for r in waiting] == [
        (f"g{n}@gmail.com", 0, None) for n in range(2, 5)
    ]
    assert {r.next_attempt_at for r in waiting} == {T0 + timedelta(minutes=1)}

    # when the minute is over, the next two go
    sending.send_due(now=T0 + timedelta(seconds=61))
    assert len([a for a in delivered(smtp) if a.endswith("@gmail.com")]) == 4


def test_warm_up_caps_the_day_and_doubles_the_next(
    workspace: Workspace, smtp: SmtpServer, settings: Any
) -> None:
    settings.WARMUP_SINCE = date(2026, 12, 1)
    settings.WARMUP_FIRST_DAY = 3
    queue(workspace, *[f"p{n}@example.com" for n in range(10)])

    first_day = sending.send_due(now=T0, rounds=4)
    later_that_day = sending.send_due(now=T0 + timedelta(hours=5))
    second_day = sending.send_due(now=T0 + timedelta(days=1), rounds=4)

    assert (first_day, later_that_day, second_day) == (3, 0, 6)
    assert len(smtp.messages) == 9
    assert Outbox.objects.filter(status="queued").count() == 1


def test_warm_up_schedule() -> None:
    from django.test import override_settings

    with override_settings(WARMUP_SINCE=date(2026, 12, 1), WARMUP_FIRST_DAY=50):
        assert [limits.warmup_cap(date(2026, 12, d)) for d in (1, 2, 3, 8)] == [50, 100, 200, 6400]
        assert limits.warmup_cap(date(2026, 11, 30)) == 0
        assert limits.warmup_cap(date(2027, 1, 1)) is None
    with override_settings(WARMUP_SINCE=None, WARMUP_FIRST_DAY=50):
        assert limits.warmup_cap(date(2026, 12, 1)) is None


def test_malformed_limits_keep_emails_queued(
    workspace: Workspace, smtp: SmtpServer, settings: Any
) -> None:
    settings.DOMAIN_LIMITS = "gmail.com=viele"
    queue(workspace, "g@gmail.com")

    assert sending.send_due(now=T0) == 0
    assert smtp.messages == []
    assert Outbox.objects.get().attempts == 0
