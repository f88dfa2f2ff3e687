"""The ``form.submitted`` trigger: registered for the builder, its form checked on save."""

from __future__ import annotations

import pytest

from terminflow.campaigns.models import Campaign
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace

from .factories import make_form

pytestmark = pytest.mark.django_db


def campaign(form_id: int) -> dict:
    return {
        "name": "Willkommen",
        "status": "draft",
        "elements": [
            {
                "id": "signup",
                "type": "form.submitted",
                "config": {"form_id": form_id},
                "position": {"x": 0, "y": 0},
            }
        ],
        "edges": [],
    }


def test_the_builder_is_offered_the_trigger_with_its_form_id(api: ApiClient) -> None:
    types = {t["key"]: t for t in api.get("/api/v1/elements").json()}

    trigger = types["form.submitted"]

    assert (trigger["kind"], trigger["label"], trigger["branches"]) == (
        "trigger",
        "Form submitted",
        ["next"],
    )
    assert trigger["config_schema"]["required"] == ["form_id"]
    assert trigger["meta"]["group"] == "events"


def test_a_campaign_with_the_workspaces_form_saves(workspace: Workspace, api: ApiClient) -> None:
    form = make_form(workspace)

    response = api.post("/api/v1/campaigns", campaign(form.pk))

    assert response.status_code == 201, response.json()


def test_another_workspaces_form_or_none_is_refused_on_save(
    workspace: Workspace, api: ApiClient
) -> None:
    theirs = make_form(make_workspace("Zahnarzt Oerlikon"))

    foreign = api.post("/api/v1/campaigns", campaign(theirs.pk))
    without = campaign(0)
    without["elements"][0]["config"] = {}
    missing = api.post("/api/v1/campaigns", without)

    assert foreign.status_code == 422
    assert foreign.json()["errors"] == [
        {
            "element": "signup",
            "message": f"Element “Form submitted”: form {theirs.pk} does not exist",
            "code": "invalid_reference",
        }
    ]
    assert missing.status_code == 422
    assert Campaign.objects.filter(workspace=workspace).count() == 0
