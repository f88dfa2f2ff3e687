"""One person's data: export it, erase it everywhere (nDSG art. 25 and 32, GDPR art. 15, 17, 20).

A contact's data also lives in apps above this one (campaign runs, the outbox, eTermin
appointments and raw pushes, CSV uploads). Those apps register a ``DataHolder`` from their
``AppConfig.ready``, in the way element types register into ``campaigns.registry``, so this
module exports and erases through them without importing them. ``docs/data-protection.md``
lists every place and why the consent ledger is replaced by a pseudonymised ``Erasure``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.db.models import Q

from terminflow.kit import clock, crypto
from terminflow.kit.errors import Unprocessable

from .models import ConsentEvent, Contact, Erasure, ErasureReason

EXPORT_FORMAT = "terminflow.contact-export/1"
PSEUDONYM_PURPOSE = "erasure"


@dataclass(frozen=True)
class DataHolder:
    """An app's share of a person's data.

    ``export`` returns a JSON-ready value stored under ``key`` in the export. ``erase`` removes
    what the app keeps about the contact, runs inside the erasure's transaction before the
    contact row is deleted (so the contact's relations still resolve), and returns how many
    rows it removed or cleaned.
    """

    key: str
    export: Callable[[Contact], Any] | None = None
    erase: Callable[[Contact], int] | None = None


_HOLDERS: dict[str, DataHolder] = {}


def register(holder: DataHolder) -> DataHolder:
    existing = _HOLDERS.get(holder.key)
    if existing is not None and existing != holder:
        raise ValueError(f"data holder {holder.key!r} is registered twice")
    _HOLDERS[holder.key] = holder
    return holder


def holders() -> list[DataHolder]:
    return sorted(_HOLDERS.values(), key=lambda h: h.key)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def email_pseudonym(workspace_id: int, email: str) -> str:
    """The pseudonym an erased address is remembered by in its workspace."""
    return crypto.workspace_pseudonym(PSEUDONYM_PURPOSE, workspace_id, email.strip().lower())


# -- export ------------------------------------------------------------------------------------


def _consent(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "kind": e.kind,
            "occurred_at": iso(e.occurred_at),
            "source": e.source,
            "details": e.details or {},
            "ip": e.ip,
            "user_agent": e.user_agent,
        }
        for e in ConsentEvent.objects.filter(contact=contact).order_by("occurred_at", "pk")
    ]


def export_contact(contact: Contact) -> dict[str, Any]:
    """Everything terminflow keeps about one contact, as one JSON-ready document."""
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": iso(clock.now()),
        "contact": {
            "id": contact.pk,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone": contact.phone,
            "email_status": contact.email_status,
            "blocked_until": iso(contact.blocked_until),
            "created_at": iso(contact.created_at),
            "updated_at": iso(contact.updated_at),
        },
        "fields": dict(contact.fields or {}),
        "tags": sorted(contact.contact_tags.values_list("tag__name", flat=True)),
        "notes": [
            {"text": n.text, "source": n.source, "created_at": iso(n.created_at)}
            for n in contact.notes.order_by("created_at", "pk")
        ],
        "consent": _consent(contact),
    }
    for holder in holders():
        if holder.export is not None:
            document[holder.key] = holder.export(contact)
    return document


# -- erasure -----------------------------------------------------------------------------------


def _clean_reason(reason: str) -> str:
    if reason not in ErasureReason.values:
        raise Unprocessable(
            f"reason: '{reason}' is not an erasure reason; use one of: "
            f"{', '.join(ErasureReason.values)}."
        )
    return reason


def _erase_admin_log(contact: Contact) -> int:
    # The operator's admin history names objects by their text (a contact is its address).
    deleted, _ = LogEntry.objects.filter(
        Q(content_type__app_label="contacts", content_type__model="contact", object_id=contact.pk)
        | Q(object_repr__icontains=contact.email)
        | Q(change_message__icontains=contact.email)
    ).delete()
    return deleted


def erase_contact(contact: Contact, *, reason: str = ErasureReason.REQUEST) -> Erasure:
    """Remove the contact and everything that names them; keep a pseudonymised record.

    One transaction: either every app's share is gone and the ``Erasure`` row exists, or
    nothing changed. Deleting the contact cascades to its tags, notes, consent events,
    enrollments, runs and outbox rows, so pending runs and queued emails stop with it.
    """
    reason = _clean_reason(reason)
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        ledger = [
            {"kind": kind, "occurred_at": iso(at)}
            for kind, at in ConsentEvent.objects.filter(contact=locked)
            .order_by("occurred_at", "pk")
            .values_list("kind", "occurred_at")
        ]
        removed: dict[str, int] = {}
        for holder in holders():
            if holder.erase is not None:
                removed[holder.key] = holder.erase(locked)
        removed["admin_log"] = _erase_admin_log(locked)
        deleted, _ = locked.delete()
        removed["contact_rows"] = deleted
        return Erasure.objects.create(
            workspace_id=locked.workspace_id,
            email_hash=email_pseudonym(locked.workspace_id, locked.email),
            reason=reason,
            erased_at=clock.now(),
            ledger=ledger,
            removed=removed,
        )


def erasures_of(workspace_id: int, email: str) -> list[Erasure]:
    """The erasure records of an address in a workspace: the proof that it was erased."""
    return list(
        Erasure.objects.filter(
            workspace_id=workspace_id, email_hash=email_pseudonym(workspace_id, email)
        )
    )
