"""Sending limits: at most N emails a minute to one recipient domain, and a warm-up schedule.

Mailbox providers throttle or junk a sender that sends more than it usually does, above all a
new sending domain. ``TERMINFLOW_DOMAIN_LIMITS`` caps emails per minute per recipient domain
(``gmail.com=600,outlook.com=300``); ``TERMINFLOW_WARMUP_SINCE`` (a date) and
``TERMINFLOW_WARMUP_FIRST_DAY`` cap emails per UTC day, starting there and doubling every day.
Both count rows by ``claimed_at`` (when a sender took them), like the SMTP URL's
``rate_per_minute``. Two senders that count at the same moment can each take a batch, so a cap
can be passed by at most one batch per sender.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings

from .models import Outbox

MINUTE = timedelta(minutes=1)


def domain_limits() -> dict[str, int]:
    """``{"gmail.com": 600}`` from ``TERMINFLOW_DOMAIN_LIMITS``; malformed entries are refused."""
    limits: dict[str, int] = {}
    for entry in (settings.DOMAIN_LIMITS or "").split(","):
        if not entry.strip():
            continue
        domain, _, number = entry.partition("=")
        if not domain.strip() or not number.strip().isdigit():
            raise ValueError(f"TERMINFLOW_DOMAIN_LIMITS: {entry.strip()!r} is not domain=number")
        limits[domain.strip().lower()] = int(number)
    return limits


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def minute_budgets(now: datetime, limits: dict[str, int]) -> dict[str, int]:
    """How many more emails each limited domain may take in the minute before ``now``."""
    return {
        domain: max(
            0,
            limit
            - Outbox.objects.filter(
                claimed_at__gt=now - MINUTE, to_email__iendswith="@" + domain
            ).count(),
        )
        for domain, limit in limits.items()
    }


def warmup_cap(today: date) -> int | None:
    """Emails allowed on ``today`` during warm-up; None once it is over or not configured."""
    since, first = settings.WARMUP_SINCE, settings.WARMUP_FIRST_DAY
    if since is None or first <= 0:
        return None
    days = (today - since).days
    if days < 0:
        return 0
    if days > 30:
        return None
    return first * 2**days


def warmup_budget(now: datetime) -> int | None:
    """How many more emails the warm-up lets out today (UTC); None for no cap."""
    cap = warmup_cap(now.astimezone(UTC).date())
    if cap is None:
        return None
    day_start = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    return max(0, cap - Outbox.objects.filter(claimed_at__gte=day_start).count())
