"""A segment's definition compiled to one SQL condition on contacts (a Django ``Q``).

Everything is a predicate of the contact row or a subquery on another table, so counting,
paging and "is this contact in it" are each one query on contacts, whatever their number (on
SQLite after a few capped counts that choose how to ask, see below); nothing loops over
contacts in Python.

Field values are compared in their typed copy (``contacts.FieldValue``: one row per contact and
field, a column per type, each with an index; docs/decisions/0008), not in ``Contact.fields``:
an index range finds "birthday this month" or "appointment in the next 7 days" where the JSON
had to be read for every contact. The copy holds what ``fields`` stores (see the contact
services), so the results are the same: dates as dates, datetimes as UTC instants to the
second, numbers as floats, checkboxes as 1 or 0. Relative windows ("in the next 7 days") are
counted in whole days of the workspace's zone: the boundaries are local midnights turned into
UTC, so a day across a DST change is 23 or 25 hours long, as on the wall clock. Text compares
without regard to case (on SQLite only for ASCII letters, which is SQLite's ``LIKE``).

Conditions on other tables (field values, tags, campaigns, emails, appointments) are "the
contacts with (or without) a row there", asked in one of two ways:

- ``id IN (SELECT contact_id ...)``: the subquery runs once into a list. For a set of contacts
  (count, members, the sweep) this is the form on PostgreSQL, which plans either form as a
  semi-join; its negation there is ``NOT EXISTS``, an anti-join, where a large ``NOT IN``
  would be a subplan per row.
- correlated ``EXISTS``: an index lookup per contact. For one contact ("is Anna in it?"),
  always.

SQLite has no statistics to choose with, and builds every ``IN`` list in full: it drives the
query from one of them and tests each candidate against the others, so a tag on 40 % of a
million contacts costs a list of 400,000 ids. So on SQLite, where all conditions must hold, the
compiler picks the driver itself: the condition with the fewest rows among those an index
answers (tags, "has a value", comparisons but on text and select fields), each counted up to
``PROBE_CAP`` rows, the likely smaller first and the cap shrinking to the smallest count so
far (one cheap query per candidate when there are two or more). It is the one ``IN``; every
other condition on another table is asked by ``EXISTS`` of just its candidates. Without a
driver (any of several conditions, or none an index answers) every set is an ``IN`` and a
negation ``NOT IN``, each list built once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from terminflow.campaigns.models import Enrollment, EnrollmentStatus
from terminflow.contacts import cleaning
from terminflow.contacts import fields as contact_fields
from terminflow.contacts.models import Contact, ContactTag, FieldType, FieldValue, Tag
from terminflow.contacts.models import Field as ContactField
from terminflow.etermin.models import Appointment, AppointmentStatus
from terminflow.kit import clock
from terminflow.mail.models import Engagement, EngagementKind, Outbox, OutboxStatus
from terminflow.workspaces.models import Workspace

from .definition import (
    OPS_BY_TYPE,
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
# How far SQLite's driver probe counts a condition's rows (see the module): about 3 ms of
# counting, where a count driven by that many candidates takes 50 ms or more.
PROBE_CAP = 50_000
# The order of the probes: comparisons tend to be narrower than tags, tags than "has a value".
COMPARISON, TAG, PRESENCE = 1, 2, 3


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def stored_instant(moment: datetime) -> datetime:
    """A moment as datetime fields store it: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0)


def operand(workspace: Workspace, field: ContactField, value: Any) -> Any:
    """A value to compare ``field`` with, in the field's stored form.

    A datetime field also takes a plain date (``YYYY-MM-DD``), meaning that whole local day; it
    comes back as a ``date``. Raises ``Unprocessable`` with the contact services' sentence.
    """
    zone = cleaning.workspace_zone(workspace)
    if field.type == FieldType.DATETIME and isinstance(value, str) and len(value.strip()) <= 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    return contact_fields.clean_field_value(field, value, zone=zone)


@dataclass(frozen=True, eq=False)
class _Among:
    """The contacts with a row in ``rows`` (a queryset with ``contact_id``), or without one.

    Whether it is asked as ``IN`` or ``EXISTS`` is decided once the driver is known.
    ``probe``: an index range finds the rows, so counting them up to a cap is cheap; the
    candidates for SQLite's driver are counted in this order, the likely smaller first.
    """

    rows: QuerySet[Any]
    negate: bool = False
    probe: int | None = None


# One top-level condition: the parts that must all hold, or a group of such.
_Part = Q | _Among


@dataclass
class _Group:
    match: str
    conjunctions: list[list[_Part]]


@dataclass
class _Scope:
    workspace: Workspace
    zone: ZoneInfo
    now: datetime
    today: date
    fields: dict[str, ContactField]
    tag_ids: dict[str, int]
    one: bool  # asked about one contact at a time (see the module)
    driver: _Among | None = None  # SQLite's one IN (see the module)

    def day(self, offset: int) -> datetime:
        return day_start(self.today + timedelta(days=offset), self.zone)

    def ask(self, part: _Part) -> Q:
        """The part as a condition on contacts, in the form the module describes."""
        if isinstance(part, Q):
            return part
        rows = part.rows.filter(contact_id__isnull=False)
        correlated = (
            self.one
            or (self.driver is not None and part is not self.driver)
            or (part.negate and connection.vendor == "postgresql")
        )
        if correlated:
            found = Q(Exists(rows.filter(contact_id=OuterRef("pk"))))
        else:
            found = Q(pk__in=rows.values("contact_id"))
        return ~found if part.negate else found


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
    zone = cleaning.workspace_zone(workspace)
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
    items: list[list[_Part] | _Group] = [
        _Group(item.match, [_leaf(scope, inner) for inner in item.conditions])
        if isinstance(item, Group)
        else _leaf(scope, item)
        for item in definition.conditions
    ]
    if not items:
        return TRUE
    if not one and connection.vendor == "sqlite" and definition.match == "all":
        scope.driver = _driver(items)
    return _combine(definition.match, [_ask(scope, item) for item in items])


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


def _ask(scope: _Scope, item: list[_Part] | _Group) -> Q:
    if isinstance(item, _Group):
        return _combine(item.match, [_ask(scope, inner) for inner in item.conjunctions])
    return _combine("all", [scope.ask(part) for part in item])


def _driver(items: list[list[_Part] | _Group]) -> _Among | None:
    """SQLite: the condition with the fewest contacts, of those an index answers (the module)."""
    candidates = sorted(
        (
            part
            for item in items
            if isinstance(item, list)
            for part in item
            if isinstance(part, _Among) and part.probe is not None and not part.negate
        ),
        key=lambda part: part.probe or 0,
    )
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    best, cap = candidates[0], PROBE_CAP
    for candidate in candidates:
        found = candidate.rows.values("contact_id")[:cap].count()
        if found < cap:
            best, cap = candidate, found
    return best


def _leaf(scope: _Scope, item: Any) -> list[_Part]:
    """The condition as parts that must all hold (several for "all of these tags")."""
    if isinstance(item, EmailStatusCondition):
        return [Q(email_status__in=list(item.statuses))]
    if isinstance(item, TagsCondition):
        return _tags(scope, item)
    if isinstance(item, FieldCondition):
        return [_field(scope, item)]
    if isinstance(item, AppointmentCondition):
        return [_appointment(scope, item)]
    if isinstance(item, CampaignCondition):
        return [_campaign(item)]
    if isinstance(item, EmailCondition):
        return [_email(item)]
    raise TypeError(f"unknown condition {item!r}")


def _tags(scope: _Scope, item: TagsCondition) -> list[_Part]:
    ids = [scope.tag_ids[name] for name in item.tags if name in scope.tag_ids]
    links = ContactTag.objects.all()
    if item.match == "all":
        if len(ids) < len(item.tags):
            return [FALSE]
        return [_Among(links.filter(tag_id=tag_id), probe=TAG) for tag_id in ids]
    if not ids:
        return [FALSE if item.match == "any" else TRUE]
    return [_Among(links.filter(tag_id__in=ids), negate=item.match == "none", probe=TAG)]


def _field(scope: _Scope, item: FieldCondition) -> _Part:
    field = scope.fields.get(item.field)
    if field is None:
        # Deleted since the segment was saved: every contact's value is now empty.
        return TRUE if item.op == "empty" else FALSE
    values = FieldValue.objects.filter(field_id=field.pk)
    if item.op == "empty":
        return _Among(values, negate=True)
    if item.op == "not_empty":
        return _Among(values, probe=PRESENCE)
    if item.op not in OPS_BY_TYPE.get(field.type, ()):
        # A field deleted and defined again with another type since the segment was saved.
        return FALSE
    value = operand(scope.workspace, field, item.value) if item.value not in (None, "") else None
    if field.type == FieldType.TEXT:
        lookup = "text__icontains" if item.op == "contains" else "text__iexact"
        return _Among(values.filter(**{lookup: value}))
    if field.type == FieldType.SELECT:
        return _Among(values.filter(text=value))
    if field.type == FieldType.CHECKBOX:
        # Unticked is ticked false or never ticked.
        return _Among(values.filter(number=1), negate=not value, probe=COMPARISON)
    if field.type == FieldType.NUMBER:
        found = _number(item, scope, field, value)
    elif field.type == FieldType.DATE:
        found = _date(item, scope, field, value)
    else:
        found = _datetime(item, scope, field, value)
    return _Among(values.filter(found), probe=COMPARISON)


def _number(item: FieldCondition, scope: _Scope, field: ContactField, value: Any) -> Q:
    if item.op == "between":
        upper = operand(scope.workspace, field, item.value2)
        low, high = sorted((float(value), float(upper)))
        return Q(number__gte=low, number__lte=high)
    lookup = {"eq": "number", "gt": "number__gt", "lt": "number__lt"}[item.op]
    return Q(**{lookup: float(value)})


def _date(item: FieldCondition, scope: _Scope, field: ContactField, value: Any) -> Q:
    today = scope.today
    if item.op == "this_month":
        # Any year: birthdays and anniversaries.
        return Q(month_day__gte=today.month * 100 + 1, month_day__lte=today.month * 100 + 31)
    if item.op in ("next_days", "last_days"):
        days = item.days or 0
        first, last = (today, today + timedelta(days=days))
        if item.op == "last_days":
            first, last = (today - timedelta(days=days), today)
        return Q(date__gte=first, date__lte=last)
    day = date.fromisoformat(value)
    if item.op == "between":
        low, high = sorted((day, date.fromisoformat(operand(scope.workspace, field, item.value2))))
        return Q(date__gte=low, date__lte=high)
    return Q(**{{"eq": "date", "gt": "date__gt", "lt": "date__lt"}[item.op]: day})


def _datetime(item: FieldCondition, scope: _Scope, field: ContactField, value: Any) -> Q:
    if item.op == "next_days":
        return _window(stored_instant(scope.now), stored_instant(scope.day((item.days or 0) + 1)))
    if item.op == "last_days":
        start = stored_instant(scope.day(-(item.days or 0)))
        return Q(moment__gte=start, moment__lte=stored_instant(scope.now))
    low, high = _bounds(value, scope.zone)
    if item.op == "between":
        other = _bounds(operand(scope.workspace, field, item.value2), scope.zone)
        low, high = min(low, other[0]), max(high, other[1])
        return _window(low, high)
    if item.op == "eq":
        return _window(low, high)
    if item.op == "gt":
        # After the whole day, or after the instant.
        return Q(moment__gte=high) if high != low else Q(moment__gt=low)
    return Q(moment__lt=low)


def _bounds(value: Any, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a date operand (its local day), or [instant, instant] of a datetime."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return (
            stored_instant(day_start(value, zone)),
            stored_instant(day_start(value + timedelta(days=1), zone)),
        )
    instant = datetime.fromisoformat(value)
    return instant, instant


def _window(start: datetime, end: datetime) -> Q:
    """start <= value < end; a single instant when start == end."""
    if start == end:
        return Q(moment=start)
    return Q(moment__gte=start, moment__lt=end)


def _appointment(scope: _Scope, item: AppointmentCondition) -> _Among:
    days = item.days or 0
    if item.op == "next_days":
        start, end = scope.now, scope.day(days + 1)
    elif item.op == "last_days":
        start, end = scope.day(-days), scope.now
    else:
        assert item.value is not None and item.value2 is not None
        first, last = sorted((item.value, item.value2))
        start, end = day_start(first, scope.zone), day_start(last + timedelta(days=1), scope.zone)
    return _Among(
        Appointment.objects.filter(
            workspace=scope.workspace,
            status=AppointmentStatus.ACTIVE,
            start__gte=start,
            start__lt=end,
        )
    )


def _campaign(item: CampaignCondition) -> _Among:
    enrollments = Enrollment.objects.filter(campaign_id=item.campaign_id)
    if item.op in ("in", "not_in"):
        enrollments = enrollments.filter(status=EnrollmentStatus.ACTIVE)
    return _Among(enrollments, negate=item.op.startswith("not_"))


def _email(item: EmailCondition) -> _Among:
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
    return _Among(rows, negate=item.op.startswith("not_"))
