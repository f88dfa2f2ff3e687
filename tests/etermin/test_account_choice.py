"""An eTermin element always stores its account, so a second account breaks no campaign."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from terminflow.campaigns.models import Element, Enrollment
from terminflow.etermin.processing import process_pending
from tests.conftest import ApiClient, make_workspace

from .factories import (
    etermin_element,
    make_account,
    make_campaign,
    push_body,
    store_push,
    tag_element,
)

pytestmark = pytest.mark.django_db

migration = importlib.import_module("terminflow.etermin.migrations.0007_element_account_id")


def test_saving_with_one_account_stores_its_id(api: ApiClient) -> None:
    # given one connected account and an element that does not name it
    account = make_account(api.workspace)
    body = {
        "name": "Buchungen",
        "elements": [etermin_element(), tag_element("tag", "gebucht")],
        "edges": [{"source": "booking", "target": "tag"}],
    }

    # when the campaign is saved
    response = api.post("/api/v1/campaigns", body)

    # then the stored element names the account, and the API shows it
    assert response.status_code == 201
    assert response.json()["elements"][0]["config"]["account_id"] == account.pk
    assert Element.objects.get(key="booking").config["account_id"] == account.pk


def test_a_second_account_leaves_the_first_accounts_campaign_working(workspace) -> None:
    # given a campaign built while one account was connected
    first = make_account(workspace, name="Seefeld", public_key="pub-1")
    campaign = make_campaign(
        workspace, [etermin_element(), tag_element("tag", "gebucht")], [("booking", "tag")]
    )

    # when a second account is connected and both send a booking
    second = make_account(workspace, name="Enge", public_key="pub-2")
    store_push(first, push_body("CREATED", "u-1"))
    store_push(second, push_body("CREATED", "u-2", email="max@example.ch"))
    process_pending()

    # then the campaign lets in the first account's customer only, and can be saved again
    entered = Enrollment.objects.filter(campaign=campaign).values_list("contact__email", flat=True)
    assert list(entered) == ["lea.brunner@example.ch"]
    assert Element.objects.get(campaign=campaign, key="booking").config["account_id"] == first.pk


def test_the_migration_fills_the_only_account_and_leaves_ambiguous_ones(workspace) -> None:
    # given elements stored without an account: one in a workspace with one account, one in a
    # workspace with two
    account = make_account(workspace)
    single = make_campaign(workspace, [etermin_element()], active=False)
    other = make_workspace("Praxis Enge")
    either = make_account(other, public_key="pub-a")
    make_account(other, public_key="pub-b")
    double = make_campaign(other, [etermin_element(account_id=either.pk)], active=False)
    Element.objects.update(config={"event": "created", "calendar": "all"})

    # when the data migration runs
    migration.fill_account_ids(apps, None)

    # then only the unambiguous element names its account
    assert Element.objects.get(campaign=single).config == {
        "event": "created",
        "calendar": "all",
        "account_id": account.pk,
    }
    assert "account_id" not in Element.objects.get(campaign=double).config
