"""Factories for what happens to an email after it was sent: opens, clicks, bounces, unsubscribes.

Engagement rows are written by the tracking endpoints in production; here a test states what a
person (``count``) or a mail scanner (``bot_count``) did.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from terminflow.kit import clock
from terminflow.mail import links, services
from terminflow.mail.models import BounceMessage, BounceStatus, Engagement, Outbox


def engagement(
    row: Outbox,
    kind: str,
    *,
    count: int = 1,
    bot_count: int = 0,
    at: datetime | None = None,
) -> Engagement:
    """One open or click row of a sent email; ``count`` 0 means only bots hit it."""
    at = at or clock.now()
    return Engagement.objects.create(
        workspace_id=row.workspace_id,
        outbox=row,
        template_id=row.template_id,
        contact_id=row.contact_id,
        kind=kind,
        first_at=at if count else None,
        last_at=at,
        count=count,
        bot_count=bot_count,
    )


def bounce(row: Outbox, kind: str = "hard", *, at: datetime | None = None) -> BounceMessage:
    """A bounce report matched to ``row``, as the bounce mailbox reader stores it."""
    return BounceMessage.objects.create(
        workspace_id=row.workspace_id,
        outbox=row,
        sha256=hashlib.sha256(f"{row.message_id} {kind}".encode()).hexdigest(),
        received_at=at or clock.now(),
        kind=kind,
        status=BounceStatus.APPLIED if kind in ("hard", "soft") else BounceStatus.IGNORED,
        dsn_status={"hard": "5.1.1", "soft": "4.2.2"}.get(kind, ""),
    )


def unsubscribe_via(row: Outbox, channel: str = "link") -> None:
    """The contact follows the email's unsubscribe link and confirms (the page's POST)."""
    token = links.make_token(links.Purpose.UNSUBSCRIBE, row.public_id)
    services.unsubscribe(token, channel=channel)
