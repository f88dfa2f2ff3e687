"""Processing: pending inbox rows → appointment registry → matching eTermin elements → enrollments.

A batch is read and parsed first, then everything that needs eTermin's API (newsletter flags,
calendar ids missing from a push) is looked up *outside* the database transaction, so a slow
eTermin never holds the write lock that ingest needs. Then one transaction applies the batch:
first together (the contacts, appointments, enrollments, notes and fields of all its rows with a
few statements each), and if anything goes wrong there, row by row with one savepoint per row,
so a row that fails is marked ``failed`` with its reason and the others commit.

Processing a row twice changes nothing: the row's status is checked under the transaction, the
engine lets a contact pass an element once per rotation, and notes carry a source key.

Applied together are the first row of each appointment and of each contact; the batch's later
rows of the same appointment or contact follow row by row, so each appointment's pushes are still
applied in inbox order. Everything the batch shares is read once (appointments, field
definitions, the fields waits count from) and the inbox rows' outcomes are written with one
statement per outcome at the end (``bench/process.py`` measures it).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from terminflow.campaigns import engine
from terminflow.campaigns.elements import stop_waits_for_deleted_appointment
from terminflow.campaigns.models import Element, Enrollment
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import notes as contact_notes
from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact, FieldType
from terminflow.contacts.models import Field as ContactField
from terminflow.kit import clock
from terminflow.kit.metrics import INBOX_BATCH_SECONDS, INBOX_LAG_SECONDS, INBOX_PROCESSED
from terminflow.kit.reasons import Reason
from terminflow.workspaces.models import Workspace

from .client import EterminError, client_for
from .elements import ELEMENT_TYPE, EVENT_BY_COMMAND, AppointmentTriggerConfig
from .models import Appointment, AppointmentStatus, EterminAccount, WebPush, WebPushStatus
from .pushes import AppointmentEvent, UnreadablePush, parse_push
from .services import list_calendars

log = logging.getLogger("terminflow.etermin.processing")

BATCH_SIZE = 200
# How long a worker's lease on the inbox rows it read lasts (PostgreSQL, several workers).
LEASE = timedelta(seconds=settings.WORKER_LEASE_SECONDS)
# A failed eTermin lookup is retried rather than guessed; after the last delay the row fails.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# eTermin sends no sequence number; within one appointment a command never goes back in rank.
COMMAND_RANK = {"": -1, "CREATED": 0, "MODIFIED": 1, "DELETED": 2}

# The reasons stored on inbox rows (English; shown translated through kit.reasons).
GAVE_UP = Reason("gave_up", "%(error)s (gave up after %(tries)s tries)")
TRYING_AGAIN = Reason("retrying", "%(error)s; trying again at %(at)s")
PROCESSING_ERROR = Reason("processing_error", "processing error: %(error)s")
ALREADY_DELETED = Reason("already_deleted", "the appointment was already deleted")
OLDER_THAN_DELETION = Reason(
    "older_than_deletion",
    "the appointment was deleted in eTermin; this older push arrived after the deletion",
)
NO_ELEMENT = Reason("no_element", "no active campaign has an eTermin element")
NO_CALENDAR = Reason("no_calendar", "no active eTermin element reacts to this calendar")
NO_EVENT = Reason("no_event", "no active eTermin element reacts to %(event)s appointments")
NEVER_TAKEN_IN = Reason(
    "never_taken_in", "deleted appointment was never taken in by a created or edited element"
)
NO_NEWSLETTER = Reason("no_newsletter", "the customer did not tick the eTermin newsletter checkbox")
NO_EMAIL = Reason("no_email", "no usable email address: %(problem)s")
NOTHING_TO_DO = Reason("nothing_to_do", "nothing to do")
ALREADY_PASSED = Reason(
    "already_passed", "contact already passed element '%(element)s' in this campaign"
)
CALENDAR_LOOKUP = Reason("lookup_failed", "eTermin calendar lookup failed: %(error)s")
NEWSLETTER_LOOKUP = Reason("lookup_failed", "eTermin newsletter lookup failed: %(error)s")


class RetryLater(Exception):
    """A lookup this row needs failed; the row stays pending and is tried again later."""


@dataclass
class Result:
    status: str
    reason: str = ""


@dataclass
class BatchContext:
    """Everything one batch shares: active elements and eTermin lookups, each fetched once."""

    now: datetime
    elements: dict[int, list[tuple[Element, AppointmentTriggerConfig]]] = field(
        default_factory=dict
    )
    newsletter: dict[tuple[int, str], bool] = field(default_factory=dict)
    calendars: dict[int, dict[str, int]] = field(default_factory=dict)
    failed_lookups: dict[tuple[int, str], str] = field(default_factory=dict)
    # Appointments by (account id, uid); ``looked_up`` holds keys known to have no row yet.
    appointments: dict[tuple[int, str], Appointment] = field(default_factory=dict)
    looked_up: set[tuple[int, str]] = field(default_factory=set)
    # Field definitions by workspace and key; None for a key that is no field.
    fields: dict[int, dict[str, ContactField | None]] = field(default_factory=dict)

    def elements_for(self, workspace: Workspace) -> list[tuple[Element, AppointmentTriggerConfig]]:
        if workspace.id not in self.elements:
            self.elements[workspace.id] = [
                (element, config)
                for element, config in engine.active_triggers(workspace, ELEMENT_TYPE)
                if isinstance(config, AppointmentTriggerConfig)
            ]
        return self.elements[workspace.id]

    def load_appointments(self, rows: list[WebPush], events: dict[int, Any]) -> None:
        """Read the batch's appointments in one query (with their contacts)."""
        uids: dict[int, set[str]] = defaultdict(set)
        for row in rows:
            event = events[row.id]
            if isinstance(event, AppointmentEvent):
                uids[row.account_id].add(event.uid)
        if not uids:
            return
        query = Q()
        for account_id, account_uids in uids.items():
            query |= Q(account_id=account_id, uid__in=account_uids)
        for appointment in Appointment.objects.filter(query).select_related("contact"):
            self.appointments[(appointment.account_id, appointment.uid)] = appointment
        self.looked_up.update((a, u) for a, account_uids in uids.items() for u in account_uids)

    def appointment(self, row: WebPush, uid: str) -> Appointment:
        """The appointment of the push, an unsaved new one when there is no row yet."""
        key = (row.account_id, uid)
        appointment = self.appointments.get(key)
        if appointment is None:
            if key not in self.looked_up:
                appointment = (
                    Appointment.objects.filter(account_id=row.account_id, uid=uid)
                    .select_related("contact")
                    .first()
                )
            if appointment is None:
                appointment = Appointment(
                    workspace_id=row.workspace_id, account=row.account, uid=uid
                )
            self.appointments[key] = appointment
        return appointment

    def forget_appointment(self, row: WebPush, uid: str) -> None:
        """After a row's savepoint rolled back, the object in memory may be ahead of the row."""
        self.appointments.pop((row.account_id, uid), None)
        self.looked_up.discard((row.account_id, uid))

    def fields_of(self, workspace_id: int, keys: set[str]) -> dict[str, ContactField]:
        """The workspace's field definitions among ``keys``, each read once per batch."""
        known = self.fields.setdefault(workspace_id, {})
        missing = keys - known.keys()
        if missing:
            known.update(
                (definition.key, definition)
                for definition in ContactField.objects.filter(
                    workspace_id=workspace_id, key__in=missing
                )
            )
            # Keys that are not fields are remembered too, so they are not asked for again.
            known.update({key: None for key in missing - known.keys()})
        return {key: definition for key in keys if (definition := known[key]) is not None}


def process_pending(*, limit: int = BATCH_SIZE, now: datetime | None = None) -> int:
    """Process up to ``limit`` pending inbox rows, oldest first; returns how many were handled."""
    now = now or clock.now()
    started = time.perf_counter()
    rows = _pending_rows(now, limit)
    if not rows:
        return 0
    ids = [row.id for row in rows]
    context = BatchContext(now=now)
    events: dict[int, AppointmentEvent | UnreadablePush] = {}
    for row in rows:
        try:
            events[row.id] = parse_push(
                bytes(row.body), row.content_type, timezone=row.account.timezone
            )
        except UnreadablePush as exc:
            events[row.id] = exc
    _prefetch_lookups(rows, events, context)

    # The batch changes no campaign, so which fields waits count from is read once for it.
    with transaction.atomic(), engine.retime_scope():
        locked = WebPush.objects.filter(id__in=ids, status=WebPushStatus.PENDING).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            locked = locked.select_for_update(skip_locked=True, of=("self",))
        by_id = {row.id: row for row in rows}
        batch = [by_id[row_id] for row_id in locked.values_list("id", flat=True)]
        context.load_appointments(batch, events)
        outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
        done, rest = _process_together(batch, events, context)
        for row in batch:
            if row.id in done:
                result = done[row.id]
                row.attempts += 1
                row.status, row.reason, row.processed_at = result.status, result.reason, now
                outcomes[(result.status, result.reason)].append(row.id)
        for row in rest:
            outcome = _process_row(row, events[row.id], context)
            if outcome is not None:
                outcomes[(outcome.status, outcome.reason)].append(row.id)
        # One statement per outcome: most rows of a batch end the same way.
        for (status, reason), row_ids in outcomes.items():
            WebPush.objects.filter(id__in=row_ids).update(
                status=status,
                reason=reason,
                processed_at=context.now,
                attempts=F("attempts") + 1,
                claimed_until=None,
            )
    _observe(batch, outcomes, by_id, started)
    return len(batch)


def _observe(
    batch: list[WebPush],
    outcomes: dict[tuple[str, str], list[int]],
    by_id: dict[int, WebPush],
    started: float,
) -> None:
    """After the commit: the batch's metrics, and a line per push for following it by request id."""
    finished = clock.now()
    INBOX_BATCH_SECONDS.observe(time.perf_counter() - started)
    for row in batch:
        INBOX_LAG_SECONDS.observe(max(0.0, (finished - row.received_at).total_seconds()))
    debug = log.isEnabledFor(logging.DEBUG)
    for (status, reason), row_ids in outcomes.items():
        INBOX_PROCESSED.labels(status).inc(len(row_ids))
        if status != WebPushStatus.FAILED and not debug:
            continue
        for row_id in row_ids:
            log.log(
                logging.WARNING if status == WebPushStatus.FAILED else logging.DEBUG,
                "web push %s %s%s",
                row_id,
                status,
                f": {reason}" if reason else "",
                extra={
                    "request_id": by_id[row_id].request_id,
                    "inbox_id": row_id,
                    "status": status,
                },
            )


def _pending_rows(now: datetime, limit: int) -> list[WebPush]:
    """The oldest pending rows that are due, up to ``limit``, with their account and workspace.

    With several workers (PostgreSQL) each leases the rows it read, so the next worker reads
    the next rows instead of the same ones, only to find them locked and wait idle. A killed
    worker's lease lapses after ``LEASE``. On SQLite writers take turns anyway, and a lease
    would cost every batch one more hold of the write lock that ingest needs; there the rows
    are read in one query.
    """
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    pending = WebPush.objects.filter(due, status=WebPushStatus.PENDING).order_by("id")
    with_related = ("account", "workspace__plan")
    if not connection.features.has_select_for_update_skip_locked:
        return list(pending.select_related(*with_related)[:limit])
    with transaction.atomic():
        free = pending.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        ids = list(
            free.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[
                :limit
            ]
        )
        if ids:
            WebPush.objects.filter(id__in=ids).update(claimed_until=now + LEASE)
    if not ids:
        return []
    return list(WebPush.objects.filter(id__in=ids).select_related(*with_related).order_by("id"))


def _process_together(
    rows: list[WebPush], events: dict[int, Any], context: BatchContext
) -> tuple[dict[int, Result], list[WebPush]]:
    """The fast path: apply the batch's rows together, with a few queries for all of them.

    Returns the outcomes by row id and the rows left for the row-by-row path, in inbox order.
    Taken together are the first row of each appointment and of each contact; later rows of
    the same appointment or contact are left, so they are still applied after it, as one at a
    time would. Should anything go wrong, the whole fast path is rolled back and every row is
    left to the row-by-row path, where a bad row fails alone.
    """
    taken: set[tuple[int, str]] = set()
    plans: list[Plan] = []
    rest: list[WebPush] = []
    for row in rows:
        event = events[row.id]
        if not isinstance(event, AppointmentEvent) or (row.account_id, event.uid) in taken:
            rest.append(row)
            continue
        taken.add((row.account_id, event.uid))
        try:
            plans.append(_plan(row, event, context))
        except Exception:
            context.forget_appointment(row, event.uid)
            rest.append(row)
    if not plans:
        return {}, rest
    try:
        with transaction.atomic():
            left = _apply_together(plans, context)
    except Exception:
        log.info("the batch could not be applied together; one row at a time", exc_info=True)
        left = plans
    for plan in left:
        context.forget_appointment(plan.row, plan.event.uid)
    left_ids = {id(plan) for plan in left}
    done: dict[int, Result] = {}
    for plan in plans:
        if id(plan) not in left_ids and plan.result is not None:
            done[plan.row.id] = plan.result
    rest += [plan.row for plan in left]
    rest.sort(key=lambda row: row.id)
    return done, rest


def _apply_together(plans: list[Plan], context: BatchContext) -> list[Plan]:
    """Carry out the plans as ``_apply`` would one by one; returns the plans left over."""
    left: list[Plan] = []
    contact_of: dict[int, Contact] = {}
    booking: dict[int, list[Plan]] = defaultdict(list)
    emails: set[tuple[int, str]] = set()
    for plan in plans:
        if plan.result is not None:
            continue
        appointment, row = plan.appointment, plan.row
        if appointment.contact_id is not None:
            contact = appointment.contact
            assert contact is not None
            contact.workspace = row.workspace
            contact_of[id(plan)] = contact
        elif not plan.reacting or not plan.event.email:
            plan.result = _no_contact(plan)
        elif (row.workspace_id, plan.event.email) in emails:
            left.append(plan)
        else:
            emails.add((row.workspace_id, plan.event.email))
            booking[row.workspace_id].append(plan)
    for group in booking.values():
        found = contacts.contacts_from_bookings(
            group[0].row.workspace, [_booking(plan) for plan in group]
        )
        for plan, (contact, _) in zip(group, found, strict=True):
            plan.appointment.contact = contact
            plan.changed.add("contact")
            contact_of[id(plan)] = contact

    # One plan per contact: the others are left for after it.
    going: list[Plan] = []
    seen: set[int] = set()
    for plan in plans:
        contact = contact_of.get(id(plan))
        if contact is None:
            continue
        if contact.pk in seen:
            left.append(plan)
            continue
        seen.add(contact.pk)
        going.append(plan)

    tentative: set[int] = set()
    new: list[Appointment] = []
    for plan in going:
        if not plan.reacting:
            continue
        if _take_in_tentatively(plan):
            tentative.add(id(plan))
        # The enrollments' context names the appointment, so it needs its id.
        if plan.appointment.pk is None:
            new.append(plan.appointment)
            plan.changed.clear()
        else:
            _save(plan.appointment, plan.changed)
    if new:
        Appointment.objects.bulk_create(new)

    by_element: dict[int, tuple[Element, list[Plan]]] = {}
    for plan in going:
        for element, _ in plan.reacting:
            by_element.setdefault(element.pk, (element, []))[1].append(plan)
    enrollments: dict[tuple[int, int], Enrollment | None] = {}
    for element, group in by_element.values():
        results = engine.enter_many(
            element,
            [(contact_of[id(plan)], _enrollment_context(plan)) for plan in group],
            now=context.now,
        )
        for plan, enrollment in zip(group, results, strict=True):
            enrollments[(id(plan), element.pk)] = enrollment

    entered: dict[int, set[int]] = defaultdict(set)
    notes: list[tuple[Contact, str, str, str | None]] = []
    for plan in going:
        appointment = plan.appointment
        for element, config in plan.reacting:
            if enrollments[(id(plan), element.pk)] is None:
                plan.reasons.append(ALREADY_PASSED(element=element.key))
                continue
            entered[id(plan)].add(element.campaign_id)
            if plan.event.command != "DELETED" and not appointment.taken_in:
                appointment.taken_in = True
                plan.changed.add("taken_in")
            if config.save_notes and appointment.notes:
                notes.append((contact_of[id(plan)], *_note(plan)))
    if notes:
        contact_notes.add_notes(notes)
    updates: dict[int, list[tuple[Contact, dict[str, Any]]]] = defaultdict(list)
    for plan in going:
        contact = contact_of[id(plan)]
        values = _finish_registry(plan, contact, entered[id(plan)], id(plan) in tentative, context)
        if values:
            updates[plan.row.workspace_id].append((contact, values))
        plan.result = _outcome(plan, entered[id(plan)], len(values))
    for workspace_id, items in updates.items():
        keys = {key for _, values in items for key in values}
        engine.expect_field_changes(workspace_id, keys, (contact.pk for contact, _ in items))
        contact_fields.set_fields_many(
            items, source="etermin", definitions=context.fields_of(workspace_id, keys)
        )
    left_ids = {id(plan) for plan in left}
    # New appointments that nothing reacted to (most pushes of a workspace whose campaigns
    # want other events) go in with one INSERT, as the reacting ones did above: one statement
    # per row held SQLite's write lock, which the web push writer waits for, ~1 ms a row.
    unsaved: list[Appointment] = []
    for plan in plans:
        if id(plan) in left_ids:
            continue
        if plan.appointment.pk is None:
            unsaved.append(plan.appointment)
            plan.changed.clear()
        else:
            _save(plan.appointment, plan.changed)
    if unsaved:
        Appointment.objects.bulk_create(unsaved)
    return left


def _booking(plan: Plan) -> dict[str, Any]:
    event, row = plan.event, plan.row
    return {
        "email": event.email,
        "first_name": event.first_name,
        "last_name": event.last_name,
        "phone": event.phone,
        "source": "etermin",
        "details": {
            "account_id": row.account_id,
            "appointment_uid": event.uid,
            "calendar_name": event.calendar_name,
            "calendar_id": event.calendar_id,
        },
    }


def _process_row(
    row: WebPush, event: AppointmentEvent | UnreadablePush, context: BatchContext
) -> Result | None:
    """The row's outcome, for the caller to store; None when it was put off (already stored)."""
    row.attempts += 1
    try:
        try:
            result = _apply_in_savepoint(row, event, context)
        except IntegrityError:
            # Another worker inserted the same appointment meanwhile: read it and apply again.
            assert isinstance(event, AppointmentEvent)
            context.forget_appointment(row, event.uid)
            result = _apply_in_savepoint(row, event, context)
    except RetryLater as exc:
        if row.attempts > len(RETRY_DELAYS):
            result = Result(WebPushStatus.FAILED, GAVE_UP(error=exc, tries=row.attempts))
        else:
            row.next_attempt_at = context.now + RETRY_DELAYS[row.attempts - 1]
            row.reason = TRYING_AGAIN(error=exc, at=row.next_attempt_at.isoformat())
            row.claimed_until = None
            row.save(update_fields=["attempts", "next_attempt_at", "reason", "claimed_until"])
            return None
    except Exception as exc:
        log.exception(
            "web push %s could not be processed", row.id, extra={"request_id": row.request_id}
        )
        result = Result(
            WebPushStatus.FAILED, PROCESSING_ERROR(error=f"{type(exc).__name__}: {exc}")
        )
    row.status = result.status
    row.reason = result.reason
    row.processed_at = context.now
    return result


def _apply_in_savepoint(
    row: WebPush, event: AppointmentEvent | UnreadablePush, context: BatchContext
) -> Result:
    if isinstance(event, UnreadablePush):
        return Result(WebPushStatus.FAILED, str(event))
    try:
        with transaction.atomic():
            return _apply(row, event, context)
    except BaseException:
        context.forget_appointment(row, event.uid)
        raise


def _account_matches(config: AppointmentTriggerConfig, account: EterminAccount) -> bool:
    return config.account_id is None or config.account_id == account.id


def _calendar_matches(config: AppointmentTriggerConfig, calendar_id: int | None) -> bool:
    return config.calendar == "all" or (calendar_id is not None and config.calendar == calendar_id)


def _prefetch_lookups(rows: list[WebPush], events: dict[int, Any], context: BatchContext) -> None:
    """Ask eTermin, before the transaction, for what the batch's pushes leave open."""
    for row in rows:
        event = events[row.id]
        if not isinstance(event, AppointmentEvent):
            continue
        candidates = [
            config
            for _, config in context.elements_for(row.workspace)
            if _account_matches(config, row.account)
        ]
        if not candidates:
            continue
        if (
            event.calendar_id is None
            and any(config.calendar != "all" for config in candidates)
            and row.account_id not in context.calendars
        ):
            try:
                context.calendars[row.account_id] = {
                    calendar.name.strip().lower(): calendar.id
                    for calendar in list_calendars(row.account)
                }
            except EterminError as exc:
                context.failed_lookups[(row.account_id, "calendars")] = exc.english
        event_name = EVENT_BY_COMMAND[event.command]
        needs_newsletter = event.newsletter == "unknown" and any(
            config.newsletter_only and config.event == event_name for config in candidates
        )
        key = (row.account_id, event.email)
        if needs_newsletter and event.email and key not in context.newsletter:
            try:
                with client_for(row.account) as client:
                    found = client.contacts_by_email(event.email)
            except EterminError as exc:
                context.failed_lookups[key] = exc.english
                continue
            context.newsletter[key] = any(contact.newsletter for contact in found)


def _resolve_calendar_id(
    event: AppointmentEvent, appointment: Appointment, context: BatchContext, account_id: int
) -> int | None:
    if event.calendar_id is not None:
        return event.calendar_id
    if appointment.calendar_id:
        return int(appointment.calendar_id)
    names = context.calendars.get(account_id)
    if names is None:
        return None
    return names.get(event.calendar_name.strip().lower())


def _record(appointment: Appointment, event: AppointmentEvent, row: WebPush) -> set[str]:
    """Apply the push to the registry if it is newer than what is there; the fields it changed."""
    newer = (COMMAND_RANK[event.command], row.id) > (
        COMMAND_RANK.get(appointment.last_command, -1),
        appointment.last_push_id,
    )
    if not newer:
        return set()
    # Form pushes leave empty fields out, so only what the push carries overwrites the registry.
    values: dict[str, Any] = {"last_command": event.command, "last_push_id": row.id}
    if event.start is not None:
        values["start"] = event.start
    if event.end is not None:
        values["end"] = event.end
    if event.calendar_id is not None:
        values["calendar_id"] = str(event.calendar_id)
    if event.calendar_name:
        values["calendar_name"] = event.calendar_name
    if event.services:
        values["services"] = event.services
    if event.notes:
        values["notes"] = event.notes
    if event.command == "DELETED":
        values["status"] = AppointmentStatus.DELETED
    changed = set()
    for name, value in values.items():
        if getattr(appointment, name) != value:
            setattr(appointment, name, value)
            changed.add(name)
    return changed


def _save(appointment: Appointment, changed: set[str]) -> None:
    """Write the appointment: all of it when new, else only what changed (nothing if nothing).

    An appointment deleted just now stops the waits tied to it (a reminder for it must not go
    out), in the same transaction as the deletion.
    """
    deleted_now = (
        appointment.pk is not None
        and "status" in changed
        and appointment.status == AppointmentStatus.DELETED
    )
    if appointment.pk is None:
        appointment.save()
    elif changed:
        appointment.save(update_fields=[*changed, "updated_at"])
    changed.clear()
    if deleted_now and appointment.contact_id is not None:
        contact = appointment.contact
        assert contact is not None
        moments = {m.astimezone(UTC) for m in (appointment.start, appointment.end) if m}
        stop_waits_for_deleted_appointment(contact, appointment.pk, moments, clock.now())


@dataclass
class Plan:
    """One push worked out as far as it goes without writing anything."""

    row: WebPush
    event: AppointmentEvent
    appointment: Appointment
    changed: set[str] = field(default_factory=set)
    calendar_id: int | None = None
    candidates: list[tuple[Element, AppointmentTriggerConfig]] = field(default_factory=list)
    reacting: list[tuple[Element, AppointmentTriggerConfig]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # Known already when nothing reacts to the push; the registry is written all the same.
    result: Result | None = None


def _apply(row: WebPush, event: AppointmentEvent, context: BatchContext) -> Result:
    plan = _plan(row, event, context)
    if plan.result is None:
        contact = _contact(row, event, plan.appointment, plan.changed, needed=bool(plan.reacting))
        plan.result = _react(plan, contact, context)
    _save(plan.appointment, plan.changed)
    return plan.result


def _plan(row: WebPush, event: AppointmentEvent, context: BatchContext) -> Plan:
    """What the push does to the registry and which elements react to it; writes nothing."""
    appointment = context.appointment(row, event.uid)
    plan = Plan(row=row, event=event, appointment=appointment)
    if appointment.status == AppointmentStatus.DELETED:
        if event.command == "DELETED":
            plan.result = Result(WebPushStatus.IGNORED, ALREADY_DELETED())
        else:
            plan.result = Result(WebPushStatus.IGNORED, OLDER_THAN_DELETION())
        return plan
    changed = plan.changed = _record(appointment, event, row)
    calendar_id = plan.calendar_id = _resolve_calendar_id(
        event, appointment, context, row.account_id
    )
    if calendar_id is not None and not appointment.calendar_id:
        appointment.calendar_id = str(calendar_id)
        changed.add("calendar_id")

    account = row.account
    candidates = [
        (element, config)
        for element, config in context.elements_for(row.workspace)
        if _account_matches(config, account)
    ]
    if not candidates:
        plan.result = Result(WebPushStatus.IGNORED, NO_ELEMENT())
        return plan
    if calendar_id is None and any(config.calendar != "all" for _, config in candidates):
        failure = context.failed_lookups.get((account.id, "calendars"))
        if failure:
            raise RetryLater(CALENDAR_LOOKUP(error=failure))
    candidates = [(e, c) for e, c in candidates if _calendar_matches(c, calendar_id)]
    if not candidates:
        plan.result = Result(WebPushStatus.IGNORED, NO_CALENDAR())
        return plan
    plan.candidates = candidates

    event_name = EVENT_BY_COMMAND[event.command]
    reacting = [(e, c) for e, c in candidates if c.event == event_name]
    reasons = plan.reasons
    if not reacting:
        reasons.append(NO_EVENT(event=event_name))
    if event.command == "DELETED" and reacting and not appointment.taken_in:
        reacting = []
        reasons.append(NEVER_TAKEN_IN())
    if any(c.newsletter_only for _, c in reacting):
        ticked = _newsletter_ticked(event, account.id, context)
        if not ticked:
            reacting = [(e, c) for e, c in reacting if not c.newsletter_only]
            if not reacting:
                reasons.append(NO_NEWSLETTER())
    plan.reacting = reacting
    return plan


def _no_contact(plan: Plan) -> Result:
    if plan.reacting:
        problem = plan.event.email_problem or "the push carries no email address"
        return Result(WebPushStatus.FAILED, NO_EMAIL(problem=problem))
    return Result(WebPushStatus.IGNORED, "; ".join(plan.reasons) or NOTHING_TO_DO())


def _take_in_tentatively(plan: Plan) -> bool:
    """Nearly every new appointment is taken in: say so in its one INSERT.

    It is put back afterwards in the rare case that no element let the contact in.
    """
    appointment = plan.appointment
    if appointment.pk is None and plan.event.command != "DELETED":
        appointment.taken_in = True
        return True
    return False


def _react(plan: Plan, contact: Contact | None, context: BatchContext) -> Result:
    """Let the push's contact enter the elements that react to it; the row's outcome."""
    if contact is None:
        return _no_contact(plan)
    event, appointment, changed = plan.event, plan.appointment, plan.changed
    reasons = plan.reasons
    tentative = False
    if plan.reacting:
        tentative = _take_in_tentatively(plan)
        # The enrollment's context names the appointment, so it needs its id.
        _save(appointment, changed)
    entered: set[int] = set()
    for element, config in plan.reacting:
        enrollment = engine.enter(
            element, contact, context=_enrollment_context(plan), now=context.now
        )
        if enrollment is None:
            reasons.append(ALREADY_PASSED(element=element.key))
            continue
        entered.add(element.campaign_id)
        if event.command != "DELETED" and not appointment.taken_in:
            appointment.taken_in = True
            changed.add("taken_in")
        if config.save_notes and appointment.notes:
            text, source, source_key = _note(plan)
            contact_notes.add_note(contact, text, source=source, source_key=source_key)
    return _finish(plan, contact, entered, tentative, context)


def _enrollment_context(plan: Plan) -> dict[str, Any]:
    return {"appointment_id": plan.appointment.id, "source": "etermin", "push_id": plan.row.id}


def _note(plan: Plan) -> tuple[str, str, str]:
    """The note an element that saves notes adds: (text, source, source key)."""
    appointment, account = plan.appointment, plan.row.account
    return (
        appointment.notes,
        f"eTermin booking ({appointment.calendar_name or account.name})",
        f"etermin:{account.id}:{appointment.uid}",
    )


def _finish(
    plan: Plan, contact: Contact, entered: set[int], tentative: bool, context: BatchContext
) -> Result:
    """After the elements were entered: the registry's flag, the mapped fields, the outcome."""
    values = _finish_registry(plan, contact, entered, tentative, context)
    if values:
        definitions = context.fields_of(plan.row.workspace_id, set(values))
        contact_fields.set_fields(contact, values, source="etermin", definitions=definitions)
    return _outcome(plan, entered, len(values))


def _finish_registry(
    plan: Plan, contact: Contact, entered: set[int], tentative: bool, context: BatchContext
) -> dict[str, Any]:
    """Put back a tentative ``taken_in``; the field values the appointment maps to, to set."""
    appointment = plan.appointment
    if tentative and not entered:
        appointment.taken_in = False
        plan.changed.add("taken_in")
    if plan.event.command == "DELETED":
        return {}
    return _mapped_values(
        plan.row.workspace, contact, appointment, plan.candidates, entered, context
    )


def _outcome(plan: Plan, entered: set[int], updated: int) -> Result:
    if entered or updated:
        return Result(WebPushStatus.PROCESSED)
    return Result(WebPushStatus.IGNORED, "; ".join(plan.reasons) or NOTHING_TO_DO())


def _newsletter_ticked(event: AppointmentEvent, account_id: int, context: BatchContext) -> bool:
    if event.newsletter != "unknown":
        return event.newsletter == "yes"
    key = (account_id, event.email)
    if key in context.failed_lookups:
        raise RetryLater(NEWSLETTER_LOOKUP(error=context.failed_lookups[key]))
    return context.newsletter.get(key, False)


def _contact(
    row: WebPush,
    event: AppointmentEvent,
    appointment: Appointment,
    changed: set[str],
    *,
    needed: bool,
) -> Contact | None:
    """The appointment's contact; a new one (single opt-in) only when an element reacts."""
    if appointment.contact_id is not None:
        contact = appointment.contact
        assert contact is not None
        contact.workspace = row.workspace
        return contact
    if not needed or not event.email:
        return None
    contact, _ = contacts.contact_from_booking(
        row.workspace,
        email=event.email,
        first_name=event.first_name,
        last_name=event.last_name,
        phone=event.phone,
        source="etermin",
        details={
            "account_id": row.account_id,
            "appointment_uid": event.uid,
            "calendar_name": event.calendar_name,
            "calendar_id": event.calendar_id,
        },
    )
    appointment.contact = contact
    changed.add("contact")
    return contact


def _mapped_values(
    workspace: Workspace,
    contact: Contact,
    appointment: Appointment,
    candidates: list[tuple[Element, AppointmentTriggerConfig]],
    entered: set[int],
    context: BatchContext,
) -> dict[str, Any]:
    """Start and end for the fields of elements whose enrollment is this appointment.

    A MODIFIED push moves the start: the fields follow, and the field-changed signal re-times
    the reminders waiting on them, also in campaigns that only react to *created*. The
    campaigns the contact just ``entered`` with this appointment follow it without asking.
    """
    mapped = [(e, c) for e, c in candidates if c.start_field or c.end_field]
    if not mapped:
        return {}
    following = set(entered)
    others = {e.campaign_id for e, _ in mapped} - following
    if others:
        following.update(
            Enrollment.objects.filter(
                contact=contact,
                campaign_id__in=others,
                context__appointment_id=appointment.id,
            ).values_list("campaign_id", flat=True)
        )
    moments: dict[str, datetime] = {}
    for element, config in mapped:
        if element.campaign_id not in following:
            continue
        if config.start_field and appointment.start is not None:
            moments[config.start_field] = appointment.start
        if config.end_field and appointment.end is not None:
            moments[config.end_field] = appointment.end
    if not moments:
        return {}
    definitions = context.fields_of(workspace.id, set(moments))
    zone = ZoneInfo(workspace.timezone)
    values: dict[str, Any] = {
        # A date field holds the appointment's day as the business sees it, not UTC's.
        key: moment.astimezone(zone).date() if definitions[key].type == FieldType.DATE else moment
        for key, moment in moments.items()
        if key in definitions
    }
    return values
