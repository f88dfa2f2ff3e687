"""Contact fields: their definitions (list, create, get, update, delete, and which live
campaigns use one), cleaning a value into its stored form for its field's type, and setting
values on contacts (``set_field``, ``set_fields``, ``set_fields_many``) into
``Contact.fields`` and, in the same transaction, into their typed copy for queries
(``field_values``), with ``field_changed`` sent for each value that changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Func, JSONField, Value
from django.utils.translation import gettext_lazy

from terminflow.kit import clock
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Workspace

from . import field_values, signals
from .cleaning import NAME_MAX_LENGTH, clean_name, clean_text, shorten, workspace_zone
from .models import Contact, Field, FieldType

TEXT_VALUE_MAX_LENGTH = 10_000
FIELD_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_TRUE_WORDS = frozenset({"true", "yes", "on", "1", "ja", "x"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0", "nein"})


def list_fields(workspace: Workspace) -> list[Field]:
    return list(Field.objects.filter(workspace=workspace).order_by("id"))


def create_field(
    workspace: Workspace,
    *,
    key: str,
    type: str,
    label: str = "",
    options: list[str] | None = None,
) -> Field:
    """Define a typed contact field; ``Conflict`` if the key is taken, ``Unprocessable`` if bad."""
    if not isinstance(key, str) or not FIELD_KEY_PATTERN.match(key):
        raise Unprocessable(
            gettext_lazy(
                "'%(shorten)s' is not a field key; use lower-case letters, digits and _, starting "
                "with a letter, at most 64 characters (e.g. 'appointment_start')."
            ),
            shorten=shorten(str(key)),
        )
    if type not in FieldType.values:
        raise Unprocessable(
            gettext_lazy("'%(type)s' is not a field type; use one of: %(value)s."),
            type=type,
            value=", ".join(FieldType.values),
        )
    label = clean_name("label", label) or key
    cleaned_options = _clean_options(type, options)
    if Field.objects.filter(workspace=workspace, key=key).exists():
        raise Conflict(gettext_lazy("A field with the key '%(key)s' already exists."), key=key)
    try:
        with transaction.atomic():
            return Field.objects.create(
                workspace=workspace, key=key, label=label, type=type, options=cleaned_options
            )
    except IntegrityError:
        raise Conflict(
            gettext_lazy("A field with the key '%(key)s' already exists."), key=key
        ) from None


def _clean_options(type: str, options: list[str] | None) -> list[str]:
    if type != FieldType.SELECT:
        if options:
            raise Unprocessable(gettext_lazy("options: only select fields have options."))
        return []
    if not options or not isinstance(options, list):
        raise Unprocessable(
            gettext_lazy("options: a select field needs a list of at least one option.")
        )
    cleaned: list[str] = []
    for option in options:
        if not isinstance(option, str) or not option.strip():
            raise Unprocessable(gettext_lazy("options: every option must be non-empty text."))
        option = clean_text("options", option.strip(), NAME_MAX_LENGTH)
        if option in cleaned:
            raise Unprocessable(
                gettext_lazy("options: '%(option)s' is listed twice."), option=option
            )
        cleaned.append(option)
    return cleaned


def clean_field_value(field: Field, value: Any, *, zone: ZoneInfo) -> Any:
    """The stored form of ``value`` for ``field`` (see interfaces), None for empty.

    Raises ``Unprocessable`` with a message naming the field. Naive datetimes are read in
    ``zone``; a wall time that a DST change skips is moved forward by the gap, and one that
    occurs twice means the first occurrence.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    key = field.key
    if field.type == FieldType.TEXT:
        return clean_text(key, value, TEXT_VALUE_MAX_LENGTH)
    if field.type == FieldType.NUMBER:
        return _clean_number(key, value)
    if field.type == FieldType.DATE:
        return _clean_date(key, value, zone)
    if field.type == FieldType.DATETIME:
        return _clean_datetime(key, value, zone)
    if field.type == FieldType.CHECKBOX:
        return _clean_checkbox(key, value)
    if field.type == FieldType.SELECT:
        return _clean_select(field, value)
    raise Unprocessable(
        gettext_lazy("%(key)s: the field has the unknown type '%(type)s'."),
        key=key,
        type=field.type,
    )


def _clean_number(key: str, value: Any) -> int | float:
    problem = f"{key}: '{shorten(str(value))}' is not a number."
    if isinstance(value, bool):
        raise Unprocessable(problem)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unprocessable(problem)
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d{1,18}", text):
            return int(text)
        if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            number = float(text)
            if math.isfinite(number):
                return number
    raise Unprocessable(problem)


def _clean_date(key: str, value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return (value.astimezone(zone) if value.tzinfo else value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) <= 10:
                return date.fromisoformat(text).isoformat()
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return (moment.astimezone(zone) if moment.tzinfo else moment).date().isoformat()
    raise Unprocessable(
        gettext_lazy("%(key)s: '%(shorten)s' is not a date; use YYYY-MM-DD."),
        key=key,
        shorten=shorten(str(value)),
    )


def _clean_datetime(key: str, value: Any, zone: ZoneInfo) -> str:
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise Unprocessable(
            gettext_lazy(
                "%(key)s: '%(shorten)s' is not a date and time; use ISO 8601 such as "
                "2026-12-03T09:30:00+01:00."
            ),
            key=key,
            shorten=shorten(str(value)),
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _clean_checkbox(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise Unprocessable(
        gettext_lazy("%(key)s: '%(shorten)s' is not a checkbox value; use true or false."),
        key=key,
        shorten=shorten(str(value)),
    )


def _clean_select(field: Field, value: Any) -> str:
    options = list(field.options or [])
    if isinstance(value, str):
        text = value.strip()
        if text in options:
            return text
        for option in options:
            if option.casefold() == text.casefold():
                return option
    raise Unprocessable(
        gettext_lazy("%(key)s: '%(shorten)s' is not an option; choose one of: %(value)s."),
        key=field.key,
        shorten=shorten(str(value)),
        value=", ".join(options),
    )


def clean_field_values(
    workspace: Workspace,
    values: dict[str, Any],
    definitions: Mapping[str, Field] | None = None,
) -> tuple[dict[str, Any], dict[str, Field]]:
    """Stored forms by key (None = clear) and the fields by key; else ``Unprocessable``.

    ``definitions`` are fields the caller already read; only the others are looked up. The
    ``Unprocessable`` lists every problem.
    """
    if not isinstance(values, dict):
        raise Unprocessable(gettext_lazy("fields: must be an object of field keys and values."))
    if not values:
        return {}, {}
    by_key = {
        key: definition
        for key, definition in (definitions or {}).items()
        if key in values and definition.workspace_id == workspace.id
    }
    missing = [key for key in values if key not in by_key]
    if missing:
        by_key.update(
            (f.key, f) for f in Field.objects.filter(workspace=workspace, key__in=missing)
        )
    zone = workspace_zone(workspace)
    cleaned: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for key, value in values.items():
        field = by_key.get(key)
        if field is None:
            problems.append(
                {"field": key, "message": f"{key}: no such field; define it under fields first."}
            )
            continue
        try:
            cleaned[key] = clean_field_value(field, value, zone=zone)
        except Unprocessable as exc:
            problems.append({"field": key, "message": exc.detail})
    if problems:
        raise Unprocessable("; ".join(p["message"] for p in problems), extra={"errors": problems})
    return cleaned, by_key


def set_field(contact: Contact, key: str, value: Any, *, source: str = "") -> None:
    """Set one field (None or "" clears it); sends ``field_changed`` if the value changed."""
    set_fields(contact, {key: value}, source=source)


def set_fields(
    contact: Contact,
    values: dict[str, Any],
    *,
    source: str = "",
    definitions: Mapping[str, Field] | None = None,
) -> None:
    """Set several fields at once: all are validated before any is written.

    Sends ``field_changed`` once per field whose stored value actually changed.
    ``definitions`` (key → ``Field`` of the contact's workspace) spares reading field
    definitions the caller already holds, e.g. once for a whole batch.
    """
    cleaned, fields = clean_field_values(contact.workspace, values, definitions)
    if cleaned:
        with transaction.atomic(savepoint=False):
            apply_cleaned_fields(contact, cleaned, fields, source=source)


def set_fields_many(
    items: list[tuple[Contact, dict[str, Any]]],
    *,
    source: str = "",
    definitions: Mapping[str, Field] | None = None,
) -> None:
    """``set_fields`` for many contacts at once, as if one after the other, in order.

    Every item is validated before anything is written (``Unprocessable`` stores nothing);
    then one locked read and one update for all contacts, and ``field_changed`` once per field
    whose stored value changed, in the order of ``items``. The signals are sent after all
    writes, so a contact listed twice is seen with its final fields by each of its signals.
    """
    checked = [
        (contact, *clean_field_values(contact.workspace, values, definitions))
        for contact, values in items
    ]
    cleaned = [(contact, values) for contact, values, _ in checked if values]
    if not cleaned:
        return
    fields_of: dict[int, dict[str, Field]] = {}
    for contact, _values, known in checked:
        fields_of.setdefault(contact.pk, {}).update(known)
    with transaction.atomic(savepoint=False):
        # Read under the row locks so concurrent jobs setting other fields lose nothing.
        current: dict[int, dict[str, Any]] = {
            pk: dict(fields or {})
            for pk, fields in Contact.objects.select_for_update()
            .filter(pk__in={contact.pk for contact, _ in cleaned})
            .values_list("pk", "fields")
        }
        changes: list[tuple[Contact, str, Any, Any]] = []
        changed: dict[int, Contact] = {}
        for contact, values in cleaned:
            fields = current[contact.pk]
            for key, new in values.items():
                old = fields.get(key)
                if old == new:
                    continue
                changes.append((contact, key, old, new))
                changed[contact.pk] = contact
                if new is None:
                    fields.pop(key, None)
                else:
                    fields[key] = new
        for contact, _ in cleaned:
            contact.fields = dict(current[contact.pk])
        if not changes:
            return
        now = clock.now()
        for contact, _ in cleaned:
            if contact.pk in changed:
                contact.updated_at = now
        Contact.objects.bulk_update(list(changed.values()), ["fields", "updated_at"])
        field_values.store(
            (contact.pk, fields_of[contact.pk][key], current[contact.pk].get(key))
            for contact, key, _, _ in changes
        )
        for contact, key, old, new in changes:
            signals.field_changed.send(
                sender=Contact, contact=contact, key=key, old=old, new=new, source=source
            )


def apply_cleaned_fields(
    contact: Contact, cleaned: dict[str, Any], fields: dict[str, Field], *, source: str
) -> None:
    # Read under the row lock so two jobs setting different fields do not lose each other's.
    current = dict(
        Contact.objects.select_for_update()
        .filter(pk=contact.pk)
        .values_list("fields", flat=True)
        .get()
        or {}
    )
    changes = []
    for key, new in cleaned.items():
        old = current.get(key)
        if old == new:
            continue
        changes.append((key, old, new))
        if new is None:
            current.pop(key, None)
        else:
            current[key] = new
    contact.fields = current
    if not changes:
        return
    now = clock.now()
    Contact.objects.filter(pk=contact.pk).update(fields=current, updated_at=now)
    contact.updated_at = now
    field_values.store((contact.pk, fields[key], new) for key, _, new in changes)
    for key, old, new in changes:
        signals.field_changed.send(
            sender=Contact, contact=contact, key=key, old=old, new=new, source=source
        )


def field_datetime(contact: Contact, key: str) -> datetime | None:
    """A date or datetime field's value as an aware UTC datetime; None when empty.

    A date means 00:00 on that day in the workspace's time zone.
    """
    value = (contact.fields or {}).get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            local = datetime.combine(day, time(0), tzinfo=workspace_zone(contact.workspace))
            return local.astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=workspace_zone(contact.workspace))
    return moment.astimezone(UTC)


# -- managing field definitions ---------------------------------------------------------------


def get_field(workspace: Workspace, key: str) -> Field:
    """The workspace's field with ``key``; ``NotFound`` if there is none."""
    field = Field.objects.filter(workspace=workspace, key=key).first()
    if field is None:
        raise NotFound(gettext_lazy("There is no field '%(shorten)s'."), shorten=shorten(str(key)))
    return field


def update_field(
    workspace: Workspace,
    key: str,
    *,
    label: str | None = None,
    options: list[str] | None = None,
) -> Field:
    """Change a field's label and, for a select field, its options; key and type stay.

    An empty label falls back to the key. Options are checked as in ``create_field``
    (``Unprocessable``); ``NotFound`` if the workspace has no such field.
    """
    field = get_field(workspace, key)
    changed: list[str] = []
    if label is not None:
        field.label = clean_name("label", label) or field.key
        changed.append("label")
    if options is not None:
        field.options = _clean_options(field.type, options)
        changed.append("options")
    if changed:
        field.save(update_fields=changed)
    return field


# Who may use a field: apps above contacts (campaigns) register a check here from their
# ``AppConfig.ready``, as they register data holders in ``contacts.privacy``; contacts cannot
# import them.
FieldUsers = Callable[[Workspace, str], list[str]]
_FIELD_USERS: list[FieldUsers] = []


def register_field_users(find: FieldUsers) -> FieldUsers:
    """Register ``find(workspace, key)``: the names of the campaigns that use the field ``key``
    and so keep it from being deleted (the refusal lists them as campaigns). Registering the
    same function twice has no effect."""
    if find not in _FIELD_USERS:
        _FIELD_USERS.append(find)
    return find


def field_users(workspace: Workspace, key: str) -> list[str]:
    """The names every registered check gives for the field ``key``, once each, sorted."""
    return sorted({name for find in _FIELD_USERS for name in find(workspace, key)})


class _WithoutKey(Func):
    """The JSON object without one key, in one UPDATE on SQLite and PostgreSQL."""

    output_field = JSONField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="json_remove(%(expressions)s)")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ")


def delete_field(workspace: Workspace, key: str) -> int:
    """Delete the field and its value from every contact; returns how many contacts had one.

    ``NotFound`` if there is no such field; ``Conflict`` naming the campaigns if an active or
    paused campaign still uses it.
    """
    field = get_field(workspace, key)
    using = field_users(workspace, field.key)
    if using:
        raise Conflict(
            gettext_lazy(
                "The field '%(key)s' is used by the campaigns: %(value)s. Remove it from them or "
                "set them to draft first."
            ),
            key=field.key,
            value=", ".join(using),
            extra={"campaigns": using},
        )
    path = f"$.{field.key}" if connection.vendor == "sqlite" else field.key
    with transaction.atomic(savepoint=False):
        changed = Contact.objects.filter(workspace=workspace, fields__has_key=field.key).update(
            fields=_WithoutKey("fields", Value(path)), updated_at=clock.now()
        )
        field.delete()
    return changed
