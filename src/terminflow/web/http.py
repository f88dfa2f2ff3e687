"""Rendering pages and htmx fragments with the layout's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from terminflow.kit.errors import TerminflowError


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


def act_and_return(
    request: HttpRequest, action: Callable[[], object], success: str, to: str
) -> HttpResponse:
    """Runs a list page's button action; its refusal becomes the page's error message."""
    try:
        action()
        messages.success(request, success)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    return redirect(to)
