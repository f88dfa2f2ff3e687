"""Campaign services: saving graphs, status changes, resets, stops, stats and run history.

The only code that writes campaigns, elements and edges; enrollments and runs are written here
and by the engine.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy

from terminflow.contacts.models import Contact
from terminflow.kit import clock, reasons
from terminflow.kit.errors import Conflict, NotFound
from terminflow.workspaces.models import Workspace

from . import registry, validation
from .engine import CAMPAIGN_RESET, CONTACT_STOPPED, ELEMENT_REMOVED, end_enrollment
from .models import (
    Campaign,
    CampaignStatus,
    Edge,
    Element,
    Enrollment,
    EnrollmentStatus,
    Run,
    RunStatus,
)
from .schemas import CampaignIn, EdgeIn, ElementIn
from .validation import GraphWarning, InvalidGraph, validate_graph

# Rows written per statement when a mass action touches many contacts.
CHUNK = 1000


def get_campaign(workspace: Workspace, campaign_id: int) -> Campaign:
    """The workspace's campaign; ``NotFound`` for any other id, another workspace's included."""
    campaign = Campaign.objects.filter(workspace=workspace, pk=campaign_id).first()
    if campaign is None:
        raise NotFound(
            gettext_lazy("Campaign %(campaign_id)s does not exist."), campaign_id=campaign_id
        )
    return campaign


def get_contact(workspace: Workspace, contact_id: int) -> Contact:
    contact = Contact.objects.filter(workspace=workspace, pk=contact_id).first()
    if contact is None:
        raise NotFound(
            gettext_lazy("Contact %(contact_id)s does not exist."), contact_id=contact_id
        )
    return contact


def _with_graph() -> Any:
    return Campaign.objects.prefetch_related("elements", "edges__source", "edges__target")


def campaigns_using_field(workspace: Workspace, key: str) -> list[str]:
    """Names of the workspace's active or paused campaigns with an element that names ``key``.

    Registered with ``contacts.fields`` (``register_field_users``): campaigns in these states
    still run, so a field they read must not be deleted under them.
    """
    elements = Element.objects.filter(
        campaign__workspace=workspace,
        campaign__status__in=(CampaignStatus.ACTIVE, CampaignStatus.PAUSED),
        removed=False,
    ).values_list("campaign__name", "config")
    return sorted({name for name, config in elements if _mentions(config, key)})


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, str):
        return value == key
    if isinstance(value, dict):
        return any(_mentions(v, key) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, key) for v in value)
    return False


def list_campaigns(workspace: Workspace, *, archived: bool = False) -> list[Campaign]:
    """The workspace's campaigns with their graphs loaded: the current ones, or the archived."""
    return list(
        _with_graph().filter(workspace=workspace, archived_at__isnull=not archived).order_by("id")
    )


@transaction.atomic
def archive_campaign(campaign: Campaign) -> Campaign:
    """Take a campaign out of the lists; an active one is paused first, so it reacts to nothing
    and its waiting contacts stay parked (unarchive and activate to go on)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        return campaign
    previous = CampaignStatus(campaign.status)
    if previous == CampaignStatus.ACTIVE:
        campaign.status = CampaignStatus.PAUSED
    campaign.archived_at = clock.now()
    campaign.save(update_fields=["status", "archived_at", "updated_at"])
    _apply_status(campaign, previous, clock.now())
    return campaign


@transaction.atomic
def unarchive_campaign(campaign: Campaign) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        campaign.archived_at = None
        campaign.save(update_fields=["archived_at", "updated_at"])
    return campaign


@transaction.atomic
def delete_campaign(campaign: Campaign) -> None:
    """Delete a campaign no contact ever entered; one with history can only be archived."""
    if Enrollment.objects.filter(campaign=campaign).exists():
        raise Conflict(
            gettext_lazy(
                "The campaign “%(name)s” has contacts with history; archive it instead of "
                "deleting it."
            ),
            name=campaign.name,
            code="campaign_in_use",
        )
    campaign.delete()


def load_campaign(campaign_id: int) -> Campaign:
    """A campaign with its graph loaded (elements and edges in two queries)."""
    return _with_graph().get(pk=campaign_id)


def campaign_graph(campaign: Campaign) -> CampaignIn:
    """The stored graph in the shape the API takes, without elements that left it."""
    elements = [e for e in campaign.elements.all() if not e.removed]
    elements.sort(key=lambda e: e.pk)
    edges = sorted(campaign.edges.all(), key=lambda e: e.pk)
    return CampaignIn(
        name=campaign.name,
        status=campaign.status,  # type: ignore[arg-type]
        elements=[
            ElementIn(id=e.key, type=e.type, config=e.config, position=e.position) for e in elements
        ],
        edges=[
            EdgeIn(source=edge.source.key, target=edge.target.key, branch=edge.branch)
            for edge in edges
        ],
    )


def graph_warnings(campaign: Campaign) -> list[GraphWarning]:
    """The warnings of the stored graph: double opt-in missing, names a path cannot provide."""
    return validation.graph_warnings(campaign.workspace, campaign_graph(campaign))


@transaction.atomic
def save_campaign(
    workspace: Workspace,
    data: CampaignIn,
    campaign: Campaign | None = None,
    *,
    open_references: bool = False,
) -> tuple[Campaign, list[GraphWarning]]:
    """Create or replace a campaign's graph after validating it; returns it with its warnings.

    Raises ``InvalidGraph`` (422, code ``invalid_graph``) listing every problem. Elements that
    leave the graph keep their rows (``removed``), so the runs that passed them stay in the
    history; their pending runs are cancelled. Each save bumps ``version``. Changing ``status``
    here has the same effect as activating or pausing.

    ``open_references`` stores a draft whose references are still to be set (a campaign made
    from a starter before an eTermin account is connected): their problems (code
    ``invalid_reference``) come back first among the warnings instead of refusing the save, and
    activating refuses until they are set.
    """
    if campaign is not None:
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk, workspace=workspace)
    errors, warnings = validate_graph(
        workspace, data, campaign, activating=data.status == CampaignStatus.ACTIVE
    )
    if open_references and data.status == CampaignStatus.DRAFT:
        still_open = [e for e in errors if e.code == "invalid_reference"]
        errors = [e for e in errors if e.code != "invalid_reference"]
        warnings = still_open + warnings
    if errors:
        raise InvalidGraph(errors)
    now = clock.now()
    if campaign is None:
        campaign = Campaign.objects.create(workspace=workspace, name=data.name, status=data.status)
        previous_status = CampaignStatus.DRAFT
    else:
        previous_status = CampaignStatus(campaign.status)
        campaign.name = data.name
        campaign.status = data.status
        campaign.version += 1
        campaign.save(update_fields=["name", "status", "version", "updated_at"])

    existing = {element.key: element for element in campaign.elements.all()}
    keep: dict[str, Element] = {}
    to_create: list[Element] = []
    to_update: list[Element] = []
    for item in data.elements:
        element_type = registry.get(item.type)
        assert element_type is not None  # validated above
        parsed = element_type.config_schema.model_validate(item.config)
        if element_type.complete is not None:
            parsed = element_type.complete(workspace, parsed)
        config = parsed.model_dump(mode="json")
        element = existing.get(item.id)
        if element is None:
            element = Element(campaign=campaign, key=item.id)
            to_create.append(element)
        else:
            to_update.append(element)
        element.type = item.type
        element.kind = element_type.kind
        element.config = config
        element.position = item.position
        element.removed = False
        keep[item.id] = element
    Element.objects.bulk_create(to_create)
    if to_update:
        Element.objects.bulk_update(to_update, ["type", "kind", "config", "position", "removed"])
    gone = [e.pk for key, e in existing.items() if key not in keep and not e.removed]
    if gone:
        Element.objects.filter(pk__in=gone).update(removed=True)

    Edge.objects.filter(campaign=campaign).delete()
    Edge.objects.bulk_create(
        Edge(
            campaign=campaign,
            source=keep[edge.source],
            target=keep[edge.target],
            branch=edge.branch,
        )
        for edge in data.edges
    )

    if gone:
        _cancel_runs(campaign, Q(element_id__in=gone), ELEMENT_REMOVED(), now)
    _apply_status(campaign, previous_status, now)
    return campaign, warnings


@transaction.atomic
def activate_campaign(campaign: Campaign) -> tuple[Campaign, list[GraphWarning]]:
    """Validate the stored graph again and let the campaign react; parked runs move on."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.archived_at is not None:
        raise Conflict(
            gettext_lazy("The campaign is archived; take it out of the archive first."),
            code="campaign_archived",
        )
    errors, warnings = validate_graph(
        campaign.workspace, campaign_graph(campaign), campaign, activating=True
    )
    if errors:
        raise InvalidGraph(errors)
    previous_status = CampaignStatus(campaign.status)
    if previous_status != CampaignStatus.ACTIVE:
        campaign.status = CampaignStatus.ACTIVE
        campaign.save(update_fields=["status", "updated_at"])
        _apply_status(campaign, previous_status, clock.now())
    return campaign, warnings


@transaction.atomic
def pause_campaign(campaign: Campaign) -> Campaign:
    """Stop reacting to triggers and park the pending runs until the campaign is activated."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    previous_status = CampaignStatus(campaign.status)
    if previous_status != CampaignStatus.PAUSED:
        campaign.status = CampaignStatus.PAUSED
        campaign.save(update_fields=["status", "updated_at"])
        _apply_status(campaign, previous_status, clock.now())
    return campaign


def _apply_status(campaign: Campaign, previous: CampaignStatus, now: datetime) -> None:
    pending = Run.objects.filter(campaign=campaign, status=RunStatus.PENDING)
    if campaign.status == CampaignStatus.ACTIVE and previous != CampaignStatus.ACTIVE:
        # A wait whose time came while paused fires now; everything else is due now.
        pending.filter(due_at__isnull=True).update(
            due_at=Coalesce("wait_until", Value(now)), claimed_until=None
        )
    elif campaign.status != CampaignStatus.ACTIVE and previous == CampaignStatus.ACTIVE:
        # Parked runs leave the sweep's index range, so a paused campaign costs it nothing.
        pending.update(due_at=None, claimed_until=None)


def _cancel_runs(campaign: Campaign, which: Q, reason: str, now: datetime) -> None:
    affected = list(
        Run.objects.filter(which, campaign=campaign, status=RunStatus.PENDING)
        .values_list("enrollment_id", flat=True)
        .distinct()
    )
    Run.objects.filter(which, campaign=campaign, status=RunStatus.PENDING).update(
        status=RunStatus.CANCELLED, reason=reason, finished_at=now, claimed_until=None
    )
    for start in range(0, len(affected), CHUNK):
        chunk = affected[start : start + CHUNK]
        still_running = Run.objects.filter(enrollment_id__in=chunk, status=RunStatus.PENDING)
        Enrollment.objects.filter(pk__in=chunk, status=EnrollmentStatus.ACTIVE).exclude(
            pk__in=still_running.values("enrollment_id")
        ).update(status=EnrollmentStatus.COMPLETED, ended_at=now)


def _latest_enrollment(campaign: Campaign, contact: Contact) -> Enrollment | None:
    return (
        Enrollment.objects.select_for_update()
        .filter(campaign=campaign, contact=contact)
        .order_by("-rotation")
        .first()
    )


@transaction.atomic
def reset_contact(
    campaign: Campaign, contact: Contact, *, now: datetime | None = None
) -> Enrollment:
    """Let the contact pass the campaign again: a new rotation, the old one kept as history.

    The current enrollment's pending runs are cancelled; an enrollment still under way ends as
    ``reset``, a finished one keeps its status. The new rotation is ``ready``: the next trigger
    lets the contact in. Resetting a contact that is already ``ready`` changes nothing.
    """
    now = now or clock.now()
    latest = _latest_enrollment(campaign, contact)
    if latest is not None and latest.status == EnrollmentStatus.READY:
        return latest
    rotation = 0
    if latest is not None:
        rotation = latest.rotation + 1
        if latest.status == EnrollmentStatus.ACTIVE:
            end_enrollment(latest, EnrollmentStatus.RESET, now, reason=CAMPAIGN_RESET())
    return Enrollment.objects.create(
        workspace_id=campaign.workspace_id,
        campaign=campaign,
        contact=contact,
        rotation=rotation,
        status=EnrollmentStatus.READY,
    )


@transaction.atomic
def stop_contact(campaign: Campaign, contact: Contact, *, now: datetime | None = None) -> int:
    """End the contact's enrollment and cancel its waiting runs; returns how many.

    A stopped contact is not let in again by any trigger until it is reset. A contact that
    never entered the campaign is left alone.
    """
    now = now or clock.now()
    latest = _latest_enrollment(campaign, contact)
    if latest is None or latest.status == EnrollmentStatus.STOPPED:
        return 0
    return end_enrollment(latest, EnrollmentStatus.STOPPED, now, reason=CONTACT_STOPPED())


@transaction.atomic
def reset_campaign(campaign: Campaign, *, now: datetime | None = None) -> int:
    """Reset every contact of the campaign (the mass action); returns how many were reset."""
    now = now or clock.now()
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    latest = list(
        Enrollment.objects.filter(campaign=campaign)
        .values("contact_id")
        .annotate(rotation=Max("rotation"))
        .order_by("contact_id")
    )
    ready = set(
        Enrollment.objects.filter(campaign=campaign, status=EnrollmentStatus.READY).values_list(
            "contact_id", flat=True
        )
    )
    Run.objects.filter(campaign=campaign, status=RunStatus.PENDING).update(
        status=RunStatus.CANCELLED,
        reason=CAMPAIGN_RESET(),
        finished_at=now,
        claimed_until=None,
    )
    Enrollment.objects.filter(campaign=campaign, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.RESET, ended_at=now
    )
    fresh = [
        Enrollment(
            workspace_id=campaign.workspace_id,
            campaign=campaign,
            contact_id=row["contact_id"],
            rotation=row["rotation"] + 1,
            status=EnrollmentStatus.READY,
        )
        for row in latest
        if row["contact_id"] not in ready
    ]
    Enrollment.objects.bulk_create(fresh, batch_size=CHUNK)
    return len(fresh)


def campaign_stats(campaign: Campaign) -> dict[str, Any]:
    """Runs per element by status (all rotations) and enrollments by status.

    Apps add figures of their own to their elements' rows (``registry.register_element_stats``:
    the mail app's sent, opened, clicked ... on email elements); other rows stay as they are.
    """
    counts: dict[int, dict[str, Any]] = {
        row["element_id"]: dict(row)
        for row in Run.objects.filter(campaign=campaign)
        .values("element_id")
        .annotate(
            entered=Count("id"),
            completed=Count("id", filter=Q(status=RunStatus.COMPLETED)),
            waiting=Count("id", filter=Q(status=RunStatus.PENDING)),
            skipped=Count("id", filter=Q(status=RunStatus.SKIPPED)),
            failed=Count("id", filter=Q(status=RunStatus.FAILED)),
            cancelled=Count("id", filter=Q(status=RunStatus.CANCELLED)),
        )
        .order_by()
    }
    names = ("entered", "completed", "waiting", "skipped", "failed", "cancelled")
    failures = _failure_reasons(campaign)
    added = registry.element_stats(campaign)
    elements = []
    for element in campaign.elements.order_by("id"):
        row = counts.get(element.pk)
        if element.removed and row is None:
            continue
        elements.append(
            {
                "id": element.key,
                "type": element.type,
                "removed": element.removed,
                **{name: (row[name] if row else 0) for name in names},
                "failures": failures.get(element.pk, []),
                **added.get(element.pk, {}),
            }
        )
    by_status = Counter(
        dict(
            Enrollment.objects.filter(campaign=campaign)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    return {
        "campaign_id": campaign.pk,
        "enrollments": {status: by_status.get(status, 0) for status in EnrollmentStatus.values},
        "elements": elements,
    }


# Distinct failure reasons shown per element, the latest first.
FAILURE_REASONS = 3


def _failure_reasons(campaign: Campaign) -> dict[int, list[dict[str, Any]]]:
    """Per element, its failed runs grouped by reason: how many, when last, in the reader's words.

    The builder shows these on each element, so a send that fails for every contact is seen
    where the campaign is edited, not only in a filtered outbox.
    """
    rows = [
        (row["element_id"], row["reason"], row["count"], row["latest_at"])
        for row in Run.objects.filter(campaign=campaign, status=RunStatus.FAILED)
        .values("element_id", "reason")
        .annotate(count=Count("id"), latest_at=Max("finished_at"))
        .order_by()
    ]
    rows += registry.later_failures(campaign)
    # The latest first; a row without a time (never the case for runs) last.
    rows.sort(key=lambda row: (row[3] is None, -(row[3].timestamp() if row[3] else 0)))
    found: dict[int, list[dict[str, Any]]] = {}
    for element_id, reason, count, latest_at in rows:
        listed = found.setdefault(element_id, [])
        if len(listed) < FAILURE_REASONS:
            code, message = reasons.describe(reason)
            listed.append({"reason": message, "code": code, "count": count, "latest_at": latest_at})
    return found


def contact_history(campaign: Campaign, contact: Contact) -> dict[str, Any]:
    """The contact's enrollments and runs in the campaign, every rotation, oldest first."""
    enrollments = list(
        Enrollment.objects.filter(campaign=campaign, contact=contact).order_by("rotation")
    )
    runs = (
        Run.objects.filter(campaign=campaign, contact=contact)
        .select_related("element")
        .order_by("rotation", "id")
    )
    return {
        "campaign_id": campaign.pk,
        "contact_id": contact.pk,
        "enrollments": [
            {
                "campaign_id": e.campaign_id,
                "contact_id": e.contact_id,
                "rotation": e.rotation,
                "status": e.status,
                "context": e.context,
                "created_at": e.created_at,
                "ended_at": e.ended_at,
            }
            for e in enrollments
        ],
        "runs": [
            {
                "element": run.element.key,
                "type": run.element.type,
                "rotation": run.rotation,
                "status": run.status,
                "branch": run.branch,
                "reason": reasons.translate(run.reason),
                "reason_code": reasons.describe(run.reason)[0],
                "attempts": run.attempts,
                "due_at": run.due_at,
                "wait_until": run.wait_until,
                "created_at": run.created_at,
                "finished_at": run.finished_at,
            }
            for run in runs
        ],
    }
