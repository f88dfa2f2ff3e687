"""Campaigns and emails can be archived (they leave the lists) and deleted while unused."""

from __future__ import annotations

import pytest

from terminflow.campaigns.models import Campaign, Run
from terminflow.mail.models import EmailTemplate
from tests.conftest import ApiClient
from tests.mail.conftest import make_contact, make_email

from .factories import edge, element

pytestmark = pytest.mark.django_db


def campaign_body(**changes):
    body = {
        "name": "Newsletter",
        "status": "active",
        "elements": [element("start", "contact.tag_added", tag="news")],
        "edges": [],
    }
    body.update(changes)
    return body


def test_an_archived_campaign_leaves_the_list_is_paused_and_comes_back(api: ApiClient) -> None:
    # given an active campaign
    campaign_id = api.post("/api/v1/campaigns", campaign_body()).json()["id"]

    # when it is archived
    archived = api.post(f"/api/v1/campaigns/{campaign_id}/archive")

    # then it is paused, out of the list, and in the archived list
    assert archived.status_code == 200
    assert (archived.json()["archived"], archived.json()["status"]) == (True, "paused")
    assert api.get("/api/v1/campaigns").json() == []
    assert [c["id"] for c in api.get("/api/v1/campaigns?archived=true").json()] == [campaign_id]
    # and it cannot be activated until it is taken out of the archive
    refused = api.post(f"/api/v1/campaigns/{campaign_id}/activate")
    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_archived")
    assert Campaign.objects.get().status == "paused"
    back = api.post(f"/api/v1/campaigns/{campaign_id}/unarchive")
    assert back.json()["archived"] is False
    assert [c["id"] for c in api.get("/api/v1/campaigns").json()] == [campaign_id]


def test_a_campaign_without_contacts_can_be_deleted_one_with_history_cannot(
    api: ApiClient,
) -> None:
    unused = api.post(
        "/api/v1/campaigns",
        campaign_body(name="Leer", elements=[element("start", "contact.tag_added", tag="leer")]),
    ).json()["id"]
    used = api.post(
        "/api/v1/campaigns",
        campaign_body(
            elements=[
                element("start", "contact.tag_added", tag="news"),
                element("tag", "contact.tag", add=["x"]),
            ],
            edges=[edge("start", "tag")],
        ),
    ).json()["id"]
    make_contact(api.workspace, tags=["news"])
    assert Run.objects.filter(campaign_id=used).exists()

    assert api.delete(f"/api/v1/campaigns/{unused}").status_code == 204
    refused = api.delete(f"/api/v1/campaigns/{used}")

    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_in_use")
    assert list(Campaign.objects.values_list("id", flat=True)) == [used]


def test_an_email_used_by_a_current_campaign_cannot_be_archived_an_unused_one_can(
    api: ApiClient,
) -> None:
    # given one email in a campaign and one on its own
    used = make_email(api.workspace, "doi", name="Bestätigung")
    free = make_email(api.workspace, "marketing", name="Alt")
    api.post(
        "/api/v1/campaigns",
        campaign_body(
            status="draft",
            elements=[
                element("start", "contact.tag_added", tag="news"),
                element("ask", "email.doi", email_id=used.pk),
            ],
            edges=[edge("start", "ask")],
        ),
    )

    # when both are archived
    refused = api.post(f"/api/v1/emails/{used.pk}/archive")
    archived = api.post(f"/api/v1/emails/{free.pk}/archive")

    # then only the free one leaves the list (and the builder's choices)
    assert (refused.status_code, refused.json()["code"]) == (409, "email_in_use")
    assert refused.json()["detail"] == (
        "The email is used by the campaigns “Newsletter”; take it out of them or archive them "
        "first."
    )
    assert archived.json()["archived"] is True
    assert [e["id"] for e in api.get("/api/v1/emails").json()] == [used.pk]
    assert [e["id"] for e in api.get("/api/v1/emails?archived=true").json()] == [free.pk]
    # and the used one cannot be deleted, the free one can
    assert api.delete(f"/api/v1/emails/{used.pk}").status_code == 409
    assert api.delete(f"/api/v1/emails/{free.pk}").status_code == 204
    assert list(EmailTemplate.objects.values_list("id", flat=True)) == [used.pk]
