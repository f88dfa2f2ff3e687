"""Contact services: the only code that writes contacts, fields, tags, notes and consent events.

Field values go into ``Contact.fields`` and, in the same transaction, into their typed copy
for queries (``field_values``).

Every function validates all of its input before it writes anything, so a typed error
(``Unprocessable``, ``Conflict``) leaves the caller's transaction usable and nothing stored.
Writes run in the caller's transaction when there is one (one request or one job = one
transaction); signals are sent inside it, after the write.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Func, JSONField, Prefetch, Q, Value
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from email_validator import EmailNotValidError, validate_email

from terminflow.kit import clock
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Workspace

from . import field_values, signals
from .models import (
    ConsentEvent,
    ConsentKind,
    Contact,
    ContactTag,
    EmailStatus,
    Field,
    FieldType,
    Note,
    Tag,
)

DEFAULT_PHONE_REGION = "CH"
NAME_MAX_LENGTH = 200
TAG_MAX_LENGTH = 100
TEXT_VALUE_MAX_LENGTH = 10_000
NOTE_MAX_LENGTH = 100_000
FIELD_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LIST_LIMIT_MAX = 200
MAX_ID = 2**63 - 1

_TRUE_WORDS = frozenset({"true", "yes", "on", "1", "ja", "x"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0", "nein"})

# The ledger kind that records a move to each status; the details always say from what to what.
_CONSENT_KIND_FOR_STATUS = {
    EmailStatus.CONFIRMED_SOI: ConsentKind.SOI,
    EmailStatus.CONFIRMED_DOI: ConsentKind.DOI_CONFIRMED,
    EmailStatus.UNSUBSCRIBED: ConsentKind.UNSUBSCRIBED,
    EmailStatus.BLOCKED: ConsentKind.BLOCKED,
    EmailStatus.BLOCKED_TEMPORARILY: ConsentKind.BLOCKED,
}

_CONTACT_CHANGES = frozenset(
    {"email", "first_name", "last_name", "phone", "email_status", "fields", "tags"}
)


# -- normalisation -------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """The address in the one form we store and compare: validated, stripped, lower-cased.

    Raises ``Unprocessable`` ("'x' is not an email address: ...") for anything else.
    """
    if not isinstance(email, str) or not email.strip():
        raise Unprocessable(gettext_lazy("An email address is required."))
    candidate = email.strip()
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an email address: %(exc)s"),
            shorten=_shorten(candidate),
            exc=exc,
        ) from None
    normalized = result.normalized.lower()
    if len(normalized) > 254:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an email address: it is too long."),
            shorten=_shorten(candidate),
        )
    return normalized


def normalize_phone(phone: str | None, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """The number in E.164 (``+41446681800``), "" for no number; ``Unprocessable`` if invalid.

    Numbers without a country code are read as numbers of ``region``.
    """
    if phone is None:
        return ""
    if not isinstance(phone, str):
        raise Unprocessable(
            gettext_lazy("phone: write the number as text, e.g. '+41 44 668 18 00'.")
        )
    raw = phone.strip()
    if not raw:
        return ""
    problem = (
        f"'{_shorten(raw)}' is not a valid phone number; write it with the country code, "
        "e.g. '+41 44 668 18 00'."
    )
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise Unprocessable(problem) from None
    if not phonenumbers.is_valid_number(parsed):
        raise Unprocessable(problem)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_region(workspace: Workspace) -> str:
    """The region local numbers belong to: the country of the workspace's locale, else CH."""
    _, _, country = (workspace.locale or "").replace("_", "-").partition("-")
    country = country.upper()
    if country in phonenumbers.SUPPORTED_REGIONS:
        return country
    return DEFAULT_PHONE_REGION


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_text(label: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise Unprocessable(gettext_lazy("%(label)s: must be text."), label=label)
    # PostgreSQL stores no NUL character in text or JSON; refuse it before it becomes a 500.
    if "\x00" in value:
        raise Unprocessable(gettext_lazy("%(label)s: contains a NUL character."), label=label)
    if len(value) > max_length:
        raise Unprocessable(
            gettext_lazy("%(label)s: at most %(max_length)s characters."),
            label=label,
            max_length=max_length,
        )
    return value


def _clean_name(label: str, value: Any) -> str:
    if value is None:
        return ""
    return _clean_text(label, value.strip() if isinstance(value, str) else value, NAME_MAX_LENGTH)


def _clean_status(status: Any) -> str:
    if status not in EmailStatus.values:
        raise Unprocessable(
            gettext_lazy("'%(status)s' is not an email status; use one of: %(value)s."),
            status=status,
            value=", ".join(EmailStatus.values),
        )
    return str(status)


class DoiByHand(Unprocessable):
    code = "doi_by_hand"


def _refuse_doi_by_hand(current: str, new: str | None, proof: Mapping[str, Any] | None) -> None:
    """Only the double opt-in itself (or an import that carries its proof) confirms by DOI.

    Marketing email goes only to ``confirmed_doi`` contacts, so setting it by hand would
    skip the consent that status stands for. Keeping a status that is already there is fine.
    """
    if new != EmailStatus.CONFIRMED_DOI or current == EmailStatus.CONFIRMED_DOI:
        return
    if proof is not None and isinstance(proof, Mapping) and proof.get("confirmed_at"):
        return
    raise DoiByHand(
        _(
            "Only the contact can confirm a double opt-in, by the link in the double opt-in "
            "email; the status “confirmed (double opt-in)” cannot be set by hand."
        ),
        extra={"field": "email_status"},
    )


def _clean_ip(ip: str | None) -> str | None:
    if ip is None or ip == "":
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an IP address."), shorten=_shorten(str(ip))
        ) from None


# -- fields ----------------------------------------------------------------------------------


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
            shorten=_shorten(str(key)),
        )
    if type not in FieldType.values:
        raise Unprocessable(
            gettext_lazy("'%(type)s' is not a field type; use one of: %(value)s."),
            type=type,
            value=", ".join(FieldType.values),
        )
    label = _clean_name("label", label) or key
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
        option = _clean_text("options", option.strip(), NAME_MAX_LENGTH)
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
        return _clean_text(key, value, TEXT_VALUE_MAX_LENGTH)
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
    problem = f"{key}: '{_shorten(str(value))}' is not a number."
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
        shorten=_shorten(str(value)),
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
            shorten=_shorten(str(value)),
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
        shorten=_shorten(str(value)),
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
        shorten=_shorten(str(value)),
        value=", ".join(options),
    )


def _clean_field_values(
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
    cleaned, fields = _clean_field_values(contact.workspace, values, definitions)
    if cleaned:
        with transaction.atomic(savepoint=False):
            _apply_fields(contact, cleaned, fields, source=source)


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
        (contact, *_clean_field_values(contact.workspace, values, definitions))
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


def _apply_fields(
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


# -- contacts --------------------------------------------------------------------------------


def _by_email(workspace: Workspace, email: str):  # type: ignore[no-untyped-def]
    # Spelled as LOWER(email) so the lookup uses the unique (workspace, lower(email)) index.
    return Contact.objects.alias(email_ci=Lower("email")).filter(
        workspace=workspace, email_ci=email
    )


def _first(query: Any) -> Any:
    # Unordered on purpose: .first() would add ORDER BY id and could pull the planner off
    # the email index.
    rows = list(query[:1])
    return rows[0] if rows else None


def find_contact(workspace: Workspace, email: str) -> Contact | None:
    """The workspace's contact with this email address (case-insensitive), else None."""
    if not isinstance(email, str) or not email.strip():
        return None
    try:
        normalized = normalize_email(email)
    except Unprocessable:
        normalized = email.strip().lower()
    contact = _first(_by_email(workspace, normalized))
    if contact is not None:
        contact.workspace = workspace
    return contact


def get_contact(workspace: Workspace, contact_id: int) -> Contact:
    """The workspace's contact with this id; ``NotFound`` for any other workspace's id."""
    contact = None
    if isinstance(contact_id, int) and 0 < contact_id <= MAX_ID:
        contact = _first(Contact.objects.filter(workspace=workspace, pk=contact_id))
    if contact is None:
        raise NotFound(
            gettext_lazy("No contact with id %(contact_id)s in this workspace."),
            contact_id=contact_id,
        )
    contact.workspace = workspace
    return contact


def _conflict(email: str, contact_id: int | None) -> Conflict:
    extra = {"contact_id": contact_id} if contact_id is not None else None
    return Conflict(
        gettext_lazy("A contact with the email address %(email)s already exists."),
        email=email,
        extra=extra,
    )


def _insert_contact(workspace: Workspace, **values: Any) -> Contact | None:
    """The new contact, or None when another one with the email won the race."""
    try:
        with transaction.atomic():
            return Contact.objects.create(workspace=workspace, **values)
    except IntegrityError:
        return None


def create_contact(
    workspace: Workspace,
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    email_status: str = EmailStatus.UNKNOWN,
    fields: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    source: str = "api",
    doi_proof: Mapping[str, Any] | None = None,
) -> Contact:
    """Create a contact; ``Conflict`` (409) if the email address is taken in the workspace.

    A status other than ``unknown`` is recorded in the consent ledger; fields and tags send
    their signals, and ``confirmed_doi`` sends ``doi_confirmed``. ``confirmed_doi`` needs
    ``doi_proof`` (at least ``confirmed_at``, from the system that ran the opt-in), which goes
    into the ledger entry; without it ``DoiByHand`` (422).
    """
    email = normalize_email(email)
    first_name = _clean_name("first_name", first_name)
    last_name = _clean_name("last_name", last_name)
    phone = normalize_phone(phone, region=phone_region(workspace))
    email_status = _clean_status(email_status)
    _refuse_doi_by_hand(EmailStatus.UNKNOWN, email_status, doi_proof)
    cleaned_fields, definitions = _clean_field_values(workspace, fields or {})
    cleaned_fields = {k: v for k, v in cleaned_fields.items() if v is not None}
    tag_names = _clean_tag_names(tags or [])
    existing = _first(_by_email(workspace, email).values_list("pk", flat=True))
    if existing is not None:
        raise _conflict(email, existing)
    with transaction.atomic(savepoint=False):
        contact = _insert_contact(
            workspace,
            email=email,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            email_status=email_status,
            fields=cleaned_fields,
        )
        if contact is not None:
            field_values.store(
                (contact.pk, definitions[key], value) for key, value in cleaned_fields.items()
            )
            if email_status != EmailStatus.UNKNOWN:
                _record_status(
                    contact,
                    EmailStatus.UNKNOWN,
                    email_status,
                    source=source,
                    details={"proof": dict(doi_proof)} if doi_proof else None,
                )
            for key, value in cleaned_fields.items():
                signals.field_changed.send(
                    sender=Contact, contact=contact, key=key, old=None, new=value, source=source
                )
            _add_tags(contact, tag_names, source=source)
            if email_status == EmailStatus.CONFIRMED_DOI:
                signals.doi_confirmed.send(sender=Contact, contact=contact)
    if contact is None:
        raise _conflict(email, _first(_by_email(workspace, email).values_list("pk", flat=True)))
    return contact


def update_contact(contact: Contact, **changes: Any) -> Contact:
    """Change any of email, first_name, last_name, phone, email_status, fields, tags.

    ``fields`` merges (a None value clears that field), ``tags`` replaces the contact's tags,
    ``email_status`` goes through ``set_email_status`` (ledger + signals); ``source`` names who
    made the change (default "api"). Everything is validated before anything is written.
    """
    source = changes.pop("source", "api")
    unknown = set(changes) - _CONTACT_CHANGES
    if unknown:
        raise TypeError(f"update_contact() got unexpected changes: {', '.join(sorted(unknown))}")
    workspace = contact.workspace
    columns: dict[str, Any] = {}
    if "email" in changes:
        email = normalize_email(changes["email"])
        if email != contact.email:
            taken = _first(
                _by_email(workspace, email).exclude(pk=contact.pk).values_list("pk", flat=True)
            )
            if taken is not None:
                raise _conflict(email, taken)
            columns["email"] = email
    for name in ("first_name", "last_name"):
        if name in changes:
            value = _clean_name(name, changes[name])
            if value != getattr(contact, name):
                columns[name] = value
    if "phone" in changes:
        phone = normalize_phone(changes["phone"], region=phone_region(workspace))
        if phone != contact.phone:
            columns["phone"] = phone
    status = _clean_status(changes["email_status"]) if "email_status" in changes else None
    _refuse_doi_by_hand(contact.email_status, status, None)
    cleaned_fields, definitions = _clean_field_values(workspace, changes.get("fields") or {})
    tag_names = _clean_tag_names(changes["tags"]) if changes.get("tags") is not None else None

    conflict = False
    with transaction.atomic(savepoint=False):
        if columns:
            now = clock.now()
            try:
                with transaction.atomic():
                    Contact.objects.filter(pk=contact.pk).update(**columns, updated_at=now)
            except IntegrityError:
                conflict = True
            else:
                for name, value in columns.items():
                    setattr(contact, name, value)
                contact.updated_at = now
        if not conflict:
            if status is not None:
                set_email_status(contact, status, source=source)
            if cleaned_fields:
                _apply_fields(contact, cleaned_fields, definitions, source=source)
            if tag_names is not None:
                _replace_tags(contact, tag_names, source=source)
    if conflict:
        raise _conflict(columns["email"], None)
    return contact


def delete_contact(contact: Contact) -> None:
    """Delete the contact with its tags, notes, consent ledger, enrollments and runs."""
    with transaction.atomic(savepoint=False):
        contact.delete()


def contact_from_booking(
    workspace: Workspace,
    *,
    email: str,
    first_name: str,
    last_name: str,
    phone: str,
    source: str,
    details: dict | None = None,
) -> tuple[Contact, bool]:
    """The contact behind a booking, created if new; returns (contact, created).

    A new contact gets ``confirmed_soi`` and a ``soi`` consent event (``source``, ``details``),
    whatever the customer ticked. An existing contact only gets empty names and phone filled;
    its email status is never changed (an unsubscribed contact stays unsubscribed). A phone
    number that is not valid is left out rather than failing the booking.
    """
    email = normalize_email(email)
    first_name = _booking_text(first_name)
    last_name = _booking_text(last_name)
    try:
        phone = normalize_phone(phone, region=phone_region(workspace))
    except Unprocessable:
        phone = ""
    contact = _first(_by_email(workspace, email))
    if contact is None:
        with transaction.atomic(savepoint=False):
            contact = _insert_contact(
                workspace,
                email=email,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                email_status=EmailStatus.CONFIRMED_SOI,
            )
            if contact is not None:
                record_consent(contact, ConsentKind.SOI, source=source, details=dict(details or {}))
                return contact, True
        # Another job created the contact between our look-up and our insert.
        contact = _by_email(workspace, email).get()
    contact.workspace = workspace
    filled = {
        name: value
        for name, value in (("first_name", first_name), ("last_name", last_name), ("phone", phone))
        if value and not getattr(contact, name)
    }
    if filled:
        now = clock.now()
        Contact.objects.filter(pk=contact.pk).update(**filled, updated_at=now)
        for name, value in filled.items():
            setattr(contact, name, value)
        contact.updated_at = now
    return contact, False


def contacts_from_bookings(
    workspace: Workspace, bookings: list[dict[str, Any]]
) -> list[tuple[Contact, bool]]:
    """``contact_from_booking`` for many bookings at once, in order; (contact, created) each.

    Each booking is a dict of ``contact_from_booking``'s keyword arguments. The same rules hold,
    as if the bookings came one after the other (a second booking of a new address finds the
    contact the first one created), with one lookup for the batch and one insert each for the
    new contacts and their ``soi`` events. Every email address is checked before anything is
    written: one that is not an address raises ``Unprocessable`` and nothing is stored.
    """
    region = phone_region(workspace)
    cleaned: list[tuple[str, str, str, str, str, dict[str, Any]]] = []
    for booking in bookings:
        email = normalize_email(booking["email"])
        try:
            phone = normalize_phone(booking.get("phone", ""), region=region)
        except Unprocessable:
            phone = ""
        details = booking.get("details")
        if details is not None and not isinstance(details, dict):
            raise Unprocessable(gettext_lazy("details: must be an object."))
        cleaned.append(
            (
                email,
                _booking_text(booking.get("first_name", "")),
                _booking_text(booking.get("last_name", "")),
                phone,
                booking["source"],
                dict(details or {}),
            )
        )
    if not cleaned:
        return []
    known: dict[str, Contact] = {
        contact.email.lower(): contact
        for contact in Contact.objects.alias(email_ci=Lower("email")).filter(
            workspace=workspace, email_ci__in={email for email, *_ in cleaned}
        )
    }
    new: dict[str, tuple[Contact, str, dict[str, Any]]] = {}
    filled: dict[int, dict[str, str]] = {}
    results: list[tuple[Contact, bool]] = []
    for email, first_name, last_name, phone, source, details in cleaned:
        contact = known.get(email)
        if contact is None and email not in new:
            contact = Contact(
                workspace=workspace,
                email=email,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                email_status=EmailStatus.CONFIRMED_SOI,
            )
            new[email] = (contact, source, details)
            results.append((contact, True))
            continue
        if contact is None:
            contact = new[email][0]
        for name, value in (("first_name", first_name), ("last_name", last_name), ("phone", phone)):
            if value and not getattr(contact, name):
                setattr(contact, name, value)
                if email in known:
                    filled.setdefault(contact.pk, {})[name] = value
        results.append((contact, False))
    try:
        with transaction.atomic():
            _insert_bookings(workspace, list(new.values()))
    except IntegrityError:
        # Another job created one of the contacts meanwhile: take them one at a time.
        return [
            contact_from_booking(
                workspace,
                email=booking["email"],
                first_name=booking.get("first_name", ""),
                last_name=booking.get("last_name", ""),
                phone=booking.get("phone", ""),
                source=booking["source"],
                details=booking.get("details"),
            )
            for booking in bookings
        ]
    now = clock.now()
    for contact in known.values():
        contact.workspace = workspace
        if contact.pk in filled:
            Contact.objects.filter(pk=contact.pk).update(**filled[contact.pk], updated_at=now)
            contact.updated_at = now
    return results


def _insert_bookings(workspace: Workspace, new: list[tuple[Contact, str, dict[str, Any]]]) -> None:
    if not new:
        return
    Contact.objects.bulk_create([contact for contact, _, _ in new])
    now = clock.now()
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                workspace_id=workspace.id,
                contact=contact,
                kind=ConsentKind.SOI,
                occurred_at=now,
                source=(source or "")[:255],
                details=details,
            )
            for contact, source, details in new
        ]
    )


def _booking_text(value: str | None) -> str:
    # What a customer typed into eTermin is kept as far as it can be stored, never refused.
    return (value or "").replace("\x00", "").strip()[:NAME_MAX_LENGTH]


@dataclass(frozen=True)
class ContactPage:
    items: list[Contact]
    next_before_id: int | None  # pass as ``before_id`` for the next page; None on the last


def list_contacts(
    workspace: Workspace,
    *,
    email: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> ContactPage:
    """Newest first, paged by id (keyset), with tags and notes loaded.

    Each filter narrows: exact email (case-insensitive), email status, tag name, and ``q``,
    a case-insensitive substring of email, first or last name.
    """
    limit = max(1, min(int(limit), LIST_LIMIT_MAX))
    tag_id: int | None = None
    if tag:
        tag = _clean_text("tag", tag.strip(), TAG_MAX_LENGTH)
        tag_id = _first(
            Tag.objects.filter(workspace=workspace, name=tag).values_list("pk", flat=True)
        )
        if tag_id is None:
            return ContactPage(items=[], next_before_id=None)
    # With a tag the walk goes down the tag's (tag, contact) index, so a tag on half a million
    # contacts pages as fast as one on ten; otherwise down (workspace, id) or (workspace,
    # status, id).
    prefix = "contact__" if tag_id is not None else ""
    condition = Q(**{f"{prefix}workspace": workspace})
    if email:
        try:
            normalized = normalize_email(email)
        except Unprocessable:
            # No contact has an address that is not one.
            return ContactPage(items=[], next_before_id=None)
        condition &= Q(email_ci=normalized)
    if status:
        condition &= Q(**{f"{prefix}email_status": _clean_status(status)})
    if q and q.strip():
        needle = _clean_text("q", q.strip(), NAME_MAX_LENGTH)
        condition &= (
            Q(**{f"{prefix}email__icontains": needle})
            | Q(**{f"{prefix}first_name__icontains": needle})
            | Q(**{f"{prefix}last_name__icontains": needle})
        )
    if before_id is not None:
        condition &= Q(**{f"{prefix}pk__lt": min(before_id, MAX_ID)})
    if tag_id is not None:
        ids = list(
            ContactTag.objects.alias(email_ci=Lower("contact__email"))
            .filter(condition, tag_id=tag_id)
            .order_by("-contact_id")
            .values_list("contact_id", flat=True)[: limit + 1]
        )
        query = Contact.objects.filter(pk__in=ids)
    else:
        query = Contact.objects.alias(email_ci=Lower("email")).filter(condition)
    rows = list(
        query.order_by("-pk").prefetch_related(
            Prefetch("contact_tags", queryset=ContactTag.objects.select_related("tag")),
            "notes",
        )[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    for contact in rows:
        contact.workspace = workspace
    return ContactPage(items=rows, next_before_id=rows[-1].pk if more else None)


def contact_appointments(contact: Contact) -> list[Any]:
    """The contact's appointments (from the eTermin registry), by start time."""
    # Through the reverse relation, so contacts needs no import of the etermin app.
    related = getattr(contact, "appointments", None)
    if related is None:
        return []
    return list(related.order_by("start", "pk"))


# -- tags ------------------------------------------------------------------------------------


def _clean_tag_names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise Unprocessable(gettext_lazy("tags: must be a list of tag names."))
    cleaned: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise Unprocessable(gettext_lazy("tags: every tag must be non-empty text."))
        name = _clean_text("tags", name.strip(), TAG_MAX_LENGTH)
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def tag_names(contact: Contact) -> list[str]:
    """The contact's tag names, sorted (uses prefetched tags when present)."""
    return sorted(link.tag.name for link in contact.contact_tags.all())


def _lock(contact: Contact) -> None:
    Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk", flat=True).get()


def _ensure_tags(workspace_id: int, names: list[str]) -> dict[str, Tag]:
    tags = {t.name: t for t in Tag.objects.filter(workspace_id=workspace_id, name__in=names)}
    missing = [n for n in names if n not in tags]
    if missing:
        Tag.objects.bulk_create(
            [Tag(workspace_id=workspace_id, name=n) for n in missing], ignore_conflicts=True
        )
        tags.update(
            {t.name: t for t in Tag.objects.filter(workspace_id=workspace_id, name__in=missing)}
        )
    return tags


def add_tags(contact: Contact, names: Iterable[str], *, source: str = "") -> list[str]:
    """Tag the contact; returns the names it did not have yet, each announced by ``tag_added``."""
    cleaned = _clean_tag_names(names)
    if not cleaned:
        return []
    with transaction.atomic(savepoint=False):
        return _add_tags(contact, cleaned, source=source)


def _add_tags(contact: Contact, names: list[str], *, source: str) -> list[str]:
    if not names:
        return []
    # The row lock makes "which tags are new" exact when two jobs tag the same contact.
    _lock(contact)
    tags = _ensure_tags(contact.workspace_id, names)
    have = set(
        ContactTag.objects.filter(contact=contact, tag__in=list(tags.values())).values_list(
            "tag_id", flat=True
        )
    )
    added = [n for n in names if tags[n].pk not in have]
    if not added:
        return []
    ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tags[n]) for n in added])
    _touch(contact)
    for name in added:
        signals.tag_added.send(sender=Contact, contact=contact, tag=name, source=source)
    return added


def remove_tags(contact: Contact, names: Iterable[str]) -> list[str]:
    """Untag the contact; returns the names it had."""
    cleaned = _clean_tag_names(names)
    if not cleaned:
        return []
    with transaction.atomic(savepoint=False):
        return _remove_tags(contact, cleaned)


def _remove_tags(contact: Contact, names: list[str]) -> list[str]:
    links = ContactTag.objects.filter(contact=contact, tag__name__in=names)
    had = set(links.values_list("tag__name", flat=True))
    if not had:
        return []
    links.delete()
    _touch(contact)
    return [n for n in names if n in had]


def _replace_tags(contact: Contact, names: list[str], *, source: str) -> None:
    current = set(ContactTag.objects.filter(contact=contact).values_list("tag__name", flat=True))
    _remove_tags(contact, sorted(current - set(names)))
    _add_tags(contact, [n for n in names if n not in current], source=source)


def _touch(contact: Contact) -> None:
    now = clock.now()
    Contact.objects.filter(pk=contact.pk).update(updated_at=now)
    contact.updated_at = now


# -- notes -----------------------------------------------------------------------------------


def add_note(
    contact: Contact, text: str, *, source: str, source_key: str | None = None
) -> Note | None:
    """Add a note; with ``source_key`` at most once per contact (None if the key was used)."""
    if not isinstance(text, str) or not text.strip():
        raise Unprocessable(gettext_lazy("A note needs text."))
    text = _clean_text("note", text, NOTE_MAX_LENGTH)
    if source_key is not None:
        source_key = _clean_text("source_key", source_key, 255)
    values = {"contact": contact, "text": text, "source": (source or "")[:200]}
    if source_key is None:
        return Note.objects.create(**values)
    if Note.objects.filter(contact=contact, source_key=source_key).exists():
        return None
    try:
        with transaction.atomic():
            return Note.objects.create(**values, source_key=source_key)
    except IntegrityError:
        return None


def add_notes(
    items: Iterable[tuple[Contact, str, str, str | None]],
) -> list[Note | None]:
    """``add_note`` for many (contact, text, source, source_key) at once, in order.

    The same rules as one at a time: a source key is used at most once per contact (also
    within ``items``), and such an item gives None. One lookup of the keys and one insert.
    Every item is checked first: a bad one raises ``Unprocessable`` and nothing is stored.
    """
    cleaned: list[tuple[Contact, str, str, str | None]] = []
    for contact, text, source, source_key in items:
        if not isinstance(text, str) or not text.strip():
            raise Unprocessable(gettext_lazy("A note needs text."))
        text = _clean_text("note", text, NOTE_MAX_LENGTH)
        if source_key is not None:
            source_key = _clean_text("source_key", source_key, 255)
        cleaned.append((contact, text, (source or "")[:200], source_key))
    keyed = [(contact.pk, key) for contact, _, _, key in cleaned if key is not None]
    used: set[tuple[int, str | None]] = set()
    if keyed:
        used = set(
            Note.objects.filter(
                contact_id__in={pk for pk, _ in keyed}, source_key__in={key for _, key in keyed}
            ).values_list("contact_id", "source_key")
        )
    notes: list[Note | None] = []
    for contact, text, source, source_key in cleaned:
        if source_key is not None:
            if (contact.pk, source_key) in used:
                notes.append(None)
                continue
            used.add((contact.pk, source_key))
        notes.append(Note(contact=contact, text=text, source=source, source_key=source_key))
    fresh = [note for note in notes if note is not None]
    if not fresh:
        return notes
    try:
        with transaction.atomic():
            Note.objects.bulk_create(fresh)
    except IntegrityError:
        # Another job used one of the keys meanwhile: add them one at a time.
        return [
            add_note(contact, text, source=source, source_key=source_key)
            for contact, text, source, source_key in cleaned
        ]
    return notes


# -- email status and the consent ledger -------------------------------------------------------


def set_email_status(
    contact: Contact,
    status: str,
    *,
    source: str,
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """Move the contact to ``status`` and record it in the consent ledger.

    Nothing is written when the status does not change. Reaching ``confirmed_doi`` sends
    ``doi_confirmed``.
    """
    status = _clean_status(status)
    ip = _clean_ip(ip)
    with transaction.atomic(savepoint=False):
        current = (
            Contact.objects.select_for_update()
            .filter(pk=contact.pk)
            .values_list("email_status", flat=True)
            .get()
        )
        contact.email_status = current
        if current == status:
            return
        now = clock.now()
        Contact.objects.filter(pk=contact.pk).update(email_status=status, updated_at=now)
        contact.email_status = status
        contact.updated_at = now
        _record_status(
            contact, current, status, source=source, details=details, ip=ip, user_agent=user_agent
        )
        if status == EmailStatus.CONFIRMED_DOI:
            signals.doi_confirmed.send(sender=Contact, contact=contact)


def set_block(contact: Contact, *, count: int, until: datetime | None) -> None:
    """Keep the bounce-block bookkeeping: how many temporary blocks, and until when.

    The email status and its ledger entry are written by ``set_email_status``; this only
    stores the counters that decide how long the next block lasts.
    """
    Contact.objects.filter(pk=contact.pk).update(block_count=count, blocked_until=until)
    contact.block_count = count
    contact.blocked_until = until


def _record_status(
    contact: Contact,
    old: str,
    new: str,
    *,
    source: str,
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    kind = _CONSENT_KIND_FOR_STATUS.get(EmailStatus(new), ConsentKind.STATUS_CHANGED)
    return record_consent(
        contact,
        kind,
        source=source,
        details={"from": old, "to": new, **(details or {})},
        ip=ip,
        user_agent=user_agent,
        occurred_at=contact.updated_at,
    )


def record_consent(
    contact: Contact,
    kind: str,
    *,
    source: str = "",
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
) -> ConsentEvent:
    """Append one event to the contact's consent ledger (rows are never changed afterwards)."""
    if kind not in ConsentKind.values:
        raise Unprocessable(
            gettext_lazy("'%(kind)s' is not a consent event kind; use one of: %(value)s."),
            kind=kind,
            value=", ".join(ConsentKind.values),
        )
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise Unprocessable(gettext_lazy("occurred_at: needs a time zone."))
    if details is not None and not isinstance(details, dict):
        raise Unprocessable(gettext_lazy("details: must be an object."))
    return ConsentEvent.objects.create(
        workspace_id=contact.workspace_id,
        contact=contact,
        kind=kind,
        occurred_at=occurred_at or clock.now(),
        source=(source or "")[:255],
        details=details or {},
        ip=_clean_ip(ip),
        user_agent=user_agent or "",
    )


# -- managing tags and field definitions -------------------------------------------------------

# Campaigns in these states still run, so a field they read must not disappear under them.
_LIVE_CAMPAIGN_STATUSES = ("active", "paused")


def list_tags(workspace: Workspace) -> list[tuple[str, int]]:
    """Every tag of the workspace by name, with how many contacts carry it."""
    return list(
        Tag.objects.filter(workspace=workspace)
        .annotate(contact_count=Count("contact_tags"))
        .order_by("name")
        .values_list("name", "contact_count")
    )


def _clean_tag_name(label: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Unprocessable(gettext_lazy("%(label)s: a tag needs a name."), label=label)
    return _clean_text(label, name.strip(), TAG_MAX_LENGTH)


def get_tag(workspace: Workspace, name: str) -> Tag:
    """The workspace's tag called ``name``; ``NotFound`` if there is none."""
    tag = (
        Tag.objects.filter(workspace=workspace, name=name.strip()).first()
        if isinstance(name, str)
        else None
    )
    if tag is None:
        raise NotFound(gettext_lazy("There is no tag '%(shorten)s'."), shorten=_shorten(str(name)))
    return tag


def rename_tag(workspace: Workspace, name: str, new_name: str) -> Tag:
    """Give the tag a new name; every contact that carries it keeps it under the new name.

    ``NotFound`` if the tag does not exist, ``Unprocessable`` if ``new_name`` is empty or
    too long, ``Conflict`` if another tag of the workspace already has that name.
    """
    new_name = _clean_tag_name("name", new_name)
    tag = get_tag(workspace, name)
    if tag.name == new_name:
        return tag
    if Tag.objects.filter(workspace=workspace, name=new_name).exists():
        raise Conflict(
            gettext_lazy("A tag called '%(new_name)s' already exists."), new_name=new_name
        )
    try:
        with transaction.atomic():
            Tag.objects.filter(pk=tag.pk).update(name=new_name)
    except IntegrityError:
        raise Conflict(
            gettext_lazy("A tag called '%(new_name)s' already exists."), new_name=new_name
        ) from None
    tag.name = new_name
    Contact.objects.filter(contact_tags__tag=tag).update(updated_at=clock.now())
    return tag


def delete_tag(workspace: Workspace, name: str) -> int:
    """Remove the tag from every contact and delete it; returns how many contacts had it.

    ``NotFound`` if the workspace has no such tag.
    """
    tag = get_tag(workspace, name)
    with transaction.atomic(savepoint=False):
        contact_ids = list(ContactTag.objects.filter(tag=tag).values_list("contact_id", flat=True))
        Contact.objects.filter(pk__in=contact_ids).update(updated_at=clock.now())
        ContactTag.objects.filter(tag=tag).delete()
        tag.delete()
    return len(contact_ids)


def get_field(workspace: Workspace, key: str) -> Field:
    """The workspace's field with ``key``; ``NotFound`` if there is none."""
    field = Field.objects.filter(workspace=workspace, key=key).first()
    if field is None:
        raise NotFound(gettext_lazy("There is no field '%(shorten)s'."), shorten=_shorten(str(key)))
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
        field.label = _clean_name("label", label) or field.key
        changed.append("label")
    if options is not None:
        field.options = _clean_options(field.type, options)
        changed.append("options")
    if changed:
        field.save(update_fields=changed)
    return field


def campaigns_using_field(workspace: Workspace, key: str) -> list[str]:
    """Names of the workspace's active or paused campaigns with an element that names ``key``."""
    # Looked up through the app registry: contacts sits below campaigns and may not import it.
    element_model = apps.get_model("campaigns", "Element")
    elements = element_model.objects.filter(
        campaign__workspace=workspace,
        campaign__status__in=_LIVE_CAMPAIGN_STATUSES,
        removed=False,
    ).values_list("campaign__name", "config")
    names = {name for name, config in elements if _mentions(config, key)}
    return sorted(names)


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, str):
        return value == key
    if isinstance(value, dict):
        return any(_mentions(v, key) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, key) for v in value)
    return False


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
    using = campaigns_using_field(workspace, field.key)
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
