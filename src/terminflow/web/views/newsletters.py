"""Newsletters: the list, the wizard (email, segment, test email, when), progress and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from terminflow.contacts.cleaning import workspace_zone
from terminflow.contacts.models import EmailStatus
from terminflow.kit import reasons
from terminflow.kit.errors import TerminflowError
from terminflow.mail.models import EmailKind, EmailTemplate
from terminflow.newsletters import services as newsletters
from terminflow.newsletters.models import Newsletter, NewsletterState
from terminflow.segments import services as segments
from terminflow.web.http import act_and_return, render_page
from terminflow.web.permissions import workspace_view


def _newsletter(request: HttpRequest, newsletter_id: int) -> Newsletter:
    try:
        return newsletters.get_newsletter(request.workspace, newsletter_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


@workspace_view
def newsletter_list(request: HttpRequest) -> HttpResponse:
    found = newsletters.list_newsletters(request.workspace)  # type: ignore[attr-defined]
    rows = [(n, newsletters.progress(n)) for n in found]
    return render_page(request, "web/newsletters.html", {"nav": "newsletters", "rows": rows})


def _wizard_context(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    workspace = request.workspace  # type: ignore[attr-defined]
    return {
        "nav": "newsletters",
        "emails": EmailTemplate.objects.filter(
            workspace=workspace, kind=EmailKind.MARKETING, archived_at__isnull=True
        ).order_by("name"),
        "segments": segments.list_segments(workspace),
        "zone": workspace.timezone,
        "data": data,
        "audience": _audience(workspace, _int(data.get("segment_id"))),
    }


def _audience(workspace: Any, segment_id: int | None) -> dict[str, Any] | None:
    """The chosen segment's count, and how many of them would receive the newsletter."""
    if segment_id is None:
        return None
    try:
        segment = segments.get_segment(workspace, segment_id)
        members = segments.members(segment)
        return {
            "count": members.count(),
            "confirmed": members.filter(email_status=EmailStatus.CONFIRMED_DOI).count(),
        }
    except TerminflowError:
        return None


def _send_at(request: HttpRequest) -> datetime | None:
    """The "later" time of the form, a wall time in the workspace's zone; None for "now"."""
    if request.POST.get("when") != "later":
        return None
    text = request.POST.get("send_at", "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("Enter the date and time to send it, or choose “now”.")) from None
    return moment.replace(tzinfo=workspace_zone(request.workspace))  # type: ignore[attr-defined]


@workspace_view
@require_http_methods(["GET", "POST"])
def newsletter_create(request: HttpRequest) -> HttpResponse:
    """The wizard; its one submit creates the newsletter and sends or schedules it."""
    if request.method == "GET":
        return render_page(request, "web/newsletter_new.html", _wizard_context(request, {}))
    data = request.POST.dict()
    try:
        send_at = _send_at(request)
        with transaction.atomic():
            newsletter = newsletters.create_newsletter(
                request.workspace,  # type: ignore[attr-defined]
                name=data.get("name", ""),
                email_id=_int(data.get("email_id")) or 0,
                segment_id=_int(data.get("segment_id")) or 0,
                send_at=send_at,
            )
            newsletters.send(newsletter)
    except (TerminflowError, ValueError) as exc:
        context = _wizard_context(request, data)
        context["error"] = exc.detail if isinstance(exc, TerminflowError) else str(exc)
        return render_page(request, "web/newsletter_new.html", context, status=422)
    if newsletter.state == NewsletterState.SCHEDULED:
        messages.success(request, _("The newsletter is scheduled."))
    else:
        messages.success(request, _("The newsletter is being sent."))
    return redirect("web:newsletter_detail", newsletter_id=newsletter.pk)


@workspace_view
@require_GET
def newsletter_audience(request: HttpRequest) -> HttpResponse:
    """The wizard's segment count (htmx), after a segment was chosen."""
    context = _wizard_context(request, {"segment_id": request.GET.get("segment_id")})
    return render_page(request, "web/_newsletter_audience.html", context)


@workspace_view
@require_POST
def newsletter_test(request: HttpRequest) -> HttpResponse:
    """Send the chosen email once to the user's own address (htmx); stores nothing."""
    try:
        result = newsletters.send_test(
            request.workspace,  # type: ignore[attr-defined]
            email_id=_int(request.POST.get("email_id")) or 0,
            segment_id=_int(request.POST.get("segment_id")),
            to=request.user.email,  # type: ignore[union-attr]
        )
    except TerminflowError as exc:
        return render_page(request, "web/_newsletter_test.html", {"problem": exc.detail})
    return render_page(
        request,
        "web/_newsletter_test.html",
        {"result": result, "problem": reasons.translate(result.problem)},
    )


def _detail_context(newsletter: Newsletter) -> dict[str, Any]:
    finished = newsletter.state in (NewsletterState.SENT, NewsletterState.CANCELLED)
    progress = newsletters.progress(newsletter)
    return {
        "nav": "newsletters",
        "newsletter": newsletter,
        "progress": progress,
        "handed": progress.queued,
        "done": progress.outbox.get("sent", 0)
        + progress.outbox.get("failed", 0)
        + progress.outbox.get("cancelled", 0),
        "polling": newsletter.state in (NewsletterState.SCHEDULED, NewsletterState.SENDING),
        "stats": newsletters.stats(newsletter) if finished or progress.queued else None,
    }


@workspace_view
@require_GET
def newsletter_detail(request: HttpRequest, newsletter_id: int) -> HttpResponse:
    newsletter = _newsletter(request, newsletter_id)
    return render_page(request, "web/newsletter_detail.html", _detail_context(newsletter))


@workspace_view
@require_GET
def newsletter_progress(request: HttpRequest, newsletter_id: int) -> HttpResponse:
    """The progress panel again (htmx polls it while the newsletter is sending)."""
    newsletter = _newsletter(request, newsletter_id)
    return render_page(request, "web/_newsletter_progress.html", _detail_context(newsletter))


@workspace_view
@require_POST
def newsletter_cancel(request: HttpRequest, newsletter_id: int) -> HttpResponse:
    newsletter = _newsletter(request, newsletter_id)
    act_and_return(
        request,
        lambda: newsletters.cancel(newsletter),
        _("The newsletter was cancelled."),
        "web:newsletters",
    )
    return redirect("web:newsletter_detail", newsletter_id=newsletter.pk)
