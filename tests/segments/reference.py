"""Field conditions as the compiler read them before the typed copy: from ``Contact.fields``.

The segment compiler compares field values in ``contacts.FieldValue`` since decision 0008; this
is its earlier reading of the stored JSON, kept for the tests that check both select the same
contacts. Dates and datetimes compare as text in their stored forms, numbers as a cast.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import F, FloatField, Q, TextField
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.functions import Cast, Substr
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IExact,
    In,
    LessThan,
    LessThanOrEqual,
)

from terminflow.contacts import cleaning
from terminflow.contacts.models import Field, FieldType
from terminflow.segments.definition import FieldCondition
from terminflow.segments.query import day_start, operand
from terminflow.workspaces.models import Workspace

TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def json_condition(workspace: Workspace, item: FieldCondition, now: datetime) -> Q:
    """The field condition as a predicate of the contact row's JSON."""
    field = Field.objects.filter(workspace=workspace, key=item.field).first()
    if field is None:
        return TRUE if item.op == "empty" else FALSE
    zone = cleaning.workspace_zone(workspace)
    today = now.astimezone(zone).date()
    present = Q(HasKey(F("fields"), field.key))
    if item.op == "empty":
        return ~present
    if item.op == "not_empty":
        return present
    text = KeyTextTransform(field.key, "fields")
    value = operand(workspace, field, item.value) if item.value not in (None, "") else None
    if field.type == FieldType.TEXT:
        return Q(IContains(text, value)) if item.op == "contains" else Q(IExact(text, value))
    if field.type == FieldType.SELECT:
        return Q(Exact(text, value))
    if field.type == FieldType.CHECKBOX:
        # JSON true reads as 'true' on PostgreSQL and as 1 on SQLite.
        is_true = Q(In(Cast(text, TextField()), ["true", "1"]))
        return is_true if value else ~is_true | ~present
    if field.type == FieldType.NUMBER:
        number = Cast(text, FloatField())
        if item.op == "between":
            low, high = sorted((float(value), float(operand(workspace, field, item.value2))))
            return Q(GreaterThanOrEqual(number, low)) & Q(LessThanOrEqual(number, high))
        lookup = {"eq": Exact, "gt": GreaterThan, "lt": LessThan}[item.op]
        return Q(lookup(number, float(value)))
    if field.type == FieldType.DATE:
        return _date(workspace, field, item, text, value, today)
    return _datetime(workspace, field, item, text, value, now, today, zone)


def _date(
    workspace: Workspace,
    field: Field,
    item: FieldCondition,
    text: KeyTextTransform,
    value: Any,
    today: date,
) -> Q:
    if item.op == "this_month":
        return Q(Exact(Substr(text, 6, 2), f"{today.month:02d}"))
    if item.op in ("next_days", "last_days"):
        days = item.days or 0
        first, last = (today, today + timedelta(days=days))
        if item.op == "last_days":
            first, last = (today - timedelta(days=days), today)
        return Q(GreaterThanOrEqual(text, first.isoformat())) & Q(
            LessThanOrEqual(text, last.isoformat())
        )
    if item.op == "between":
        low, high = sorted((value, operand(workspace, field, item.value2)))
        return Q(GreaterThanOrEqual(text, low)) & Q(LessThanOrEqual(text, high))
    return Q({"eq": Exact, "gt": GreaterThan, "lt": LessThan}[item.op](text, value))


def _datetime(
    workspace: Workspace,
    field: Field,
    item: FieldCondition,
    text: KeyTextTransform,
    value: Any,
    now: datetime,
    today: date,
    zone: ZoneInfo,
) -> Q:
    def day(offset: int) -> datetime:
        return day_start(today + timedelta(days=offset), zone)

    if item.op == "next_days":
        return _window(text, _instant(now), _instant(day((item.days or 0) + 1)))
    if item.op == "last_days":
        return Q(GreaterThanOrEqual(text, _instant(day(-(item.days or 0))))) & Q(
            LessThanOrEqual(text, _instant(now))
        )
    low, high = _bounds(value, zone)
    if item.op == "between":
        other = _bounds(operand(workspace, field, item.value2), zone)
        return _window(text, min(low, other[0]), max(high, other[1]))
    if item.op == "eq":
        return _window(text, low, high)
    if item.op == "gt":
        return Q(GreaterThanOrEqual(text, high)) if high != low else Q(GreaterThan(text, low))
    return Q(LessThan(text, low))


def _bounds(value: Any, zone: ZoneInfo) -> tuple[str, str]:
    if isinstance(value, date) and not isinstance(value, datetime):
        return (
            _instant(day_start(value, zone)),
            _instant(day_start(value + timedelta(days=1), zone)),
        )
    return str(value), str(value)


def _window(text: KeyTextTransform, start: str, end: str) -> Q:
    if start == end:
        return Q(Exact(text, start))
    return Q(GreaterThanOrEqual(text, start)) & Q(LessThan(text, end))
