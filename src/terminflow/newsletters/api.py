"""Newsletters API: ``/api/v1/newsletters`` (a marketing email sent once to a segment)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from terminflow.workspaces.api import current_workspace

from . import services
from .models import Newsletter
from .schemas import NewsletterIn, NewsletterOut, StatsOut

router = Router(tags=["Newsletters"])


def _out(newsletter: Newsletter) -> dict[str, Any]:
    return {
        "id": newsletter.pk,
        "name": newsletter.name,
        "email_id": newsletter.email_id,
        "segment_id": newsletter.segment_id,
        "state": newsletter.state,
        "send_at": newsletter.send_at,
        "started_at": newsletter.started_at,
        "finished_at": newsletter.finished_at,
        "cancelled_at": newsletter.cancelled_at,
        "created_at": newsletter.created_at,
        "progress": asdict(services.progress(newsletter)),
    }


@router.get("", response=list[NewsletterOut])
def list_newsletters(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(n) for n in services.list_newsletters(current_workspace(request))]


@router.post("", response={201: NewsletterOut})
def create_newsletter(request: HttpRequest, payload: NewsletterIn) -> Status:
    """A draft; send it with ``POST …/send``. 422 ``invalid_newsletter``, nothing stored."""
    newsletter = services.create_newsletter(current_workspace(request), **payload.dict())
    return Status(201, _out(newsletter))


@router.get("/{newsletter_id}", response=NewsletterOut)
def get_newsletter(request: HttpRequest, newsletter_id: int) -> dict[str, Any]:
    return _out(services.get_newsletter(current_workspace(request), newsletter_id))


@router.post("/{newsletter_id}/send", response=NewsletterOut)
def send_newsletter(request: HttpRequest, newsletter_id: int) -> dict[str, Any]:
    """Now (state ``sending``), or ``scheduled`` for a later ``send_at``. 409 unless a draft."""
    newsletter = services.get_newsletter(current_workspace(request), newsletter_id)
    return _out(services.send(newsletter))


@router.post("/{newsletter_id}/cancel", response=NewsletterOut)
def cancel_newsletter(request: HttpRequest, newsletter_id: int) -> dict[str, Any]:
    """Stops the recipients not yet queued and the emails still queued; 409 once finished."""
    newsletter = services.get_newsletter(current_workspace(request), newsletter_id)
    return _out(services.cancel(newsletter))


@router.get("/{newsletter_id}/stats", response=StatsOut)
def newsletter_stats(request: HttpRequest, newsletter_id: int) -> dict[str, Any]:
    """The keys of an email's statistics, for this newsletter's emails, and skips by reason."""
    return services.stats(services.get_newsletter(current_workspace(request), newsletter_id))
