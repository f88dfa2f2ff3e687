"""Segments API: ``/api/v1/segments`` (saved filters, their counts and members)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from terminflow.contacts.api import contact_out, decode_cursor, encode_cursor
from terminflow.contacts.schemas import ContactPageOut
from terminflow.workspaces.api import current_workspace

from . import services
from .models import Segment
from .schemas import SegmentFilters, SegmentIn, SegmentOut

router = Router(tags=["Segments"])


def _segment_out(segment: Segment, *, count: int | None = None) -> dict[str, Any]:
    return {
        "id": segment.pk,
        "name": segment.name,
        "definition": segment.definition,
        "count": count,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


@router.get("", response=list[SegmentOut])
def list_segments(request: HttpRequest) -> list[dict[str, Any]]:
    """The workspace's segments by name; ``count`` is only in ``GET /segments/{id}``."""
    return [_segment_out(s) for s in services.list_segments(current_workspace(request))]


@router.post("", response={201: SegmentOut})
def create_segment(request: HttpRequest, payload: SegmentIn) -> Status:
    """422 ``invalid_segment`` with one entry per problem in ``errors``; nothing is stored."""
    workspace = current_workspace(request)
    segment = services.create_segment(workspace, name=payload.name, definition=payload.definition)
    return Status(201, _segment_out(segment, count=services.count(segment)))


@router.get("/{segment_id}", response=SegmentOut)
def get_segment(request: HttpRequest, segment_id: int) -> dict[str, Any]:
    """The segment with ``count``, the number of contacts in it now."""
    segment = services.get_segment(current_workspace(request), segment_id)
    return _segment_out(segment, count=services.count(segment))


@router.put("/{segment_id}", response=SegmentOut)
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentIn) -> dict[str, Any]:
    segment = services.get_segment(current_workspace(request), segment_id)
    services.update_segment(segment, name=payload.name, definition=payload.definition)
    return _segment_out(segment, count=services.count(segment))


@router.delete("/{segment_id}", response={204: None})
def delete_segment(request: HttpRequest, segment_id: int) -> Status:
    """409 ``segment_in_use`` while a campaign uses the segment."""
    services.delete_segment(services.get_segment(current_workspace(request), segment_id))
    return Status(204, None)


@router.get("/{segment_id}/contacts", response=ContactPageOut)
def segment_contacts(
    request: HttpRequest, segment_id: int, filters: Query[SegmentFilters]
) -> dict[str, Any]:
    """The members now, newest first, paged like ``GET /api/v1/contacts``."""
    segment = services.get_segment(current_workspace(request), segment_id)
    page = services.page(
        segment,
        limit=filters.limit,
        before_id=decode_cursor(filters.cursor) if filters.cursor else None,
    )
    return {
        "items": [contact_out(c) for c in page.items],
        "next_cursor": encode_cursor(page.next_before_id) if page.next_before_id else None,
    }
