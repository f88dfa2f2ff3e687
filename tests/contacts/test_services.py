from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet

from terminflow.contacts import cleaning, consent, services, signals
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import notes as contact_notes
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact, ContactTag, Note, Tag
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from tests.conftest import make_workspace

from .factories import captured, make_contact, make_field

pytestmark = pytest.mark.django_db

ZURICH = ZoneInfo("Europe/Zurich")


def ledger(contact: Contact) -> list[tuple[str, str, dict]]:
    return [
        (e.kind, e.source, e.details)
        for e in ConsentEvent.objects.filter(contact=contact).order_by("pk")
    ]


# -- normalisation ---------------------------------------------------------------------------


def test_normalize_email_strips_and_lower_cases():
    assert cleaning.normalize_email("  Anna.Muster@Example.CH ") == "anna.muster@example.ch"


@pytest.mark.parametrize("raw", ["anna", "anna@", "@example.ch", "anna muster@example.ch", ""])
def test_normalize_email_refuses_what_is_not_an_address(raw):
    with pytest.raises(Unprocessable) as caught:
        cleaning.normalize_email(raw)
    assert caught.value.status == 422
    if raw:
        assert caught.value.detail.startswith(f"'{raw}' is not an email address: ")
    else:
        assert caught.value.detail == "An email address is required."


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("044 668 18 00", "+41446681800"),
        ("+41 79 123 45 67", "+41791234567"),
        ("0041 79 123 45 67", "+41791234567"),
        ("+49 30 12345678", "+493012345678"),
        ("", ""),
    ],
)
def test_normalize_phone_gives_e164_reading_local_numbers_as_swiss(raw, stored):
    assert cleaning.normalize_phone(raw) == stored


@pytest.mark.parametrize("raw", ["12", "+41 44 668 18 0", "call me"])
def test_normalize_phone_refuses_invalid_numbers_with_a_clear_message(raw):
    with pytest.raises(Unprocessable) as caught:
        cleaning.normalize_phone(raw)
    assert caught.value.detail == (
        f"'{raw}' is not a valid phone number; write it with the country code, "
        "e.g. '+41 44 668 18 00'."
    )


# -- create, find, update, delete -------------------------------------------------------------


def test_create_contact_stores_normalised_email_and_phone(workspace):
    # when
    contact = services.create_contact(
        workspace, email="Anna.Muster@Example.CH", first_name=" Anna ", phone="044 668 18 00"
    )
    # then
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.email, stored.first_name, stored.phone, stored.email_status) == (
        "anna.muster@example.ch",
        "Anna",
        "+41446681800",
        "unknown",
    )
    assert ledger(stored) == []


def test_create_contact_with_a_taken_email_in_other_case_is_a_conflict(workspace):
    # given
    first = make_contact(workspace, "anna@example.ch")
    # when
    with pytest.raises(Conflict) as caught:
        services.create_contact(workspace, email="ANNA@Example.ch", first_name="Other")
    # then
    assert caught.value.status == 409
    assert caught.value.as_dict() == {
        "detail": "A contact with the email address anna@example.ch already exists.",
        "code": "conflict",
        "contact_id": first.pk,
    }
    assert list(Contact.objects.values_list("first_name", flat=True)) == [""]


def test_the_same_email_may_exist_once_in_each_workspace(workspace):
    # given
    other = make_workspace("Praxis Enge")
    mine = make_contact(workspace, "anna@example.ch")
    # when
    theirs = make_contact(other, "anna@example.ch")
    # then
    assert mine.pk != theirs.pk
    assert services.find_contact(workspace, "ANNA@example.ch").pk == mine.pk
    assert services.find_contact(other, "anna@example.ch").pk == theirs.pk
    assert services.find_contact(workspace, "nobody@example.ch") is None


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"phone": "12"}, "'12' is not a valid phone number"),
        ({"email_status": "confirmed"}, "'confirmed' is not an email status"),
        ({"fields": {"missing": 1}}, "missing: no such field"),
        ({"tags": ["ok", " "]}, "tags: every tag must be non-empty text."),
        ({"first_name": "x" * 201}, "first_name: at most 200 characters."),
        ({"first_name": "An\x00na"}, "first_name: contains a NUL character."),
    ],
)
def test_create_contact_with_bad_input_stores_nothing(workspace, changes, detail):
    with captured(signals.tag_added) as tags, pytest.raises(Unprocessable) as caught:
        services.create_contact(workspace, email="anna@example.ch", **changes)
    assert caught.value.detail.startswith(detail)
    assert Contact.objects.count() == 0
    assert Tag.objects.count() == 0
    assert ConsentEvent.objects.count() == 0
    assert tags == []


def test_create_contact_with_a_status_records_it_in_the_ledger(workspace):
    # when
    contact = make_contact(workspace, email_status="confirmed_manual", source="import:csv")
    # then
    assert ledger(contact) == [
        ("status_changed", "import:csv", {"from": "unknown", "to": "confirmed_manual"})
    ]


def test_create_contact_sends_signals_for_its_fields_tags_and_doi(workspace):
    # given
    make_field(workspace, "plan", "text")
    # when
    with (
        captured(signals.field_changed) as changed,
        captured(signals.tag_added) as tagged,
        captured(signals.doi_confirmed) as confirmed,
    ):
        contact = make_contact(
            workspace,
            fields={"plan": "Gold"},
            tags=["vip", "vip", "new"],
            email_status="confirmed_doi",
        )
    # then
    assert [(c["key"], c["old"], c["new"]) for c in changed] == [("plan", None, "Gold")]
    assert [(c["contact"].pk, c["tag"]) for c in tagged] == [
        (contact.pk, "vip"),
        (contact.pk, "new"),
    ]
    assert [c["contact"].pk for c in confirmed] == [contact.pk]
    assert contact_tags.tag_names(Contact.objects.get(pk=contact.pk)) == ["new", "vip"]


def test_confirmed_doi_needs_the_proof_of_the_opt_in(workspace):
    # when
    with pytest.raises(consent.DoiByHand) as refused:
        services.create_contact(workspace, email="a@example.com", email_status="confirmed_doi")
    with pytest.raises(consent.DoiByHand):
        services.create_contact(
            workspace, email="a@example.com", email_status="confirmed_doi", doi_proof={"ip": "1"}
        )
    # then
    assert (refused.value.status, refused.value.code) == (422, "doi_by_hand")
    assert (Contact.objects.count(), ConsentEvent.objects.count()) == (0, 0)


def test_an_import_with_proof_carries_it_into_the_ledger(workspace):
    # given what the system that ran the opt-in recorded
    proof = {"confirmed_at": "2026-10-30T18:04:00+01:00", "ip": "203.0.113.9", "by": "Quentn"}
    # when
    contact = services.create_contact(
        workspace,
        email="a@example.com",
        email_status="confirmed_doi",
        source="import",
        doi_proof=proof,
    )
    # then
    assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_doi"
    assert ledger(contact) == [
        (
            "doi_confirmed",
            "import",
            {"from": "unknown", "to": "confirmed_doi", "proof": proof},
        )
    ]


def test_update_contact_refuses_confirmed_doi_by_hand(workspace):
    # given
    contact = make_contact(workspace, first_name="Anna", email_status="confirmed_soi")
    # when
    with pytest.raises(consent.DoiByHand):
        services.update_contact(contact, first_name="Berta", email_status="confirmed_doi")
    # then
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.first_name, stored.email_status) == ("Anna", "confirmed_soi")
    assert [kind for kind, _source, _details in ledger(contact)] == ["soi"]


def test_update_contact_changes_only_what_is_given(workspace):
    # given
    make_field(workspace, "plan", "text")
    contact = make_contact(
        workspace, first_name="Anna", last_name="Muster", fields={"plan": "Gold"}, tags=["a"]
    )
    # when
    services.update_contact(contact, last_name="Meier", phone="079 123 45 67", tags=["b"])
    # then
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.first_name, stored.last_name, stored.phone, stored.fields) == (
        "Anna",
        "Meier",
        "+41791234567",
        {"plan": "Gold"},
    )
    assert contact_tags.tag_names(stored) == ["b"]


def test_update_contact_to_a_taken_email_is_a_conflict_and_changes_nothing(workspace):
    # given
    make_contact(workspace, "anna@example.ch")
    bert = make_contact(workspace, "bert@example.ch", first_name="Bert")
    # when
    with pytest.raises(Conflict):
        services.update_contact(bert, email="Anna@example.ch", first_name="Berta")
    # then
    stored = Contact.objects.get(pk=bert.pk)
    assert (stored.email, stored.first_name) == ("bert@example.ch", "Bert")


def test_update_contact_refuses_unknown_changes(workspace):
    contact = make_contact(workspace)
    with pytest.raises(TypeError):
        services.update_contact(contact, blocked_until=None)


def test_get_contact_of_another_workspace_is_not_found(workspace):
    theirs = make_contact(make_workspace("Praxis Enge"))
    with pytest.raises(NotFound):
        services.get_contact(workspace, theirs.pk)
    with pytest.raises(NotFound):
        services.get_contact(workspace, 2**70)


def test_delete_contact_removes_it_with_its_ledger_tags_and_notes(workspace):
    # given
    contact = make_contact(workspace, email_status="confirmed_manual", tags=["vip"])
    contact_notes.add_note(contact, "Hello", source="api")
    # when
    services.delete_contact(contact)
    # then
    assert Contact.objects.count() == 0
    assert ConsentEvent.objects.count() == 0
    assert ContactTag.objects.count() == 0
    assert Note.objects.count() == 0
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]


# -- the booking rule (DESIGN §2) -------------------------------------------------------------


def test_booking_by_a_new_person_creates_a_single_opt_in_contact(workspace):
    # when
    contact, created = services.contact_from_booking(
        workspace,
        email="Lea.Brunner@Example.CH",
        first_name="Lea",
        last_name="Brunner",
        phone="079 123 45 67",
        source="etermin:7",
        details={"appointment_uid": "abc-1", "newsletter": "no"},
    )
    # then
    assert created is True
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.email, stored.first_name, stored.last_name, stored.phone) == (
        "lea.brunner@example.ch",
        "Lea",
        "Brunner",
        "+41791234567",
    )
    assert stored.email_status == "confirmed_soi"
    assert ledger(stored) == [
        ("soi", "etermin:7", {"appointment_uid": "abc-1", "newsletter": "no"})
    ]


def test_booking_by_a_known_contact_fills_only_empty_names_and_never_touches_the_status(
    workspace,
):
    # given
    contact = make_contact(workspace, "lea@example.ch", first_name="Lea")
    # when
    again, created = services.contact_from_booking(
        workspace,
        email="LEA@example.ch",
        first_name="Leandra",
        last_name="Brunner",
        phone="044 668 18 00",
        source="etermin:7",
    )
    # then
    assert (again.pk, created) == (contact.pk, False)
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.first_name, stored.last_name, stored.phone, stored.email_status) == (
        "Lea",
        "Brunner",
        "+41446681800",
        "unknown",
    )
    assert ledger(stored) == []


def test_booking_by_an_unsubscribed_contact_leaves_it_unsubscribed(workspace):
    # given
    contact = make_contact(workspace, "lea@example.ch")
    consent.set_email_status(contact, "unsubscribed", source="unsubscribe_link")
    # when
    _, created = services.contact_from_booking(
        workspace, email="lea@example.ch", first_name="", last_name="", phone="", source="etermin:7"
    )
    # then
    assert created is False
    assert Contact.objects.get(pk=contact.pk).email_status == "unsubscribed"
    assert [kind for kind, _, _ in ledger(contact)] == ["unsubscribed"]


def test_booking_with_an_invalid_phone_keeps_the_contact_without_the_number(workspace):
    contact, _ = services.contact_from_booking(
        workspace, email="lea@example.ch", first_name="Lea", last_name="", phone="12", source="x"
    )
    assert Contact.objects.get(pk=contact.pk).phone == ""


def test_booking_with_an_invalid_email_stores_nothing(workspace):
    with pytest.raises(Unprocessable):
        services.contact_from_booking(
            workspace, email="lea@", first_name="Lea", last_name="", phone="", source="x"
        )
    assert Contact.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


def test_booking_that_loses_the_insert_race_returns_the_winner(workspace):
    # given a contact another job inserted after our look-up missed it
    winner = make_contact(workspace, "lea@example.ch")
    # when
    with mock.patch.object(services, "_first", side_effect=[None]):
        contact, created = services.contact_from_booking(
            workspace, email="lea@example.ch", first_name="Lea", last_name="", phone="", source="x"
        )
    # then the insert hit the unique index, and the transaction is still usable
    assert (contact.pk, created) == (winner.pk, False)
    assert Contact.objects.count() == 1
    assert Contact.objects.get(pk=winner.pk).first_name == "Lea"
    assert ConsentEvent.objects.count() == 0


def booking(email: str, **kwargs: object) -> dict[str, object]:
    return {"email": email, "first_name": "", "last_name": "", "phone": "", "source": "x", **kwargs}


def test_bookings_in_a_batch_follow_the_rules_of_one_booking(workspace):
    # given a known contact with a first name only, and one who unsubscribed
    known = make_contact(workspace, "lea@example.ch", first_name="Lea")
    gone = make_contact(workspace, "max@example.ch")
    consent.set_email_status(gone, "unsubscribed", source="unsubscribe_link")
    # when
    found = services.contacts_from_bookings(
        workspace,
        [
            booking(
                "Nina@Example.CH",
                first_name="Nina",
                phone="079 123 45 67",
                source="etermin:7",
                details={"appointment_uid": "a-1"},
            ),
            booking(
                "LEA@example.ch", first_name="Leandra", last_name="Brunner", phone="044 668 18 00"
            ),
            booking("max@example.ch", first_name="Max"),
            booking("ugo@example.ch", phone="12", source="etermin:7"),
        ],
    )
    # then
    assert [(c.email, created) for c, created in found] == [
        ("nina@example.ch", True),
        ("lea@example.ch", False),
        ("max@example.ch", False),
        ("ugo@example.ch", True),
    ]
    assert found[1][0].pk == known.pk
    stored = {
        c.email: (c.first_name, c.last_name, c.phone, c.email_status) for c in Contact.objects.all()
    }
    assert stored == {
        "nina@example.ch": ("Nina", "", "+41791234567", "confirmed_soi"),
        "lea@example.ch": ("Lea", "Brunner", "+41446681800", "unknown"),
        "max@example.ch": ("Max", "", "", "unsubscribed"),
        "ugo@example.ch": ("", "", "", "confirmed_soi"),
    }
    assert ledger(found[0][0]) == [("soi", "etermin:7", {"appointment_uid": "a-1"})]
    assert ledger(found[3][0]) == [("soi", "etermin:7", {})]
    assert ledger(known) == []
    assert [kind for kind, _, _ in ledger(gone)] == ["unsubscribed"]


def test_the_second_booking_of_a_new_address_in_a_batch_finds_the_first(workspace):
    found = services.contacts_from_bookings(
        workspace,
        [
            booking("nina@example.ch", first_name="Nina"),
            booking("NINA@example.ch", last_name="Ott"),
        ],
    )
    assert [created for _, created in found] == [True, False]
    assert found[0][0] is found[1][0]
    stored = Contact.objects.get()
    assert (stored.email, stored.first_name, stored.last_name) == ("nina@example.ch", "Nina", "Ott")
    assert [kind for kind, _, _ in ledger(stored)] == ["soi"]


def test_a_batch_with_an_invalid_email_stores_nothing(workspace):
    with pytest.raises(Unprocessable):
        services.contacts_from_bookings(workspace, [booking("nina@example.ch"), booking("lea@")])
    assert Contact.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


def test_a_batch_that_loses_the_insert_race_takes_the_bookings_one_at_a_time(workspace):
    # given a contact inserted by another job after the batch's look-up missed it
    winner = make_contact(workspace, "lea@example.ch")
    # when
    real_alias = Contact.objects.alias
    calls: list[int] = []

    def alias_missing_the_winner(**kwargs):
        calls.append(1)
        query = real_alias(**kwargs)
        return query.none() if len(calls) == 1 else query

    with mock.patch.object(Contact.objects, "alias", side_effect=alias_missing_the_winner):
        found = services.contacts_from_bookings(
            workspace, [booking("nina@example.ch"), booking("lea@example.ch", first_name="Lea")]
        )
    # then
    assert [(c.email, created) for c, created in found] == [
        ("nina@example.ch", True),
        ("lea@example.ch", False),
    ]
    assert found[1][0].pk == winner.pk
    assert Contact.objects.count() == 2
    assert Contact.objects.get(pk=winner.pk).first_name == "Lea"
    assert ConsentEvent.objects.filter(contact=winner).count() == 0


# -- notes -----------------------------------------------------------------------------------


def test_note_with_a_source_key_is_added_once(workspace):
    # given
    contact = make_contact(workspace)
    first = contact_notes.add_note(
        contact, "Bitte Parkplatz", source="etermin", source_key="e:7:abc"
    )
    # when
    second = contact_notes.add_note(
        contact, "Bitte Parkplatz", source="etermin", source_key="e:7:abc"
    )
    # then
    assert first is not None
    assert second is None
    assert list(Note.objects.values_list("text", "source", "source_key")) == [
        ("Bitte Parkplatz", "etermin", "e:7:abc")
    ]


def test_note_whose_key_a_concurrent_job_just_used_is_skipped_and_the_transaction_survives(
    workspace,
):
    # given a note with the key that our existence check does not see (inserted concurrently)
    contact = make_contact(workspace)
    contact_notes.add_note(contact, "first", source="etermin", source_key="k")
    # when
    with mock.patch.object(QuerySet, "exists", return_value=False):
        again = contact_notes.add_note(contact, "second", source="etermin", source_key="k")
    # then
    assert again is None
    assert list(Note.objects.values_list("text", flat=True)) == ["first"]


def test_notes_without_a_key_are_all_kept(workspace):
    contact = make_contact(workspace)
    contact_notes.add_note(contact, "one", source="api")
    contact_notes.add_note(contact, "two", source="api")
    assert list(Note.objects.order_by("pk").values_list("text", flat=True)) == ["one", "two"]


def test_blank_note_is_refused(workspace):
    contact = make_contact(workspace)
    with pytest.raises(Unprocessable) as caught:
        contact_notes.add_note(contact, "  ", source="api")
    assert caught.value.detail == "A note needs text."
    assert Note.objects.count() == 0


# -- typed fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "options", "given", "stored"),
    [
        ("text", None, "Hallo", "Hallo"),
        ("number", None, 42, 42),
        ("number", None, "3.5", 3.5),
        ("number", None, "-7", -7),
        ("number", None, 2.25, 2.25),
        ("date", None, "2026-12-03", "2026-12-03"),
        ("date", None, date(2026, 12, 3), "2026-12-03"),
        # 23:30 UTC is already the next day in Zurich.
        ("date", None, datetime(2026, 12, 2, 23, 30, tzinfo=UTC), "2026-12-03"),
        ("datetime", None, "2026-12-03T09:30:00+01:00", "2026-12-03T08:30:00+00:00"),
        ("datetime", None, "2026-12-03T08:30:00Z", "2026-12-03T08:30:00+00:00"),
        (
            "datetime",
            None,
            datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
            "2026-12-03T08:30:00+00:00",
        ),
        ("checkbox", None, True, True),
        ("checkbox", None, "yes", True),
        ("checkbox", None, "false", False),
        ("checkbox", None, 0, False),
        ("select", ["Basic", "Premium"], "Premium", "Premium"),
        ("select", ["Basic", "Premium"], " premium ", "Premium"),
    ],
)
def test_field_values_are_stored_in_their_typed_form(workspace, field_type, options, given, stored):
    # given
    make_field(workspace, "value", field_type, options=options)
    contact = make_contact(workspace)
    # when
    contact_fields.set_field(contact, "value", given)
    # then
    value = Contact.objects.get(pk=contact.pk).fields["value"]
    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        # Winter time (CET, +01:00) the day before the switch.
        ("2026-03-28T09:00", "2026-03-28T08:00:00+00:00"),
        # Summer time (CEST, +02:00) the day after: the same wall time is an hour earlier in UTC.
        ("2026-03-30T09:00", "2026-03-30T07:00:00+00:00"),
        # 02:30 does not exist on 29 March; it is read as 03:30 CEST (moved by the gap).
        ("2026-03-29T02:30", "2026-03-29T01:30:00+00:00"),
        # 02:30 happens twice on 25 October; the first (CEST) is meant.
        ("2026-10-25T02:30", "2026-10-25T00:30:00+00:00"),
        ("2026-10-26T09:00", "2026-10-26T08:00:00+00:00"),
        # A bare date is midnight in the workspace's zone.
        ("2026-07-01", "2026-06-30T22:00:00+00:00"),
    ],
)
def test_naive_datetimes_are_read_in_the_workspace_zone_across_dst(workspace, given, stored):
    # given a workspace in Europe/Zurich
    assert workspace.timezone == "Europe/Zurich"
    make_field(workspace, "appointment_start", "datetime")
    contact = make_contact(workspace)
    # when
    contact_fields.set_field(contact, "appointment_start", given)
    # then
    assert Contact.objects.get(pk=contact.pk).fields == {"appointment_start": stored}


def test_naive_datetimes_follow_the_workspace_zone_not_a_fixed_one(db):
    workspace = make_workspace("Praxis New York", timezone="America/New_York")
    make_field(workspace, "start", "datetime")
    contact = make_contact(workspace)
    contact_fields.set_field(contact, "start", "2026-12-03T09:30")
    assert Contact.objects.get(pk=contact.pk).fields == {"start": "2026-12-03T14:30:00+00:00"}


@pytest.mark.parametrize(
    ("field_type", "options", "given", "detail"),
    [
        ("text", None, 5, "value: must be text."),
        ("number", None, "abc", "value: 'abc' is not a number."),
        ("number", None, True, "value: 'True' is not a number."),
        ("number", None, "nan", "value: 'nan' is not a number."),
        ("date", None, "03.12.2026", "value: '03.12.2026' is not a date; use YYYY-MM-DD."),
        ("date", None, "2026-02-30", "value: '2026-02-30' is not a date; use YYYY-MM-DD."),
        (
            "datetime",
            None,
            "tomorrow",
            "value: 'tomorrow' is not a date and time; use ISO 8601 such as "
            "2026-12-03T09:30:00+01:00.",
        ),
        ("checkbox", None, "maybe", "value: 'maybe' is not a checkbox value; use true or false."),
        (
            "select",
            ["Basic", "Premium"],
            "Gold",
            "value: 'Gold' is not an option; choose one of: Basic, Premium.",
        ),
    ],
)
def test_invalid_field_values_are_refused_with_a_clear_message(
    workspace, field_type, options, given, detail
):
    # given
    make_field(workspace, "value", field_type, options=options)
    contact = make_contact(workspace)
    # when
    with captured(signals.field_changed) as changed, pytest.raises(Unprocessable) as caught:
        contact_fields.set_field(contact, "value", given)
    # then
    assert caught.value.detail == detail
    assert caught.value.extra == {"errors": [{"field": "value", "message": detail}]}
    assert Contact.objects.get(pk=contact.pk).fields == {}
    assert changed == []


def test_set_fields_writes_nothing_when_any_value_is_invalid(workspace):
    # given
    make_field(workspace, "plan", "text")
    make_field(workspace, "visits", "number")
    contact = make_contact(workspace)
    # when
    with captured(signals.field_changed) as changed, pytest.raises(Unprocessable) as caught:
        contact_fields.set_fields(contact, {"plan": "Gold", "visits": "many", "nope": 1})
    # then
    assert caught.value.detail == (
        "visits: 'many' is not a number.; nope: no such field; define it under fields first."
    )
    assert Contact.objects.get(pk=contact.pk).fields == {}
    assert changed == []


def test_field_changed_fires_only_when_the_value_changes(workspace):
    # given
    make_field(workspace, "visits", "number")
    contact = make_contact(workspace)
    # when
    with captured(signals.field_changed) as changed:
        contact_fields.set_field(contact, "visits", 1, source="api")
        contact_fields.set_field(contact, "visits", "1")
        contact_fields.set_field(contact, "visits", 2)
        contact_fields.set_field(contact, "visits", None)
        contact_fields.set_field(contact, "visits", "")
    # then
    assert [(c["contact"].pk, c["key"], c["old"], c["new"]) for c in changed] == [
        (contact.pk, "visits", None, 1),
        (contact.pk, "visits", 1, 2),
        (contact.pk, "visits", 2, None),
    ]
    assert changed[0]["source"] == "api"
    assert Contact.objects.get(pk=contact.pk).fields == {}


def test_set_field_keeps_other_fields_written_meanwhile(workspace):
    # given a stale copy of the contact while another job set a field
    make_field(workspace, "plan", "text")
    make_field(workspace, "visits", "number")
    contact = make_contact(workspace)
    stale = Contact.objects.get(pk=contact.pk)
    contact_fields.set_field(contact, "plan", "Gold")
    # when
    contact_fields.set_field(stale, "visits", 3)
    # then
    assert Contact.objects.get(pk=contact.pk).fields == {"plan": "Gold", "visits": 3}


def test_set_fields_many_sets_each_contacts_fields_and_signals_only_changes(workspace):
    # given two contacts, one with fields set by another job since it was read
    plan = make_field(workspace, "plan", "text")
    make_field(workspace, "visits", "number")
    lea = make_contact(workspace, "lea@example.ch", fields={"plan": "Gold", "visits": 1})
    nina = make_contact(workspace, "nina@example.ch")
    stale = Contact.objects.get(pk=nina.pk)
    contact_fields.set_field(nina, "plan", "Silver")
    # when
    with captured(signals.field_changed) as changed:
        contact_fields.set_fields_many(
            [(lea, {"plan": "Gold", "visits": "2"}), (stale, {"visits": 5})],
            source="etermin",
            definitions={"plan": plan},
        )
    # then
    assert [(c["contact"].pk, c["key"], c["old"], c["new"], c["source"]) for c in changed] == [
        (lea.pk, "visits", 1, 2, "etermin"),
        (nina.pk, "visits", None, 5, "etermin"),
    ]
    assert Contact.objects.get(pk=lea.pk).fields == {"plan": "Gold", "visits": 2}
    assert Contact.objects.get(pk=nina.pk).fields == {"plan": "Silver", "visits": 5}
    assert stale.fields == {"plan": "Silver", "visits": 5}


def test_set_fields_many_writes_nothing_when_any_value_is_invalid(workspace):
    make_field(workspace, "visits", "number")
    lea = make_contact(workspace, "lea@example.ch")
    nina = make_contact(workspace, "nina@example.ch")
    with captured(signals.field_changed) as changed, pytest.raises(Unprocessable) as caught:
        contact_fields.set_fields_many([(lea, {"visits": 1}), (nina, {"visits": "many"})])
    assert caught.value.detail == "visits: 'many' is not a number."
    assert list(Contact.objects.values_list("fields", flat=True)) == [{}, {}]
    assert changed == []


def test_set_fields_many_of_unchanged_values_writes_and_signals_nothing(workspace):
    make_field(workspace, "visits", "number")
    lea = make_contact(workspace, "lea@example.ch", fields={"visits": 1})
    before = Contact.objects.get(pk=lea.pk).updated_at
    with captured(signals.field_changed) as changed:
        contact_fields.set_fields_many([(lea, {"visits": "1"})])
    assert changed == []
    assert Contact.objects.get(pk=lea.pk).updated_at == before


def test_field_datetime_reads_dates_as_midnight_in_the_workspace_zone(workspace):
    # given
    make_field(workspace, "start", "datetime")
    make_field(workspace, "birthday", "date")
    make_field(workspace, "plan", "text")
    contact = make_contact(
        workspace, fields={"start": "2026-12-03T09:30:00+01:00", "birthday": "2026-12-03"}
    )
    # then
    assert contact_fields.field_datetime(contact, "start") == datetime(
        2026, 12, 3, 8, 30, tzinfo=UTC
    )
    assert contact_fields.field_datetime(contact, "birthday") == datetime(
        2026, 12, 2, 23, 0, tzinfo=UTC
    )
    assert contact_fields.field_datetime(contact, "plan") is None
    assert contact_fields.field_datetime(contact, "missing") is None


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"key": "Start Date", "type": "date"}, "'Start Date' is not a field key"),
        ({"key": "start", "type": "time"}, "'time' is not a field type"),
        ({"key": "plan", "type": "select"}, "options: a select field needs"),
        ({"key": "plan", "type": "select", "options": ["a", "a"]}, "options: 'a' is listed"),
        ({"key": "plan", "type": "text", "options": ["a"]}, "options: only select fields"),
    ],
)
def test_bad_field_definitions_are_refused(workspace, kwargs, detail):
    with pytest.raises(Unprocessable) as caught:
        contact_fields.create_field(workspace, **kwargs)
    assert caught.value.detail.startswith(detail)
    assert contact_fields.list_fields(workspace) == []


def test_field_keys_are_unique_per_workspace(workspace):
    make_field(workspace, "plan", "text")
    make_field(make_workspace("Praxis Enge"), "plan", "number")
    with pytest.raises(Conflict) as caught:
        make_field(workspace, "plan", "number")
    assert caught.value.detail == "A field with the key 'plan' already exists."
    assert [(f.key, f.type) for f in contact_fields.list_fields(workspace)] == [("plan", "text")]


# -- tags ------------------------------------------------------------------------------------


def test_tag_added_fires_once_per_tag_the_contact_did_not_have(workspace):
    # given
    contact = make_contact(workspace, tags=["vip"])
    # when
    with captured(signals.tag_added) as tagged:
        first = contact_tags.add_tags(contact, ["vip", "kurs", " kurs "], source="campaign:1")
        second = contact_tags.add_tags(contact, ["kurs"])
    # then
    assert first == ["kurs"]
    assert second == []
    assert [(c["sender"], c["contact"].pk, c["tag"], c["source"]) for c in tagged] == [
        (Contact, contact.pk, "kurs", "campaign:1")
    ]
    assert contact_tags.tag_names(Contact.objects.get(pk=contact.pk)) == ["kurs", "vip"]
    assert Tag.objects.count() == 2


def test_remove_tags_returns_what_the_contact_had(workspace):
    contact = make_contact(workspace, tags=["vip", "kurs"])
    with captured(signals.tag_added) as tagged:
        removed = contact_tags.remove_tags(contact, ["kurs", "never"])
    assert removed == ["kurs"]
    assert contact_tags.tag_names(Contact.objects.get(pk=contact.pk)) == ["vip"]
    assert tagged == []


# -- email status and the consent ledger -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("confirmed_doi", "doi_confirmed"),
        ("confirmed_soi", "soi"),
        ("unsubscribed", "unsubscribed"),
        ("blocked_temporarily", "blocked"),
        ("spam", "status_changed"),
    ],
)
def test_set_email_status_records_the_change(workspace, status, kind):
    # given
    contact = make_contact(workspace)
    # when
    consent.set_email_status(
        contact,
        status,
        source="doi_link",
        details={"email_id": 3},
        ip="203.0.113.9",
        user_agent="Mozilla/5.0",
    )
    # then
    assert Contact.objects.get(pk=contact.pk).email_status == status
    event = ConsentEvent.objects.get(contact=contact)
    assert (event.kind, event.source, event.details, event.ip, event.user_agent) == (
        kind,
        "doi_link",
        {"from": "unknown", "to": status, "email_id": 3},
        "203.0.113.9",
        "Mozilla/5.0",
    )
    assert event.workspace_id == workspace.pk


def test_doi_confirmed_fires_when_the_status_becomes_confirmed_doi_only(workspace):
    contact = make_contact(workspace)
    with captured(signals.doi_confirmed) as confirmed:
        consent.set_email_status(contact, "confirmed_doi", source="doi_link")
        consent.set_email_status(contact, "confirmed_doi", source="doi_link")
        consent.set_email_status(contact, "unsubscribed", source="link")
    assert [c["contact"].pk for c in confirmed] == [contact.pk]
    assert [kind for kind, _, _ in ledger(contact)] == ["doi_confirmed", "unsubscribed"]


@pytest.mark.parametrize(
    ("status", "ip", "detail"),
    [
        ("confirmed", None, "'confirmed' is not an email status"),
        ("unsubscribed", "not-an-ip", "'not-an-ip' is not an IP address."),
    ],
)
def test_set_email_status_with_bad_input_writes_nothing(workspace, status, ip, detail):
    contact = make_contact(workspace)
    with pytest.raises(Unprocessable) as caught:
        consent.set_email_status(contact, status, source="x", ip=ip)
    assert caught.value.detail.startswith(detail)
    assert Contact.objects.get(pk=contact.pk).email_status == "unknown"
    assert ConsentEvent.objects.count() == 0


def test_record_consent_appends_with_the_given_time(workspace):
    contact = make_contact(workspace)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    event = consent.record_consent(
        contact, "doi_sent", source="mail", details={"outbox_id": 5}, occurred_at=at
    )
    stored = ConsentEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.occurred_at, stored.details) == ("doi_sent", at, {"outbox_id": 5})
    with pytest.raises(Unprocessable):
        consent.record_consent(contact, "liked", source="x")
    assert ConsentEvent.objects.count() == 1


def test_the_consent_ledger_refuses_changes_from_every_side(workspace):
    # given
    contact = make_contact(workspace)
    event = consent.record_consent(contact, "doi_requested", source="campaign")
    # when / then
    event.source = "forged"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    with pytest.raises(ValueError, match="append-only"):
        ConsentEvent.objects.filter(pk=event.pk).update(source="forged")
    with pytest.raises(ValueError, match="append-only"):
        ConsentEvent.objects.filter(pk=event.pk).delete()
    assert list(ConsentEvent.objects.values_list("source", flat=True)) == ["campaign"]


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_update_of_a_consent_event():
    # given
    workspace = make_workspace()
    contact = make_contact(workspace)
    event = consent.record_consent(contact, "doi_requested", source="campaign")
    # when
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE contacts_consentevent SET source = %s WHERE id = %s", ["forged", event.pk]
        )
    # then
    assert list(ConsentEvent.objects.values_list("source", flat=True)) == ["campaign"]


@pytest.mark.parametrize(
    ("locale", "region"), [("de-CH", "CH"), ("de-DE", "DE"), ("de_AT", "AT"), ("de", "CH")]
)
def test_local_phone_numbers_belong_to_the_country_of_the_workspace_locale(db, locale, region):
    workspace = make_workspace(f"Praxis {locale}")
    workspace.locale = locale
    assert cleaning.phone_region(workspace) == region


def test_a_german_workspace_reads_local_numbers_as_german(db):
    # given
    workspace = make_workspace("Praxis Berlin")
    workspace.locale = "de-DE"
    workspace.save()
    # when
    contact = make_contact(workspace, phone="030 12345678")
    # then
    assert Contact.objects.get(pk=contact.pk).phone == "+493012345678"


def test_signals_are_sent_after_the_write_inside_the_transaction(workspace):
    # given a receiver that looks at the database and then fails
    contact = make_contact(workspace)
    seen: list[list[str]] = []

    def failing_receiver(sender, contact, tag, **kwargs):
        seen.append(contact_tags.tag_names(Contact.objects.get(pk=contact.pk)))
        raise RuntimeError("receiver failed")

    signals.tag_added.connect(failing_receiver, weak=False)
    try:
        # when
        with pytest.raises(RuntimeError), transaction.atomic():
            contact_tags.add_tags(contact, ["vip"])
    finally:
        signals.tag_added.disconnect(failing_receiver)
    # then the receiver saw the tag, and its failure rolled the tag back
    assert seen == [["vip"]]
    assert ContactTag.objects.count() == 0


def test_set_block_stores_counters_without_touching_status_or_ledger(workspace):
    # given a single-opt-in contact
    contact = make_contact(workspace, email="anna@example.ch", email_status="confirmed_soi")
    until = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    ledger_before = list(ConsentEvent.objects.filter(contact=contact).values_list("id", flat=True))

    # when mail records its second temporary block
    consent.set_block(contact, count=2, until=until)

    # then the counters are stored, and nothing else changed
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.block_count, stored.blocked_until) == (2, until)
    assert stored.email_status == "confirmed_soi"
    assert (
        list(ConsentEvent.objects.filter(contact=contact).values_list("id", flat=True))
        == ledger_before
    )


def test_notes_in_a_batch_keep_each_source_key_once(workspace):
    # given a contact whose booking note was added before
    lea = make_contact(workspace, "lea@example.ch")
    nina = make_contact(workspace, "nina@example.ch")
    contact_notes.add_note(lea, "old", source="etermin", source_key="k")
    # when
    added = contact_notes.add_notes(
        [
            (lea, "again", "etermin", "k"),
            (nina, "Parkplatz", "etermin", "k"),
            (nina, "twice", "etermin", "k"),
            (nina, "free", "api", None),
        ]
    )
    # then
    assert [note is None for note in added] == [True, False, True, False]
    assert sorted(Note.objects.values_list("contact__email", "text", "source", "source_key")) == [
        ("lea@example.ch", "old", "etermin", "k"),
        ("nina@example.ch", "Parkplatz", "etermin", "k"),
        ("nina@example.ch", "free", "api", None),
    ]
    assert added[1] is not None and added[1].pk is not None


def test_a_batch_of_notes_with_an_empty_one_stores_nothing(workspace):
    contact = make_contact(workspace)
    with pytest.raises(Unprocessable):
        contact_notes.add_notes([(contact, "fine", "api", None), (contact, "  ", "api", None)])
    assert Note.objects.count() == 0


def test_notes_whose_key_a_concurrent_job_just_used_are_added_one_at_a_time(workspace):
    # given a note with the key that the batch's look-up does not see (inserted concurrently)
    contact = make_contact(workspace)
    contact_notes.add_note(contact, "first", source="etermin", source_key="k")
    # when
    with mock.patch.object(QuerySet, "values_list", return_value=[]):
        added = contact_notes.add_notes(
            [(contact, "second", "etermin", "k"), (contact, "third", "etermin", "j")]
        )
    # then
    assert added[0] is None
    assert sorted(Note.objects.values_list("text", flat=True)) == ["first", "third"]


# -- managing tags and field definitions -------------------------------------------------------


def _tags(contact: Contact) -> list[str]:
    return sorted(ContactTag.objects.filter(contact=contact).values_list("tag__name", flat=True))


def _live_campaign(workspace, name: str, status: str, config: dict) -> None:
    from django.apps import apps

    campaign = apps.get_model("campaigns", "Campaign").objects.create(
        workspace=workspace, name=name, status=status
    )
    apps.get_model("campaigns", "Element").objects.create(
        campaign=campaign, key="e1", type="condition.field", kind="condition", config=config
    )


def test_rename_tag_keeps_it_on_every_contact(workspace):
    # given
    anna = make_contact(workspace, tags=["vip", "newsletter"])
    beat = make_contact(workspace, "beat@example.ch", tags=["vip"])
    # when
    tag = contact_tags.rename_tag(workspace, "vip", "  VIP client ")
    # then
    assert tag.name == "VIP client"
    assert _tags(anna) == ["VIP client", "newsletter"]
    assert _tags(beat) == ["VIP client"]
    assert sorted(Tag.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "VIP client",
        "newsletter",
    ]


def test_rename_tag_to_a_taken_name_is_a_conflict_and_changes_nothing(workspace):
    # given
    anna = make_contact(workspace, tags=["vip", "newsletter"])
    # when
    with pytest.raises(Conflict) as raised:
        contact_tags.rename_tag(workspace, "vip", "newsletter")
    # then
    assert raised.value.detail == "A tag called 'newsletter' already exists."
    assert _tags(anna) == ["newsletter", "vip"]


@pytest.mark.parametrize(
    ("new_name", "detail"),
    [
        ("  ", "name: a tag needs a name."),
        ("x" * 101, "name: at most 100 characters."),
    ],
)
def test_rename_tag_refuses_a_bad_name_and_changes_nothing(workspace, new_name, detail):
    # given
    anna = make_contact(workspace, tags=["vip"])
    # when
    with pytest.raises(Unprocessable) as raised:
        contact_tags.rename_tag(workspace, "vip", new_name)
    # then
    assert raised.value.detail == detail
    assert _tags(anna) == ["vip"]


def test_rename_tag_of_another_workspace_is_not_found(workspace):
    # given
    other = make_workspace("Praxis Enge")
    stranger = make_contact(other, tags=["vip"])
    # when
    with pytest.raises(NotFound):
        contact_tags.rename_tag(workspace, "vip", "gold")
    # then
    assert _tags(stranger) == ["vip"]


def test_delete_tag_removes_it_from_every_contact_of_the_workspace_only(workspace):
    # given
    anna = make_contact(workspace, tags=["vip", "newsletter"])
    beat = make_contact(workspace, "beat@example.ch", tags=["vip"])
    make_contact(workspace, "carla@example.ch", tags=["newsletter"])
    other = make_workspace("Praxis Enge")
    stranger = make_contact(other, tags=["vip"])
    # when
    removed = contact_tags.delete_tag(workspace, "vip")
    # then
    assert removed == 2
    assert _tags(anna) == ["newsletter"]
    assert _tags(beat) == []
    assert not Tag.objects.filter(workspace=workspace, name="vip").exists()
    assert _tags(stranger) == ["vip"]


def test_delete_unknown_tag_is_not_found(workspace):
    with pytest.raises(NotFound) as raised:
        contact_tags.delete_tag(workspace, "vip")
    assert raised.value.detail == "There is no tag 'vip'."


def test_update_field_changes_label_and_options_but_not_key_or_type(workspace):
    # given
    make_field(workspace, "plan", "select", options=["Basic"])
    # when
    field = contact_fields.update_field(
        workspace, "plan", label="Tarif", options=["Basic", "Premium"]
    )
    # then
    field.refresh_from_db()
    assert (field.key, field.type, field.label, field.options) == (
        "plan",
        "select",
        "Tarif",
        ["Basic", "Premium"],
    )


def test_update_field_refuses_options_on_a_text_field_and_changes_nothing(workspace):
    # given
    field = make_field(workspace, "city", "text")
    # when
    with pytest.raises(Unprocessable) as raised:
        contact_fields.update_field(workspace, "city", label="Ort", options=["Zürich"])
    # then
    assert raised.value.detail == "options: only select fields have options."
    field.refresh_from_db()
    assert (field.label, field.options) == ("City", [])


def test_delete_field_removes_its_values_from_contacts(workspace):
    # given
    make_field(workspace, "city", "text")
    make_field(workspace, "age", "number")
    anna = make_contact(workspace, fields={"city": "Zürich", "age": 41})
    beat = make_contact(workspace, "beat@example.ch", fields={"age": 30})
    other = make_workspace("Praxis Enge")
    make_field(other, "city", "text")
    stranger = make_contact(other, fields={"city": "Bern"})
    # when
    changed = contact_fields.delete_field(workspace, "city")
    # then
    assert changed == 1
    anna.refresh_from_db()
    beat.refresh_from_db()
    stranger.refresh_from_db()
    assert anna.fields == {"age": 41}
    assert beat.fields == {"age": 30}
    assert stranger.fields == {"city": "Bern"}
    assert [f.key for f in contact_fields.list_fields(workspace)] == ["age"]


@pytest.mark.parametrize("status", ["active", "paused"])
def test_delete_field_used_by_a_live_campaign_is_refused(workspace, status):
    # given
    make_field(workspace, "city", "text")
    anna = make_contact(workspace, fields={"city": "Zürich"})
    _live_campaign(workspace, "Recall", status, {"rules": [{"field": "city", "value": "x"}]})
    # when
    with pytest.raises(Conflict) as raised:
        contact_fields.delete_field(workspace, "city")
    # then
    assert raised.value.as_dict()["campaigns"] == ["Recall"]
    assert "Recall" in raised.value.detail
    anna.refresh_from_db()
    assert anna.fields == {"city": "Zürich"}
    assert [f.key for f in contact_fields.list_fields(workspace)] == ["city"]


def test_delete_field_used_only_by_a_draft_campaign_is_allowed(workspace):
    # given
    make_field(workspace, "city", "text")
    _live_campaign(workspace, "Draft", "draft", {"field": "city"})
    # when
    changed = contact_fields.delete_field(workspace, "city")
    # then
    assert changed == 0
    assert contact_fields.list_fields(workspace) == []
