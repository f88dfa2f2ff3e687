"""Campaigns: the list, the builder page (the React Flow island), contacts and their runs."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.campaigns import services as campaigns
from terminflow.campaigns.models import Campaign, Enrollment
from terminflow.campaigns.schemas import CampaignIn
from terminflow.kit.errors import TerminflowError
from terminflow.web.http import act_and_return, render_page
from terminflow.web.permissions import can_edit, workspace_view

CONTACTS_PAGE = 100


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    try:
        return campaigns.get_campaign(request.workspace, campaign_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None


@workspace_view
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The current campaigns; ``?archived=1`` shows the archived ones instead."""
    workspace = request.workspace  # type: ignore[attr-defined]
    archived = request.GET.get("archived") == "1"
    rows = (
        Campaign.objects.filter(workspace=workspace, archived_at__isnull=not archived)
        .annotate(contact_count=Count("enrollments__contact", distinct=True))
        .order_by("-updated_at", "-id")
    )
    return render_page(
        request,
        "web/campaigns.html",
        {"nav": "campaigns", "campaigns": rows, "archived": archived},
    )


@workspace_view
@require_POST
def campaign_archive(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: campaigns.archive_campaign(_campaign(request, campaign_id)),
        _("The campaign was archived."),
        "web:campaigns",
    )


@workspace_view
@require_POST
def campaign_unarchive(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: campaigns.unarchive_campaign(_campaign(request, campaign_id)),
        _("The campaign is back in the list."),
        "web:campaigns",
    )


@workspace_view
@require_POST
def campaign_delete(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: campaigns.delete_campaign(_campaign(request, campaign_id)),
        _("The campaign was deleted."),
        "web:campaigns",
    )


@workspace_view
@require_POST
def campaign_create(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()[:200] or _("New campaign")
    try:
        campaign, _warnings = campaigns.save_campaign(
            request.workspace,  # type: ignore[attr-defined]
            CampaignIn(name=name),
        )
    except TerminflowError as exc:
        messages.error(request, exc.detail)
        return redirect("web:campaigns")
    return redirect("web:campaign_builder", campaign_id=campaign.pk)


@workspace_view
def builder(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    return render_page(
        request,
        "web/builder.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "read_only": not can_edit(request.membership),  # type: ignore[attr-defined]
            "csrf": get_token(request),
            "language": get_language(),
        },
    )


@workspace_view
def campaign_contacts(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The contacts of the campaign with their latest pass, newest first (keyset paged)."""
    campaign = _campaign(request, campaign_id)
    latest = (
        Enrollment.objects.filter(campaign=campaign)
        .values("contact_id")
        .annotate(rotation=Max("rotation"), last_id=Max("id"))
        .order_by("-last_id")
    )
    before = request.GET.get("before")
    if before and before.isdigit():
        latest = latest.filter(last_id__lt=int(before))
    rows = list(latest[: CONTACTS_PAGE + 1])
    more = len(rows) > CONTACTS_PAGE
    rows = rows[:CONTACTS_PAGE]
    enrollments = {
        e.pk: e
        for e in Enrollment.objects.filter(pk__in=[r["last_id"] for r in rows]).select_related(
            "contact"
        )
    }
    return render_page(
        request,
        "web/campaign_contacts.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "enrollments": [enrollments[r["last_id"]] for r in rows if r["last_id"] in enrollments],
            "older": rows[-1]["last_id"] if more else None,
        },
    )


@workspace_view
def campaign_contact_history(
    request: HttpRequest, campaign_id: int, contact_id: int
) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        contact = campaigns.get_contact(request.workspace, contact_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None
    history = campaigns.contact_history(campaign, contact)
    return render_page(
        request,
        "web/campaign_contact_history.html",
        {"nav": "campaigns", "campaign": campaign, "contact": contact, "history": history},
    )


@workspace_view
@require_POST
def campaign_contact_reset(request: HttpRequest, campaign_id: int, contact_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        contact = campaigns.get_contact(request.workspace, contact_id)  # type: ignore[attr-defined]
        campaigns.reset_contact(campaign, contact)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            _("%(email)s can run through this campaign once more.") % {"email": contact.email},
        )
    return redirect("web:campaign_contact_history", campaign_id=campaign.pk, contact_id=contact_id)


@workspace_view
@require_http_methods(["POST"])
def campaign_reset_all(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    count = campaigns.reset_campaign(campaign)
    messages.success(
        request, _("%(count)s contacts can run through this campaign once more.") % {"count": count}
    )
    return redirect("web:campaign_contacts", campaign_id=campaign.pk)
