"""A draft saved with references still to set (``save_campaign(..., open_references=True)``)."""

from __future__ import annotations

import pytest

from terminflow.campaigns.models import Campaign, Element
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import activate_campaign, save_campaign
from terminflow.campaigns.validation import InvalidGraph

from .factories import edge, element, graph

pytestmark = pytest.mark.django_db

MISSING = "Element “Stop campaign”: campaign 999 does not exist"


def stopping(campaign_id: int, *, status: str = "draft") -> CampaignIn:
    return graph(
        [
            element("start", "contact.tag_added", tag="booked"),
            element("stop", "campaign.stop", campaign_id=campaign_id),
        ],
        [edge("start", "stop")],
        status=status,
    )


def test_a_draft_is_stored_with_the_reference_among_its_warnings(workspace) -> None:
    # when
    campaign, warnings = save_campaign(workspace, stopping(999), open_references=True)
    # then
    assert [(w.element, w.code, w.message) for w in warnings] == [
        ("stop", "invalid_reference", MISSING)
    ]
    assert Element.objects.get(campaign=campaign, key="stop").config == {"campaign_id": 999}
    # and it cannot be activated while the reference is open
    with pytest.raises(InvalidGraph) as refused:
        activate_campaign(campaign)
    assert [e.message for e in refused.value.errors] == [MISSING]
    assert Campaign.objects.get().status == "draft"


def test_without_the_option_or_when_activating_it_is_refused_and_nothing_stored(
    workspace,
) -> None:
    with pytest.raises(InvalidGraph):
        save_campaign(workspace, stopping(999))
    with pytest.raises(InvalidGraph):
        save_campaign(workspace, stopping(999, status="active"), open_references=True)
    assert Campaign.objects.count() == 0


def test_other_problems_still_refuse_the_draft(workspace) -> None:
    # given a graph whose stop element is unreachable as well
    data = graph([element("stop", "campaign.stop", campaign_id=999)], status="draft")
    # when
    with pytest.raises(InvalidGraph) as refused:
        save_campaign(workspace, data, open_references=True)
    # then
    assert [e.code for e in refused.value.errors] == ["unreachable"]
    assert Campaign.objects.count() == 0
