"""Contacts, fields and tags API: ``/api/v1/contacts``, ``/fields`` and ``/tags`` (DESIGN §5)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from ninja import Query, Router, Schema, Status

from terminflow.kit import reasons
from terminflow.kit.errors import Forbidden, Unprocessable
from terminflow.kit.reasons import Reason
from terminflow.workspaces.api import current_workspace, has_role
from terminflow.workspaces.models import Role

from . import fields as contact_fields
from . import privacy, services
from . import tags as contact_tags
from .models import Contact, ErasureReason, Field
from .schemas import (
    AppointmentOut,
    ConsentEventOut,
    ContactFilters,
    ContactIn,
    ContactOut,
    ContactPageOut,
    ContactPatch,
    FieldIn,
    FieldOut,
)

fields_router = Router(tags=["Fields"])
tags_router = Router(tags=["Tags"])
router = Router(tags=["Contacts"])


def _field_out(field: Field) -> dict[str, Any]:
    return {
        "key": field.key,
        "label": field.label,
        "type": field.type,
        "options": list(field.options or []),
    }


@fields_router.get("", response=list[FieldOut])
def list_fields(request: HttpRequest) -> list[dict[str, Any]]:
    return [_field_out(f) for f in contact_fields.list_fields(current_workspace(request))]


@fields_router.post("", response={201: FieldOut})
def create_field(request: HttpRequest, payload: FieldIn) -> Status:
    field = contact_fields.create_field(
        current_workspace(request),
        key=payload.key,
        type=payload.type,
        label=payload.label,
        options=payload.options,
    )
    return Status(201, _field_out(field))


class FieldPatch(Schema):
    label: str | None = None
    options: list[str] | None = None


class TagOut(Schema):
    name: str
    contact_count: int


class TagPatch(Schema):
    name: str


class DeletedOut(Schema):
    contacts_changed: int


@fields_router.patch("/{key}", response=FieldOut)
def update_field(request: HttpRequest, key: str, payload: FieldPatch) -> dict[str, Any]:
    field = contact_fields.update_field(
        current_workspace(request), key, **payload.dict(exclude_unset=True)
    )
    return _field_out(field)


@fields_router.delete("/{key}", response=DeletedOut)
def delete_field(request: HttpRequest, key: str) -> dict[str, Any]:
    return {"contacts_changed": contact_fields.delete_field(current_workspace(request), key)}


@tags_router.get("", response=list[TagOut])
def list_tags(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"name": name, "contact_count": count}
        for name, count in contact_tags.list_tags(current_workspace(request))
    ]


@tags_router.patch("/{path:name}", response=TagOut)
def rename_tag(request: HttpRequest, name: str, payload: TagPatch) -> dict[str, Any]:
    workspace = current_workspace(request)
    tag = contact_tags.rename_tag(workspace, name, payload.name)
    return {"name": tag.name, "contact_count": tag.contact_tags.count()}


@tags_router.delete("/{path:name}", response=DeletedOut)
def delete_tag(request: HttpRequest, name: str) -> dict[str, Any]:
    return {"contacts_changed": contact_tags.delete_tag(current_workspace(request), name)}


def contact_out(contact: Contact) -> dict[str, Any]:
    """A contact as the API shows it (also the members of a segment)."""
    return {
        "id": contact.pk,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "email_status": contact.email_status,
        "fields": dict(contact.fields or {}),
        "tags": contact_tags.tag_names(contact),
        "notes": [
            {"text": n.text, "source": n.source, "created_at": n.created_at}
            for n in contact.notes.all()
        ],
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


# Opaque to clients so the paging key can change without breaking scripts.
def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor from ``encode_cursor`` pages before; 422 for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        before_id = int(number)
        if prefix != "id" or before_id < 1:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Unprocessable(
            gettext_lazy(
                "cursor: not a cursor this API returned; take next_cursor from the previous page."
            )
        ) from None
    return before_id


@router.get("", response=ContactPageOut)
def list_contacts(request: HttpRequest, filters: Query[ContactFilters]) -> dict[str, Any]:
    page = services.list_contacts(
        current_workspace(request),
        email=filters.email,
        status=filters.status,
        tag=filters.tag,
        q=filters.q,
        limit=filters.limit,
        before_id=decode_cursor(filters.cursor) if filters.cursor else None,
    )
    return {
        "items": [contact_out(c) for c in page.items],
        "next_cursor": encode_cursor(page.next_before_id) if page.next_before_id else None,
    }


@router.post("", response={201: ContactOut})
def create_contact(request: HttpRequest, payload: ContactIn) -> Status:
    contact = services.create_contact(current_workspace(request), **payload.dict(), source="api")
    return Status(201, contact_out(contact))


@router.get("/{contact_id}", response=ContactOut)
def get_contact(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    return contact_out(services.get_contact(current_workspace(request), contact_id))


@router.patch("/{contact_id}", response=ContactOut)
def update_contact(request: HttpRequest, contact_id: int, payload: ContactPatch) -> dict[str, Any]:
    contact = services.get_contact(current_workspace(request), contact_id)
    services.update_contact(contact, **payload.dict(exclude_unset=True), source="api")
    return contact_out(contact)


@router.delete("/{contact_id}", response={204: None})
def delete_contact(request: HttpRequest, contact_id: int) -> Status:
    services.delete_contact(services.get_contact(current_workspace(request), contact_id))
    return Status(204, None)


def _calendar_id(value: str) -> int | str | None:
    if not value:
        return None
    return int(value) if value.isdigit() else value


@router.get("/{contact_id}/appointments", response=list[AppointmentOut])
def contact_appointments(request: HttpRequest, contact_id: int) -> list[dict[str, Any]]:
    contact = services.get_contact(current_workspace(request), contact_id)
    return [
        {
            "account_id": a.account_id,
            "appointment_uid": a.uid,
            "calendar_id": _calendar_id(a.calendar_id),
            "calendar_name": a.calendar_name,
            "start": a.start,
            "end": a.end,
            "status": a.status,
            "notes": a.notes,
        }
        for a in services.contact_appointments(contact)
    ]


# How each stored consent source reads (kit.reasons translates the stored English).
for _code, _msgid in (
    ("etermin", "etermin"),
    ("import", "import"),
    ("api", "api"),
    ("smtp", "smtp"),
    ("doi_link", "double opt-in link"),
    ("unsubscribe", "unsubscribe (%(channel)s)"),
    ("campaign", "campaign '%(name)s' (%(type)s %(key)s)"),
):
    Reason(_code, _msgid)

CONSENT_KIND_LABELS = {
    "soi": gettext_lazy("Single opt-in"),
    "doi_requested": gettext_lazy("Double opt-in requested"),
    "doi_sent": gettext_lazy("Double opt-in email sent"),
    "doi_confirmed": gettext_lazy("Double opt-in confirmed"),
    "unsubscribed": gettext_lazy("Unsubscribed"),
    "bounced": gettext_lazy("Bounced"),
    "blocked": gettext_lazy("Blocked"),
    "status_changed": gettext_lazy("Email status changed"),
}


@router.get("/{contact_id}/consent", response=list[ConsentEventOut])
def contact_consent(request: HttpRequest, contact_id: int) -> list[dict[str, Any]]:
    contact = services.get_contact(current_workspace(request), contact_id)
    return [
        {
            "kind": e.kind,
            "kind_label": str(CONSENT_KIND_LABELS.get(e.kind, e.kind)),
            "occurred_at": e.occurred_at,
            "source": e.source,
            "source_label": reasons.translate(e.source),
            "details": e.details or {},
            "ip": e.ip,
            "user_agent": e.user_agent,
        }
        for e in contact.consent_events.order_by("occurred_at", "pk")
    ]


def _require_editor(request: HttpRequest) -> None:
    """The whole person is more than a viewer needs: export and erasure take an editor.

    An API token stands for the workspace (it has no role), so only session users are checked.
    """
    membership = getattr(request, "membership", None)
    if membership is not None and not has_role(membership, Role.EDITOR):
        raise Forbidden("Exporting or erasing a person's data needs the editor role.")


@router.get("/{contact_id}/export", response=dict[str, Any])
def export_contact(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    """Everything kept about the contact as one JSON document (right of access, portability)."""
    _require_editor(request)
    return privacy.export_contact(services.get_contact(current_workspace(request), contact_id))


class EraseIn(Schema):
    reason: ErasureReason = ErasureReason.REQUEST


class ErasureOut(Schema):
    email_hash: str
    reason: str
    erased_at: datetime
    removed: dict[str, int]


@router.post("/{contact_id}/erase", response=ErasureOut)
def erase_contact(
    request: HttpRequest, contact_id: int, payload: EraseIn | None = None
) -> dict[str, Any]:
    """Erase the contact everywhere; only a pseudonymised record of the erasure remains."""
    _require_editor(request)
    contact = services.get_contact(current_workspace(request), contact_id)
    erasure = privacy.erase_contact(
        contact, reason=payload.reason if payload else ErasureReason.REQUEST
    )
    return {
        "email_hash": erasure.email_hash,
        "reason": erasure.reason,
        "erased_at": erasure.erased_at,
        "removed": erasure.removed,
    }
