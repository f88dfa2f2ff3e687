"""``condition.segment`` and ``segment.entered`` in campaigns, and the membership sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from terminflow.campaigns import engine
from terminflow.campaigns.models import Enrollment, Run
from terminflow.campaigns.services import pause_campaign
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import tags as contact_tags
from terminflow.kit.errors import Unprocessable
from terminflow.segments import membership
from terminflow.segments.models import Segment, SegmentMember
from tests.campaigns.factories import edge, element, make_campaign, runs
from tests.conftest import ApiClient, make_workspace
from tests.contacts.factories import make_field
from tests.segments.factories import NOW, make_contact, make_segment

pytestmark = pytest.mark.django_db

VIP = {"type": "tags", "match": "any", "tags": ["VIP"]}


@pytest.fixture
def vip(workspace: Any) -> Segment:
    contact_fields.create_field(workspace, key="seed", type="text")
    make_contact(workspace, "seed@example.ch", tags=["VIP"])  # the tag must exist
    return make_segment(workspace, VIP, name="VIP")


def entered(campaign: Any) -> list[str]:
    return sorted(
        Enrollment.objects.filter(campaign=campaign).values_list("contact__email", flat=True)
    )


def test_the_condition_takes_yes_for_members_and_no_for_the_others(workspace, vip):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("check", "condition.segment", segment_id=vip.pk),
            element("vip", "contact.tag", add=["vip-path"]),
            element("normal", "contact.tag", add=["normal-path"]),
        ],
        [edge("start", "check"), edge("check", "vip", "yes"), edge("check", "normal", "no")],
    )
    anna = make_contact(workspace, "anna@example.ch", tags=["VIP"])
    ben = make_contact(workspace, "ben@example.ch")
    contact_tags.add_tags(anna, ["booked"])
    contact_tags.add_tags(ben, ["booked"])

    with CaptureQueriesContext(connection) as queries:
        engine.advance_due()
    engine.advance_due()

    assert runs(campaign, anna)[1:] == [("check", 0, "completed"), ("vip", 0, "completed")]
    assert runs(campaign, ben)[1:] == [("check", 0, "completed"), ("normal", 0, "completed")]
    asked = [
        q["sql"] for q in queries if q["sql"].startswith('SELECT 1 AS "a" FROM "contacts_contact"')
    ]
    assert len(asked) == 2  # one query per contact: is it in the segment?
    assert all("EXISTS" in sql and "contacts_contacttag" in sql for sql in asked)


def test_a_deleted_segment_fails_the_condition_with_the_reason(workspace, vip):
    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="booked"),
            element("check", "condition.segment", segment_id=vip.pk),
        ],
        [edge("start", "check")],
    )
    anna = make_contact(workspace, "anna@example.ch")
    contact_tags.add_tags(anna, ["booked"])
    Segment.objects.filter(pk=vip.pk).delete()

    engine.advance_due()

    run = Run.objects.get(campaign=campaign, element__key="check")
    assert (run.status, run.reason) == ("failed", f"segment {vip.pk} no longer exists")


def test_saving_a_campaign_checks_the_segment_id(workspace, vip):
    other = make_workspace("Praxis Oerlikon")
    theirs = make_segment(other, name="Theirs")
    api = ApiClient(workspace)
    for segment_id in (theirs.pk, 999999):
        response = api.post(
            "/api/v1/campaigns",
            {
                "name": "Willkommen",
                "elements": [
                    {"id": "s", "type": "segment.entered", "config": {"segment_id": segment_id}}
                ],
                "edges": [],
            },
        )
        assert response.status_code == 422
        assert f"segment {segment_id} does not exist" in str(response.json()["errors"])
    from terminflow.campaigns.models import Campaign

    assert not Campaign.objects.exists()


def test_the_builder_offers_both_types_in_german(workspace, vip):
    types = {
        t["key"]: t for t in ApiClient(workspace, language="de").get("/api/v1/elements").json()
    }
    assert (types["condition.segment"]["label"], types["condition.segment"]["kind"]) == (
        "Im Segment?",
        "condition",
    )
    assert types["condition.segment"]["branches"] == ["yes", "no"]
    assert (types["segment.entered"]["label"], types["segment.entered"]["kind"]) == (
        "Segment betreten",
        "trigger",
    )
    english = {t["key"]: t for t in ApiClient(workspace).get("/api/v1/elements").json()}
    assert english["segment.entered"]["label"] == "Entered segment"


def welcome(workspace: Any, segment: Segment) -> Any:
    return make_campaign(
        workspace,
        [
            element("start", "segment.entered", segment_id=segment.pk),
            element("hello", "contact.tag", add=["welcomed"]),
        ],
        [edge("start", "hello")],
        name="Willkommen",
    )


def test_the_first_sweep_records_members_and_lets_only_later_entrants_in(workspace, vip):
    early = make_contact(workspace, "early@example.ch", tags=["VIP"])
    campaign = welcome(workspace, vip)

    assert membership.sweep(now=NOW) == 2  # seed and early recorded
    assert entered(campaign) == []
    assert SegmentMember.objects.filter(segment=vip).count() == 2

    later = make_contact(workspace, "later@example.ch")
    contact_tags.add_tags(later, ["VIP"])
    assert membership.sweep(now=NOW + timedelta(minutes=1)) == 1
    assert entered(campaign) == ["later@example.ch"]
    assert runs(campaign, later) == [("start", 0, "completed"), ("hello", 0, "pending")]
    assert Enrollment.objects.get(contact=later).context == {
        "source": "segment",
        "segment_id": vip.pk,
    }
    # Nothing new: the next sweep changes nothing (idempotent).
    assert membership.sweep(now=NOW + timedelta(minutes=2)) == 0
    assert Run.objects.filter(campaign=campaign).count() == 2
    assert early.pk not in set(Enrollment.objects.values_list("contact_id", flat=True))


def test_leaving_and_coming_back_is_one_pass_per_rotation(workspace, vip):
    campaign = welcome(workspace, vip)
    membership.sweep(now=NOW)
    anna = make_contact(workspace, "anna@example.ch", tags=["VIP"])
    membership.sweep(now=NOW)
    contact_tags.remove_tags(anna, ["VIP"])
    assert membership.sweep(now=NOW) == 1  # her member row is gone
    assert not SegmentMember.objects.filter(contact=anna).exists()
    contact_tags.add_tags(anna, ["VIP"])
    membership.sweep(now=NOW)

    assert runs(campaign, anna) == [("start", 0, "completed"), ("hello", 0, "pending")]


def test_a_paused_campaign_forgets_and_starts_afresh_when_activated(workspace, vip):
    from terminflow.campaigns.services import activate_campaign

    campaign = welcome(workspace, vip)
    membership.sweep(now=NOW)
    pause_campaign(campaign)
    assert membership.sweep(now=NOW) == 1  # the seed's row is dropped
    assert Segment.objects.get(pk=vip.pk).tracked_since is None
    while_paused = make_contact(workspace, "paused@example.ch", tags=["VIP"])
    activate_campaign(campaign)

    membership.sweep(now=NOW)  # records, lets nobody in
    make_contact(workspace, "after@example.ch", tags=["VIP"])
    membership.sweep(now=NOW)

    assert entered(campaign) == ["after@example.ch"]
    assert SegmentMember.objects.filter(contact=while_paused).exists()


def test_relative_dates_move_contacts_in_as_time_passes(workspace):
    make_field(workspace, "termin", "date")
    soon = make_segment(
        workspace,
        {"type": "field", "field": "termin", "op": "next_days", "days": 7},
        name="Termin bald",
    )
    campaign = welcome(workspace, soon)
    anna = make_contact(workspace, "anna@example.ch", fields={"termin": "2026-04-10"})
    membership.sweep(now=NOW)
    assert entered(campaign) == []

    # Eight days later the appointment is a week away.
    membership.sweep(now=NOW + timedelta(days=6))

    assert entered(campaign) == ["anna@example.ch"]
    assert runs(campaign, anna)[0] == ("start", 0, "completed")


def test_a_large_entry_is_let_in_in_batches(workspace, vip):
    campaign = welcome(workspace, vip)
    membership.sweep(now=NOW)
    for n in range(7):
        make_contact(workspace, f"p{n}@example.ch", tags=["VIP"])

    assert membership.sweep(now=NOW, batch=3) == 7

    assert len(entered(campaign)) == 7


def test_a_definition_that_no_longer_compiles_is_skipped_not_fatal(workspace, vip):
    welcome(workspace, vip)
    Segment.objects.filter(pk=vip.pk).update(definition={"conditions": [{"type": "nonsense"}]})
    other = make_segment(workspace, name="Alle")
    welcome(workspace, other)

    membership.sweep(now=NOW)

    assert Segment.objects.get(pk=other.pk).tracked_since == NOW
    assert Segment.objects.get(pk=vip.pk).tracked_since is None
    with pytest.raises(Unprocessable):
        membership.sweep_segment(Segment.objects.get(pk=vip.pk), [], now=NOW)
