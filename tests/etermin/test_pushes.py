"""Reading eTermin web pushes: every variant public sources describe, and arbitrary junk."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminflow.etermin.pushes import (
    AppointmentEvent,
    PushHeader,
    UnreadablePush,
    UnsupportedCharset,
    check_push,
    parse_push,
    push_codec,
)

SAMPLES = Path(__file__).parent / "samples"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
UID = "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def push(**fields: Any) -> dict[str, Any]:
    """A minimal readable push; keyword arguments add or replace fields (None removes one)."""
    base: dict[str, Any] = {"command": "CREATED", "appointmentUID": UID}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def as_json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def as_form(fields: dict[str, Any], encoding: str = "utf-8") -> bytes:
    return urlencode(fields, encoding=encoding).encode("ascii")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the samples -----------------------------------------------------------------------------


def test_created_json_sample_reads_to_exact_event():
    # when
    event = parse_push(sample("created.json"), JSON)
    # then
    assert event == AppointmentEvent(
        command="CREATED",
        uid=UID,
        start=utc(2026, 12, 3, 8, 30),
        end=utc(2026, 12, 3, 9, 15),
        booked_at=utc(2026, 11, 27, 14, 2, 11),
        calendar_id=211614,
        calendar_name="Praxis Seefeld",
        salutation="Frau",
        first_name="Lea",
        last_name="Brunner",
        phone="+41 79 555 01 23",
        street="Seestrasse 4",
        zip="8002",
        town="Zürich",
        birthday=date(1988, 2, 14),
        email="lea.brunner@example.ch",
        email_problem="",
        notes="Bitte Parkplatz reservieren.\nDanke!",
        services="Erstberatung (45 min)",
        language="DE",
        newsletter="yes",
        additional={},
        fields={
            "command": "CREATED",
            "appointmentuid": UID,
            "startdatetimeutc": "2026-12-03T08:30:00Z",
            "enddatetimeutc": "2026-12-03T09:15:00Z",
            "startdatetime": "2026-12-03T09:30:00",
            "enddatetime": "2026-12-03T10:15:00",
            "bookingdateutc": "2026-11-27T14:02:11Z",
            "salutation": "Frau",
            "firstname": "Lea",
            "lastname": "Brunner",
            "email": "lea.brunner@example.ch",
            "phone": "+41 79 555 01 23",
            "street": "Seestrasse 4",
            "zip": "8002",
            "town": "Zürich",
            "birthday": "14.02.1988",
            "notes": "Bitte Parkplatz reservieren.\nDanke!",
            "calendarname": "Praxis Seefeld",
            "calendarid": "211614",
            "selectedanswers": "Erstberatung (45 min)",
            "bookinglanguage": "DE",
            "newsletter": "1",
        },
    )


def test_modified_json_sample_reads_new_times():
    # when
    event = parse_push(sample("modified.json"), JSON)
    # then
    assert (event.command, event.uid) == ("MODIFIED", UID)
    assert (event.start, event.end) == (utc(2026, 12, 4, 13, 0), utc(2026, 12, 4, 13, 45))
    assert event.newsletter == "yes"
    assert event.birthday == date(1988, 2, 14)


def test_deleted_json_sample_has_empty_fields_as_missing():
    # when
    event = parse_push(sample("deleted.json"), JSON)
    # then
    assert (event.command, event.uid) == ("DELETED", UID)
    assert (event.start, event.end) == (utc(2026, 12, 4, 13, 0), utc(2026, 12, 4, 13, 45))
    assert (event.street, event.zip, event.town, event.notes) == ("", "", "", "")
    assert event.birthday is None
    assert event.newsletter == "unknown"
    assert event.calendar_id == 211614
    assert "street" not in event.fields
    assert "additional1" not in event.fields


def test_created_form_sample_reads_umlauts_and_plus_spaces():
    # when
    event = parse_push(sample("created.form"), FORM)
    # then
    assert event == AppointmentEvent(
        command="CREATED",
        uid="0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00",
        start=utc(2026, 12, 10, 15, 0),
        end=utc(2026, 12, 10, 16, 0),
        booked_at=utc(2026, 11, 27, 15, 10),
        calendar_id=None,
        calendar_name="Praxis Altstadt",
        salutation="",
        first_name="Marco",
        last_name="Müller",
        phone="",
        street="",
        zip="",
        town="",
        birthday=None,
        email="marco.mueller@example.de",
        email_problem="",
        notes="Erster Termin",
        services="",
        language="",
        newsletter="unknown",
        additional={},
        fields={
            "command": "CREATED",
            "appointmentuid": "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00",
            "startdatetimeutc": "2026-12-10T15:00:00Z",
            "enddatetimeutc": "2026-12-10T16:00:00Z",
            "startdatetime": "2026-12-10T16:00:00",
            "enddatetime": "2026-12-10T17:00:00",
            "bookingdateutc": "2026-11-27T15:10:00Z",
            "firstname": "Marco",
            "lastname": "Müller",
            "email": "marco.mueller@example.de",
            "calendarname": "Praxis Altstadt",
            "notes": "Erster Termin",
        },
    )


def test_deleted_form_sample_reads_header_and_times():
    # when
    event = parse_push(sample("deleted.form"), FORM)
    # then
    assert (event.command, event.uid) == ("DELETED", "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00")
    assert (event.start, event.end) == (utc(2026, 12, 10, 15, 0), utc(2026, 12, 10, 16, 0))
    assert event.booked_at is None
    assert event.email == "marco.mueller@example.de"
    assert event.first_name == ""


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("created.json", PushHeader("CREATED", UID)),
        ("modified.json", PushHeader("MODIFIED", UID)),
        ("deleted.json", PushHeader("DELETED", UID)),
        ("created.form", PushHeader("CREATED", "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00")),
        ("deleted.form", PushHeader("DELETED", "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00")),
    ],
)
def test_check_push_reads_header_of_every_sample(name, header):
    # given the content type given with it, missing, or wrong
    for content_type in (JSON if name.endswith("json") else FORM, "", "text/plain", JSON, FORM):
        # when / then
        assert check_push(sample(name), content_type) == header


# -- body formats and content types ----------------------------------------------------------


@pytest.mark.parametrize("content_type", ["", "text/plain", FORM, "application/octet-stream"])
def test_json_body_is_read_whatever_the_content_type(content_type):
    # when
    event = parse_push(as_json(push(firstName="Lea")), content_type)
    # then
    assert (event.command, event.uid, event.first_name) == ("CREATED", UID, "Lea")


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", JSON, "application/json; charset=utf-8"]
)
def test_form_body_is_read_whatever_the_content_type(content_type):
    # when
    event = parse_push(as_form(push(firstName="Lea")), content_type)
    # then
    assert (event.command, event.uid, event.first_name) == ("CREATED", UID, "Lea")


def test_upper_case_keys_with_compact_local_dates():
    # given a push in the UPPER-CASE style one receiver handled, local times only (winter: +01:00)
    body = as_form(
        {
            "COMMAND": "MODIFIED",
            "APPOINTMENTUID": UID,
            "STARTDATETIME": "20261210160000",
            "ENDDATETIME": "20261210170000",
            "EMAIL": "Marco@Example.DE",
        }
    )
    # when
    event = parse_push(body, FORM, timezone="Europe/Zurich")
    # then
    assert (event.command, event.uid) == ("MODIFIED", UID)
    assert (event.start, event.end) == (utc(2026, 12, 10, 15, 0), utc(2026, 12, 10, 16, 0))
    assert event.email == "marco@example.de"


@pytest.mark.parametrize("key", ["calendarID", "calendarId", "CALENDARID", "calendarid"])
def test_calendar_id_key_in_any_spelling(key):
    # when
    event = parse_push(as_json(push(**{key: "211614"})), JSON)
    # then
    assert event.calendar_id == 211614


@pytest.mark.parametrize(
    ("value", "expected"), [(211614, 211614), (211614.0, 211614), ("x12", None), ("", None)]
)
def test_calendar_id_as_number_or_garbage(value, expected):
    # when
    event = parse_push(as_json(push(calendarID=value)), JSON)
    # then
    assert event.calendar_id == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-10T10:00:00Z", utc(2026, 5, 10, 10, 0)),
        ("2026-05-10T10:00:00z", utc(2026, 5, 10, 10, 0)),
        ("2026-05-10T10:00:00", utc(2026, 5, 10, 10, 0)),
        ("2026-05-10T12:00:00+02:00", utc(2026, 5, 10, 10, 0)),
        ("2026-05-10T10:00:00.1234567Z", utc(2026, 5, 10, 10, 0, 0, 123456)),
        ("2026-05-10T10:00:00.5", utc(2026, 5, 10, 10, 0, 0, 500000)),
        ("2026-05-10 10:00", utc(2026, 5, 10, 10, 0)),
        ("2026-05-10 10:00:30", utc(2026, 5, 10, 10, 0, 30)),
        ("20260510100000", utc(2026, 5, 10, 10, 0)),
        ("202605101000", utc(2026, 5, 10, 10, 0)),
        (" 2026-05-10T10:00:00Z ", utc(2026, 5, 10, 10, 0)),
    ],
)
def test_utc_field_formats(text, expected):
    # when
    event = parse_push(as_json(push(startDateTimeUTC=text)), JSON, timezone="America/New_York")
    # then a naive UTC field is UTC, never the account's zone
    assert event.start == expected


def test_utc_fields_win_over_local_ones():
    # given local fields that disagree with the UTC ones
    body = as_json(
        push(startDateTimeUTC="2026-12-03T08:30:00Z", startDateTime="2026-12-03T23:00:00")
    )
    # when
    event = parse_push(body, JSON)
    # then
    assert event.start == utc(2026, 12, 3, 8, 30)


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("Europe/Zurich", "2026-12-03 09:30", utc(2026, 12, 3, 8, 30)),
        ("Europe/Zurich", "2026-07-03T09:30:00", utc(2026, 7, 3, 7, 30)),
        ("America/New_York", "2026-07-03T09:30:00", utc(2026, 7, 3, 13, 30)),
        # a local time with its own offset keeps it
        ("Europe/Zurich", "2026-07-03T09:30:00-04:00", utc(2026, 7, 3, 13, 30)),
        # 2026-03-29 02:30 does not exist in Zurich: read with the winter offset (= 03:30 CEST)
        ("Europe/Zurich", "2026-03-29T02:30:00", utc(2026, 3, 29, 1, 30)),
        # 2026-10-25 02:30 happens twice in Zurich: the first one (still CEST)
        ("Europe/Zurich", "2026-10-25T02:30:00", utc(2026, 10, 25, 0, 30)),
    ],
)
def test_local_fields_read_in_account_zone_when_utc_missing(zone, local, expected):
    # when
    event = parse_push(as_json(push(startDateTime=local, bookingDate=local)), JSON, timezone=zone)
    # then
    assert event.start == expected
    assert event.booked_at == expected


def test_net_min_value_date_counts_as_missing():
    # when
    event = parse_push(as_json(push(bookingDateUTC="0001-01-01T00:00:00")), JSON)
    # then
    assert event.booked_at is None


def test_unknown_zone_refuses_only_when_local_times_are_needed():
    # given
    local_only = as_json(push(startDateTime="2026-12-03T09:30:00"))
    # when / then
    with pytest.raises(UnreadablePush, match="time zone 'Mars/Olympus' is unknown"):
        parse_push(local_only, JSON, timezone="Mars/Olympus")
    assert parse_push(as_json(push()), JSON, timezone="Mars/Olympus").start is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14.02.1988", date(1988, 2, 14)),
        ("4.2.1988", date(1988, 2, 4)),
        ("1988-02-14", date(1988, 2, 14)),
        ("1988-02-14T00:00:00", date(1988, 2, 14)),
        ("31.02.1988", None),
        ("sometime", None),
        ("", None),
    ],
)
def test_birthday_formats(text, expected):
    # when
    event = parse_push(as_json(push(birthday=text)), JSON)
    # then an odd birthday never costs the booking
    assert event.birthday == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zeile 1\\nZeile 2", "Zeile 1\nZeile 2"),
        ("Zeile 1\\r\\nZeile 2", "Zeile 1\nZeile 2"),
        ("Zeile 1\r\nZeile 2", "Zeile 1\nZeile 2"),
        ("Zeile 1\nZeile 2", "Zeile 1\nZeile 2"),
        ("Grüße aus Zürich 😀", "Grüße aus Zürich 😀"),
    ],
)
def test_notes_line_breaks_umlauts_and_emoji(raw, expected):
    # when
    from_json = parse_push(as_json(push(notes=raw)), JSON)
    from_form = parse_push(as_form(push(notes=raw)), FORM)
    # then
    assert from_json.notes == expected
    assert from_form.notes == expected


def test_latin1_form_body_without_charset():
    # given a form body percent-encoded in latin-1 (ü is %FC)
    body = as_form(push(lastName="Müller", town="Zürich"), encoding="latin-1")
    assert b"%FC" in body
    # when
    event = parse_push(body, FORM)
    # then
    assert (event.last_name, event.town) == ("Müller", "Zürich")


def test_raw_unescaped_utf8_and_latin1_bytes_in_form_body():
    # given bytes a careless sender did not percent-encode
    utf8 = "command=CREATED&appointmentUID=u1&lastName=Müller".encode()
    latin1 = "command=CREATED&appointmentUID=u1&lastName=Müller".encode("latin-1")
    # when / then
    assert parse_push(utf8, FORM).last_name == "Müller"
    assert parse_push(latin1, FORM).last_name == "Müller"


def test_declared_charset_is_honoured():
    # given "Ã¼" in UTF-8 is also valid latin-1 text; the declared charset decides
    body = as_form(push(lastName="Müller"), encoding="latin-1")
    # when
    event = parse_push(body, FORM + "; charset=ISO-8859-1")
    # then
    assert event.last_name == "Müller"


def test_latin1_json_body():
    # given
    body = json.dumps(push(town="Zürich"), ensure_ascii=False).encode("latin-1")
    # when / then
    assert parse_push(body, JSON).town == "Zürich"


def test_utf8_bom_is_ignored():
    # when
    event = parse_push(b"\xef\xbb\xbf" + as_json(push(town="Zürich")), JSON)
    # then
    assert event.town == "Zürich"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "yes"),
        ("true", "yes"),
        ("True", "yes"),
        (True, "yes"),
        (1, "yes"),
        ("yes", "yes"),
        ("ja", "yes"),
        ("0", "no"),
        ("false", "no"),
        (False, "no"),
        ("no", "no"),
        ("nein", "no"),
        ("", "unknown"),
        (None, "unknown"),
        ("maybe", "unknown"),
    ],
)
def test_newsletter_values(value, expected):
    # when
    event = parse_push(as_json(push(newsletter=value)), JSON)
    # then
    assert event.newsletter == expected


@pytest.mark.parametrize(
    ("raw", "email", "problem"),
    [
        ("  Lea.Brunner@Example.CH ", "lea.brunner@example.ch", ""),
        ("", "", ""),
        (None, "", ""),
    ],
)
def test_email_normalised(raw, email, problem):
    # when
    event = parse_push(as_json(push(email=raw)), JSON)
    # then
    assert (event.email, event.email_problem) == (email, problem)


@pytest.mark.parametrize("raw", ["lea.brunner", "lea@", "lea brunner@example.ch", "@example.ch"])
def test_invalid_email_gives_empty_email_and_a_reason(raw):
    # when
    event = parse_push(as_json(push(email=raw)), JSON)
    # then the push is still read, the address is not used
    assert event.email == ""
    assert event.email_problem.startswith(f"{raw!r} is not an email address: ")
    assert event.fields["email"] == raw


def test_additional_fields_and_services_and_language():
    # when
    event = parse_push(
        as_json(
            push(
                additional1="Hund",
                additional2="",
                ADDITIONAL6="Rollstuhl",
                selectedAnswers="Massage, 60 min",
                bookingLanguage="EN",
            )
        ),
        JSON,
    )
    # then
    assert event.additional == {"additional1": "Hund", "additional6": "Rollstuhl"}
    assert (event.services, event.language) == ("Massage, 60 min", "EN")


@pytest.mark.parametrize("make", [as_json, as_form])
def test_key_sent_twice_in_different_case_keeps_last_filled_value(make):
    # given
    body = make({"command": "CREATED", "appointmentUID": UID, "EMAIL": "a@example.ch", "email": ""})
    # when / then
    assert parse_push(body, "").email == "a@example.ch"


def test_lower_case_command_is_accepted():
    # when / then
    assert check_push(as_json(push(command=" modified ")), JSON) == PushHeader("MODIFIED", UID)


def test_nul_and_lone_surrogates_are_cleaned_from_values():
    # given JSON escapes that PostgreSQL text cannot hold
    body = b'{"command":"CREATED","appointmentUID":"u1","firstName":"Le\\u0000a\\ud800"}'
    # when
    event = parse_push(body, JSON)
    # then
    assert event.first_name == "Lea?"


# -- unreadable pushes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "The body is empty."),
        (b"  \r\n ", "The body is empty."),
        (
            b'{"command": "CREATED",',
            "The body is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 23 (char 22).",
        ),
        (b"[1, 2]", "The body is a JSON array; a web push is one JSON object."),
        (b"42", "The body is JSON but a number, not an object with the push's fields."),
        (b"hello", "The body is not valid JSON: Expecting value: line 1 column 1 (char 0)."),
        (b"{}", "The push has no command (CREATED, MODIFIED or DELETED)."),
        (b"appointmentUID=u1", "The push has no command (CREATED, MODIFIED or DELETED)."),
        (b"command=&appointmentUID=u1", "The push has no command (CREATED, MODIFIED or DELETED)."),
        (
            b"command=CANCELLED&appointmentUID=u1",
            "The command 'CANCELLED' is not one of CREATED, MODIFIED, DELETED.",
        ),
        (b"command=CREATED", "The push has no appointmentUID."),
        (b'{"command":"CREATED","appointmentUID":"  "}', "The push has no appointmentUID."),
        (
            b"command=CREATED&appointmentUID=u1&startDateTimeUTC=tomorrow",
            "The field startDateTimeUTC holds 'tomorrow', which is not a date and time.",
        ),
        (
            b"command=CREATED&appointmentUID=u1&ENDDATETIME=2026-13-40T10:00",
            "The field endDateTime holds '2026-13-40T10:00', which is not a date and time.",
        ),
        (
            b"command=CREATED&appointmentUID=u1&bookingDateUTC=20261",
            "The field bookingDateUTC holds '20261', which is not a date and time.",
        ),
        (
            b"command=CREATED&appointmentUID=u1&bookingDateUTC=0100-01-01T00:00:00",
            "The field bookingDateUTC holds '0100-01-01T00:00:00', which is not a plausible date.",
        ),
        (
            b'{"command":"CREATED","appointmentUID":"a\\u0000b"}',
            "The appointmentUID contains control characters.",
        ),
        (
            b"command=CREATED&appointmentUID=" + b"u" * 201,
            "The appointmentUID is longer than 200 characters.",
        ),
    ],
)
def test_unreadable_bodies_give_a_reason(body, reason):
    # when / then both functions refuse with the same sentence
    for fn in (check_push, parse_push):
        with pytest.raises(UnreadablePush) as caught:
            fn(body, JSON)
        assert str(caught.value) == reason
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'"CREATED"', "The body is JSON but a string, not an object with the push's fields."),
        (b"null", "The body is JSON but null, not an object with the push's fields."),
        (b"true", "The body is JSON but a boolean, not an object with the push's fields."),
    ],
)
def test_json_content_type_with_non_object(body, reason):
    # when / then
    with pytest.raises(UnreadablePush, match="^" + reason.replace("(", r"\(") + "$"):
        check_push(body, "application/json")


@pytest.mark.parametrize("content_type", ["", FORM, "text/plain"])
def test_text_that_is_no_form_without_json_content_type(content_type):
    # when / then
    with pytest.raises(UnreadablePush) as caught:
        check_push(b"hello", content_type)
    assert caught.value.reason == (
        "The body is neither a JSON object nor form fields (name=value&…)."
    )


def test_deeply_nested_json_is_unreadable_not_a_crash():
    # when / then
    with pytest.raises(UnreadablePush, match="nested too deeply"):
        check_push(b"[" * 100_000, JSON)


@pytest.mark.parametrize("read", [check_push, parse_push])
@pytest.mark.parametrize("opening", [b"[", b'{"a": '])
def test_deeply_nested_json_with_a_byte_that_is_not_utf8_is_unreadable(read, opening):
    # given JSON nested 10,000 deep with one latin-1 byte: the fallback to latin-1 used to
    # recurse until RecursionError escaped
    body = opening * 10_000 + b"\xff"

    # when / then
    with pytest.raises(UnreadablePush) as caught:
        read(body, JSON)
    assert caught.value.reason == "The body is JSON nested too deeply to be a web push."


@pytest.mark.parametrize(
    ("read", "field"),
    [(check_push, "appointmentUID"), (parse_push, "appointmentUID"), (parse_push, "notes")],
)
def test_json_nested_deeper_than_python_can_write_back_is_unreadable(read, field):
    # given valid JSON the fast parser reads (1,010 levels) in a field that is turned into text
    fields = {"command": "CREATED", "appointmentUID": UID, field: None}
    body = json.dumps(fields).replace("null", "[" * 1010 + "]" * 1010).encode()

    # when / then
    with pytest.raises(UnreadablePush) as caught:
        read(body, JSON)
    assert caught.value.reason == "The body is JSON nested too deeply to be a web push."


@pytest.mark.parametrize("read", [check_push, parse_push])
@pytest.mark.parametrize("charset", ["punycode", "idna", "rot13", "utf-7", "utf-32", "nonsense"])
def test_a_charset_etermin_does_not_send_is_refused_unread(read, charset):
    with pytest.raises(UnsupportedCharset) as caught:
        read(as_json(push()), f"{JSON}; charset={charset}")
    assert caught.value.reason == (
        f"The charset '{charset}' is not one eTermin sends; "
        "send UTF-8, ISO-8859-1, ISO-8859-15, Windows-1252 or UTF-16."
    )


@pytest.mark.parametrize(
    ("content_type", "codec"),
    [
        ("", "utf-8"),
        (JSON, "utf-8"),
        ("application/json; charset=UTF-8", "utf-8"),
        ('text/plain; charset="iso-8859-1"', "latin-1"),
        ("text/plain; charset=ISO-8859-15", "iso8859-15"),
        ("application/x-www-form-urlencoded; charset=windows-1252", "cp1252"),
        ("application/json; charset=utf-16", "utf-16"),
    ],
)
def test_push_codec_names_the_codec_of_each_charset_etermin_sends(content_type, codec):
    assert push_codec(content_type) == codec


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("content_type", [FORM, JSON, ""])
def test_utf16_with_a_byte_order_mark_is_read_without_a_declared_charset(encoding, content_type):
    # given a push as Excel-style "Unicode text": UTF-16 with a byte order mark
    fields = push(lastName="Müller", notes="20 €")
    text = as_form(fields).decode() if content_type == FORM else json.dumps(fields)
    bom = "\ufeff" if encoding != "utf-16" else ""
    body = (bom + text).encode(encoding)

    # when it is read with no charset declared
    event = parse_push(body, content_type)

    # then the text is read as sent
    assert (event.uid, event.last_name, event.notes) == (UID, "Müller", "20 €")


# -- properties ------------------------------------------------------------------------------

FIELD_NAMES = [
    "command",
    "appointmentUID",
    "startDateTimeUTC",
    "endDateTimeUTC",
    "startDateTime",
    "bookingDateUTC",
    "firstName",
    "lastName",
    "email",
    "ZIP",
    "birthday",
    "notes",
    "calendarID",
    "selectedAnswers",
    "newsletter",
    "additional3",
]

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
pushes = st.fixed_dictionaries(
    {
        "command": st.sampled_from(["CREATED", "MODIFIED", "DELETED"]),
        "appointmentUID": st.uuids().map(str),
    },
    optional={
        "startDateTimeUTC": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
        ).map(lambda d: d.isoformat() + "Z"),
        "startDateTime": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
        ).map(lambda d: d.strftime("%Y%m%d%H%M%S")),
        "bookingDateUTC": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
        ).map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
        "firstName": texts,
        "lastName": texts,
        "email": st.emails().map(str) | texts,
        "ZIP": texts,
        "birthday": st.dates().map(lambda d: d.strftime("%d.%m.%Y")) | texts,
        "notes": texts,
        "calendarID": st.integers(min_value=0, max_value=10**9).map(str) | texts,
        "selectedAnswers": texts,
        "newsletter": st.sampled_from(["1", "0", "", "ja", "nein", "true", "yes", "x"]),
        "additional3": texts,
    },
)


def recased(data: st.DataObject, fields: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for key, value in fields.items():
        flips = data.draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
        result["".join(c.upper() if f else c.lower() for c, f in zip(key, flips, strict=True))] = (
            value
        )
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=pushes, data=st.data())
def test_key_case_never_changes_the_event(fields, data):
    # given the same push with keys in random case
    original = parse_push(as_json(fields), JSON)
    # when
    recased_event = parse_push(as_json(recased(data, fields)), JSON)
    # then
    assert recased_event == original


@settings(max_examples=150, deadline=None)
@given(fields=pushes)
def test_json_and_form_give_the_same_event(fields):
    # given the JSON variant (all fields, some empty) and the form variant (only filled ones)
    as_filled_form = as_form({k: v for k, v in fields.items() if v != ""})
    # when
    from_json = parse_push(as_json(fields), JSON)
    from_form = parse_push(as_filled_form, FORM)
    # then
    assert from_form == from_json
    assert check_push(as_json(fields), "") == check_push(as_filled_form, "")


def _outcome(fn: Any, body: bytes, content_type: str) -> str:
    try:
        fn(body, content_type)
    except UnreadablePush as exc:
        assert exc.reason
        return "unreadable"
    return "read"


@settings(max_examples=400, deadline=None)
@given(
    body=st.binary(max_size=300)
    | st.builds(
        lambda prefix, raw: prefix + raw,
        st.sampled_from([b"command=CREATED&appointmentUID=", b'{"command":"DELETED",', b"{"]),
        st.binary(max_size=200),
    )
    | pushes.map(as_form)
    | pushes.map(as_json),
    content_type=st.sampled_from(["", JSON, FORM, "text/plain; charset=latin-1", "x; charset=zz"]),
)
def test_arbitrary_bytes_never_raise_anything_but_unreadable(body, content_type):
    # when
    checked = _outcome(check_push, body, content_type)
    parsed = _outcome(parse_push, body, content_type)
    # then the cheap check refuses exactly what the full reading refuses
    assert checked == parsed


@pytest.mark.parametrize(
    "extra",
    ['"price": NaN', '"big": 123456789012345678901234567890', '"odd": "\\ud800"'],
)
def test_json_that_only_the_standard_library_reads_is_still_read(extra):
    # given JSON the fast parser refuses but Python's json accepts
    body = (
        '{"command": "CREATED", "appointmentUID": "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11", '
        + extra
        + "}"
    ).encode()

    # when
    header = check_push(body, "application/json")

    # then it is read as before
    assert (header.command, header.uid) == ("CREATED", "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11")
