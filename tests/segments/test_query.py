"""Every kind of segment condition selects exactly the contacts it says, in one query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from terminflow.campaigns.services import stop_contact
from terminflow.contacts.models import Contact
from terminflow.etermin.models import Appointment
from terminflow.mail import services as mail
from terminflow.mail.models import Engagement, Outbox
from terminflow.segments import services
from terminflow.workspaces.models import Workspace
from tests.campaigns.factories import element, make_campaign, node
from tests.conftest import make_workspace
from tests.contacts.factories import make_field
from tests.etermin.factories import make_account
from tests.mail.conftest import make_email
from tests.segments.factories import NOW, make_contact, make_segment, matching

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(workspace: Workspace) -> dict[str, Contact]:
    """Five contacts of a practice in Zurich with fields, tags and appointments."""
    for key, kind in (
        ("birthday", "date"),
        ("renewal", "date"),
        ("termin", "datetime"),
        ("city", "text"),
        ("visits", "number"),
        ("vip", "checkbox"),
    ):
        make_field(workspace, key, kind)
    make_field(workspace, "plan", "select", options=["Basis", "Premium"])
    people = {
        "anna": make_contact(
            workspace,
            "anna@example.ch",
            email_status="confirmed_doi",
            tags=["Newsletter", "Yoga"],
            fields={
                "city": "Zürich",
                "plan": "Premium",
                "vip": True,
                "visits": 12,
                "birthday": "1980-03-15",
                "renewal": "2026-04-04",
                # 23:30 on Sunday in summer time: 21:30 UTC.
                "termin": "2026-03-29T23:30:00+02:00",
            },
        ),
        "ben": make_contact(
            workspace,
            "ben@example.ch",
            email_status="confirmed_soi",
            tags=["Newsletter"],
            fields={
                "city": "Basel",
                "plan": "Basis",
                "vip": False,
                "visits": 3,
                "birthday": "1975-04-02",
                "renewal": "2026-04-05",
                # 00:30 on Monday: already the second day from Saturday.
                "termin": "2026-03-30T00:30:00+02:00",
            },
        ),
        "carla": make_contact(
            workspace,
            "carla@example.ch",
            email_status="unsubscribed",
            tags=["Yoga"],
            fields={
                "city": "Winterthur",
                "visits": 7,
                "birthday": "1990-03-28",
                "renewal": "2026-03-28",
            },
        ),
        "dora": make_contact(workspace, "dora@example.ch"),
        "emil": make_contact(
            workspace,
            "emil@example.ch",
            email_status="confirmed_doi",
            tags=["Newsletter", "Yoga", "VIP-Liste"],
            fields={
                "visits": 12.5,
                "birthday": "1988-02-28",
                "renewal": "2026-03-27",
                "termin": "2026-03-28T10:00:00+00:00",
            },
        ),
    }
    # A contact of another workspace that would match everything.
    other = make_workspace("Praxis Oerlikon")
    make_field(other, "city", "text")
    make_contact(
        other,
        "fremd@example.ch",
        email_status="confirmed_doi",
        tags=["Newsletter", "Yoga"],
        fields={"city": "Zürich"},
    )
    return people


def test_no_conditions_select_every_contact_of_the_workspace_only(cast: Any, workspace: Any):
    assert matching(workspace) == ["anna", "ben", "carla", "dora", "emil"]


def test_email_status_in_a_list(cast: Any, workspace: Any):
    rule = {"type": "email_status", "statuses": ["confirmed_doi", "confirmed_soi"]}
    assert matching(workspace, rule) == ["anna", "ben", "emil"]


@pytest.mark.parametrize(
    ("match", "tags", "expected"),
    [
        ("all", ["Newsletter", "Yoga"], ["anna", "emil"]),
        ("any", ["Yoga", "VIP-Liste"], ["anna", "carla", "emil"]),
        ("none", ["Newsletter"], ["carla", "dora"]),
    ],
)
def test_tags_all_any_none(cast: Any, workspace: Any, match: str, tags: list[str], expected):
    assert matching(workspace, {"type": "tags", "match": match, "tags": tags}) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"field": "city", "op": "eq", "value": "zürich"}, ["anna"]),
        ({"field": "city", "op": "contains", "value": "THUR"}, ["carla"]),
        ({"field": "city", "op": "empty"}, ["dora", "emil"]),
        ({"field": "plan", "op": "eq", "value": "Premium"}, ["anna"]),
        ({"field": "vip", "op": "eq", "value": True}, ["anna"]),
        # Unset counts as not ticked.
        ({"field": "vip", "op": "eq", "value": False}, ["ben", "carla", "dora", "emil"]),
        ({"field": "visits", "op": "eq", "value": 12}, ["anna"]),
        ({"field": "visits", "op": "gt", "value": "5"}, ["anna", "carla", "emil"]),
        ({"field": "visits", "op": "lt", "value": 7}, ["ben"]),
        ({"field": "visits", "op": "between", "value": 12, "value2": 7}, ["anna", "carla"]),
        ({"field": "visits", "op": "not_empty"}, ["anna", "ben", "carla", "emil"]),
    ],
)
def test_text_select_checkbox_and_number_fields(cast: Any, workspace: Any, rule, expected):
    assert matching(workspace, {"type": "field", **rule}) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"op": "eq", "value": "2026-04-04"}, ["anna"]),
        ({"op": "gt", "value": "2026-03-28"}, ["anna", "ben"]),
        ({"op": "lt", "value": "2026-03-28"}, ["emil"]),
        ({"op": "between", "value": "2026-03-28", "value2": "2026-04-04"}, ["anna", "carla"]),
        # Today and the 7 days after it, both ends included.
        ({"op": "next_days", "days": 7}, ["anna", "carla"]),
        ({"op": "last_days", "days": 1}, ["carla", "emil"]),
        ({"op": "next_days", "days": 0}, ["carla"]),
    ],
)
def test_date_fields_absolute_and_relative_to_today(cast: Any, workspace: Any, rule, expected):
    assert matching(workspace, {"type": "field", "field": "renewal", **rule}) == expected


def test_birthdays_this_month_ignore_the_year(cast: Any, workspace: Any):
    rule = {"type": "field", "field": "birthday", "op": "this_month"}
    assert matching(workspace, rule) == ["anna", "carla"]
    assert matching(workspace, rule, now=datetime(2026, 4, 1, 8, tzinfo=UTC)) == ["ben"]
    # 31 March 23:30 UTC is already 1 April in Zurich.
    assert matching(workspace, rule, now=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == ["ben"]


def test_datetime_windows_are_whole_local_days_across_the_dst_change(cast: Any, workspace: Any):
    # "Today and tomorrow" from Saturday noon ends at Monday 00:00 summer time (22:00 UTC), so
    # Sunday 23:30 is in and Monday 00:30 is out. Adding 2 x 24 hours to Saturday 00:00 winter
    # time would end at Monday 01:00 and take Monday 00:30 in.
    rule = {"type": "field", "field": "termin", "op": "next_days", "days": 1}
    assert matching(workspace, rule) == ["anna"]
    # The appointment this morning has passed: the next days start now.
    assert matching(workspace, {**rule, "days": 2}) == ["anna", "ben"]
    assert matching(workspace, {**rule, "op": "last_days", "days": 0}) == ["emil"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # A date means that whole day in Zurich (Sunday 29 March has 23 hours).
        ({"op": "eq", "value": "2026-03-29"}, ["anna"]),
        ({"op": "eq", "value": "2026-03-30"}, ["ben"]),
        ({"op": "lt", "value": "2026-03-29"}, ["emil"]),
        ({"op": "gt", "value": "2026-03-29"}, ["ben"]),
        # A time means that instant; without an offset, in the workspace's zone.
        ({"op": "gt", "value": "2026-03-29T23:00:00"}, ["anna", "ben"]),
        ({"op": "eq", "value": "2026-03-28T10:00:00Z"}, ["emil"]),
        ({"op": "between", "value": "2026-03-28", "value2": "2026-03-29"}, ["anna", "emil"]),
    ],
)
def test_datetime_fields_compare_with_days_or_instants(cast: Any, workspace: Any, rule, expected):
    assert matching(workspace, {"type": "field", "field": "termin", **rule}) == expected


def test_etermin_appointments_in_the_next_days(cast: Any, workspace: Any):
    account = make_account(workspace)
    for uid, who, start, status in (
        ("a1", "anna", datetime(2026, 4, 4, 8, 0, tzinfo=UTC), "active"),
        # 00:30 on 5 April in Zurich: the eighth day.
        ("b1", "ben", datetime(2026, 4, 4, 22, 30, tzinfo=UTC), "active"),
        ("c1", "carla", datetime(2026, 3, 29, 9, 0, tzinfo=UTC), "deleted"),
        ("d1", "dora", datetime(2026, 3, 27, 9, 0, tzinfo=UTC), "active"),
    ):
        Appointment.objects.create(
            workspace=workspace,
            account=account,
            uid=uid,
            contact=cast[who],
            start=start,
            status=status,
        )
    rule = {"type": "appointment", "op": "next_days", "days": 7}
    assert matching(workspace, rule) == ["anna"]
    assert matching(workspace, {**rule, "op": "last_days", "days": 1}) == ["dora"]
    between = {
        "type": "appointment",
        "op": "between",
        "value": "2026-03-27",
        "value2": "2026-04-05",
    }
    assert matching(workspace, between) == ["anna", "ben", "dora"]


def test_campaign_membership_now_and_ever(cast: Any, workspace: Any):
    from django.db import transaction

    from terminflow.campaigns import engine

    campaign = make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="Kurs"),
            element("wait", "wait.duration", minutes=60),
        ],
        [{"source": "start", "target": "wait", "branch": "next"}],
    )
    trigger = node(campaign, "start")
    with transaction.atomic():
        engine.enter(trigger, cast["anna"], now=NOW)
        engine.enter(trigger, cast["ben"], now=NOW)
    stop_contact(campaign, cast["ben"], now=NOW)
    rule = {"type": "campaign", "campaign_id": campaign.pk}
    assert matching(workspace, {**rule, "op": "in"}) == ["anna"]
    assert matching(workspace, {**rule, "op": "not_in"}) == ["ben", "carla", "dora", "emil"]
    assert matching(workspace, {**rule, "op": "entered"}) == ["anna", "ben"]
    assert matching(workspace, {**rule, "op": "not_entered"}) == ["carla", "dora", "emil"]


def test_email_received_opened_and_clicked(cast: Any, workspace: Any):
    template = make_email(workspace, "marketing")
    rows = {}
    for who in ("anna", "ben", "carla"):
        rows[who] = mail.queue_email(template, cast[who], now=NOW)
    Outbox.objects.filter(pk__in=[rows["anna"].pk, rows["carla"].pk]).update(status="sent")
    Engagement.objects.create(
        workspace=workspace, outbox=rows["anna"], template=template, contact=cast["anna"],
        kind="open", count=2, first_at=NOW,
    )  # fmt: skip
    Engagement.objects.create(
        workspace=workspace, outbox=rows["anna"], template=template, contact=cast["anna"],
        kind="click", count=1, first_at=NOW,
    )  # fmt: skip
    # Only a mail scanner looked at Carla's copy.
    Engagement.objects.create(
        workspace=workspace, outbox=rows["carla"], template=template, contact=cast["carla"],
        kind="open", count=0, bot_count=3,
    )  # fmt: skip
    rule = {"type": "email", "email_id": template.pk}
    assert matching(workspace, {**rule, "op": "received"}) == ["anna", "carla"]
    assert matching(workspace, {**rule, "op": "not_received"}) == ["ben", "dora", "emil"]
    assert matching(workspace, {**rule, "op": "opened"}) == ["anna"]
    assert matching(workspace, {**rule, "op": "not_opened"}) == ["ben", "carla", "dora", "emil"]
    assert matching(workspace, {**rule, "op": "clicked"}) == ["anna"]
    assert matching(workspace, {**rule, "op": "not_clicked"}) == ["ben", "carla", "dora", "emil"]


def test_groups_combine_all_and_any(cast: Any, workspace: Any):
    vip_or_zurich = {
        "type": "group",
        "match": "any",
        "conditions": [
            {"type": "tags", "match": "any", "tags": ["VIP-Liste"]},
            {"type": "field", "field": "city", "op": "eq", "value": "Zürich"},
        ],
    }
    doi = {"type": "email_status", "statuses": ["confirmed_doi"]}
    assert matching(workspace, doi, vip_or_zurich) == ["anna", "emil"]
    untagged_or_few_visits = [
        {"type": "tags", "match": "none", "tags": ["Newsletter", "Yoga"]},
        {"type": "field", "field": "visits", "op": "lt", "value": 5},
    ]
    assert matching(workspace, *untagged_or_few_visits, match="any") == ["ben", "dora"]


def test_a_tag_or_field_deleted_after_saving_matches_as_absent(cast: Any, workspace: Any):
    from terminflow.contacts import fields as contact_fields
    from terminflow.contacts import tags as contact_tags

    segment = make_segment(
        workspace,
        {"type": "tags", "match": "any", "tags": ["Yoga"]},
        {"type": "field", "field": "city", "op": "empty"},
    )
    assert services.count(segment, now=NOW) == 1  # emil
    contact_fields.delete_field(workspace, "city")
    assert services.count(segment, now=NOW) == 3  # anna, carla, emil
    contact_tags.delete_tag(workspace, "Yoga")
    assert services.count(segment, now=NOW) == 0


def test_a_count_is_one_query_on_contacts(cast: Any, workspace: Any):
    segment = make_segment(
        workspace,
        {"type": "email_status", "statuses": ["confirmed_doi"]},
        {"type": "tags", "match": "all", "tags": ["Newsletter", "Yoga"]},
        {"type": "field", "field": "renewal", "op": "next_days", "days": 30},
        {"type": "email", "email_id": make_email(workspace).pk, "op": "not_opened"},
    )
    with CaptureQueriesContext(connection) as queries:
        assert services.count(segment, now=NOW) == 1  # anna
    on_contacts = [q["sql"] for q in queries if '"contacts_contact"' in q["sql"]]
    assert len(on_contacts) == 1
    assert on_contacts[0].upper().startswith("SELECT COUNT(*)")
    # On SQLite the date window and the two tags were counted up to a cap first, to choose
    # which of them drives the count (segments.query); PostgreSQL's planner chooses itself.
    # Three renewals are due, so each tag is counted up to 3 only.
    probes = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(*) FROM (SELECT")]
    limits = [sql.rsplit("LIMIT ", 1)[1] for sql in probes]
    if connection.vendor == "sqlite":
        assert limits == ["50000) subquery", "3) subquery", "3) subquery"]
    else:
        assert limits == []


def test_on_sqlite_the_smallest_condition_an_index_answers_drives_the_count(cast, workspace):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's planner chooses the order itself")
    segment = make_segment(
        workspace,
        {"type": "field", "field": "renewal", "op": "last_days", "days": 1},  # carla, emil
        {"type": "tags", "match": "any", "tags": ["VIP-Liste"]},  # emil
    )
    with CaptureQueriesContext(connection) as queries:
        assert services.count(segment, now=NOW) == 1  # emil
    # The tag's one contact is the list; the renewal is looked up for that contact only.
    count = queries[-1]["sql"]
    listed = '"contacts_contact"."id" IN (SELECT U0."contact_id" AS "contact_id" FROM '
    assert count.startswith('SELECT COUNT(*) AS "__count" FROM "contacts_contact"')
    assert listed + '"contacts_contacttag"' in count
    assert listed + '"contacts_fieldvalue"' not in count
    assert 'EXISTS(SELECT 1 AS "a" FROM "contacts_fieldvalue" U0' in count
