"""Segment services: save, read, count and page segments; the only code that writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy

from terminflow.campaigns.models import Element
from terminflow.contacts.models import Contact, ContactTag
from terminflow.contacts.services import ContactPage
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Workspace

from . import definition as definitions
from . import query
from .models import Segment

NAME_MAX_LENGTH = 200
PAGE_MAX = 200
MAX_ID = 2**63 - 1
# The element types that name a segment in their config (``segment_id``).
ELEMENT_TYPES = ("condition.segment", "segment.entered")


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Unprocessable(gettext_lazy("name: must not be empty."), code="invalid_segment")
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise Unprocessable(
            gettext_lazy("name: may have at most %(max)s characters."),
            code="invalid_segment",
            max=NAME_MAX_LENGTH,
        )
    return name


def list_segments(workspace: Workspace) -> list[Segment]:
    return list(Segment.objects.filter(workspace=workspace).order_by("name", "id"))


def get_segment(workspace: Workspace, segment_id: int) -> Segment:
    """The workspace's segment; another workspace's id is ``NotFound`` like a missing one."""
    segment = Segment.objects.filter(workspace=workspace, pk=segment_id).first()
    if segment is None:
        raise NotFound(gettext_lazy("Segment %(id)s does not exist."), id=segment_id)
    return segment


def create_segment(workspace: Workspace, *, name: str, definition: Any) -> Segment:
    """Validate name and definition (422, nothing stored), then store the segment."""
    name = _clean_name(name)
    checked = definitions.validate(workspace, definition)
    return Segment.objects.create(
        workspace=workspace, name=name, definition=checked.model_dump(mode="json")
    )


def update_segment(segment: Segment, *, name: str, definition: Any) -> Segment:
    """Replace name and definition; a campaign using the segment sees the change at once."""
    name = _clean_name(name)
    checked = definitions.validate(segment.workspace, definition)
    segment.name = name
    segment.definition = checked.model_dump(mode="json")
    segment.save(update_fields=["name", "definition", "updated_at"])
    return segment


def campaigns_using(segment: Segment) -> list[str]:
    """Names of the campaigns (not archived) whose elements name the segment."""
    return sorted(
        set(
            Element.objects.filter(
                campaign__workspace_id=segment.workspace_id,
                campaign__archived_at__isnull=True,
                type__in=ELEMENT_TYPES,
                removed=False,
                config__segment_id=segment.pk,
            ).values_list("campaign__name", flat=True)
        )
    )


def delete_segment(segment: Segment) -> None:
    """Delete the segment; 409 ``segment_in_use`` while a campaign uses it."""
    using = campaigns_using(segment)
    if using:
        raise Conflict(
            gettext_lazy("The segment is used by the campaign(s) %(names)s."),
            code="segment_in_use",
            names=", ".join(f"“{name}”" for name in using),
        )
    segment.delete()


def definition_of(segment: Segment) -> definitions.Definition:
    """The stored definition as a model (stored definitions were validated when saved)."""
    return definitions.parse(segment.definition)


def members(segment: Segment, *, now: datetime | None = None) -> Any:
    """The segment's contacts now, as a queryset (one SQL query when evaluated)."""
    return query.members(segment.workspace, definition_of(segment), now=now)


def count(segment: Segment, *, now: datetime | None = None) -> int:
    """How many contacts are in the segment now: one ``SELECT COUNT(*)``."""
    return int(members(segment, now=now).count())


def count_definition(workspace: Workspace, definition: Any, *, now: datetime | None = None) -> int:
    """The count for an unsaved definition (the editor's live count); 422 when it is invalid."""
    checked = definitions.validate(workspace, definition)
    return int(query.members(workspace, checked, now=now).count())


def contains(segment: Segment, contact_id: int, *, now: datetime | None = None) -> bool:
    """Whether the contact is in the segment now: one ``EXISTS`` query."""
    condition = query.condition(segment.workspace, definition_of(segment), now=now, one=True)
    return bool(
        Contact.objects.filter(workspace_id=segment.workspace_id, pk=contact_id)
        .filter(condition)
        .exists()
    )


def page(
    segment: Segment,
    *,
    limit: int = 50,
    before_id: int | None = None,
    now: datetime | None = None,
) -> ContactPage:
    """Members newest first, paged by id (keyset, like ``GET /api/v1/contacts``)."""
    limit = max(1, min(int(limit), PAGE_MAX))
    rows = members(segment, now=now)
    if before_id is not None:
        rows = rows.filter(pk__lt=min(before_id, MAX_ID))
    found = list(
        rows.order_by("-pk").prefetch_related(
            Prefetch("contact_tags", queryset=ContactTag.objects.select_related("tag")),
            "notes",
        )[: limit + 1]
    )
    more = len(found) > limit
    found = found[:limit]
    for contact in found:
        contact.workspace = segment.workspace
    return ContactPage(items=found, next_before_id=found[-1].pk if more else None)


def first_members(segment: Segment, limit: int = 10) -> list[Contact]:
    return list(page(segment, limit=limit).items)
