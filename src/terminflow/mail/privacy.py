"""The mail app's share of a person's data: the emails queued and sent (``contacts.privacy``)."""

from __future__ import annotations

from typing import Any

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, iso, register

from .models import Outbox


def export(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "to": row["to_email"],
            "subject": row["subject"],
            "kind": row["kind"],
            "status": row["status"],
            "queued_at": iso(row["created_at"]),
            "sent_at": iso(row["sent_at"]),
        }
        for row in Outbox.objects.filter(contact=contact)
        .order_by("created_at", "pk")
        .values("to_email", "subject", "kind", "status", "created_at", "sent_at")
    ]


def erase(contact: Contact) -> int:
    # Rendered bodies and subjects name the person; a queued email is simply never sent.
    deleted, _ = Outbox.objects.filter(contact=contact).delete()
    return deleted


def register_holder() -> None:
    register(DataHolder("emails", export=export, erase=erase))
