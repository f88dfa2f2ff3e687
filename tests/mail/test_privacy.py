"""The mail app's share of a person's data: opens and clicks go into the export and the erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from terminflow.mail import services
from terminflow.mail.models import Engagement, Outbox
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
OPENED = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
CLICKED = datetime(2026, 11, 2, 9, 16, tzinfo=UTC)


def opened_and_clicked(workspace: Workspace, email: str) -> Outbox:
    contact = make_contact(workspace, email=email)
    template = make_email(workspace, "marketing", subject="Herbstangebot")
    row = services.queue_email(template, contact, now=SENT)
    Outbox.objects.filter(pk=row.pk).update(status="sent", sent_at=SENT)
    common = {"workspace": workspace, "outbox": row, "template": template, "contact": contact}
    Engagement.objects.create(
        **common, kind="open", first_at=OPENED, last_at=CLICKED, count=2, bot_count=0
    )
    Engagement.objects.create(
        **common, kind="click", first_at=CLICKED, last_at=CLICKED, count=1, bot_count=1
    )
    return row


def test_the_export_lists_the_opens_and_clicks_of_the_persons_emails(workspace: Workspace) -> None:
    # given a person who opened and clicked an email, and someone else who did too
    row = opened_and_clicked(workspace, "lea@example.ch")
    opened_and_clicked(workspace, "nora@example.ch")

    # when the person's data is exported
    response = ApiClient(workspace).get(f"/api/v1/contacts/{row.contact_id}/export")

    # then their opens and clicks are in it, and only theirs
    assert response.status_code == 200, response.content
    assert response.json()["email_engagements"] == [
        {
            "subject": "Herbstangebot",
            "sent_at": "2026-11-02T08:00:00+00:00",
            "kind": "click",
            "first_at": "2026-11-02T09:16:00+00:00",
            "last_at": "2026-11-02T09:16:00+00:00",
            "count": 1,
            "bot_count": 1,
        },
        {
            "subject": "Herbstangebot",
            "sent_at": "2026-11-02T08:00:00+00:00",
            "kind": "open",
            "first_at": "2026-11-02T09:15:00+00:00",
            "last_at": "2026-11-02T09:16:00+00:00",
            "count": 2,
            "bot_count": 0,
        },
    ]


def test_erasure_removes_the_persons_opens_and_clicks_and_keeps_the_others(
    workspace: Workspace,
) -> None:
    # given two people who opened and clicked
    row = opened_and_clicked(workspace, "lea@example.ch")
    other = opened_and_clicked(workspace, "nora@example.ch")

    # when the first is erased
    response = ApiClient(workspace).post(f"/api/v1/contacts/{row.contact_id}/erase", {})

    # then their engagement rows are gone, counted on their own, the other's stay
    assert response.status_code == 200, response.content
    assert response.json()["removed"]["email_engagements"] == 2
    assert Engagement.objects.filter(contact_id=row.contact_id).count() == 0
    assert sorted(Engagement.objects.values_list("outbox_id", "kind")) == [
        (other.pk, "click"),
        (other.pk, "open"),
    ]
