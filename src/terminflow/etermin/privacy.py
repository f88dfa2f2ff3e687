"""The etermin app's share of a person's data (``contacts.privacy``).

Appointments point at the contact; raw pushes do not (they are stored before anyone knows the
contact), so erasure finds them by the appointments' ids and by the address in the body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, quote_plus

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, iso, register

from .models import Appointment, WebPush

SCAN_BATCH = 500


def export(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "account_id": a.account_id,
            "appointment_uid": a.uid,
            "calendar_id": a.calendar_id,
            "calendar_name": a.calendar_name,
            "start": iso(a.start),
            "end": iso(a.end),
            "services": a.services,
            "notes": a.notes,
            "status": a.status,
            "created_at": iso(a.created_at),
            "updated_at": iso(a.updated_at),
        }
        for a in Appointment.objects.filter(contact=contact).order_by("start", "pk")
    ]


def _spellings(email: str) -> list[bytes]:
    """The ways a push body can spell the address: as is, or form-encoded."""
    plain = email.lower()
    return sorted({s.lower().encode() for s in (plain, quote(plain, safe=""), quote_plus(plain))})


def _pushes_naming(workspace_id: int, email: str) -> list[int]:
    needles = _spellings(email)
    found: list[int] = []
    last = 0
    while True:
        batch = list(
            WebPush.objects.filter(workspace_id=workspace_id, id__gt=last)
            .order_by("id")
            .values_list("id", "body")[:SCAN_BATCH]
        )
        if not batch:
            return found
        for push_id, body in batch:
            text = bytes(body).lower()
            if any(needle in text for needle in needles):
                found.append(push_id)
        last = batch[-1][0]


def erase(contact: Contact) -> int:
    uids: dict[int, list[str]] = {}
    for account_id, uid in Appointment.objects.filter(contact=contact).values_list(
        "account_id", "uid"
    ):
        uids.setdefault(account_id, []).append(uid)
    push_ids = set(_pushes_naming(contact.workspace_id, contact.email))
    for account_id, account_uids in uids.items():
        push_ids.update(
            WebPush.objects.filter(
                account_id=account_id, appointment_uid__in=account_uids
            ).values_list("id", flat=True)
        )
    pushes, _ = WebPush.objects.filter(pk__in=sorted(push_ids)).delete()
    appointments, _ = Appointment.objects.filter(contact=contact).delete()
    return pushes + appointments


def register_holder() -> None:
    register(DataHolder("appointments", export=export, erase=erase))
