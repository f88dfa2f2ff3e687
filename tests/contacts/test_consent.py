"""The consent ledger written for a whole batch at once (``consent.record_consent_many``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from terminflow.contacts import consent
from terminflow.contacts.models import ConsentEvent, Contact
from tests.conftest import make_workspace

from .factories import make_contact

pytestmark = pytest.mark.django_db

SENT_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_record_consent_many_writes_one_event_per_entry_in_one_insert():
    # given two contacts of two workspaces, one of them with two entries
    anna = make_contact(make_workspace("Praxis A"), "anna@example.ch")
    beat = make_contact(make_workspace("Praxis B"), "beat@example.ch")
    before = ConsentEvent.objects.count()
    # when the batch is recorded
    with CaptureQueriesContext(connection) as queries:
        written = consent.record_consent_many(
            "doi_sent",
            [
                (anna.pk, {"message_id": "<a1@x>"}),
                (beat.pk, {"message_id": "<b@x>"}),
                (anna.pk, {"message_id": "<a2@x>"}),
            ],
            source="smtp",
            occurred_at=SENT_AT,
        )
    # then every entry is an event of its contact's workspace, written by one read and one insert
    assert written == 3
    assert len([q for q in queries if q["sql"].startswith("INSERT")]) == 1
    events = ConsentEvent.objects.order_by("pk")[before:]
    assert [
        (e.workspace_id, e.contact_id, e.kind, e.source, e.details, e.occurred_at) for e in events
    ] == [
        (anna.workspace_id, anna.pk, "doi_sent", "smtp", {"message_id": "<a1@x>"}, SENT_AT),
        (beat.workspace_id, beat.pk, "doi_sent", "smtp", {"message_id": "<b@x>"}, SENT_AT),
        (anna.workspace_id, anna.pk, "doi_sent", "smtp", {"message_id": "<a2@x>"}, SENT_AT),
    ]


def test_record_consent_many_leaves_out_contacts_that_are_gone():
    # given a contact deleted after its email went out
    anna = make_contact(make_workspace("Praxis A"), "anna@example.ch")
    gone = make_contact(anna.workspace, "gone@example.ch")
    gone_id = gone.pk
    Contact.objects.filter(pk=gone_id).delete()
    before = ConsentEvent.objects.count()
    # when both are recorded
    written = consent.record_consent_many(
        "doi_sent",
        [(gone_id, {"message_id": "<g@x>"}), (anna.pk, {"message_id": "<a@x>"})],
        source="smtp",
        occurred_at=SENT_AT,
    )
    # then only the existing contact's event is stored
    assert written == 1
    assert ConsentEvent.objects.count() == before + 1
    assert not ConsentEvent.objects.filter(contact_id=gone_id).exists()


def test_record_consent_many_refuses_an_unknown_kind_and_writes_nothing():
    anna = make_contact(make_workspace("Praxis A"), "anna@example.ch")
    before = ConsentEvent.objects.count()
    with pytest.raises(ValueError, match="not a consent event kind"):
        consent.record_consent_many(
            "doi_maybe", [(anna.pk, {})], source="smtp", occurred_at=SENT_AT
        )
    assert ConsentEvent.objects.count() == before
