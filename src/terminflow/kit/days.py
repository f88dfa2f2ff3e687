"""Local days: the last N days of an IANA zone, their bounds in UTC, and counting rows per day.

Rows are put into their local day by comparing their time with the days' bounds (local
midnights as UTC instants), in SQL and on an index, rather than by converting every row's time
to the zone: SQLite would convert each row in Python, and a day of a DST change (23 or 25
hours) is right either way, because the bounds are local midnights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, IntegerField, QuerySet, Value, When


@dataclass(frozen=True)
class Days:
    """Consecutive local days and the ``len(days) + 1`` UTC instants that bound them."""

    days: list[date]
    bounds: list[datetime]
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return self.bounds[0]

    @property
    def end(self) -> datetime:
        return self.bounds[-1]


def last_days(zone: str, now: datetime, count: int) -> Days:
    """Today in ``zone`` and the ``count - 1`` days before it."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=count - 1 - n) for n in range(count)]
    # combine() then astimezone: a midnight that does not exist (a zone that changes its clocks
    # at midnight) lands on the first instant of the day.
    bounds = [
        datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))
        for day in [*days, today + timedelta(days=1)]
    ]
    return Days(days, bounds, tz)


def counts_per_day(
    rows: QuerySet[Any],
    field: str,
    days: Days,
    *,
    by: str | None = None,
    distinct: str | None = None,
) -> dict[tuple[date, Any], int]:
    """How many of ``rows`` (or distinct values of ``distinct``) fall on each day, by ``field``.

    Keyed by (day, value of ``by``), or (day, None) without ``by``. Days without rows are
    missing. One query: rows outside the days are filtered out, the others get the index of
    their day from a CASE over the bounds.
    """
    bucket = Case(
        *[
            When(**{f"{field}__lt": bound}, then=Value(n))
            for n, bound in enumerate(days.bounds[1:])
        ],
        output_field=IntegerField(),
    )
    fields = ["day_index", by] if by else ["day_index"]
    grouped = (
        rows.filter(**{f"{field}__gte": days.start, f"{field}__lt": days.end})
        .annotate(day_index=bucket)
        .values(*fields)
        .annotate(n=Count(distinct, distinct=True) if distinct else Count("pk"))
        .order_by()
    )
    return {(days.days[row["day_index"]], row[by] if by else None): row["n"] for row in grouped}
