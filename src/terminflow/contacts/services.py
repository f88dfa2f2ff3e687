"""Contact services: find, get, create, update and delete contacts, the contacts behind
bookings (``contact_from_booking(s)``) and the paged contact list; fields, tags, notes and the
consent ledger have their own modules next to this one, and together they are the only code
that writes contacts. Every function validates all of its input before it writes anything, so
a typed error (``Unprocessable``, ``Conflict``) leaves the caller's transaction usable and
nothing stored; writes run in the caller's transaction when there is one (one request or one
job = one transaction), and signals are sent inside it, after the write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy

from terminflow.kit import clock
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Workspace

from . import field_values, signals
from .cleaning import (
    NAME_MAX_LENGTH,
    clean_name,
    clean_text,
    normalize_email,
    normalize_phone,
    phone_region,
)
from .consent import (
    clean_status,
    record_consent,
    record_status,
    refuse_doi_by_hand,
    set_email_status,
)
from .fields import apply_cleaned_fields, clean_field_values
from .models import ConsentEvent, ConsentKind, Contact, ContactTag, EmailStatus, Tag
from .tags import TAG_MAX_LENGTH, add_cleaned_tags, clean_tag_names, replace_cleaned_tags

LIST_LIMIT_MAX = 200
MAX_ID = 2**63 - 1

_CONTACT_CHANGES = frozenset(
    {"email", "first_name", "last_name", "phone", "email_status", "fields", "tags"}
)


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
    first_name = clean_name("first_name", first_name)
    last_name = clean_name("last_name", last_name)
    phone = normalize_phone(phone, region=phone_region(workspace))
    email_status = clean_status(email_status)
    refuse_doi_by_hand(EmailStatus.UNKNOWN, email_status, doi_proof)
    cleaned_fields, definitions = clean_field_values(workspace, fields or {})
    cleaned_fields = {k: v for k, v in cleaned_fields.items() if v is not None}
    tag_names = clean_tag_names(tags or [])
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
                record_status(
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
            add_cleaned_tags(contact, tag_names, source=source)
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
            value = clean_name(name, changes[name])
            if value != getattr(contact, name):
                columns[name] = value
    if "phone" in changes:
        phone = normalize_phone(changes["phone"], region=phone_region(workspace))
        if phone != contact.phone:
            columns["phone"] = phone
    status = clean_status(changes["email_status"]) if "email_status" in changes else None
    refuse_doi_by_hand(contact.email_status, status, None)
    cleaned_fields, definitions = clean_field_values(workspace, changes.get("fields") or {})
    tag_names = clean_tag_names(changes["tags"]) if changes.get("tags") is not None else None

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
                apply_cleaned_fields(contact, cleaned_fields, definitions, source=source)
            if tag_names is not None:
                replace_cleaned_tags(contact, tag_names, source=source)
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
        tag = clean_text("tag", tag.strip(), TAG_MAX_LENGTH)
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
        condition &= Q(**{f"{prefix}email_status": clean_status(status)})
    if q and q.strip():
        needle = clean_text("q", q.strip(), NAME_MAX_LENGTH)
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
