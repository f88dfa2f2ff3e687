"""Campaign API (DESIGN §5): graphs, status changes, stats, run history, resets and stops.

Mounted at the root of ``/api/v1`` because it serves ``/campaigns…`` and ``/elements``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy
from ninja import Router, Status

from terminflow.kit.errors import NotFound
from terminflow.workspaces.api import current_workspace

from . import registry, services
from .models import Campaign
from .schemas import (
    CampaignIn,
    CampaignOut,
    CampaignStatsOut,
    ContactRunsOut,
    ElementTypeOut,
    EnrollmentOut,
    MassResetOut,
    StarterCampaignIn,
    StarterCampaignOut,
    StopOut,
)
from .validation import GraphWarning

router = Router(tags=["Campaigns"])


def _campaign_out(campaign: Campaign, warnings: list[GraphWarning] | None = None) -> dict[str, Any]:
    graph = services.campaign_graph(campaign)
    if warnings is None:
        warnings = services.graph_warnings(campaign)
    kinds = {e.key: e.kind for e in campaign.elements.all()}
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "version": campaign.version,
        "elements": [
            {
                "id": e.id,
                "type": e.type,
                "kind": kinds[e.id],
                "config": e.config,
                "position": e.position,
            }
            for e in graph.elements
        ],
        "edges": [e.model_dump() for e in graph.edges],
        "warnings": [w.as_dict() for w in warnings],
        "archived": campaign.archived_at is not None,
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
    }


def _fresh(campaign: Campaign) -> Campaign:
    return services.load_campaign(campaign.pk)


# Before any /campaigns/{campaign_id} route: django-ninja matches paths in the order
# they were first declared, and "starters" would be read as a campaign id.
@router.get("/campaigns/starters", response=list[StarterCampaignOut])
def list_starter_campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    """The ready-made campaigns a workspace can create in one click."""
    current_workspace(request)
    return [{"key": s.key, "label": str(s.label)} for s in registry.starter_campaigns()]


@router.post("/campaigns/starters/{key}", response={201: CampaignOut})
def create_starter_campaign(
    request: HttpRequest, key: str, payload: StarterCampaignIn | None = None
) -> Status:
    """Create a ready-made campaign as a draft, with the emails and fields it needs.

    ``language`` (de or en) is the language of its name and emails; the workspace's by default.
    What is still to set before activating (an eTermin account to connect) is listed in
    ``warnings`` with the code ``invalid_reference``.
    """
    workspace = current_workspace(request)
    starter = registry.starter_campaign(key)
    if starter is None:
        raise NotFound(
            gettext_lazy("There is no starter campaign “%(key)s”."),
            key=key,
            code="starter_not_found",
        )
    campaign, warnings = starter.create(workspace, payload.language if payload else None)
    return Status(201, _campaign_out(_fresh(campaign), warnings))


@router.get("/campaigns", response=list[CampaignOut])
def list_campaigns(request: HttpRequest, archived: bool = False) -> list[dict[str, Any]]:
    """The current campaigns; ``?archived=true`` lists the archived ones instead."""
    campaigns = services.list_campaigns(current_workspace(request), archived=archived)
    return [_campaign_out(c) for c in campaigns]


@router.post("/campaigns/{campaign_id}/archive", response=CampaignOut)
def archive_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    """Out of the lists; an active campaign is paused first. History is kept."""
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    return _campaign_out(_fresh(services.archive_campaign(campaign)))


@router.post("/campaigns/{campaign_id}/unarchive", response=CampaignOut)
def unarchive_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    return _campaign_out(_fresh(services.unarchive_campaign(campaign)))


@router.delete("/campaigns/{campaign_id}", response={204: None})
def delete_campaign(request: HttpRequest, campaign_id: int) -> Status:
    """Only a campaign no contact entered; 409 ``campaign_in_use`` otherwise (archive it)."""
    services.delete_campaign(services.get_campaign(current_workspace(request), campaign_id))
    return Status(204, None)


@router.post("/campaigns", response={201: CampaignOut})
def create_campaign(request: HttpRequest, data: CampaignIn) -> Status:
    campaign, warnings = services.save_campaign(current_workspace(request), data)
    return Status(201, _campaign_out(_fresh(campaign), warnings))


@router.get("/campaigns/{campaign_id}", response=CampaignOut)
def get_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    workspace = current_workspace(request)
    return _campaign_out(_fresh(services.get_campaign(workspace, campaign_id)))


@router.put("/campaigns/{campaign_id}", response=CampaignOut)
def put_campaign(request: HttpRequest, campaign_id: int, data: CampaignIn) -> dict[str, Any]:
    workspace = current_workspace(request)
    campaign = services.get_campaign(workspace, campaign_id)
    campaign, warnings = services.save_campaign(workspace, data, campaign)
    return _campaign_out(_fresh(campaign), warnings)


@router.post("/campaigns/{campaign_id}/activate", response=CampaignOut)
def activate_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    campaign, warnings = services.activate_campaign(campaign)
    return _campaign_out(_fresh(campaign), warnings)


@router.post("/campaigns/{campaign_id}/pause", response=CampaignOut)
def pause_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    return _campaign_out(_fresh(services.pause_campaign(campaign)))


@router.get("/campaigns/{campaign_id}/stats", response=CampaignStatsOut)
def campaign_stats(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    return services.campaign_stats(campaign)


@router.post("/campaigns/{campaign_id}/reset", response=MassResetOut)
def reset_campaign(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    campaign = services.get_campaign(current_workspace(request), campaign_id)
    return {"campaign_id": campaign.pk, "reset": services.reset_campaign(campaign)}


@router.get("/campaigns/{campaign_id}/contacts/{contact_id}", response=ContactRunsOut)
def contact_runs(request: HttpRequest, campaign_id: int, contact_id: int) -> dict[str, Any]:
    workspace = current_workspace(request)
    campaign = services.get_campaign(workspace, campaign_id)
    contact = services.get_contact(workspace, contact_id)
    return services.contact_history(campaign, contact)


@router.post("/campaigns/{campaign_id}/contacts/{contact_id}/reset", response=EnrollmentOut)
def reset_contact(request: HttpRequest, campaign_id: int, contact_id: int) -> Any:
    workspace = current_workspace(request)
    campaign = services.get_campaign(workspace, campaign_id)
    contact = services.get_contact(workspace, contact_id)
    return services.reset_contact(campaign, contact)


@router.post("/campaigns/{campaign_id}/contacts/{contact_id}/stop", response=StopOut)
def stop_contact(request: HttpRequest, campaign_id: int, contact_id: int) -> dict[str, Any]:
    workspace = current_workspace(request)
    campaign = services.get_campaign(workspace, campaign_id)
    contact = services.get_contact(workspace, contact_id)
    cancelled = services.stop_contact(campaign, contact)
    return {"campaign_id": campaign.pk, "contact_id": contact.pk, "cancelled": cancelled}


@router.get("/elements", response=list[ElementTypeOut])
def element_types(request: HttpRequest) -> list[dict[str, Any]]:
    """Every element type the builder can offer, with the JSON schema of its config."""
    return [
        {
            "key": t.key,
            "kind": t.kind,
            # Labels are msgids: the builder gets them in the language it asked for.
            "label": gettext(t.label),
            "description": gettext(t.description) if t.description else "",
            "branches": list(t.branches),
            "config_schema": t.config_schema.model_json_schema(),
            "marketing": t.marketing,
            "doi": t.doi,
            "meta": t.meta,
        }
        for t in registry.all_types()
    ]
