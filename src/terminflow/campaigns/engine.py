"""The campaign engine: contacts enter at triggers, and a sweep moves their runs forward.

Every state is a row. A contact in a campaign is an **enrollment** per rotation (0, then +1 per
reset); each element executed or scheduled for it is a **run**, unique per (element, contact,
rotation) in the database. That unique key is the guard for "one pass per campaign": a run
that cannot be inserted means the contact already passed the element in this rotation.

Life of a run:

- ``enter`` writes the trigger's run as completed and a pending run, due now, for each element
  behind it (``enter_many`` does the same for many contacts with a few statements in all).
- ``advance_due`` (the sweep) claims pending runs whose ``due_at`` has come, lets the types
  that have slow read-only work do it outside any transaction (``prepare``: an email is
  rendered there, so a slow template never holds the write lock), then executes each:
  an **action** calls its handler; a **condition** picks the ``yes`` or ``no`` edge; a **wait**
  computes its due time the first time it is executed (``wait_until``), stays pending until then,
  and completes when executed at or after it. The outcome is recorded on the run, and pending
  runs are created for the elements behind the chosen branch.
- Outcomes: ``completed`` continues on the chosen branch; ``skipped`` from a handler continues
  on ``next``; ``failed`` ends this path; ``retry`` runs again later with backoff until
  ``MAX_ATTEMPTS``. A wait that cannot fire (its field is empty, or its time had passed and
  ``if_past`` says stop) is marked ``skipped`` with the reason and its path ends there.
- When an enrollment has no pending run left it is ``completed``. ``campaign.stop`` (or the API)
  ends it as ``stopped`` and cancels its pending runs; a reset ends it and starts a new rotation
  (``ready``) without touching the history.

Only active campaigns move: runs of a paused or draft campaign keep their place with
``due_at`` cleared ("parked"), and activation puts them back in line (see services).

Claiming: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite the IMMEDIATE transaction
serialises writers. Either way a claim is a lease (``claimed_until``), so the runs of a worker
that died are picked up again once it lapses, and execution re-checks each run under its row
lock, so a run is never executed twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from pydantic import BaseModel, ValidationError

from terminflow.contacts.models import Contact
from terminflow.kit import clock, memo
from terminflow.kit.errors import TerminflowError
from terminflow.kit.metrics import RUN_LATENESS_SECONDS, RUNS_EXECUTED
from terminflow.kit.reasons import Reason

from . import registry
from .models import (
    CampaignStatus,
    Edge,
    Element,
    Enrollment,
    EnrollmentStatus,
    Run,
    RunStatus,
)
from .registry import Outcome, RunContext

log = logging.getLogger("terminflow.campaigns.engine")

# Runs claimed and executed per transaction: small, so the SQLite write lock is never held long
# enough to delay the web push writer noticeably.
BATCH_SIZE = 100
# A claim older than this is taken to belong to a worker that died.
LEASE = timedelta(seconds=settings.WORKER_LEASE_SECONDS)
# Claimed runs are prepared (emails rendered) for at most this long before the prepared ones
# are executed; the rest go back in line, so no claim outlives its lease while others render.
PREPARE_WINDOW = min(timedelta(seconds=15), LEASE / 4)
# A run that keeps raising is given up after this many attempts (about 4 hours of backoff).
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)

# A wait type names the config attribute holding its field in ``meta["retimed_by_field"]``; its
# waiting runs are re-timed when that contact field changes.
RETIMED_BY_FIELD = "retimed_by_field"

# The reasons the engine stores on runs (English; shown translated through kit.reasons).
ELEMENT_REMOVED = Reason("element_removed", "the element was removed from the campaign")
ENROLLMENT_ENDED = Reason("enrollment_ended", "the enrollment is %(status)s")
UNKNOWN_BRANCH = Reason("unknown_branch", "the handler chose the unknown branch '%(branch)s'")
GAVE_UP = Reason("gave_up", "gave up after %(attempts)s attempts: %(reason)s")
CAMPAIGN_RESET = Reason("campaign_reset", "the campaign was reset")
CONTACT_STOPPED = Reason("contact_stopped", "the contact was stopped")

_RUN_STATE = [
    "status",
    "due_at",
    "wait_until",
    "branch",
    "reason",
    "attempts",
    "claimed_until",
    "finished_at",
]


# The enrollments that ``end_enrollment`` ended during the batch being executed (None outside
# one): after an action only these need their status read again, not every run's enrollment.
_ended: ContextVar[set[int] | None] = ContextVar("ended_enrollments", default=None)


def _may_have_ended(enrollment_id: int) -> bool:
    ended = _ended.get()
    return ended is None or enrollment_id in ended


# Per (workspace, trigger type), the active triggers; set only inside ``trigger_scope``.
_trigger_cache: ContextVar[dict[tuple[int, str], list[tuple[Element, BaseModel]]] | None] = (
    ContextVar("trigger_cache", default=None)
)


@contextmanager
def trigger_scope() -> Iterator[None]:
    """Within the scope, ``active_triggers`` reads each workspace's triggers of a type once.

    For a sweep batch, whose handlers add tags or confirm contacts many times over but never
    activate or pause a campaign; outside the scope every call reads the database.
    """
    token = _trigger_cache.set({})
    try:
        yield
    finally:
        _trigger_cache.reset(token)


def active_triggers(workspace: Any, type_key: str) -> list[tuple[Element, BaseModel]]:
    """The trigger elements of one type in the workspace's active campaigns, configs parsed.

    An element whose stored config no longer parses (its type's schema changed) is left out and
    logged, rather than failing whatever event is being handled.
    """
    cache = _trigger_cache.get()
    key = (getattr(workspace, "pk", workspace), type_key)
    if cache is not None and key in cache:
        return cache[key]
    found = _active_triggers(workspace, type_key)
    if cache is not None:
        cache[key] = found
    return found


def _active_triggers(workspace: Any, type_key: str) -> list[tuple[Element, BaseModel]]:
    element_type = registry.get(type_key)
    if element_type is None or element_type.kind != "trigger":
        return []
    elements = (
        Element.objects.filter(
            type=type_key,
            removed=False,
            campaign__workspace=workspace,
            campaign__status=CampaignStatus.ACTIVE,
        )
        .select_related("campaign")
        .order_by("campaign_id", "id")
    )
    found: list[tuple[Element, BaseModel]] = []
    for element in elements:
        try:
            config = element_type.config_schema.model_validate(element.config)
        except ValidationError:
            log.warning(
                "element %s of campaign %s has an invalid config", element.key, element.campaign_id
            )
            continue
        found.append((element, config))
    return found


def fire(
    workspace: Any,
    type_key: str,
    contact: Contact,
    *,
    match: Callable[[BaseModel], bool] = lambda config: True,
    context: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[Enrollment]:
    """Let the contact enter every active trigger of ``type_key`` whose config ``match`` accepts.

    Returns the enrollments entered; triggers the contact already passed in its current
    rotation are left out.
    """
    matching = [e for e, config in active_triggers(workspace, type_key) if match(config)]
    entered: list[Enrollment] = []
    if not matching:
        return entered
    with transaction.atomic():
        for element in matching:
            enrollment = enter(element, contact, context=context, now=now)
            if enrollment is not None:
                entered.append(enrollment)
    return entered


def enter(
    element: Element,
    contact: Contact,
    *,
    context: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Enrollment | None:
    """Let ``contact`` enter the campaign at the trigger ``element``; one pass per rotation.

    Returns None, and writes nothing, when the contact already passed this trigger in its
    current rotation, when its enrollment was stopped, or when the element is not a trigger of
    an active campaign. Otherwise gets or creates the enrollment (reopening a completed one, so
    a second trigger of the same campaign can let the contact in within the same rotation),
    merges ``context`` into it, writes the trigger's run as completed and pending runs, due now,
    for the elements behind it. Must be called inside a transaction.
    """
    now = now or clock.now()
    campaign = element.campaign
    if element.removed or element.kind != "trigger" or campaign.status != CampaignStatus.ACTIVE:
        return None
    for _ in range(2):
        latest = (
            Enrollment.objects.filter(campaign_id=campaign.pk, contact_id=contact.pk)
            .order_by("-rotation")
            .first()
        )
        if latest is not None and latest.status == EnrollmentStatus.STOPPED:
            return None
        created = latest is None
        try:
            with transaction.atomic():
                if latest is None:
                    latest = Enrollment.objects.create(
                        workspace_id=campaign.workspace_id,
                        campaign=campaign,
                        contact=contact,
                        rotation=0,
                        context=dict(context or {}),
                    )
                Run.objects.create(
                    workspace_id=campaign.workspace_id,
                    campaign=campaign,
                    enrollment=latest,
                    element=element,
                    contact=contact,
                    rotation=latest.rotation,
                    status=RunStatus.COMPLETED,
                    branch="next",
                    due_at=now,
                    attempts=1,
                    finished_at=now,
                )
        except IntegrityError:
            if created:
                # Another worker let the same contact in at this moment: look again.
                continue
            return None
        break
    else:
        return None

    assert latest is not None
    if not created:
        changed: list[str] = []
        if latest.status != EnrollmentStatus.ACTIVE:
            latest.status = EnrollmentStatus.ACTIVE
            latest.ended_at = None
            changed += ["status", "ended_at"]
        if context:
            latest.context = {**(latest.context or {}), **context}
            changed.append("context")
        if changed:
            latest.save(update_fields=changed)
    # Kept on the instance: a caller that holds its elements for a batch of events (the eTermin
    # processing does) reads the edges once per batch instead of once per contact.
    targets = element.__dict__.get("_next_targets")
    if targets is None:
        targets = _targets_of([element.pk]).get((element.pk, "next"), [])
        element.__dict__["_next_targets"] = targets
    _schedule(latest, targets, now)
    if not created or not targets:
        _complete_if_done(latest, now)
    return latest


def enter_many(
    element: Element,
    items: list[tuple[Contact, dict[str, Any] | None]],
    *,
    now: datetime | None = None,
) -> list[Enrollment | None]:
    """``enter`` for many (contact, context) at the same trigger; the result of each, in order.

    The same rules as calling ``enter`` for each item in turn (an item whose contact appeared
    earlier in ``items`` sees that earlier entry), with a handful of queries for the whole
    list instead of a handful per contact. Must be called inside a transaction.
    """
    now = now or clock.now()
    campaign = element.campaign
    if (
        not items
        or element.removed
        or element.kind != "trigger"
        or campaign.status != CampaignStatus.ACTIVE
    ):
        return [None] * len(items)
    results: list[Enrollment | None] = [None] * len(items)
    # Waves of distinct contacts: a contact's second item goes in after its first.
    pending = list(range(len(items)))
    while pending:
        seen: set[int] = set()
        wave: list[int] = []
        later: list[int] = []
        for index in pending:
            contact_id = items[index][0].pk
            (later if contact_id in seen else wave).append(index)
            seen.add(contact_id)
        entered = _enter_distinct(element, [items[index] for index in wave], now)
        for index, enrollment in zip(wave, entered, strict=True):
            results[index] = enrollment
        pending = later
    return results


def _enter_distinct(
    element: Element, items: list[tuple[Contact, dict[str, Any] | None]], now: datetime
) -> list[Enrollment | None]:
    campaign = element.campaign
    contact_ids = [contact.pk for contact, _ in items]
    latest: dict[int, Enrollment] = {}
    for row in Enrollment.objects.filter(
        campaign_id=campaign.pk, contact_id__in=contact_ids
    ).order_by("rotation"):
        latest[row.contact_id] = row
    passed = set(
        Run.objects.filter(element_id=element.pk, contact_id__in=contact_ids).values_list(
            "contact_id", "rotation"
        )
    )
    results: list[Enrollment | None] = []
    created: list[Enrollment] = []
    entering: list[Enrollment] = []
    contexts: list[dict[str, Any] | None] = []
    for contact, context in items:
        enrollment = latest.get(contact.pk)
        if enrollment is None:
            enrollment = Enrollment(
                workspace_id=campaign.workspace_id,
                campaign=campaign,
                contact=contact,
                rotation=0,
                context=dict(context or {}),
            )
            created.append(enrollment)
        elif (
            enrollment.status == EnrollmentStatus.STOPPED
            or (contact.pk, enrollment.rotation) in passed
        ):
            results.append(None)
            continue
        enrollment.contact = contact
        entering.append(enrollment)
        contexts.append(context)
        results.append(enrollment)
    if not entering:
        return results
    try:
        with transaction.atomic():
            Enrollment.objects.bulk_create(created)
            Run.objects.bulk_create(
                [
                    Run(
                        workspace_id=campaign.workspace_id,
                        campaign=campaign,
                        enrollment=enrollment,
                        element=element,
                        contact=enrollment.contact,
                        rotation=enrollment.rotation,
                        status=RunStatus.COMPLETED,
                        branch="next",
                        due_at=now,
                        attempts=1,
                        finished_at=now,
                    )
                    for enrollment in entering
                ]
            )
    except IntegrityError:
        # Another worker let one of the contacts in meanwhile: one at a time, as ``enter``.
        return [enter(element, contact, context=context, now=now) for contact, context in items]
    new = {id(enrollment) for enrollment in created}
    reopened: list[Enrollment] = []
    for enrollment, context in zip(entering, contexts, strict=True):
        if id(enrollment) in new:
            continue
        changed = False
        if enrollment.status != EnrollmentStatus.ACTIVE:
            enrollment.status = EnrollmentStatus.ACTIVE
            enrollment.ended_at = None
            changed = True
        if context:
            enrollment.context = {**(enrollment.context or {}), **context}
            changed = True
        if changed:
            reopened.append(enrollment)
    if reopened:
        Enrollment.objects.bulk_update(reopened, ["status", "ended_at", "context"])
    targets = element.__dict__.get("_next_targets")
    if targets is None:
        targets = _targets_of([element.pk]).get((element.pk, "next"), [])
        element.__dict__["_next_targets"] = targets
    if targets:
        Run.objects.bulk_create(
            [
                Run(
                    workspace_id=enrollment.workspace_id,
                    campaign_id=enrollment.campaign_id,
                    enrollment=enrollment,
                    element_id=element_id,
                    contact_id=enrollment.contact_id,
                    rotation=enrollment.rotation,
                    status=RunStatus.PENDING,
                    due_at=now,
                )
                for enrollment in entering
                for element_id in targets
            ],
            ignore_conflicts=True,
        )
    _complete_all_if_done(
        [e for e in entering if not targets or id(e) not in new],
        now,
    )
    return results


def _complete_all_if_done(enrollments: list[Enrollment], now: datetime) -> None:
    """``_complete_if_done`` for many enrollments, with one read and one update."""
    active = {e.pk: e for e in enrollments if e.status == EnrollmentStatus.ACTIVE}
    if not active:
        return
    busy = set(
        Run.objects.filter(enrollment_id__in=list(active), status=RunStatus.PENDING).values_list(
            "enrollment_id", flat=True
        )
    )
    done = [pk for pk in active if pk not in busy]
    if not done:
        return
    Enrollment.objects.filter(pk__in=done, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.COMPLETED, ended_at=now
    )
    for pk in done:
        active[pk].status = EnrollmentStatus.COMPLETED
        active[pk].ended_at = now


def advance_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweep: execute up to ``limit`` pending runs that are due at ``now``.

    Claims runs in due order in small batches and executes each batch in one transaction; each
    handler runs in a savepoint, so one that raises rolls back only its own work and is retried
    with backoff (an expected ``TerminflowError`` fails the run at once). Runs created along
    the way that are due at once (the next action of a flow) are picked up in the same call.
    Returns how many runs were moved forward.
    """
    now = now or clock.now()
    # A plain read first: an idle sweep then takes no write lock (on SQLite, IMMEDIATE
    # transactions lock at BEGIN, and the web push writer shares that lock).
    if not due_runs(now).exists():
        return 0
    moved = 0
    while moved < limit:
        claimed = _claim(now, min(BATCH_SIZE, limit - moved))
        if not claimed:
            break
        prepared: dict[int, Any] = {}
        ids = [run_id for run_id, _type in claimed]
        later: list[int] = []
        # A batch's runs mostly share their workspaces: their handlers read each workspace's
        # templates and settings once, in the prepare step and the transaction alike.
        with memo.scope():
            if any(_prepares(type_key) for _id, type_key in claimed):
                prepared, later = _prepare(ids, now)
                ids = [run_id for run_id in ids if run_id not in set(later)]
            moved += _execute_batch(ids, now, prepared, release=later)
    return moved


def _prepares(type_key: str) -> bool:
    element_type = registry.get(type_key)
    return element_type is not None and element_type.prepare is not None


def _prepare(ids: list[int], now: datetime) -> tuple[dict[int, Any], list[int]]:
    """Run the ``prepare`` step of claimed runs, outside any transaction, in execution order.

    Returns what each prepared run's type returned, and the runs left for the next round
    because ``PREPARE_WINDOW`` ran out. A prepare that raises is logged and left out: the
    handler then does the work itself, or fails, as it would without a prepare step.
    """
    prepared: dict[int, Any] = {}
    runs = list(
        Run.objects.filter(id__in=ids, status=RunStatus.PENDING, due_at__lte=now)
        .select_related("element", "enrollment", "contact", "workspace", "campaign")
        .order_by("due_at", "id")
    )
    started = time.monotonic()
    for index, run in enumerate(runs):
        if index and time.monotonic() - started > PREPARE_WINDOW.total_seconds():
            return prepared, [r.pk for r in runs[index:]]
        element_type = registry.get(run.element.type)
        if element_type is None or element_type.prepare is None or run.element.removed:
            continue
        try:
            config = element_type.config_schema.model_validate(run.element.config)
        except ValidationError:
            continue
        run.contact.workspace = run.workspace
        run.enrollment.campaign = run.campaign
        context = RunContext(
            run=run, element=run.element, enrollment=run.enrollment, config=config, now=now
        )
        try:
            prepared[run.pk] = element_type.prepare(context)
        except Exception:
            log.exception("preparing run %s (%s) raised", run.pk, run.element.type)
    return prepared, []


def retime_waits(contact: Contact, field_key: str, *, now: datetime | None = None) -> int:
    """Re-time the contact's scheduled waits that count from ``field_key`` after it changed.

    Connected to ``contacts.signals.field_changed``. A wait whose new time has passed fires at
    once or stops, as its ``if_past`` says; an emptied field stops it with the reason. Waits not
    yet reached are left alone: they read the field when the contact gets there. Returns how
    many runs were re-timed or stopped.
    """
    now = now or clock.now()
    types = _retimed_types()
    if not types:
        return 0
    waited = _waited_in_scope(contact.workspace_id, types)
    if waited is not None and field_key not in waited:
        return 0
    known = _waiting.get()
    if known is not None and contact.pk in known.announced and contact.pk not in known.waiting:
        return 0
    changed = 0
    # No savepoint of its own: this either finishes or raises into the caller's transaction.
    with transaction.atomic(savepoint=False):
        runs = _lock(
            Run.objects.filter(
                contact_id=contact.pk,
                status=RunStatus.PENDING,
                wait_until__isnull=False,
                element__type__in=list(types),
                element__removed=False,
            )
        ).select_related("element", "enrollment", "workspace")
        for run in runs:
            element_type = types[run.element.type]
            try:
                config = element_type.config_schema.model_validate(run.element.config)
            except ValidationError:
                continue
            if getattr(config, element_type.meta[RETIMED_BY_FIELD], None) != field_key:
                continue
            run.contact = contact
            assert element_type.wait_due is not None
            due, reason = element_type.wait_due(
                RunContext(
                    run=run, element=run.element, enrollment=run.enrollment, config=config, now=now
                )
            )
            changed += 1
            if due is None:
                _finish(run, RunStatus.SKIPPED, now, reason=reason)
                _complete_if_done(run.enrollment, now)
                continue
            run.wait_until = due
            fields = ["wait_until"]
            if run.due_at is not None:  # a parked run stays parked until its campaign resumes
                run.due_at = due
                run.claimed_until = None
                fields += ["due_at", "claimed_until"]
            run.save(update_fields=fields)
    return changed


# Per workspace, the fields that some wait counts from; set only inside ``retime_scope``.
_waited_fields: ContextVar[dict[int, frozenset[str]] | None] = ContextVar(
    "waited_fields", default=None
)


@contextmanager
def retime_scope() -> Iterator[None]:
    """Within the scope, ``retime_waits`` learns once per workspace which fields waits count from.

    A change of any other field then costs no query. For a batch that sets many contacts'
    fields and changes no campaign meanwhile (the eTermin processing); outside the scope every
    call looks at the contact's waiting runs.
    """
    token = _waited_fields.set({})
    waiting_token = _waiting.set(_Waiting())
    try:
        yield
    finally:
        _waiting.reset(waiting_token)
        _waited_fields.reset(token)


@dataclass
class _Waiting:
    """Within ``retime_scope``: the contacts announced by ``expect_field_changes``, and which
    of them had a scheduled wait when they were announced."""

    announced: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)


_waiting: ContextVar[_Waiting | None] = ContextVar("waiting_contacts", default=None)

# Contact ids per query when announcing (SQLite's limit on variables is far above this).
_ANNOUNCE_CHUNK = 500


def _waited_in_scope(
    workspace_id: int, types: dict[str, registry.ElementType]
) -> frozenset[str] | None:
    """Within ``retime_scope`` the fields the workspace's waits count from, read once; None
    outside one."""
    waited = _waited_fields.get()
    if waited is None:
        return None
    if workspace_id not in waited:
        waited[workspace_id] = _fields_waited_on(workspace_id, types)
    return waited[workspace_id]


def expect_field_changes(
    workspace_id: int, keys: Iterable[str], contact_ids: Iterable[int]
) -> None:
    """Within ``retime_scope``: learn in one query which of these contacts of the workspace have
    a scheduled wait that a change of ``keys`` could re-time, so changes of the others' fields
    cost no query; when no wait counts from ``keys``, it reads nothing more.

    For a batch about to set many contacts' fields (the eTermin processing, where most contacts
    are new or wait for nothing); outside the scope it does nothing. The answer holds while
    the batch itself schedules no wait: the eTermin processing schedules none (the campaign
    sweep does, in batches that announce nothing).
    """
    known = _waiting.get()
    types = _retimed_types()
    if known is None or not types:
        return
    waited = _waited_in_scope(workspace_id, types)
    if not waited or waited.isdisjoint(keys):
        return
    ids = sorted(set(contact_ids) - known.announced)
    for start in range(0, len(ids), _ANNOUNCE_CHUNK):
        chunk = ids[start : start + _ANNOUNCE_CHUNK]
        known.waiting.update(
            Run.objects.filter(
                contact_id__in=chunk,
                status=RunStatus.PENDING,
                wait_until__isnull=False,
                element__type__in=list(types),
                element__removed=False,
            ).values_list("contact_id", flat=True)
        )
        known.announced.update(chunk)


def _retimed_types() -> dict[str, registry.ElementType]:
    return {
        t.key: t
        for t in registry.all_types()
        if t.kind == "wait" and t.wait_due is not None and t.meta.get(RETIMED_BY_FIELD)
    }


def _fields_waited_on(workspace_id: int, types: dict[str, registry.ElementType]) -> frozenset[str]:
    """The fields the workspace's waits count from, in campaigns of any status.

    Paused campaigns count too: their parked runs are re-timed as well.
    """
    keys: set[str] = set()
    elements = Element.objects.filter(
        type__in=list(types), removed=False, campaign__workspace_id=workspace_id
    ).values_list("type", "config")
    for type_key, config in elements:
        element_type = types[type_key]
        try:
            parsed = element_type.config_schema.model_validate(config)
        except ValidationError:
            continue
        key = getattr(parsed, element_type.meta[RETIMED_BY_FIELD], None)
        if isinstance(key, str):
            keys.add(key)
    return frozenset(keys)


# --- claiming and executing ---------------------------------------------------------------


def _lock(queryset: Any) -> Any:
    if connection.features.has_select_for_update:
        return queryset.select_for_update(of=("self",))
    return queryset


def due_runs(now: datetime) -> Any:
    """Pending runs of active campaigns due at ``now`` and not leased, oldest due first.

    Reads the partial index ``run_pending_due`` (pending rows only, by ``due_at``), so the cost
    does not grow with the number of runs waiting for later or long finished.
    """
    return (
        Run.objects.filter(
            status=RunStatus.PENDING,
            due_at__lte=now,
            campaign__status=CampaignStatus.ACTIVE,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .order_by("due_at")
    )


def _claim(now: datetime, size: int) -> list[tuple[int, str]]:
    """Lease up to ``size`` due runs; other workers skip the rows this one has locked.

    Returns (run id, element type) pairs.
    """
    with transaction.atomic():
        due = due_runs(now)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due.values_list("id", "element__type")[:size])
        if claimed:
            Run.objects.filter(id__in=[run_id for run_id, _type in claimed]).update(
                claimed_until=now + LEASE
            )
    return claimed


@dataclass
class _Batch:
    """What the runs of one batch share: the clock, the edges, the enrollments they touched."""

    now: datetime
    targets: dict[tuple[int, str], list[int]]
    # What ``prepare`` returned per run id, made before this batch's transaction.
    prepared: dict[int, Any] = field(default_factory=dict)
    # Checked for completion once at the end of the batch rather than after every run.
    touched: set[int] = field(default_factory=set)


def _execute_batch(
    ids: list[int],
    now: datetime,
    prepared: dict[int, Any] | None = None,
    *,
    release: list[int] | None = None,
) -> int:
    ended_token = _ended.set(set())
    try:
        with transaction.atomic(), trigger_scope(), retime_scope():
            moved = _execute_claimed(ids, now, prepared, release)
    finally:
        _ended.reset(ended_token)
    RUNS_EXECUTED.labels("all").inc(moved)
    return moved


def _execute_claimed(
    ids: list[int], now: datetime, prepared: dict[int, Any] | None, release: list[int] | None
) -> int:
    moved = 0
    if release:
        # Claimed but not prepared in time: back in line, to be claimed afresh.
        Run.objects.filter(id__in=release, status=RunStatus.PENDING).update(claimed_until=None)
    runs = list(
        _lock(Run.objects.filter(id__in=ids, status=RunStatus.PENDING, due_at__lte=now))
        .select_related("element", "enrollment", "contact", "workspace", "campaign")
        .order_by("due_at", "id")
    )
    # One instance per contact, so two runs of the same contact in a batch see each other's
    # changes instead of one saving a stale copy over the other.
    contacts: dict[int, Contact] = {}
    for run in runs:
        run.contact = contacts.setdefault(run.contact_id, run.contact)
        run.contact.workspace = run.workspace
        run.enrollment.campaign = run.campaign
    batch = _Batch(
        now=now,
        targets=_targets_of({run.element_id for run in runs}),
        prepared=prepared or {},
    )
    for run in runs:
        if run.campaign.status != CampaignStatus.ACTIVE:
            Run.objects.filter(pk=run.pk).update(claimed_until=None)
            continue
        if run.due_at is not None:
            RUN_LATENESS_SECONDS.observe(max(0.0, (now - run.due_at).total_seconds()))
        _execute(run, batch)
        moved += 1
    _complete_finished(batch.touched, now)
    return moved


def _call(run: Run, call: Callable[[], Any]) -> tuple[Any, Outcome | None]:
    """Run a handler's code in a savepoint; an exception rolls back only what it wrote.

    Returns (result, None), or (None, the outcome the exception stands for): an expected error
    fails the run, anything else retries it later.
    """
    try:
        with transaction.atomic():
            return call(), None
    except TerminflowError as exc:
        return None, Outcome(status="failed", reason=exc.english)
    except Exception as exc:
        log.exception("run %s (%s) raised; trying again later", run.pk, run.element.type)
        return None, Outcome(status="retry", reason=f"{type(exc).__name__}: {exc}")


def _execute(run: Run, batch: _Batch) -> None:
    element = run.element
    now = batch.now
    if element.removed:
        _finish(run, RunStatus.CANCELLED, now, reason=ELEMENT_REMOVED())
        batch.touched.add(run.enrollment_id)
        return
    if run.enrollment.status != EnrollmentStatus.ACTIVE:
        _finish(
            run, RunStatus.CANCELLED, now, reason=ENROLLMENT_ENDED(status=run.enrollment.status)
        )
        return
    element_type = registry.get(element.type)
    if element_type is None:
        reason = f"unknown element type {element.type!r}"
        _record(run, Outcome(status="failed", reason=reason), batch)
        return
    try:
        config = element_type.config_schema.model_validate(element.config)
    except ValidationError as exc:
        reason = f"invalid config: {exc.errors()[0].get('msg', 'invalid')}"
        _record(run, Outcome(status="failed", reason=reason), batch)
        return
    context = RunContext(
        run=run,
        element=element,
        enrollment=run.enrollment,
        config=config,
        now=now,
        prepared=batch.prepared.get(run.pk),
    )

    if element_type.kind == "wait":
        if run.wait_until is None:
            if element_type.wait_due is None:
                _record(run, Outcome(), batch)
                return
            wait_due = element_type.wait_due
            result, failure = _call(run, lambda: wait_due(context))
            if failure is not None:
                _record(run, failure, batch)
                return
            due, reason = result
            if due is None:
                _finish(run, RunStatus.SKIPPED, now, reason=reason)
                batch.touched.add(run.enrollment_id)
                return
            run.wait_until = due
        if run.wait_until > now:
            run.due_at = run.wait_until
            run.claimed_until = None
            run.save(update_fields=["wait_until", "due_at", "claimed_until"])
            return
        _record(run, Outcome(), batch)
        return

    if element_type.kind == "trigger" or element_type.handler is None:
        _record(run, Outcome(), batch)
        return

    handler = element_type.handler
    outcome, failure = _call(run, lambda: handler(context))
    if failure is not None:
        _record(run, failure, batch, refresh=element_type.kind == "action")
        return
    if outcome.status == "completed" and outcome.branch not in element_type.branches:
        outcome = Outcome(status="failed", reason=UNKNOWN_BRANCH(branch=outcome.branch))
    _record(run, outcome, batch, refresh=element_type.kind == "action")


def _record(run: Run, outcome: Outcome, batch: _Batch, *, refresh: bool = False) -> None:
    """Store a handler's outcome and continue the flow along the branch it chose."""
    now = batch.now
    if outcome.status == "retry":
        attempts = run.attempts + 1
        if attempts < MAX_ATTEMPTS:
            backoff = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
            run.attempts = attempts
            run.due_at = outcome.retry_at or now + backoff
            run.reason = outcome.reason
            run.claimed_until = None
            run.save(update_fields=["attempts", "due_at", "reason", "claimed_until"])
            return
        outcome = Outcome(status="failed", reason=GAVE_UP(attempts=attempts, reason=outcome.reason))
    status = RunStatus(outcome.status)
    branch = outcome.branch if status == RunStatus.COMPLETED else "next"
    _finish(
        run, status, now, reason=outcome.reason, branch=branch if status != RunStatus.FAILED else ""
    )
    enrollment = run.enrollment
    if refresh and _may_have_ended(enrollment.pk):
        # An action may have ended its own enrollment (campaign.stop, campaign.reset).
        enrollment.status = (
            Enrollment.objects.filter(pk=enrollment.pk).values_list("status", flat=True).get()
        )
    if (
        status in (RunStatus.COMPLETED, RunStatus.SKIPPED)
        and enrollment.status == EnrollmentStatus.ACTIVE
    ):
        _schedule(enrollment, batch.targets.get((run.element_id, branch), []), now)
    batch.touched.add(enrollment.pk)


def _finish(run: Run, status: str, now: datetime, *, reason: str = "", branch: str = "") -> None:
    run.status = status
    run.reason = reason
    run.branch = branch
    run.attempts += 1
    run.finished_at = now
    run.claimed_until = None
    run.save(update_fields=_RUN_STATE)


def _targets_of(element_ids: Any) -> dict[tuple[int, str], list[int]]:
    """The elements behind each (element, branch), leaving out removed ones."""
    targets: dict[tuple[int, str], list[int]] = defaultdict(list)
    rows = Edge.objects.filter(source_id__in=list(element_ids), target__removed=False).values_list(
        "source_id", "branch", "target_id"
    )
    for source_id, branch, target_id in rows.order_by("id"):
        targets[(source_id, branch)].append(target_id)
    return targets


def _schedule(enrollment: Enrollment, element_ids: list[int], now: datetime) -> None:
    """Pending runs due now for the given elements; ones the contact already passed are kept."""
    if not element_ids:
        return
    Run.objects.bulk_create(
        [
            Run(
                workspace_id=enrollment.workspace_id,
                campaign_id=enrollment.campaign_id,
                enrollment=enrollment,
                element_id=element_id,
                contact_id=enrollment.contact_id,
                rotation=enrollment.rotation,
                status=RunStatus.PENDING,
                due_at=now,
            )
            for element_id in element_ids
        ],
        ignore_conflicts=True,
    )


def _complete_if_done(enrollment: Enrollment, now: datetime) -> bool:
    """Mark an active enrollment completed once none of its runs is pending."""
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return False
    if Run.objects.filter(enrollment_id=enrollment.pk, status=RunStatus.PENDING).exists():
        return False
    updated = Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.COMPLETED, ended_at=now
    )
    if updated:
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.ended_at = now
    return bool(updated)


def _complete_finished(enrollment_ids: set[int], now: datetime) -> int:
    """Mark the given active enrollments completed where none of their runs is pending."""
    if not enrollment_ids:
        return 0
    pending = Run.objects.filter(enrollment_id=OuterRef("pk"), status=RunStatus.PENDING)
    return (
        Enrollment.objects.filter(pk__in=enrollment_ids, status=EnrollmentStatus.ACTIVE)
        .exclude(Exists(pending))
        .update(status=EnrollmentStatus.COMPLETED, ended_at=now)
    )


def stop_pending(run: Run, reason: str, now: datetime) -> None:
    """Stop one pending run for good (cancelled, with the reason); its flow goes no further."""
    _finish(run, RunStatus.CANCELLED, now, reason=reason)
    _complete_if_done(run.enrollment, now)


def end_enrollment(enrollment: Enrollment, status: str, now: datetime, *, reason: str) -> int:
    """End an enrollment with ``status`` and cancel its pending runs; returns how many."""
    ended = _ended.get()
    if ended is not None:
        ended.add(enrollment.pk)
    cancelled = Run.objects.filter(enrollment_id=enrollment.pk, status=RunStatus.PENDING).update(
        status=RunStatus.CANCELLED, reason=reason, finished_at=now, claimed_until=None
    )
    Enrollment.objects.filter(pk=enrollment.pk).update(status=status, ended_at=now)
    enrollment.status = status
    enrollment.ended_at = now
    return cancelled
