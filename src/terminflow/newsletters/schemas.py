"""Request and response shapes of ``/api/v1/newsletters`` (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema
from pydantic import ConfigDict


class NewsletterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email_id: int = Field(description="A marketing email (GET /api/v1/emails).")
    segment_id: int = Field(description="The segment whose members receive it.")
    send_at: datetime | None = Field(
        default=None,
        description=(
            "When to send, on POST …/send; with an offset, or read in the workspace's time "
            "zone. Empty or past: at once."
        ),
    )


class ProgressOut(Schema):
    listed: int
    waiting: int
    queued: int
    skipped: int
    cancelled: int
    outbox: dict[str, int]


class NewsletterOut(Schema):
    id: int
    name: str
    email_id: int | None
    segment_id: int | None
    state: str
    send_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    progress: ProgressOut


class SkippedOut(Schema):
    reason: str = Field(description="Why they were skipped, in the request's language.")
    reason_code: str = Field(description='Stable English code, e.g. "not_confirmed".')
    email_status: str | None = Field(
        description="For not_confirmed: the contacts' email status when the list was made."
    )
    count: int


class StatsOut(Schema):
    sent: int
    delivered: int
    bounced: int
    opened: int
    clicked: int
    unsubscribed: int
    skipped: list[SkippedOut]
