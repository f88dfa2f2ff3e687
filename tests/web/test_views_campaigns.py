"""Campaigns: the list, creating, the builder page, contacts in a campaign and resets."""

from __future__ import annotations

from terminflow.campaigns.models import Campaign, Enrollment
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import save_campaign
from terminflow.contacts.services import create_contact


def test_create_opens_the_builder(editor_client, workspace) -> None:
    # when
    response = editor_client.post("/campaigns/new/", {"name": "Erinnerung"})
    # then
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (campaign.workspace_id, campaign.name, campaign.status) == (
        workspace.pk,
        "Erinnerung",
        "draft",
    )


def test_builder_page_mounts_the_island(editor_client, workspace) -> None:
    # given
    campaign, _ = save_campaign(workspace, CampaignIn(name="Erinnerung"))
    # when
    body = editor_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    # then
    assert 'id="builder-root"' in body
    assert f'data-campaign-id="{campaign.pk}"' in body
    assert 'data-read-only="false"' in body
    assert 'data-lang="de"' in body
    assert "builder/builder.js" in body
    assert "builder/builder.css" in body


def test_builder_is_read_only_for_viewers(viewer_client, workspace) -> None:
    # given
    campaign, _ = save_campaign(workspace, CampaignIn(name="Erinnerung"))
    # when
    body = viewer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    # then
    assert 'data-read-only="true"' in body


def test_another_workspaces_campaign_is_not_found(editor_client, other_workspace) -> None:
    # given
    foreign, _ = save_campaign(other_workspace, CampaignIn(name="Fremd"))
    # then
    assert editor_client.get(f"/campaigns/{foreign.pk}/").status_code == 404
    assert editor_client.post(f"/campaigns/{foreign.pk}/reset-all/").status_code == 404


def test_reset_a_contact_starts_a_new_pass(editor_client, workspace) -> None:
    # given a contact that went through the campaign once
    campaign, _ = save_campaign(workspace, CampaignIn(name="Erinnerung"))
    contact = create_contact(workspace, email="anna@example.com")
    Enrollment.objects.create(
        workspace=workspace, campaign=campaign, contact=contact, rotation=0, status="completed"
    )
    # when
    response = editor_client.post(f"/campaigns/{campaign.pk}/contacts/{contact.pk}/reset/")
    # then
    assert response.status_code == 302
    assert list(
        Enrollment.objects.filter(contact=contact)
        .order_by("rotation")
        .values_list("rotation", "status")
    ) == [(0, "completed"), (1, "ready")]
    page = editor_client.get(f"/campaigns/{campaign.pk}/contacts/").content.decode()
    assert "anna@example.com" in page
    assert "Bereit für einen neuen Durchlauf" in page


def test_reset_all_contacts(editor_client, workspace) -> None:
    # given
    campaign, _ = save_campaign(workspace, CampaignIn(name="Erinnerung"))
    for email in ("a@example.com", "b@example.com"):
        Enrollment.objects.create(
            workspace=workspace,
            campaign=campaign,
            contact=create_contact(workspace, email=email),
            status="completed",
        )
    # when
    response = editor_client.post(f"/campaigns/{campaign.pk}/reset-all/")
    # then
    assert response.status_code == 302
    assert sorted(Enrollment.objects.values_list("rotation", "status")) == [
        (0, "completed"),
        (0, "completed"),
        (1, "ready"),
        (1, "ready"),
    ]


def test_builder_api_calls_work_with_the_session(editor_client, workspace) -> None:
    # given
    campaign, _ = save_campaign(workspace, CampaignIn(name="Erinnerung"))
    # when the island loads the element registry and the campaign, then saves it
    elements = editor_client.get("/api/v1/elements")
    loaded = editor_client.get(f"/api/v1/campaigns/{campaign.pk}")
    saved = editor_client.put(
        f"/api/v1/campaigns/{campaign.pk}",
        data={
            "name": "Erinnerung 2",
            "status": "draft",
            "elements": [
                {
                    "id": "wait-1",
                    "type": "wait.duration",
                    "config": {"minutes": 0},
                    "position": {"x": 0, "y": 0},
                },
            ],
            "edges": [],
        },
        content_type="application/json",
    )
    # then
    assert elements.status_code == 200
    assert "etermin.appointment" in {t["key"] for t in elements.json()}
    assert loaded.json()["name"] == "Erinnerung"
    assert saved.status_code == 422
    assert {e["element"] for e in saved.json()["errors"]} == {"wait-1"}
    campaign.refresh_from_db()
    assert campaign.name == "Erinnerung"
