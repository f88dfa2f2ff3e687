"""The campaigns app's share of a person's data: enrollments and runs (``contacts.privacy``)."""

from __future__ import annotations

from typing import Any

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, iso, register

from .models import Enrollment, Run


def export(contact: Contact) -> list[dict[str, Any]]:
    """Each campaign pass with its steps, oldest first."""
    runs: dict[int, list[dict[str, Any]]] = {}
    for run in (
        Run.objects.filter(contact=contact).select_related("element").order_by("created_at", "pk")
    ):
        runs.setdefault(run.enrollment_id, []).append(
            {
                "element": run.element.key,
                "type": run.element.type,
                "status": run.status,
                "branch": run.branch,
                "reason": run.reason,
                "due_at": iso(run.due_at),
                "created_at": iso(run.created_at),
                "finished_at": iso(run.finished_at),
            }
        )
    return [
        {
            "campaign_id": e.campaign_id,
            "campaign": e.campaign.name,
            "rotation": e.rotation,
            "status": e.status,
            "entered_at": iso(e.created_at),
            "ended_at": iso(e.ended_at),
            "runs": runs.get(e.pk, []),
        }
        for e in Enrollment.objects.filter(contact=contact)
        .select_related("campaign")
        .order_by("created_at", "pk")
    ]


def erase(contact: Contact) -> int:
    # Deleting the runs is what stops them: the sweep only ever looks at rows that exist.
    runs, _ = Run.objects.filter(contact=contact).delete()
    enrollments, _ = Enrollment.objects.filter(contact=contact).delete()
    return runs + enrollments


def register_holder() -> None:
    register(DataHolder("campaigns", export=export, erase=erase))
