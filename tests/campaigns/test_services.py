"""Saving graphs: history survives edits, versions count saves, status changes park runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from terminflow.campaigns import engine
from terminflow.campaigns.models import Element, Run
from terminflow.campaigns.services import save_campaign

from .factories import T0, edge, element, graph, make_campaign, make_contact, node, runs

pytestmark = pytest.mark.django_db

START = element("start", "contact.tag_added", tag="booked")
WAIT = element("wait", "wait.duration", minutes=60)


def test_an_element_that_comes_back_keeps_its_row_and_history(workspace):
    campaign = make_campaign(workspace, [START, WAIT], [edge("start", "wait")])
    contact = make_contact(workspace)
    with transaction.atomic():
        engine.enter(node(campaign, "start"), contact, now=T0)
    wait_id = node(campaign, "wait").pk

    save_campaign(workspace, graph([START]), campaign)
    campaign, _ = save_campaign(
        workspace,
        graph([START, element("wait", "wait.duration", minutes=5)], [edge("start", "wait")]),
        campaign,
    )

    again = node(campaign, "wait")
    assert (again.pk, again.removed, again.config) == (wait_id, False, {"minutes": 5})
    assert campaign.version == 3
    assert runs(campaign, contact) == [("start", 0, "completed"), ("wait", 0, "cancelled")]
    assert Run.objects.get(element_id=wait_id).reason == "the element was removed from the campaign"


def test_saving_as_paused_parks_the_pending_runs_and_saving_as_active_releases_them(workspace):
    campaign = make_campaign(workspace, [START, WAIT], [edge("start", "wait")])
    contact = make_contact(workspace)
    with transaction.atomic():
        engine.enter(node(campaign, "start"), contact, now=T0)

    save_campaign(
        workspace, graph([START, WAIT], [edge("start", "wait")], status="paused"), campaign
    )
    parked = Run.objects.get(element__key="wait").due_at
    save_campaign(workspace, graph([START, WAIT], [edge("start", "wait")]), campaign)
    released = Run.objects.get(element__key="wait").due_at

    assert parked is None
    assert released is not None
    assert engine.advance_due(now=released) == 1
    assert Run.objects.get(element__key="wait").wait_until == released + timedelta(minutes=60)


def test_a_draft_is_stored_with_its_elements_and_edges(workspace):
    campaign, warnings = save_campaign(
        workspace, graph([START, WAIT], [edge("start", "wait")], status="draft", name="Draft")
    )

    assert (campaign.name, campaign.status, campaign.version, warnings) == ("Draft", "draft", 1, [])
    assert list(
        Element.objects.filter(campaign=campaign).order_by("id").values_list("key", "kind", "type")
    ) == [("start", "trigger", "contact.tag_added"), ("wait", "wait", "wait.duration")]
