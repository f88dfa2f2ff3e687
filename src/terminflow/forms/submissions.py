"""Sign-ups: reading a posted form, storing it, turning it into a DOI email, and confirming it.

The request only checks the input, counts it against the rate limits and stores a
``Submission``; the worker (``process_due``) finds or creates the contact, renders the form's
DOI email outside any transaction and queues it. So the answer to the request is the same, and
takes the same time, whether the address is new, known, confirmed or unsubscribed: nobody can
learn from it which addresses the business has.

What a submission may do to a contact, and when:

- It never changes the email status. Only the confirmation link of the form's DOI email makes
  a contact ``confirmed_doi``; an unsubscribed contact gets the DOI email (asking again is the
  one way back), and stays unsubscribed unless they confirm it.
- Until then it only fills a known contact's empty name and field values: a stranger who types
  someone's address cannot overwrite what the business knows about them.
- The confirmation proves the address is the person's: the values they typed are applied, the
  form's tags added, and ``form.submitted`` campaigns start (``elements.py``).
- An address already confirmed by double opt-in gets no new DOI email (the sender refuses those
  anyway); its submission counts as confirmed at once, so the form's campaign starts for it too.
- Blocked addresses and those that reported our email as spam get nothing.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from terminflow.campaigns import engine
from terminflow.contacts import cleaning
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services as contacts
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import Contact, EmailStatus, Field, FieldType
from terminflow.kit import clock
from terminflow.kit.errors import Conflict, Unprocessable
from terminflow.mail import services as mail
from terminflow.mail import signals as mail_signals
from terminflow.mail.models import Outbox, OutboxStatus

from . import limits, services
from .models import ConsentVersion, Form, Submission, SubmissionStatus

log = logging.getLogger("terminflow.forms")

FORM_SUBMITTED = "form.submitted"
NAME_MAX_LENGTH = 200
USER_AGENT_MAX_LENGTH = 500
# A worker's hold on a submission it is processing; one that dies lets it go after this.
LEASE = timedelta(minutes=5)
BATCH = 50
_REFUSED_STATUSES = frozenset(
    {EmailStatus.SPAM, EmailStatus.BLOCKED, EmailStatus.BLOCKED_TEMPORARILY}
)


@dataclass
class Reading:
    """A posted form as read: the address, the values to keep, and what was wrong (by key)."""

    email: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # What was typed, to show the form again with the person's input.
    typed: dict[str, str] = field(default_factory=dict)


def input_name(key: str) -> str:
    """The name of a field's input: contact fields get a prefix so no key can shadow a column."""
    return key if key in services.BUILT_IN_FIELDS else f"field_{key}"


def _field_problem(definition: Field) -> str:
    if definition.type == FieldType.NUMBER:
        return gettext("Please enter a number.")
    if definition.type == FieldType.DATE:
        return gettext("Please enter a date.")
    if definition.type == FieldType.DATETIME:
        return gettext("Please enter a date and time.")
    if definition.type == FieldType.SELECT:
        return gettext("Please choose one of the options.")
    return gettext("Please check this value.")


def read(form: Form, data: Mapping[str, str], definitions: Mapping[str, Field]) -> Reading:
    """Check a posted form against the form's fields; messages speak the active language."""
    reading = Reading(values={"fields": {}})
    zone = cleaning.workspace_zone(form.workspace)
    for item in form.fields:
        key, required = item["key"], item["required"]
        name = input_name(key)
        raw = data.get(name)
        raw = raw if isinstance(raw, str) else ""
        reading.typed[name] = raw[: NAME_MAX_LENGTH * 50]
        definition = definitions.get(key)
        if key == "email":
            if not raw.strip():
                reading.errors[key] = gettext("Please enter your email address.")
                continue
            try:
                reading.email = cleaning.normalize_email(raw)
            except Unprocessable:
                reading.errors[key] = gettext("Please enter a valid email address.")
            continue
        if key in ("first_name", "last_name"):
            value = raw.strip()
            if "\x00" in value or len(value) > NAME_MAX_LENGTH:
                reading.errors[key] = gettext("At most %(limit)s characters.") % {
                    "limit": NAME_MAX_LENGTH
                }
            elif required and not value:
                reading.errors[key] = gettext("Please fill in this field.")
            elif value:
                reading.values[key] = value
            continue
        if definition is None:  # the field was deleted since the form was saved
            continue
        if definition.type == FieldType.CHECKBOX:
            ticked = bool(raw)
            if required and not ticked:
                reading.errors[key] = gettext("Please tick this box.")
            elif ticked:
                reading.values["fields"][key] = True
            continue
        if not raw.strip():
            if required:
                reading.errors[key] = gettext("Please fill in this field.")
            continue
        try:
            value = contact_fields.clean_field_value(definition, raw, zone=zone)
        except Unprocessable:
            reading.errors[key] = _field_problem(definition)
            continue
        reading.values["fields"][key] = value
    return reading


def definitions_for(form: Form) -> dict[str, Field]:
    keys = [f["key"] for f in form.fields if f["key"] not in services.BUILT_IN_FIELDS]
    if not keys:
        return {}
    return {f.key: f for f in Field.objects.filter(workspace_id=form.workspace_id, key__in=keys)}


@dataclass(frozen=True)
class Result:
    """What the request answers: ``ok``, ``invalid`` (with the reading) or ``limited``."""

    outcome: str
    reading: Reading | None = None


def submit(
    form: Form,
    data: Mapping[str, str],
    *,
    ip: str | None,
    user_agent: str = "",
    now: datetime | None = None,
) -> Result:
    """Take one posted sign-up: honeypot, rate limits, checks, then store it for the worker.

    A filled honeypot gets the answer of a good sign-up and nothing is stored or counted.
    """
    now = now or clock.now()
    if (data.get(services.HONEYPOT) or "").strip():
        log.info("form %s: honeypot filled, sign-up ignored", form.pk)
        return Result("ok")
    definitions = definitions_for(form)
    reading = read(form, data, definitions)
    address = (limits.address_key(ip or "unknown"), limits.per_address())
    # One transaction, so one commit, whatever the answer: an invalid sign-up still counts
    # against its client address, a valid one against the email address too.
    with transaction.atomic():
        if reading.errors:
            if not limits.take([address], now):
                return Result("limited")
            return Result("invalid", reading)
        email = (limits.email_key(form.workspace_id, reading.email), limits.per_email())
        if not limits.take([address, email], now):
            return Result("limited")
        Submission.objects.create(
            workspace_id=form.workspace_id,
            form=form,
            email=reading.email,
            values=reading.values,
            consent_version=form.consent_version,
            ip=_clean_ip(ip),
            user_agent=(user_agent or "")[:USER_AGENT_MAX_LENGTH],
            due_at=now,
            created_at=now,
        )
    return Result("ok", reading)


def _clean_ip(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(ip or ""))
    except ValueError:
        return None


# The worker's part ---------------------------------------------------------------------------


def process_due(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Turn received submissions into contacts and queued DOI emails; returns how many."""
    now = now or clock.now()
    due = Submission.objects.filter(status=SubmissionStatus.RECEIVED, due_at__lte=now)
    # Looked at first without a transaction: on SQLite a transaction takes the one write lock
    # at its start, and this sweep, woken whenever pushes were processed, took it hundreds of
    # times a minute for nothing while web pushes waited behind it.
    if not due.exists():
        return 0
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Submission.objects.filter(pk__in=ids).update(due_at=now + LEASE)
    for pk in ids:
        process(pk, now=now)
    return len(ids)


def process(pk: int, *, now: datetime | None = None) -> None:
    """One submission: the contact, then the DOI email rendered outside the transaction."""
    now = now or clock.now()
    submission = (
        Submission.objects.select_related("form", "form__doi_email", "workspace")
        .filter(pk=pk, status=SubmissionStatus.RECEIVED)
        .first()
    )
    if submission is None:
        return
    form = submission.form
    template = form.doi_email
    with transaction.atomic():
        contact = _contact_for(submission)
        submission.contact = contact
        status = mail.current_status(contact, now)
        finished = None
        if status == EmailStatus.CONFIRMED_DOI:
            _confirm(submission, contact, now, overwrite=False)
            finished = SubmissionStatus.CONFIRMED
        elif status in _REFUSED_STATUSES:
            finished = SubmissionStatus.REFUSED
        elif template is None:
            finished = SubmissionStatus.FAILED
        if finished is not None:
            submission.status = finished
            submission.processed_at = now
            submission.save(update_fields=["contact", "status", "processed_at", "confirmed_at"])
            return
        submission.save(update_fields=["contact"])
    assert template is not None
    template.workspace = submission.workspace
    rendered = mail.render_for_queue(template, contact, now=now)
    with transaction.atomic():
        still = (
            Submission.objects.select_for_update()
            .filter(pk=pk, status=SubmissionStatus.RECEIVED)
            .exists()
        )
        if not still:
            return
        row = mail.queue_email(
            template,
            contact,
            source=f"form {form.pk}",
            now=now,
            rendered=rendered,
            consent=_consent_details(submission),
            ip=submission.ip,
            user_agent=submission.user_agent,
        )
        Submission.objects.filter(pk=pk).update(
            status=(
                SubmissionStatus.REQUESTED
                if row.status == OutboxStatus.QUEUED
                else SubmissionStatus.FAILED
            ),
            outbox=row,
            processed_at=now,
        )


def _consent_details(submission: Submission) -> dict[str, Any]:
    text = (
        ConsentVersion.objects.filter(
            form_id=submission.form_id, version=submission.consent_version
        )
        .values_list("text", flat=True)
        .first()
    )
    return {
        "form_id": submission.form_id,
        "form_consent_version": submission.consent_version,
        "form_consent_sha256": services.consent_sha256(text or ""),
        "submitted_at": submission.created_at.isoformat(),
    }


def _values(submission: Submission) -> tuple[dict[str, str], dict[str, Any]]:
    """The names and the field values of a submission whose fields still exist."""
    values = submission.values or {}
    names = {k: values[k] for k in ("first_name", "last_name") if values.get(k)}
    fields = dict(values.get("fields") or {})
    if fields:
        existing = set(
            Field.objects.filter(
                workspace_id=submission.workspace_id, key__in=list(fields)
            ).values_list("key", flat=True)
        )
        fields = {k: v for k, v in fields.items() if k in existing}
    return names, fields


def _source(submission: Submission) -> str:
    return f"form {submission.form_id}"


def _contact_for(submission: Submission) -> Contact:
    workspace = submission.workspace
    contact = contacts.find_contact(workspace, submission.email)
    if contact is None:
        names, fields = _values(submission)
        try:
            with transaction.atomic():
                return contacts.create_contact(
                    workspace,
                    email=submission.email,
                    first_name=names.get("first_name", ""),
                    last_name=names.get("last_name", ""),
                    fields=fields,
                    source=_source(submission),
                )
        except (Conflict, Unprocessable):
            # Created meanwhile by another sign-up, or a field changed its type since.
            contact = contacts.find_contact(workspace, submission.email)
            if contact is None:
                contact = contacts.create_contact(
                    workspace, email=submission.email, source=_source(submission)
                )
            return contact
    _apply(submission, contact, overwrite=False)
    return contact


def _apply(submission: Submission, contact: Contact, *, overwrite: bool) -> None:
    """Write what the person typed; without ``overwrite`` only into empty names and fields."""
    names, fields = _values(submission)
    if not overwrite:
        names = {k: v for k, v in names.items() if not getattr(contact, k)}
        current = contact.fields or {}
        fields = {k: v for k, v in fields.items() if current.get(k) in (None, "")}
    changes: dict[str, Any] = dict(names)
    if fields:
        changes["fields"] = fields
    if not changes:
        return
    try:
        with transaction.atomic():
            contacts.update_contact(contact, source=_source(submission), **changes)
    except Unprocessable as exc:
        # A field's type changed since the sign-up: the sign-up itself still counts.
        log.info("form submission %s: values not applied: %s", submission.pk, exc.english)


def _confirm(submission: Submission, contact: Contact, now: datetime, *, overwrite: bool) -> None:
    """The person stands behind the sign-up: values, the form's tags, ``form.submitted``."""
    form = submission.form
    _apply(submission, contact, overwrite=overwrite)
    if form.tags:
        contact_tags.add_tags(contact, form.tags, source=_source(submission))
    engine.fire(
        submission.workspace,
        FORM_SUBMITTED,
        contact,
        match=lambda config: getattr(config, "form_id", None) == form.pk,
        context={"source": "form", "form_id": form.pk, "submission_id": submission.pk},
        now=now,
    )
    submission.status = SubmissionStatus.CONFIRMED
    submission.confirmed_at = now


def on_doi_link_confirmed(sender: Any, outbox: Outbox, contact: Contact, **kwargs: Any) -> None:
    """The DOI email of a sign-up was confirmed: apply the sign-up (once)."""
    submission = (
        Submission.objects.select_for_update(of=("self",))
        .select_related("form", "workspace")
        .filter(outbox=outbox, status=SubmissionStatus.REQUESTED)
        .first()
    )
    if submission is None:
        return
    now = clock.now()
    contact.workspace = submission.workspace
    _confirm(submission, contact, now, overwrite=True)
    submission.save(update_fields=["status", "confirmed_at"])


def connect() -> None:
    mail_signals.doi_link_confirmed.connect(
        on_doi_link_confirmed, dispatch_uid="forms.doi_link_confirmed"
    )
