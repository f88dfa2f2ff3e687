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

from terminflow.campaigns import registry
from terminflow.campaigns import services as campaigns
from terminflow.campaigns.models import Campaign, CampaignStatus, Enrollment
from terminflow.campaigns.schemas import CampaignIn
from terminflow.etermin.elements import ELEMENT_TYPE as APPOINTMENT_TRIGGER
from terminflow.etermin.models import EterminAccount
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
        {
            "nav": "campaigns",
            "campaigns": rows,
            "archived": archived,
            "starters": registry.starter_campaigns(),
        },
    )


@workspace_view
@require_POST
def campaign_from_starter(request: HttpRequest, key: str) -> HttpResponse:
    """One click on a starter campaign: made as a draft with its emails, opened in the builder."""
    starter = registry.starter_campaign(key)
    if starter is None:
        raise Http404
    try:
        campaign, _warnings = starter.create(
            request.workspace,  # type: ignore[attr-defined]
            request.POST.get("language") or None,
        )
    except TerminflowError as exc:
        messages.error(request, exc.detail)
        return redirect("web:campaigns")
    messages.success(
        request,
        _(
            "The campaign “%(name)s” was created as a draft, with its emails. It reacts to "
            "appointments in all calendars: choose one in its eTermin elements if you like, "
            "then activate it."
        )
        % {"name": campaign.name},
    )
    return redirect("web:campaign_builder", campaign_id=campaign.pk)


def setup_hints(campaign: Campaign) -> list[tuple[str, bool]]:
    """What a draft still needs before it can be activated, said where the user edits it:
    (the sentence, whether the eTermin settings are where to do it).

    The builder reports these only when saving or activating; a campaign made from a starter
    before an eTermin account was connected should say so as soon as it is opened.
    """
    if campaign.status != CampaignStatus.DRAFT:
        return []
    triggers = [
        element
        for element in campaign.elements.filter(type=APPOINTMENT_TRIGGER, removed=False)
        if not (element.config or {}).get("account_id")
    ]
    if not triggers:
        return []
    accounts = EterminAccount.objects.filter(workspace_id=campaign.workspace_id).count()
    if accounts == 0:
        return [(_("Connect an eTermin account first; then this campaign can be activated."), True)]
    if accounts > 1:
        return [
            (
                _(
                    "Choose the eTermin account in each eTermin element: this workspace has "
                    "several."
                ),
                False,
            )
        ]
    return []


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
            "setup_hints": setup_hints(campaign),
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
