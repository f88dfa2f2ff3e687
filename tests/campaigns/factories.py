"""Small builders for campaign tests: graphs, campaigns, contacts and what the engine stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from terminflow.campaigns import registry
from terminflow.campaigns.models import Campaign, Element, Enrollment, Run
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import save_campaign
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact, Field
from terminflow.workspaces.models import Workspace
from tests.contacts.factories import DOI_PROOF

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def element(element_id: str, type: str, **config: Any) -> dict[str, Any]:
    return {"id": element_id, "type": type, "config": config, "position": {"x": 0, "y": 0}}


def edge(source: str, target: str, branch: str = "next") -> dict[str, Any]:
    return {"source": source, "target": target, "branch": branch}


def graph(
    elements: list[dict[str, Any]],
    edges: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    name: str = "Reminder",
    status: str = "active",
) -> CampaignIn:
    return CampaignIn.model_validate(
        {"name": name, "status": status, "elements": elements, "edges": list(edges)}
    )


def make_campaign(
    workspace: Workspace,
    elements: list[dict[str, Any]],
    edges: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    name: str = "Reminder",
    status: str = "active",
) -> Campaign:
    campaign, _ = save_campaign(workspace, graph(elements, edges, name=name, status=status))
    return campaign


def make_field(
    workspace: Workspace, key: str, type: str, *, options: list[str] | None = None
) -> Field:
    return contact_fields.create_field(workspace, key=key, type=type, options=options)


def make_contact(
    workspace: Workspace, email: str = "anna.muster@example.ch", **kwargs: Any
) -> Contact:
    if kwargs.get("email_status") == "confirmed_doi":
        kwargs.setdefault("doi_proof", DOI_PROOF)
    return contacts.create_contact(workspace, email=email, **kwargs)


def node(campaign: Campaign, key: str) -> Element:
    return Element.objects.select_related("campaign").get(campaign=campaign, key=key)


def runs(campaign: Campaign, contact: Contact) -> list[tuple[str, int, str]]:
    """(element key, rotation, status) of every run, in the order they were written."""
    return [
        (run.element.key, run.rotation, run.status)
        for run in Run.objects.filter(campaign=campaign, contact=contact)
        .select_related("element")
        .order_by("id")
    ]


def run_of(campaign: Campaign, contact: Contact, key: str, rotation: int = 0) -> Run:
    return Run.objects.get(campaign=campaign, contact=contact, element__key=key, rotation=rotation)


def enrollments(campaign: Campaign, contact: Contact) -> list[tuple[int, str]]:
    return list(
        Enrollment.objects.filter(campaign=campaign, contact=contact)
        .order_by("rotation")
        .values_list("rotation", "status")
    )


@contextmanager
def registered(element_type: registry.ElementType) -> Iterator[registry.ElementType]:
    """An element type that exists only while the block runs."""
    registry.register(element_type)
    try:
        yield element_type
    finally:
        registry._REGISTRY.pop(element_type.key, None)
