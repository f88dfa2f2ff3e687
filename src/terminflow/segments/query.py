"""A segment's definition compiled to one SQL condition on contacts (a Django ``Q``).

Everything is a predicate of the contact row or an ``EXISTS`` subquery correlated with it, so
counting, paging and "is this contact in it" are each one query, whatever the number of
contacts; nothing loops over contacts in Python.

Field values live in ``Contact.fields`` as JSON in their stored forms (see the contact
services): dates as ``YYYY-MM-DD``, datetimes as UTC ``YYYY-MM-DDTHH:MM:SS+00:00``. Both sort
as text, so a date comparison is a text comparison with a boundary in the same form. Relative
windows ("in the next 7 days") are counted in whole days of the workspace's zone: the
boundaries are local midnights turned into UTC, so a day across a DST change is 23 or 25 hours
long, as on the wall clock. Text compares without regard to case (on SQLite only for ASCII
letters, which is SQLite's ``LIKE``).

Conditions on other tables (tags, campaigns, emails, appointments) take one of two forms. For a
set of contacts (count, members, the sweep) ``id IN (SELECT contact_id ...)``: the subquery runs
once, and SQLite, which evaluates a correlated ``EXISTS`` row by row, is ten times faster with
it; the negation is ``NOT IN`` on SQLite and ``NOT EXISTS`` on PostgreSQL, which plans that as
an anti-join but a large ``NOT IN`` as a subplan per row. For one contact ("is Anna in it?")
correlated ``EXISTS``: an index lookup for that contact instead of the whole list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, TextField
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

from terminflow.campaigns.models import Enrollment, EnrollmentStatus
from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact, ContactTag, FieldType, Tag
from terminflow.contacts.models import Field as ContactField
from terminflow.etermin.models import Appointment, AppointmentStatus
from terminflow.kit import clock
from terminflow.mail.models import Engagement, EngagementKind, Outbox, OutboxStatus
from terminflow.workspaces.models import Workspace

from .definition import (
    AppointmentCondition,
    CampaignCondition,
    Definition,
    EmailCondition,
    EmailStatusCondition,
    FieldCondition,
    Group,
    TagsCondition,
    leaves,
)

# Conditions that are always true or false (a tag deleted since the segment was saved).
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def stored_instant(moment: datetime) -> str:
    """A moment in the form datetime fields store (UTC, whole seconds), for text comparison."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def operand(workspace: Workspace, field: ContactField, value: Any) -> Any:
    """A value to compare ``field`` with, in the field's stored form.

    A datetime field also takes a plain date (``YYYY-MM-DD``), meaning that whole local day; it
    comes back as a ``date``. Raises ``Unprocessable`` with the contact services' sentence.
    """
    zone = contacts.workspace_zone(workspace)
    if field.type == FieldType.DATETIME and isinstance(value, str) and len(value.strip()) <= 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    return contacts.clean_field_value(field, value, zone=zone)


@dataclass
class _Scope:
    workspace: Workspace
    zone: ZoneInfo
    now: datetime
    today: date
    fields: dict[str, ContactField]
    tag_ids: dict[str, int]
    one: bool  # asked about one contact at a time (see the module)

    def day(self, offset: int) -> datetime:
        return day_start(self.today + timedelta(days=offset), self.zone)

    def among(self, rows: QuerySet[Any], *, negate: bool = False) -> Q:
        """Contacts with a row in ``rows`` (a queryset of a model with ``contact_id``), or not."""
        rows = rows.filter(contact_id__isnull=False)
        if self.one or (negate and connection.vendor == "postgresql"):
            found = Q(Exists(rows.filter(contact_id=OuterRef("pk"))))
        else:
            found = Q(pk__in=rows.values("contact_id"))
        return ~found if negate else found


def condition(
    workspace: Workspace,
    definition: Definition,
    *,
    now: datetime | None = None,
    one: bool = False,
) -> Q:
    """The definition as a condition on ``Contact`` rows (of any workspace: scope it yourself).

    ``one``: the condition will be asked of one contact at a time (see the module).
    """
    now = now or clock.now()
    zone = contacts.workspace_zone(workspace)
    found = [c for _, c in leaves(definition)]
    keys = {c.field for c in found if isinstance(c, FieldCondition)}
    names = {name for c in found if isinstance(c, TagsCondition) for name in c.tags}
    scope = _Scope(
        workspace=workspace,
        zone=zone,
        now=now,
        today=now.astimezone(zone).date(),
        fields={f.key: f for f in ContactField.objects.filter(workspace=workspace, key__in=keys)}
        if keys
        else {},
        tag_ids=dict(
            Tag.objects.filter(workspace=workspace, name__in=names).values_list("name", "pk")
        )
        if names
        else {},
        one=one,
    )
    parts = [
        _combine(item.match, [_leaf(scope, inner) for inner in item.conditions])
        if isinstance(item, Group)
        else _leaf(scope, item)
        for item in definition.conditions
    ]
    return _combine(definition.match, parts) if parts else TRUE


def members(workspace: Workspace, definition: Definition, *, now: datetime | None = None) -> Any:
    """The workspace's contacts in the segment, as a queryset (unordered)."""
    return Contact.objects.filter(workspace=workspace).filter(
        condition(workspace, definition, now=now)
    )


def _combine(match: str, parts: list[Q]) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if match == "all" else combined | part
    return combined


def _leaf(scope: _Scope, item: Any) -> Q:
    if isinstance(item, EmailStatusCondition):
        return Q(email_status__in=list(item.statuses))
    if isinstance(item, TagsCondition):
        return _tags(scope, item)
    if isinstance(item, FieldCondition):
        return _field(scope, item)
    if isinstance(item, AppointmentCondition):
        return _appointment(scope, item)
    if isinstance(item, CampaignCondition):
        return _campaign(scope, item)
    if isinstance(item, EmailCondition):
        return _email(scope, item)
    raise TypeError(f"unknown condition {item!r}")


def _tags(scope: _Scope, item: TagsCondition) -> Q:
    ids = [scope.tag_ids[name] for name in item.tags if name in scope.tag_ids]
    links = ContactTag.objects.all()
    if item.match == "all":
        if len(ids) < len(item.tags):
            return FALSE
        return _combine("all", [scope.among(links.filter(tag_id=tag_id)) for tag_id in ids])
    if item.match == "any":
        return scope.among(links.filter(tag_id__in=ids)) if ids else FALSE
    return scope.among(links.filter(tag_id__in=ids), negate=True) if ids else TRUE


def _field(scope: _Scope, item: FieldCondition) -> Q:
    field = scope.fields.get(item.field)
    if field is None:
        # Deleted since the segment was saved: every contact's value is now empty.
        return TRUE if item.op == "empty" else FALSE
    key = field.key
    present = Q(HasKey(F("fields"), key))
    if item.op == "empty":
        return ~present
    if item.op == "not_empty":
        return present
    text = KeyTextTransform(key, "fields")
    value = operand(scope.workspace, field, item.value) if item.value not in (None, "") else None
    if field.type == FieldType.TEXT:
        if item.op == "contains":
            return Q(IContains(text, value))
        return Q(IExact(text, value))
    if field.type == FieldType.SELECT:
        return Q(Exact(text, value))
    if field.type == FieldType.CHECKBOX:
        # JSON true reads as 'true' on PostgreSQL and as 1 on SQLite.
        is_true = Q(In(Cast(text, TextField()), ["true", "1"]))
        return is_true if value else ~is_true | ~present
    if field.type == FieldType.NUMBER:
        return _number(Cast(text, FloatField()), item, scope, field, value)
    if field.type == FieldType.DATE:
        return _date(text, item, scope, field, value)
    if field.type == FieldType.DATETIME:
        return _datetime(text, item, scope, field, value)
    return FALSE


def _number(
    number: Cast, item: FieldCondition, scope: _Scope, field: ContactField, value: Any
) -> Q:
    # Stored values are JSON numbers (the contact services refuse anything else), so the cast
    # never meets text.
    if item.op == "between":
        upper = operand(scope.workspace, field, item.value2)
        low, high = sorted((float(value), float(upper)))
        return Q(GreaterThanOrEqual(number, low)) & Q(LessThanOrEqual(number, high))
    lookup = {"eq": Exact, "gt": GreaterThan, "lt": LessThan}[item.op]
    return Q(lookup(number, float(value)))


def _date(
    text: KeyTextTransform, item: FieldCondition, scope: _Scope, field: ContactField, value: Any
) -> Q:
    today = scope.today
    if item.op == "this_month":
        # Any year: birthdays and anniversaries.
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
        low, high = sorted((value, operand(scope.workspace, field, item.value2)))
        return Q(GreaterThanOrEqual(text, low)) & Q(LessThanOrEqual(text, high))
    return {
        "eq": lambda: Q(Exact(text, value)),
        "gt": lambda: Q(GreaterThan(text, value)),
        "lt": lambda: Q(LessThan(text, value)),
    }[item.op]()


def _datetime(
    text: KeyTextTransform, item: FieldCondition, scope: _Scope, field: ContactField, value: Any
) -> Q:
    if item.op == "next_days":
        return _window(
            text, stored_instant(scope.now), stored_instant(scope.day((item.days or 0) + 1))
        )
    if item.op == "last_days":
        start = stored_instant(scope.day(-(item.days or 0)))
        return Q(GreaterThanOrEqual(text, start)) & Q(
            LessThanOrEqual(text, stored_instant(scope.now))
        )
    low, high = _bounds(value, scope.zone)
    if item.op == "between":
        other = _bounds(operand(scope.workspace, field, item.value2), scope.zone)
        low, high = min(low, other[0]), max(high, other[1])
        return _window(text, low, high)
    if item.op == "eq":
        return _window(text, low, high)
    if item.op == "gt":
        # After the whole day, or after the instant.
        return Q(GreaterThanOrEqual(text, high)) if high != low else Q(GreaterThan(text, low))
    return Q(LessThan(text, low))


def _bounds(value: Any, zone: ZoneInfo) -> tuple[str, str]:
    """[start, end) of a date operand (its local day), or [instant, instant] of a datetime."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return (
            stored_instant(day_start(value, zone)),
            stored_instant(day_start(value + timedelta(days=1), zone)),
        )
    return str(value), str(value)


def _window(text: KeyTextTransform, start: str, end: str) -> Q:
    """start <= value < end; a single instant when start == end."""
    if start == end:
        return Q(Exact(text, start))
    return Q(GreaterThanOrEqual(text, start)) & Q(LessThan(text, end))


def _appointment(scope: _Scope, item: AppointmentCondition) -> Q:
    days = item.days or 0
    if item.op == "next_days":
        start, end = scope.now, scope.day(days + 1)
    elif item.op == "last_days":
        start, end = scope.day(-days), scope.now
    else:
        assert item.value is not None and item.value2 is not None
        first, last = sorted((item.value, item.value2))
        start, end = day_start(first, scope.zone), day_start(last + timedelta(days=1), scope.zone)
    return scope.among(
        Appointment.objects.filter(
            workspace=scope.workspace,
            status=AppointmentStatus.ACTIVE,
            start__gte=start,
            start__lt=end,
        )
    )


def _campaign(scope: _Scope, item: CampaignCondition) -> Q:
    enrollments = Enrollment.objects.filter(campaign_id=item.campaign_id)
    if item.op in ("in", "not_in"):
        enrollments = enrollments.filter(status=EnrollmentStatus.ACTIVE)
    return scope.among(enrollments, negate=item.op.startswith("not_"))


def _email(scope: _Scope, item: EmailCondition) -> Q:
    action = item.op.removeprefix("not_")
    if action == "received":
        rows: QuerySet[Any] = Outbox.objects.filter(
            template_id=item.email_id, status=OutboxStatus.SENT
        )
    else:
        rows = Engagement.objects.filter(
            template_id=item.email_id,
            kind=EngagementKind.OPEN if action == "opened" else EngagementKind.CLICK,
            count__gt=0,
        )
    return scope.among(rows, negate=item.op.startswith("not_"))
