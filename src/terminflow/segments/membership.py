"""The membership sweep behind ``segment.entered``: who entered a segment since the last look.

A segment is tracked while an active campaign has a ``segment.entered`` trigger naming it. Its
members at the last sweep are rows of ``SegmentMember``; each sweep compares them with the
segment now (set-based queries, in batches by contact id) and

- removes the rows of contacts that left,
- adds rows for contacts that entered and lets them in at every active trigger naming the
  segment, in the same transaction, so a crash in between can neither lose nor repeat an entry.

The first sweep of a segment (``tracked_since`` still empty) only records the members: the
contacts already in the segment when the campaign was activated do not start it, only those
entering afterwards. A campaign activated while the segment is already tracked likewise sees
only entries after its activation (to within one sweep). When no active trigger names the
segment any more its rows are dropped, and a later activation starts with a fresh record.

Re-entering: a contact that left and comes back is let in again, and the engine's rule of one
pass per rotation decides whether it runs the campaign a second time (it does not, unless the
campaign was reset for it). Entries are idempotent: the member row and the engine's run are
both unique.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from pydantic import ValidationError

from terminflow.campaigns import engine
from terminflow.campaigns.models import CampaignStatus, Element
from terminflow.contacts.models import Contact
from terminflow.kit import clock
from terminflow.kit.errors import TerminflowError

from . import query
from .definition import parse
from .elements import ENTERED, SegmentConfig
from .models import Segment, SegmentMember

log = logging.getLogger("terminflow.segments")

# Contacts entered (or recorded) per transaction: short write locks on SQLite.
BATCH = 500


def active_triggers() -> dict[int, list[Element]]:
    """Per segment id, the ``segment.entered`` elements of active campaigns that name it."""
    elements = Element.objects.filter(
        type=ENTERED,
        removed=False,
        campaign__status=CampaignStatus.ACTIVE,
        campaign__archived_at__isnull=True,
    ).select_related("campaign", "campaign__workspace")
    found: dict[int, list[Element]] = defaultdict(list)
    for element in elements:
        try:
            config = SegmentConfig.model_validate(element.config)
        except ValidationError:
            log.warning(
                "element %s of campaign %s: invalid config", element.key, element.campaign_id
            )
            continue
        found[config.segment_id].append(element)
    return dict(found)


def sweep(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Bring every tracked segment's members up to date; returns rows added or removed."""
    now = now or clock.now()
    triggers = active_triggers()
    moved = _forget_untracked(set(triggers))
    for segment_id, elements in triggers.items():
        workspace_id = elements[0].campaign.workspace_id
        segment = (
            Segment.objects.select_related("workspace")
            .filter(pk=segment_id, workspace_id=workspace_id)
            .first()
        )
        if segment is None:
            continue
        try:
            moved += sweep_segment(segment, elements, now=now, batch=batch)
        except TerminflowError as exc:
            log.warning("segment %s not swept: %s", segment.pk, exc.english)
    return moved


def _forget_untracked(tracked: set[int]) -> int:
    moved = 0
    for segment in Segment.objects.filter(tracked_since__isnull=False).exclude(pk__in=tracked):
        with transaction.atomic():
            moved += SegmentMember.objects.filter(segment=segment).delete()[0]
            Segment.objects.filter(pk=segment.pk).update(tracked_since=None)
    return moved


def sweep_segment(
    segment: Segment, elements: list[Element], *, now: datetime, batch: int = BATCH
) -> int:
    """One segment: drop the leavers, record the entrants and let them in (see the module)."""
    condition = query.condition(segment.workspace, parse(segment.definition), now=now)
    in_segment = Contact.objects.filter(workspace_id=segment.workspace_id).filter(condition)
    with transaction.atomic():
        moved = (
            SegmentMember.objects.filter(segment=segment)
            .exclude(Exists(in_segment.filter(pk=OuterRef("contact_id"))))
            .delete()[0]
        )
    entrants = in_segment.exclude(
        Exists(SegmentMember.objects.filter(segment=segment, contact_id=OuterRef("pk")))
    )
    after = 0
    while True:
        ids = list(
            entrants.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        moved += _enter(segment, elements, ids, now)
        after = ids[-1]
    Segment.objects.filter(pk=segment.pk, tracked_since__isnull=True).update(tracked_since=now)
    Segment.objects.filter(pk=segment.pk).update(swept_at=now)
    return moved


def _enter(segment: Segment, elements: list[Element], ids: list[int], now: datetime) -> int:
    with transaction.atomic():
        # The row lock makes two workers sweeping the same segment take turns, so each entrant
        # is recorded and let in once.
        locked = Segment.objects.select_for_update().filter(pk=segment.pk).first()
        if locked is None:
            return 0
        known = set(
            SegmentMember.objects.filter(segment=locked, contact_id__in=ids).values_list(
                "contact_id", flat=True
            )
        )
        new = [pk for pk in ids if pk not in known]
        if not new:
            return 0
        SegmentMember.objects.bulk_create(
            [SegmentMember(segment=locked, contact_id=pk, since=now) for pk in new],
            ignore_conflicts=True,
        )
        if locked.tracked_since is None:
            return len(new)  # the first look: recorded, nobody is let in
        contacts = list(Contact.objects.filter(pk__in=new).order_by("pk"))
        context: dict[str, Any] = {"source": "segment", "segment_id": segment.pk}
        for element in elements:
            engine.enter_many(element, [(contact, context) for contact in contacts], now=now)
    return len(new)
