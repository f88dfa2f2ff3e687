"""GET /api/v1/emails/{id}/stats and the email keys GET /api/v1/campaigns/{id}/stats gains."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from terminflow.campaigns import engine
from terminflow.mail import sending, services
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Role, Workspace
from tests.campaigns.factories import edge, element, make_campaign, node
from tests.conftest import ApiClient, make_workspace
from tests.fixtures.smtp import SmtpServer
from tests.web.conftest import logged_in, make_user

from .conftest import make_contact, make_email
from .factories import bounce, engagement

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
RUN_KEYS = {
    "id",
    "type",
    "removed",
    "entered",
    "completed",
    "waiting",
    "skipped",
    "failed",
    "cancelled",
    "failures",
}
EMAIL_KEYS = {"sent", "delivered", "bounced", "opened", "clicked", "unsubscribed"}


def test_email_stats_answer_exactly_the_six_figures(
    workspace: Workspace, api: ApiClient, smtp: SmtpServer
) -> None:
    # given: two contacts got the email; one opened it, the other's bounced
    email = make_email(workspace)
    for address in ("anna@example.com", "ben@example.com"):
        services.queue_email(email, make_contact(workspace, email=address))
    sending.send_due()
    anna, ben = Outbox.objects.filter(template=email).order_by("to_email")
    engagement(anna, "open", count=3)
    bounce(ben, "hard")
    # when
    response = api.get(f"/api/v1/emails/{email.pk}/stats")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "sent": 2,
        "delivered": 1,
        "bounced": 1,
        "opened": 1,
        "clicked": 0,
        "unsubscribed": 0,
    }


def test_another_workspaces_email_is_not_found(workspace: Workspace) -> None:
    # given
    theirs = make_email(make_workspace("Zahnarzt Oerlikon"))
    # when
    response = ApiClient(workspace).get(f"/api/v1/emails/{theirs.pk}/stats")
    missing = ApiClient(workspace).get("/api/v1/emails/999999/stats")
    # then
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert missing.status_code == 404


def test_a_viewer_may_read_the_stats(workspace: Workspace) -> None:
    # given
    email = make_email(workspace)
    viewer = logged_in(make_user("viewer@praxis.example", workspace, Role.VIEWER))
    # when
    response = viewer.get(f"/api/v1/emails/{email.pk}/stats")
    # then
    assert response.status_code == 200
    assert response.json() == dict.fromkeys(EMAIL_KEYS, 0)


def test_campaign_stats_add_the_email_keys_to_email_elements_only(
    workspace: Workspace, api: ApiClient, smtp: SmtpServer
) -> None:
    # given: a campaign sent its email to two contacts; one clicked, a bot clicked the other's
    email = make_email(workspace)
    doi = make_email(workspace, "doi")
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="kunde"),
            element("mail", "email.send", email_id=email.pk),
            element("tag", "contact.tag", add=["done"]),
            element("ask", "email.doi", email_id=doi.pk),
        ],
        [edge("start", "mail"), edge("mail", "tag"), edge("start", "ask")],
    )
    anna = make_contact(workspace, email="anna@example.com")
    ben = make_contact(workspace, email="ben@example.com")
    with transaction.atomic():
        for contact in (anna, ben):
            engine.enter(node(campaign, "start"), contact, now=T0)
    while engine.advance_due(now=T0):
        pass
    sending.send_due(now=T0)
    engagement(Outbox.objects.get(run__element__key="mail", contact=anna), "click")
    engagement(Outbox.objects.get(run__element__key="mail", contact=ben), "click", count=0)
    # when
    body = api.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    # then
    rows = {row["id"]: row for row in body["elements"]}
    assert set(rows["start"]) == set(rows["tag"]) == RUN_KEYS
    assert set(rows["mail"]) == set(rows["ask"]) == RUN_KEYS | EMAIL_KEYS
    assert {k: rows["mail"][k] for k in EMAIL_KEYS | {"entered", "completed"}} == {
        "entered": 2,
        "completed": 2,
        "sent": 2,
        "delivered": 2,
        "bounced": 0,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 0,
    }
    # Both are confirmed by double opt-in already: the DOI element skipped them, sent nothing.
    assert {k: rows["ask"][k] for k in EMAIL_KEYS | {"skipped"}} == {
        "skipped": 2,
        **dict.fromkeys(EMAIL_KEYS, 0),
    }


def test_campaign_stats_of_another_workspace_are_not_found(workspace: Workspace) -> None:
    # given
    other = make_workspace("Zahnarzt Oerlikon")
    theirs = make_campaign(other, [element("start", "contact.tag_added", tag="x")])
    # when
    response = ApiClient(workspace).get(f"/api/v1/campaigns/{theirs.pk}/stats")
    # then
    assert response.status_code == 404


def test_the_api_description_names_the_email_keys(api: ApiClient) -> None:
    schema = api.get("/api/v1/openapi.json").json()

    email_row = schema["components"]["schemas"]["EmailElementStatsOut"]["properties"]
    plain_row = schema["components"]["schemas"]["ElementStatsOut"]["properties"]
    stats_out = schema["components"]["schemas"]["EmailStatsOut"]["properties"]
    assert set(email_row) >= EMAIL_KEYS and not EMAIL_KEYS & set(plain_row)
    assert set(stats_out) == EMAIL_KEYS
    path = schema["paths"]["/api/v1/emails/{email_id}/stats"]["get"]
    assert "200" in path["responses"]
