"""Bookings per day, for the overview.

Counted from the inbox (``WebPush``), not from ``Appointment``: an appointment row holds only
the latest state of a booking (its last command; ``updated_at`` moves with every change), so
the changes and cancellations of a given day cannot be read from it. The inbox keeps one row
per change eTermin told us about (or the reconciliation found), with its command and time, and
keeps those columns when the retention sweep empties the body.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db.models import Count
from django.db.models.functions import TruncDate

from .models import WebPush

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

# eTermin's commands and the overview's words for them.
SERIES = {"CREATED": "created", "MODIFIED": "changed", "DELETED": "deleted"}


def bookings_per_day(
    workspace: Workspace, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[date, dict[str, int]]:
    """Appointments created, changed and deleted per day of ``zone`` in ``[start, end)``.

    Each counts distinct appointments: one changed three times on a day is one change that day,
    and a push eTermin repeated is one. The day is when the change reached us. Days without
    any are missing from the answer.
    """
    rows = (
        WebPush.objects.filter(
            workspace=workspace,
            received_at__gte=start,
            received_at__lt=end,
            command__in=list(SERIES),
        )
        .annotate(day=TruncDate("received_at", tzinfo=zone))
        .values("day", "command")
        .annotate(n=Count("appointment_uid", distinct=True))
        .order_by()
    )
    found: dict[date, dict[str, int]] = {}
    for row in rows:
        found.setdefault(row["day"], {})[SERIES[str(row["command"])]] = row["n"]
    return found
