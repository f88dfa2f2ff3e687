"""Shapes of the eTermin and inbox API (part of the public v1 contract: add, never rename)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from .pushes import AppointmentEvent


class AccountIn(Schema):
    name: str = Field(..., description="A name for the account, e.g. the practice's name.")
    public_key: str = Field(..., description="eTermin public API key (API → API & Web Push).")
    private_key: str = Field(
        ..., description="eTermin private API key; stored encrypted, never returned."
    )
    verify: bool = Field(
        True, description="Check the keys against eTermin (list calendars) before saving."
    )
    timezone: str | None = Field(
        None,
        description="IANA zone eTermin's local times are read in; defaults to the workspace's.",
    )


class AccountPatch(Schema):
    name: str | None = None
    public_key: str | None = None
    private_key: str | None = Field(None, description="Stored encrypted, never returned.")
    timezone: str | None = None
    rotate_web_push_token: bool = Field(
        False, description="Issue a new Web Push URL; the old one stops working at once."
    )
    verify: bool = Field(True, description="Check changed keys against eTermin before saving.")


class SyncStateOut(Schema):
    synced_at: datetime | None = Field(None, description="When the last sync succeeded.")
    next_at: datetime | None = Field(None, description="When the worker syncs next.")
    result: dict[str, int] = Field(
        default_factory=dict, description="The last sync's counts (checked, created, ...)."
    )
    error_code: str = Field(
        "", description="Why the last try failed: auth, rate_limited, unavailable, error; empty."
    )
    error: str = Field("", description="eTermin's answer to the last failed try.")


class AccountOut(Schema):
    id: int
    name: str
    public_key: str
    web_push_url: str | None = Field(
        ...,
        description="Paste into eTermin; null for viewers (it lets anyone post bookings).",
    )
    timezone: str
    created_at: datetime
    sync: SyncStateOut


class SyncOut(Schema):
    checked: int = Field(..., description="Appointments compared with the registry.")
    created: int = Field(..., description="Bookings no push told us about, queued.")
    modified: int = Field(..., description="Moves no push told us about, queued.")
    deleted: int = Field(..., description="Deletions no push told us about, queued.")


class CalendarOut(Schema):
    id: int
    name: str


InboxStatus = Literal["pending", "processed", "ignored", "failed"]
InboxSource = Literal["push", "sync"]


class InboxEntryOut(Schema):
    id: int
    account_id: int
    command: str | None
    appointment_uid: str | None
    command_label: str = Field("", description="The command in the request's language")
    status: InboxStatus
    status_label: str = Field("", description="The status in the request's language")
    reason: str = Field(description="Why it was ignored or failed, in the request's language")
    reason_code: str = Field("", description='Stable English code of the reason; "" if none')
    received_at: datetime
    processed_at: datetime | None
    source: InboxSource = Field(
        ..., description="push: eTermin sent it; sync: reconciliation found the change."
    )


class InboxPage(Schema):
    items: list[InboxEntryOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next (older) page; null on the last page."
    )


class InboxEntryDetailOut(InboxEntryOut):
    content_type: str
    body: str = Field(..., description="The raw body as eTermin sent it, decoded as text.")
    attempts: int
    next_attempt_at: datetime | None
    # The adapter's own dataclass: one list of fields, not a copy to keep in step.
    event: AppointmentEvent | None = Field(
        None, description="The body read as an appointment event; null when it cannot be read."
    )
    parse_error: str | None = Field(
        None, description="Why the body cannot be read; null when it can."
    )
