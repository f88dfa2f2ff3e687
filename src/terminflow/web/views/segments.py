"""Segments: the list with live counts, and the editor with its count and first members."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from terminflow.kit.errors import TerminflowError, Unprocessable
from terminflow.segments import definition as definitions
from terminflow.segments import query
from terminflow.segments import services as segments
from terminflow.segments.models import Segment
from terminflow.web import segment_editor as editor
from terminflow.web.http import act_and_return, render_page
from terminflow.web.permissions import workspace_view

FIRST_MEMBERS = 10


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    try:
        return segments.get_segment(request.workspace, segment_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None


@workspace_view
def segment_list(request: HttpRequest) -> HttpResponse:
    found = segments.list_segments(request.workspace)  # type: ignore[attr-defined]
    return render_page(request, "web/segments.html", {"nav": "segments", "segments": found})


@workspace_view
@require_GET
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The count of one list row, loaded after the page so a slow count delays nothing else."""
    try:
        number = segments.count(_segment(request, segment_id))
    except Unprocessable:
        return HttpResponse("–")
    return HttpResponse(formats.number_format(number, force_grouping=True))


def _preview(workspace: Any, definition: Any) -> dict[str, Any]:
    """The live count and the newest members, or why the definition cannot be counted."""
    try:
        checked = definitions.validate(workspace, definition)
    except Unprocessable as exc:
        problems = [str(e.get("message") or e.get("msg")) for e in exc.extra.get("errors", [])] or [
            exc.detail
        ]
        return {"problems": problems}
    rows = query.members(workspace, checked)
    return {"count": rows.count(), "members": list(rows.order_by("-pk")[:FIRST_MEMBERS])}


def _editor_context(
    request: HttpRequest,
    *,
    segment: Segment | None,
    name: str,
    match: str,
    rows: list[editor.Row],
    definition: Any,
) -> dict[str, Any]:
    workspace = request.workspace  # type: ignore[attr-defined]
    return {
        "nav": "segments",
        "field_by_key": {f.key: f for f in editor.choices(workspace)["fields"]},
        "segment": segment,
        "name": name,
        "match": match,
        "slots": editor.slots(rows),
        "row_count": len(rows),
        "can_add": editor.leaf_count(rows) < definitions.MAX_CONDITIONS,
        "preview": _preview(workspace, definition),
        **editor.choices(workspace),
    }


def _posted(request: HttpRequest) -> tuple[str, list[editor.Row], Any]:
    """(match, rows, definition) from the editor's form."""
    match = request.POST.get("match", "all")
    rows = editor.rows_from_post(request.POST)
    return match, rows, editor.definition_from_rows(match, rows)


@workspace_view
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int | None = None) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    segment = _segment(request, segment_id) if segment_id is not None else None
    if request.method == "POST":
        name = request.POST.get("name", "")
        match, rows, definition = _posted(request)
        try:
            if segment is None:
                segment = segments.create_segment(workspace, name=name, definition=definition)
            else:
                segments.update_segment(segment, name=name, definition=definition)
        except Unprocessable as exc:
            context = _editor_context(
                request,
                segment=segment,
                name=name,
                match=match,
                rows=rows,
                definition=definition,
            )
            context["error"] = exc.detail
            return render_page(request, "web/segment_edit.html", context, status=422)
        messages.success(request, _("The segment was saved."))
        return redirect("web:segment_edit", segment_id=segment.pk)
    stored: dict[str, Any] = (
        segment.definition if segment is not None else {"match": "all", "conditions": []}
    )
    context = _editor_context(
        request,
        segment=segment,
        name=segment.name if segment is not None else "",
        match=str(stored.get("match", "all")),
        rows=editor.rows_from_definition(stored),
        definition=stored,
    )
    return render_page(request, "web/segment_edit.html", context)


@workspace_view
@require_POST
def segment_editor(request: HttpRequest) -> HttpResponse:
    """The rows and the preview again, after a row changed (htmx); stores nothing."""
    match, rows, definition = _posted(request)
    context = _editor_context(
        request,
        segment=None,
        name=request.POST.get("name", ""),
        match=match,
        rows=rows,
        definition=definition,
    )
    return render_page(request, "web/_segment_editor.html", context)


@workspace_view
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment(request, segment_id)
    return act_and_return(
        request,
        lambda: segments.delete_segment(segment),
        _("The segment was deleted."),
        "web:segments",
    )
