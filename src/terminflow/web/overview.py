"""The overview's charts: the last 30 days of bookings and emails, in the workspace's zone.

The page draws them with uPlot from the JSON built here (``json_script``); the same figures
fill a table beside each chart for screen readers and for anyone without JavaScript.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from terminflow.etermin import stats as etermin_stats
from terminflow.kit.days import Days, last_days
from terminflow.mail import stats as mail_stats
from terminflow.web import labels
from terminflow.workspaces.models import Workspace

DAYS = 30
BOOKING_SERIES = ("created", "changed", "deleted")
EMAIL_SERIES = ("sent", "opened", "clicked")


def window(workspace: Workspace, now: datetime, days: int = DAYS) -> Days:
    """Today and the ``days - 1`` days before it in the workspace's zone, bounded by local
    midnights (so a day of a DST change is 23 or 25 hours long)."""
    return last_days(workspace.timezone, now, days)


def _series(
    found: dict[date, dict[str, int]], days: list[date], names: tuple[str, ...]
) -> dict[str, list[int]]:
    return {name: [found.get(day, {}).get(name, 0) for day in days] for name in names}


def figures(workspace: Workspace, now: datetime) -> dict[str, Any]:
    """Everything the charts show: days, series per chart, totals and the DOI rate."""
    span = window(workspace, now)
    bookings = _series(
        etermin_stats.bookings_per_day(workspace, span),
        span.days,
        BOOKING_SERIES,
    )
    emails = _series(
        mail_stats.emails_per_day(workspace, span),
        span.days,
        EMAIL_SERIES,
    )
    return {
        "days": [day.isoformat() for day in span.days],
        "bookings": bookings,
        "emails": emails,
        "totals": {name: sum(values) for name, values in {**bookings, **emails}.items()},
        "doi": mail_stats.doi_confirmation(workspace, span),
    }


def chart_data(figures: dict[str, Any]) -> dict[str, Any]:
    """What the chart script needs, with the words of the request's language."""
    days = [date.fromisoformat(day) for day in figures["days"]]
    return {
        "days": figures["days"],
        "day_labels": [formats.date_format(day, "MONTH_DAY_FORMAT") for day in days],
        # Short enough for an axis under 30 days: "29. Mär" / "29 Mar".
        "day_ticks": [formats.date_format(day, pgettext("chart axis day", "j M")) for day in days],
        "charts": {
            "bookings": [
                {"label": label, "values": figures["bookings"][name], "color": color}
                for name, label, color in (
                    ("created", str(labels.COMMANDS["CREATED"]), "#2563eb"),
                    ("changed", str(labels.COMMANDS["MODIFIED"]), "#d97706"),
                    ("deleted", str(labels.COMMANDS["DELETED"]), "#dc2626"),
                )
            ],
            "emails": [
                {"label": label, "values": figures["emails"][name], "color": color}
                for name, label, color in (
                    ("sent", _("Sent"), "#2563eb"),
                    ("opened", _("Opened"), "#16a34a"),
                    ("clicked", _("Clicked"), "#9333ea"),
                )
            ],
        },
    }


def sections(charts: dict[str, Any]) -> list[dict[str, Any]]:
    """Each chart for the page: title, totals of its series, and its figures as a table (the
    series' names, one row per day: label, then values) for those who cannot see the chart."""
    titles = {"bookings": _("Bookings per day"), "emails": _("Emails per day")}
    labels = charts["day_labels"]
    return [
        {
            "name": name,
            "title": titles[name],
            "totals": [(s["label"], sum(s["values"])) for s in series],
            "columns": [s["label"] for s in series],
            "rows": [[label, *(s["values"][i] for s in series)] for i, label in enumerate(labels)],
        }
        for name, series in charts["charts"].items()
    ]


def percent(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` in whole percent, rounded half up; None for nothing of nothing."""
    return (200 * part + whole) // (2 * whole) if whole else None
