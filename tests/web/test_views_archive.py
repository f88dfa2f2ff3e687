"""The campaign and email lists show the current or the archived ones, with the actions."""

from __future__ import annotations

import pytest

from terminflow.campaigns.models import Campaign
from terminflow.campaigns.services import save_campaign
from terminflow.mail.models import EmailTemplate
from tests.campaigns.factories import graph
from tests.mail.conftest import make_email

pytestmark = pytest.mark.django_db


def test_the_pages_list_current_or_archived_campaigns(editor_client, workspace) -> None:
    kept, _ = save_campaign(workspace, graph([], name="Aktuell", status="draft"))
    gone, _ = save_campaign(workspace, graph([], name="Vorbei", status="draft"))

    response = editor_client.post(f"/campaigns/{gone.pk}/archive/", follow=True)

    assert [c.name for c in response.context["campaigns"]] == ["Aktuell"]
    archived = editor_client.get("/campaigns/?archived=1")
    assert [c.name for c in archived.context["campaigns"]] == ["Vorbei"]
    assert Campaign.objects.get(pk=kept.pk).archived_at is None


def test_the_emails_page_archives_and_deletes(editor_client, workspace) -> None:
    email = make_email(workspace, "marketing", name="Alt")

    response = editor_client.post(f"/emails/{email.pk}/archive/", follow=True)

    assert list(response.context["templates"]) == []
    assert list(editor_client.get("/emails/?archived=1").context["templates"]) == [email]
    editor_client.post(f"/emails/{email.pk}/delete/")
    assert EmailTemplate.objects.count() == 0


def test_a_viewer_cannot_archive(viewer_client, workspace) -> None:
    campaign, _ = save_campaign(workspace, graph([], name="Aktuell", status="draft"))

    response = viewer_client.post(f"/campaigns/{campaign.pk}/archive/")

    assert response.status_code == 403
    assert Campaign.objects.get().archived_at is None
