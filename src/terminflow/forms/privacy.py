"""The forms app's share of a person's data: their sign-ups (``contacts.privacy``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, iso, register

from .models import Submission


def _theirs(contact: Contact) -> Any:
    # Before the worker has taken a sign-up it is tied to the address only.
    return Submission.objects.filter(
        Q(contact=contact) | Q(workspace_id=contact.workspace_id, email=contact.email.lower())
    )


def export(contact: Contact) -> list[dict[str, Any]]:
    return [
        {
            "form": row["form__name"],
            "email": row["email"],
            "values": row["values"],
            "consent_version": row["consent_version"],
            "ip": row["ip"],
            "user_agent": row["user_agent"],
            "status": row["status"],
            "submitted_at": iso(row["created_at"]),
            "confirmed_at": iso(row["confirmed_at"]),
        }
        for row in _theirs(contact)
        .order_by("created_at", "pk")
        .values(
            "form__name",
            "email",
            "values",
            "consent_version",
            "ip",
            "user_agent",
            "status",
            "created_at",
            "confirmed_at",
        )
    ]


def erase(contact: Contact) -> int:
    deleted, _ = _theirs(contact).delete()
    return deleted


def register_holder() -> None:
    register(DataHolder("form_submissions", export=export, erase=erase))
