"""Operator admin for campaigns: the pages render, and runs and enrollments are read-only."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from terminflow.campaigns import engine
from terminflow.campaigns.models import Enrollment, Run
from terminflow.workspaces.models import User

from .factories import T0, edge, element, make_campaign, make_contact, node


@pytest.fixture
def operator(db) -> Client:
    user = User.objects.create_user(email="op@example.ch", password="pw")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def entered(workspace):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("hi", "contact.tag", add=["hi"]),
        ],
        [edge("start", "hi")],
    )
    with transaction.atomic():
        engine.enter(node(campaign, "start"), make_contact(workspace), now=T0)
    return campaign


def test_the_campaign_pages_show_the_graph(operator, entered):
    listing = operator.get("/admin/campaigns/campaign/")
    page = operator.get(f"/admin/campaigns/campaign/{entered.pk}/change/")

    assert listing.status_code == 200
    assert page.status_code == 200
    assert b"contact.tag_added" in page.content
    assert b"contact.tag" in page.content


def test_runs_and_enrollments_can_be_read_but_not_changed(operator, entered):
    run = Run.objects.get(element__key="hi")
    enrollment = Enrollment.objects.get()

    assert operator.get("/admin/campaigns/run/").status_code == 200
    assert operator.get("/admin/campaigns/enrollment/").status_code == 200
    assert operator.get(f"/admin/campaigns/run/{run.pk}/change/").status_code == 200
    assert operator.get("/admin/campaigns/run/add/").status_code == 403
    assert (
        operator.post(f"/admin/campaigns/run/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert (
        operator.post(
            f"/admin/campaigns/enrollment/{enrollment.pk}/change/", {"status": "stopped"}
        ).status_code
        == 403
    )
    assert Run.objects.filter(pk=run.pk, status="pending").exists()
    assert Enrollment.objects.get().status == "active"
