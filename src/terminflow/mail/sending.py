"""The sender: claims due outbox rows, hands them to the SMTP pool, records what happened.

Three short steps, never a transaction held open across the network:

1. **Claim** (one transaction): due ``queued`` rows, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   get ``next_attempt_at`` moved forward by the lease and ``attempts`` + 1. Another sender
   skips them; a sender that dies leaves them due again when the lease runs out.
2. **Send** over pooled SMTP connections, outside any transaction.
3. **Record** (one transaction): ``sent``, ``failed``, or back to ``queued`` with a later
   ``next_attempt_at`` (backoff). Bounces block the address and go into the consent ledger.

The crash window: a server may accept an email and the sender die before step 3 commits. The
row is then due again when its lease expires and goes out a second time. We chose that over
the opposite (marking rows sent before sending, which loses emails in the same window):
losing an appointment confirmation is worse than a rare duplicate, the window is at most two
batches (``BATCH`` emails each, well under a second of sending), and the copy carries the same
Message-ID (it derives from the row), which mailbox providers use to fold duplicates and which
makes them detectable. A server that hangs up after the message data without answering is the
same case: no answer means not accepted, so the email is sent again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from terminflow.contacts import consent
from terminflow.contacts.models import ConsentEvent, ConsentKind, Contact, EmailStatus
from terminflow.kit import clock
from terminflow.kit.metrics import EMAILS
from terminflow.kit.reasons import Reason

from . import bounces, limits, services, transports
from .calendar import ics_method
from .models import EmailKind, Outbox, OutboxStatus

log = logging.getLogger("terminflow.mail")

# Emails claimed per round: big enough to keep every pooled connection busy, small enough that
# the crash window above stays short.
BATCH = 256
# Rounds per sweep: enough to overlap claiming with sending, few enough that a sweep ends
# within a second or so and the worker's other sweeps get their turn.
ROUNDS_PER_SWEEP = 8
LEASE = timedelta(seconds=settings.SEND_LEASE_SECONDS)
# A temporarily refused email is retried with backoff for this long, then it fails
# (about what MTAs do with their own queues).
RETRY_FOR = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
# An unreachable server is retried more often: the emails are fine, and they should go out
# soon after it is back.
LONGEST_SERVER_WAIT = timedelta(minutes=5)
_FIELDS = (
    "id",
    "public_id",
    "message_id",
    "kind",
    "to_email",
    "from_email",
    "subject",
    "body_html",
    "body_text",
    "headers",
    "ics",
    "contact_id",
    "created_at",
    "attempts",
    "contact__email_status",
    "contact__blocked_until",
)

# The reasons stored on outbox rows (English; shown translated through kit.reasons).
SMTP_WAITING = Reason("smtp_waiting", "waiting for the SMTP server: %(reply)s")
SMTP_RETRY = Reason("smtp_retry", "temporarily refused, will retry: %(reply)s")
Reason("address_refused", "address refused by the server: %(reply)s")
Reason("address_refused", "address refused temporarily for %(days)s days: %(reply)s")
Reason("refused", "refused for %(days)s days, giving up: %(reply)s")
Reason("refused", "refused by the server: %(reply)s")


def backoff(attempts: int, longest: timedelta) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at ``longest``; ``attempts`` counts tries made so far."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), longest)


def _claim(now: datetime, size: int, skip_domains: Sequence[str] = ()) -> list[dict[str, Any]]:
    due = Outbox.objects.filter(status=OutboxStatus.QUEUED, next_attempt_at__lte=now)
    # Read before the transaction: on SQLite it takes the one write lock at its start, and the
    # sender is woken after every processed batch of pushes, mostly to find nothing due.
    if not due.exists():
        return []
    with transaction.atomic():
        query = due.select_for_update(skip_locked=True, of=("self",))
        for domain in skip_domains:
            query = query.exclude(to_email__iendswith="@" + domain)
        query = query.order_by("next_attempt_at", "id").values(*_FIELDS)
        rows = list(query[:size])
        if rows:
            Outbox.objects.filter(id__in=[r["id"] for r in rows]).update(
                next_attempt_at=now + LEASE, claimed_at=now, attempts=F("attempts") + 1
            )
    for row in rows:
        row["attempts"] += 1
    return rows


def _hold_over_budget(
    rows: list[dict[str, Any]], budgets: dict[str, int], now: datetime
) -> list[dict[str, Any]]:
    """The rows the per-domain budgets let out now; the others wait a minute, unclaimed."""
    left = dict(budgets)
    keep: list[dict[str, Any]] = []
    held: list[int] = []
    for row in rows:
        domain = limits.domain_of(row["to_email"])
        if domain in left:
            if left[domain] <= 0:
                held.append(row["id"])
                continue
            left[domain] -= 1
        keep.append(row)
    if held:
        # Not an attempt: the email was never offered, so neither the count nor the backoff grows.
        Outbox.objects.filter(id__in=held).update(
            next_attempt_at=now + limits.MINUTE, claimed_at=None, attempts=F("attempts") - 1
        )
    return keep


def _not_sendable(row: dict[str, Any], now: datetime) -> str:
    """Why a claimed email must not go out after all (the contact changed since it was queued)."""
    status = row["contact__email_status"]
    if status == EmailStatus.BLOCKED_TEMPORARILY:
        until = row["contact__blocked_until"]
        if until is None or until > now:
            return "address blocked temporarily" + (f" until {until.isoformat()}" if until else "")
        # The block is over: the status from before it decides.
        status = services.deliverable_status(Contact.objects.get(pk=row["contact_id"]), now)
    # Asking again to subscribe (a sign-up form) is the one way back after unsubscribing; a
    # DOI email queued before the unsubscription stays unsent.
    if (
        status == EmailStatus.UNSUBSCRIBED
        and row["kind"] == EmailKind.DOI
        and not ConsentEvent.objects.filter(
            contact_id=row["contact_id"],
            kind=ConsentKind.UNSUBSCRIBED,
            occurred_at__gte=row["created_at"],
        ).exists()
    ):
        return ""
    if status in services.NO_EMAIL_STATUSES:
        return f"contact is {status}"
    if row["kind"] == EmailKind.MARKETING and status not in services.MARKETING_STATUSES:
        return "double opt-in required"
    if row["kind"] == EmailKind.DOI and status == EmailStatus.CONFIRMED_DOI:
        return "already confirmed by double opt-in"
    return ""


def _envelope(row: dict[str, Any], now: datetime, dkim: transports.DkimKey | None) -> bytes:
    data = transports.build_message(
        from_email=row["from_email"],
        to_email=row["to_email"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_html=row["body_html"],
        message_id=row["message_id"],
        date=now,
        headers=row["headers"],
        ics=row["ics"],
        ics_method=ics_method(row["ics"]) if row["ics"] else "PUBLISH",
    )
    if dkim is not None:
        data = transports.dkim_sign(data, dkim)
    return data


@dataclass
class _Round:
    """One claimed batch on its way: the rows, and the pool's answer still to come."""

    now: datetime
    to_send: list[dict[str, Any]]
    cancelled: list[tuple[dict[str, Any], str]]
    results: Callable[[], list[transports.Delivery]]

    def finish(self) -> int:
        deliveries = self.results()
        _record(list(zip(self.to_send, deliveries, strict=True)), self.cancelled, self.now)
        return len(self.to_send) + len(self.cancelled)


def _start_round(config: transports.SmtpConfig, now: datetime, limit: int) -> _Round | None:
    size = limit
    if config.rate_per_minute:
        recent = Outbox.objects.filter(claimed_at__gt=now - timedelta(minutes=1)).count()
        size = min(size, config.rate_per_minute - recent)
        if size <= 0:
            return None
    warmup = limits.warmup_budget(now)
    if warmup is not None:
        size = min(size, warmup)
        if size <= 0:
            return None
    per_domain = limits.domain_limits()
    budgets = limits.minute_budgets(now, per_domain) if per_domain else {}
    rows = _claim(now, size, [domain for domain, left in budgets.items() if left <= 0])
    if budgets:
        rows = _hold_over_budget(rows, budgets, now)
    if not rows:
        return None
    dkim = transports.current_dkim()
    to_send: list[dict[str, Any]] = []
    cancelled: list[tuple[dict[str, Any], str]] = []
    for row in rows:
        reason = _not_sendable(row, now)
        if reason:
            cancelled.append((row, reason))
        else:
            to_send.append(row)
    envelopes = [
        transports.Envelope(
            bounces.return_path(row["public_id"]),
            row["to_email"],
            partial(_envelope, row, now, dkim),
        )
        for row in to_send
    ]
    results = transports.pool_for(config).submit(envelopes)
    return _Round(now, to_send, cancelled, results)


def send_due(*, now: datetime | None = None, limit: int = BATCH, rounds: int = 1) -> int:
    """Send due emails in up to ``rounds`` batches; returns how many moved forward (0 = idle).

    With several rounds the next batch is claimed while the previous one is on the wire, so the
    database work hides behind the SMTP conversation; at most two batches are in flight.
    """
    try:
        config = transports.current_config()
    except transports.SmtpConfigError as exc:
        log.error("SMTP is misconfigured, emails stay queued: %s", exc)
        return 0
    if config is None:
        services.mark_unconfigured()
        return 0
    try:
        limits.domain_limits()
    except ValueError as exc:
        log.error("sending limits are misconfigured, emails stay queued: %s", exc)
        return 0
    moved = 0
    in_flight: _Round | None = None
    for _ in range(rounds):
        current = _start_round(config, now or clock.now(), limit)
        if in_flight is not None:
            moved += in_flight.finish()
        in_flight = current
        if current is None:
            break
    if in_flight is not None:
        moved += in_flight.finish()
    return moved


def _record(
    results: list[tuple[dict[str, Any], transports.Delivery]],
    cancelled: list[tuple[dict[str, Any], str]],
    now: datetime,
) -> None:
    sent = [row for row, delivery in results if delivery.outcome == "sent"]
    _count(results, cancelled)
    with transaction.atomic():
        if sent:
            Outbox.objects.filter(id__in=[row["id"] for row in sent]).update(
                status=OutboxStatus.SENT, sent_at=now, reason="", next_attempt_at=None
            )
            _ledger_for_sent([row for row in sent if row["kind"] == EmailKind.DOI], now)
        for row, reason in cancelled:
            Outbox.objects.filter(id=row["id"]).update(
                status=OutboxStatus.CANCELLED, reason=reason, next_attempt_at=None
            )
        server_down = [(row, d) for row, d in results if d.outcome == "server_down"]
        for row, delivery in server_down:
            Outbox.objects.filter(id=row["id"]).update(
                next_attempt_at=now + backoff(row["attempts"], LONGEST_SERVER_WAIT),
                reason=SMTP_WAITING(reply=delivery.reply)[:1000],
            )
        if server_down:
            log.warning(
                "SMTP server unavailable, %d emails wait: %s",
                len(server_down),
                server_down[0][1].reply,
            )
        for row, delivery in results:
            if delivery.outcome in ("sent", "server_down"):
                continue
            _record_refusal(row, delivery, now)


def _count(
    results: list[tuple[dict[str, Any], transports.Delivery]],
    cancelled: list[tuple[dict[str, Any], str]],
) -> None:
    counts: dict[str, int] = {"cancelled": len(cancelled)} if cancelled else {}
    for _, delivery in results:
        counts[delivery.outcome] = counts.get(delivery.outcome, 0) + 1
    for outcome, count in counts.items():
        EMAILS.labels(outcome).inc(count)


def _ledger_for_sent(rows: list[dict[str, Any]], now: datetime) -> None:
    if not rows:
        return
    consent.record_consent_many(
        ConsentKind.DOI_SENT,
        [(row["contact_id"], {"message_id": row["message_id"]}) for row in rows],
        source="smtp",
        occurred_at=now,
    )


def _record_refusal(row: dict[str, Any], delivery: transports.Delivery, now: datetime) -> None:
    expired = now - row["created_at"] >= RETRY_FOR
    temporary = delivery.outcome == "retry" or (
        delivery.outcome == "bounced" and not delivery.permanent
    )
    if temporary and not expired:
        Outbox.objects.filter(id=row["id"]).update(
            next_attempt_at=now + backoff(row["attempts"], LONGEST_RETRY),
            reason=SMTP_RETRY(reply=delivery.reply)[:1000],
            smtp_reply=delivery.reply,
        )
        return
    if delivery.outcome == "bounced":
        reason = f"address refused by the server: {delivery.reply}"
        if not delivery.permanent:
            reason = f"address refused temporarily for {RETRY_FOR.days} days: {delivery.reply}"
    elif temporary:
        reason = f"refused for {RETRY_FOR.days} days, giving up: {delivery.reply}"
    else:
        reason = f"refused by the server: {delivery.reply}"
    Outbox.objects.filter(id=row["id"]).update(
        status=OutboxStatus.FAILED,
        reason=reason[:1000],
        smtp_reply=delivery.reply,
        next_attempt_at=None,
    )
    if delivery.outcome == "bounced":
        contact = Contact.objects.get(pk=row["contact_id"])
        services.record_bounce(
            contact,
            permanent=delivery.permanent,
            reply=delivery.reply,
            message_id=row["message_id"],
            now=now,
        )
