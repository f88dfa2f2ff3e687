"""condition.email_opened and condition.email_clicked: checked when a campaign is saved, and
answered by the real engine from what people did with the email of the same pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from terminflow.campaigns import engine, registry
from terminflow.campaigns.models import Campaign, Element, Run
from terminflow.campaigns.services import reset_contact
from terminflow.contacts.models import Contact
from terminflow.mail import sending
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace
from tests.campaigns.factories import edge, element, make_campaign, node
from tests.conftest import ApiClient
from tests.fixtures.smtp import SmtpServer

from .conftest import make_contact, make_email
from .factories import engagement

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def ask(key: str, type: str, **config: Any) -> dict[str, Any]:
    """A condition element (``element_id`` is its config here, not its own id)."""
    return {"id": key, "type": type, "config": config, "position": {"x": 0, "y": 0}}


def follow_up(email: EmailTemplate) -> Campaign:
    """Send the email, wait an hour, then ask both questions about it."""
    return make_campaign(
        email.workspace,
        [
            element("start", "contact.tag_added", tag="kunde"),
            element("mail", "email.send", email_id=email.pk),
            element("wait", "wait.duration", minutes=60),
            ask("opened", "condition.email_opened", element_id="mail"),
            ask("clicked", "condition.email_clicked", element_id="mail"),
        ],
        [
            edge("start", "mail"),
            edge("mail", "wait"),
            edge("wait", "opened"),
            edge("wait", "clicked"),
        ],
        name="Nachfassen",
    )


def enter(campaign: Campaign, contact: Contact, now: datetime) -> None:
    with transaction.atomic():
        engine.enter(node(campaign, "start"), contact, now=now)


def work(now: datetime) -> None:
    while engine.advance_due(now=now):
        pass
    while sending.send_due(now=now):
        pass


def answers(campaign: Campaign, contact: Contact, rotation: int = 0) -> dict[str, str]:
    return dict(
        Run.objects.filter(
            campaign=campaign,
            contact=contact,
            rotation=rotation,
            element__key__in=["opened", "clicked"],
        ).values_list("element__key", "branch")
    )


def sent_row(campaign: Campaign, contact: Contact, rotation: int = 0) -> Outbox:
    return Outbox.objects.get(run__campaign=campaign, run__contact=contact, run__rotation=rotation)


def test_the_conditions_take_yes_and_no_from_what_people_did(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: three contacts got the email of the campaign
    campaign = follow_up(make_email(workspace))
    anna = make_contact(workspace, email="anna@example.com")
    ben = make_contact(workspace, email="ben@example.com")
    clara = make_contact(workspace, email="clara@example.com")
    for contact in (anna, ben, clara):
        enter(campaign, contact, T0)
    work(T0)
    assert len(smtp.messages) == 3
    # when: Anna clicks (no open recorded: images off), a scanner follows Ben's link, Clara
    # only opens
    engagement(sent_row(campaign, anna), "click", at=T0 + 10 * timedelta(minutes=1))
    engagement(sent_row(campaign, ben), "click", count=0, bot_count=2)
    engagement(sent_row(campaign, ben), "open", count=0, bot_count=1)
    engagement(sent_row(campaign, clara), "open", at=T0 + 20 * timedelta(minutes=1))
    work(T0 + HOUR)
    # then
    assert answers(campaign, anna) == {"opened": "yes", "clicked": "yes"}
    assert answers(campaign, ben) == {"opened": "no", "clicked": "no"}
    assert answers(campaign, clara) == {"opened": "yes", "clicked": "no"}


def test_a_new_rotation_asks_about_its_own_email_not_the_earlier_one(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: Anna opened the email of her first pass
    campaign = follow_up(make_email(workspace))
    anna = make_contact(workspace)
    enter(campaign, anna, T0)
    work(T0)
    engagement(sent_row(campaign, anna), "open")
    work(T0 + HOUR)
    assert answers(campaign, anna) == {"opened": "yes", "clicked": "no"}
    # when: she passes the campaign again and gets the email again
    reset_contact(campaign, anna, now=T0 + 2 * HOUR)
    enter(campaign, anna, T0 + 2 * HOUR)
    work(T0 + 2 * HOUR)
    work(T0 + 3 * HOUR)
    # then: the second pass's email was not opened
    assert len(smtp.messages) == 2
    assert answers(campaign, anna, rotation=1) == {"opened": "no", "clicked": "no"}


def test_the_elements_are_listed_as_conditions_with_yes_and_no(api: ApiClient) -> None:
    listed = {t["key"]: t for t in api.get("/api/v1/elements").json()}

    for key in ("condition.email_opened", "condition.email_clicked"):
        assert listed[key]["kind"] == "condition"
        assert listed[key]["branches"] == ["yes", "no"]
        assert listed[key]["config_schema"]["required"] == ["element_id"]
    assert registry.get("condition.email_opened").label == "Email opened?"


def payload(condition: dict[str, Any], email: EmailTemplate) -> dict[str, Any]:
    return {
        "name": "Nachfassen",
        "status": "draft",
        "elements": [
            element("start", "contact.tag_added", tag="kunde"),
            element("mail", "email.send", email_id=email.pk),
            element("wait", "wait.duration", minutes=60),
            condition,
        ],
        "edges": [edge("start", "mail"), edge("mail", "wait"), edge("wait", "asked")],
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "Element “Email opened?”: element_id: required."),
        (
            {"element_id": ""},
            "Element “Email opened?”: element_id: must have at least 1 characters.",
        ),
        (
            {"element_id": "wait"},
            "Element “Email opened?”: the element “Wait” is not an email element",
        ),
        (
            {"element_id": "mail-9"},
            "Element “Email opened?”: the element mail-9 is not in this campaign",
        ),
    ],
)
def test_saving_refuses_a_condition_without_an_email_element_and_stores_nothing(
    workspace: Workspace, api: ApiClient, config: dict[str, Any], message: str
) -> None:
    # given
    email = make_email(workspace)
    condition = ask("asked", "condition.email_opened", **config)
    # when
    response = api.post("/api/v1/campaigns", payload(condition, email))
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_graph"
    [error] = response.json()["errors"]
    assert (error["element"], error["message"]) == ("asked", message)
    assert Campaign.objects.count() == 0
    assert Element.objects.count() == 0


def test_an_email_element_of_another_campaign_is_not_in_this_one(
    workspace: Workspace, api: ApiClient
) -> None:
    # given: a campaign with an email element "news", and a stored campaign to change
    email = make_email(workspace)
    make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="x"),
            element("news", "email.send", email_id=email.pk),
        ],
        [edge("start", "news")],
        name="Andere",
    )
    ok = payload(ask("asked", "condition.email_clicked", element_id="mail"), email)
    created = api.post("/api/v1/campaigns", ok)
    assert created.status_code == 201
    stored = created.json()
    # when
    changed = payload(ask("asked", "condition.email_clicked", element_id="news"), email)
    response = api.put(f"/api/v1/campaigns/{stored['id']}", changed)
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "Element “Link clicked?”: the element news is not in this campaign"
    )
    again = api.get(f"/api/v1/campaigns/{stored['id']}").json()
    assert (again["version"], again["elements"]) == (stored["version"], stored["elements"])


def test_german_reasons_name_the_element(workspace: Workspace) -> None:
    # given
    email = make_email(workspace)
    german = ApiClient(workspace, language="de")
    condition = ask("asked", "condition.email_opened", element_id="wait")
    # when
    response = german.post("/api/v1/campaigns", payload(condition, email))
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "Element „E-Mail geöffnet?“: das Element „Warten“ ist kein E-Mail-Element"
    )
