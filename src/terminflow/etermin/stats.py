"""Bookings per day, for the overview.

Counted from the inbox (``WebPush``), not from ``Appointment``: an appointment row holds only
the latest state of a booking (its last command; ``updated_at`` moves with every change), so
the changes and cancellations of a given day cannot be read from it. The inbox keeps one row
per change eTermin told us about (or the reconciliation found), with its command and time, and
keeps those columns when the retention sweep empties the body.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from terminflow.kit.days import Days, counts_per_day

from .models import WebPush

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

# eTermin's commands and the overview's words for them.
SERIES = {"CREATED": "created", "MODIFIED": "changed", "DELETED": "deleted"}


def bookings_per_day(workspace: Workspace, days: Days) -> dict[date, dict[str, int]]:
    """Appointments created, changed and deleted per local day of ``days``.

    Each counts distinct appointments: one changed three times on a day is one change that day,
    and a push eTermin repeated is one. The day is when the change reached us. Days without
    any are missing from the answer.
    """
    rows = WebPush.objects.filter(workspace=workspace, command__in=list(SERIES))
    found: dict[date, dict[str, int]] = {}
    counted = counts_per_day(rows, "received_at", days, by="command", distinct="appointment_uid")
    for (day, command), n in counted.items():
        found.setdefault(day, {})[SERIES[str(command)]] = n
    return found
