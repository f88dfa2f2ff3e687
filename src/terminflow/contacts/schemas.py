"""Request and response shapes of the contacts and fields API (DESIGN §5, a contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field as SchemaField
from ninja import Schema


class FieldIn(Schema):
    key: str
    type: str
    label: str = ""
    options: list[str] | None = None


class FieldOut(Schema):
    key: str
    label: str
    type: str
    options: list[str]


class NoteOut(Schema):
    text: str
    source: str
    created_at: datetime


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    phone: str
    email_status: str
    fields: dict[str, Any]
    tags: list[str]
    notes: list[NoteOut]
    created_at: datetime
    updated_at: datetime


class ContactPageOut(Schema):
    items: list[ContactOut]
    next_cursor: str | None


class ContactIn(Schema):
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email_status: str = "unknown"
    fields: dict[str, Any] = SchemaField(default_factory=dict)
    tags: list[str] = SchemaField(default_factory=list)


class ContactPatch(Schema):
    """Only the keys sent change; ``fields`` merges (null clears a field), ``tags`` replaces."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email_status: str | None = None
    fields: dict[str, Any] | None = None
    tags: list[str] | None = None


class ContactFilters(Schema):
    email: str | None = None
    status: str | None = None
    tag: str | None = None
    q: str | None = None
    limit: int = SchemaField(50, ge=1, le=200)
    cursor: str | None = None


class AppointmentOut(Schema):
    account_id: int
    appointment_uid: str
    calendar_id: int | str | None
    calendar_name: str
    start: datetime | None
    end: datetime | None
    status: str
    notes: str


class ConsentEventOut(Schema):
    kind: str
    kind_label: str = ""
    occurred_at: datetime
    source: str
    source_label: str = ""
    details: dict[str, Any]
    ip: str | None
    user_agent: str
