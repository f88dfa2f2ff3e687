"""Rendering pages and htmx fragments with the layout's context."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """Render a page (or an htmx fragment) with the navigation context the layout needs."""
    from .permissions import navigation_context

    full = navigation_context(request)
    full.update(context or {})
    return render(request, template, full, status=status)


def htmx_redirect(url: str) -> HttpResponse:
    """Tell htmx to load another page, as a full navigation."""
    response = HttpResponse(status=204)
    response["HX-Redirect"] = url
    return response
