"""The mail app's share of a person's data (``contacts.privacy``): the emails queued and sent, and
the opens and clicks recorded for them."""

from __future__ import annotations

from typing import Any

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, iso, register

from .models import BounceMessage, BounceStatus, Engagement, Outbox


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


def export_engagements(contact: Contact) -> list[dict[str, Any]]:
    """Opens and clicks of the contact's emails, each named by the email's subject and time."""
    return [
        {
            "subject": row["outbox__subject"],
            "sent_at": iso(row["outbox__sent_at"]),
            "kind": row["kind"],
            "first_at": iso(row["first_at"]),
            "last_at": iso(row["last_at"]),
            "count": row["count"],
            "bot_count": row["bot_count"],
        }
        for row in Engagement.objects.filter(contact=contact)
        .order_by("outbox__created_at", "outbox_id", "kind")
        .values(
            "outbox__subject",
            "outbox__sent_at",
            "kind",
            "first_at",
            "last_at",
            "count",
            "bot_count",
        )
    ]


def erase_engagements(contact: Contact) -> int:
    # They would go with the contact's outbox rows anyway (cascade); counted on their own.
    deleted, _ = Engagement.objects.filter(contact=contact).delete()
    return deleted


def _unmatched_bounces_naming(email: str) -> list[int]:
    # Kept raw for review and tied to no email of ours, so only their text can tell.
    needle = email.lower().encode()
    return [
        pk
        for pk, raw in BounceMessage.objects.filter(
            status=BounceStatus.REVIEW, raw__isnull=False
        ).values_list("pk", "raw")
        if raw is not None and needle in bytes(raw).lower()
    ]


def erase(contact: Contact) -> int:
    # Rendered bodies and subjects name the person; a queued email is simply never sent.
    # Bounces matched to the contact's emails go with them (cascade).
    deleted, _ = Outbox.objects.filter(contact=contact).delete()
    review, _ = BounceMessage.objects.filter(
        pk__in=_unmatched_bounces_naming(contact.email)
    ).delete()
    return deleted + review


def register_holder() -> None:
    register(DataHolder("emails", export=export, erase=erase))
    register(DataHolder("email_engagements", export=export_engagements, erase=erase_engagements))
