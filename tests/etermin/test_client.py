import base64
import hashlib
import hmac
import json
import logging
import socket
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from terminflow.etermin.client import (
    Calendar,
    EterminAuthError,
    EterminClient,
    EterminContact,
    EterminError,
    EterminRateLimited,
    EterminUnavailable,
    client_for,
    retry_after_seconds,
    signature_headers,
)
from terminflow.etermin.models import EterminAccount
from terminflow.kit import crypto
from terminflow.kit.errors import Unprocessable

PUBLIC = "pk-seefeld-4711"
PRIVATE = "sk-geheim-7f3a9c21"
ZURICH = ZoneInfo("Europe/Zurich")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(EterminClient, "BACKOFF_SECONDS", (0,))


def make_account(sandbox, calendars=None, timezone="Europe/Zurich"):
    sandbox.add_account(PUBLIC, PRIVATE, calendars=calendars, timezone=timezone)


def book(sandbox, **overrides):
    fields = {
        "calendar_id": 211614,
        "start": datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
        "end": datetime(2026, 12, 3, 10, 15, tzinfo=ZURICH),
        "email": "lea.brunner@example.ch",
        "first_name": "Lea",
        "last_name": "Brunner",
    }
    fields.update(overrides)
    return sandbox.book(PUBLIC, **fields)


class CountingTransport(httpx.HTTPTransport):
    def __init__(self):
        super().__init__()
        self.requests = []

    def handle_request(self, request):
        self.requests.append(request)
        return super().handle_request(request)


def mock_client(handler, **kwargs):
    seen = []

    def record(request):
        seen.append(request)
        return handler(request)

    client = EterminClient(
        PUBLIC,
        PRIVATE,
        base_url="http://etermin.test/api",
        transport=httpx.MockTransport(record),
        **kwargs,
    )
    return client, seen


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# -- signature ---------------------------------------------------------------------------------


def test_signature_is_base64_of_raw_hmac_sha256_of_salt_under_private_key():
    # given a vector computed outside Python:
    #   printf '%s' 'salt-2026-12-03' | openssl dgst -sha256 -hmac 'pk_private_Zürich-42' -binary
    #   | base64
    expected = "Zd9xMPepY1+kddfKr9NhjtsosRYDKDl7y+ba7kVbhao="
    # when
    headers = signature_headers("pub-1", "pk_private_Zürich-42", salt="salt-2026-12-03")
    # then
    assert headers == {"publickey": "pub-1", "salt": "salt-2026-12-03", "signature": expected}
    by_hand = hmac.new(b"pk_private_Z\xc3\xbcrich-42", b"salt-2026-12-03", hashlib.sha256)
    assert base64.b64decode(expected) == by_hand.digest()


def test_signature_headers_make_a_new_salt_each_time():
    first = signature_headers(PUBLIC, PRIVATE)
    second = signature_headers(PUBLIC, PRIVATE)
    assert first["salt"] != second["salt"]
    assert len(first["salt"]) == 32


def test_every_request_is_signed_with_a_fresh_salt_and_asks_for_json():
    # given
    client, seen = mock_client(lambda r: httpx.Response(200, json=[]))
    # when
    client.calendars()
    client.calendars()
    # then
    assert [r.url.path for r in seen] == ["/api/calendar", "/api/calendar"]
    salts = [r.headers["salt"] for r in seen]
    assert salts[0] != salts[1]
    for request in seen:
        assert request.headers["publickey"] == PUBLIC
        assert request.headers["accept"] == "application/json"
        digest = hmac.new(PRIVATE.encode(), request.headers["salt"].encode(), hashlib.sha256)
        assert request.headers["signature"] == base64.b64encode(digest.digest()).decode()


def test_sandbox_accepts_the_clients_signature(etermin_sandbox):
    # given
    make_account(etermin_sandbox, calendars=[(211614, "Praxis Seefeld"), (211615, "Praxis Enge")])
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        calendars = client.calendars()
    # then
    assert calendars == [Calendar(211614, "Praxis Seefeld"), Calendar(211615, "Praxis Enge")]
    assert [(c["path"], c["status"]) for c in etermin_sandbox.calls()] == [("/api/calendar", 200)]


def test_base_url_defaults_to_settings_at_construction(etermin_sandbox):
    make_account(etermin_sandbox)
    with EterminClient(PUBLIC, PRIVATE) as client:
        assert client.base_url == etermin_sandbox.api_url
        assert client.calendars() == [Calendar(211614, "Praxis Seefeld")]


# -- errors and retries ------------------------------------------------------------------------


def test_wrong_private_key_is_an_auth_error_without_retries(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    client = EterminClient(PUBLIC, "sk-wrong", base_url=etermin_sandbox.api_url)
    # when
    with pytest.raises(EterminAuthError) as caught:
        client.create_appointment(
            calendarid=211614, start="2026-12-03 09:30", end="2026-12-03 10:15", email="a@b.ch"
        )
    # then
    assert str(caught.value) == (
        "eTermin rejected the API keys: check the public and private key under API → API & Web Push"
    )
    assert caught.value.code == "etermin_auth"
    assert caught.value.status == 422
    assert isinstance(caught.value, Unprocessable)
    assert [c["status"] for c in etermin_sandbox.calls()] == [401]
    assert etermin_sandbox.state.accounts[PUBLIC].appointments == {}


def test_unknown_public_key_is_an_auth_error(etermin_sandbox):
    make_account(etermin_sandbox)
    with pytest.raises(EterminAuthError):
        EterminClient("pk-other", PRIVATE, base_url=etermin_sandbox.api_url).calendars()


def test_403_is_an_auth_error():
    client, seen = mock_client(lambda r: httpx.Response(403, json={"Message": "Forbidden"}))
    with pytest.raises(EterminAuthError):
        client.calendars()
    assert len(seen) == 1


def test_unreachable_etermin_is_unavailable_after_three_tries():
    # given a port nobody listens on
    transport = CountingTransport()
    client = EterminClient(
        PUBLIC, PRIVATE, base_url=f"http://127.0.0.1:{closed_port()}/api", transport=transport
    )
    # when
    with pytest.raises(EterminUnavailable) as caught:
        client.calendars()
    # then
    assert len(transport.requests) == 3
    assert str(caught.value) == (
        "eTermin could not be reached (connection failed: ConnectError, 3 tries); "
        "try again later or save with verify: false"
    )
    assert caught.value.code == "etermin_unavailable"


def test_retries_is_the_number_of_extra_tries():
    transport = CountingTransport()
    client = EterminClient(
        PUBLIC,
        PRIVATE,
        base_url=f"http://127.0.0.1:{closed_port()}/api",
        transport=transport,
        retries=0,
    )
    with pytest.raises(EterminUnavailable):
        client.calendars()
    assert len(transport.requests) == 1


def test_two_500s_then_success_is_retried_with_new_salts(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    etermin_sandbox.fail_next(2, status=500)
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        calendars = client.calendars()
    # then
    assert calendars == [Calendar(211614, "Praxis Seefeld")]
    calls = etermin_sandbox.calls()
    assert [c["status"] for c in calls] == [500, 500, 200]
    assert len({c["salt"] for c in calls}) == 3


def test_three_503s_make_it_unavailable(etermin_sandbox):
    make_account(etermin_sandbox)
    etermin_sandbox.fail_next(5, status=503)
    with pytest.raises(EterminUnavailable) as caught, etermin_sandbox.client(PUBLIC) as client:
        client.calendars()
    assert "(it answered 503, 3 tries)" in str(caught.value)
    assert [c["status"] for c in etermin_sandbox.calls()] == [503, 503, 503]


def test_timeouts_are_retried_then_unavailable(etermin_sandbox):
    # given eTermin hangs longer than our timeout
    make_account(etermin_sandbox)
    etermin_sandbox.fail_next(3, status=None, hang_seconds=1.0)
    # when
    client = etermin_sandbox.client(PUBLIC, timeout=0.2)
    with pytest.raises(EterminUnavailable) as caught:
        client.calendars()
    # then
    assert "(no answer within 0.2 s, 3 tries)" in str(caught.value)
    assert len(etermin_sandbox.calls()) == 3


def test_a_timeout_then_an_answer_succeeds(etermin_sandbox):
    make_account(etermin_sandbox)
    etermin_sandbox.fail_next(1, status=None, hang_seconds=1.0)
    with etermin_sandbox.client(PUBLIC, timeout=0.3) as client:
        assert client.calendars() == [Calendar(211614, "Praxis Seefeld")]


def test_a_4xx_is_an_error_with_etermins_message_and_no_retry(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    # when a calendar of another account is used
    with pytest.raises(EterminError) as caught, etermin_sandbox.client(PUBLIC) as client:
        client.create_appointment(
            calendarid=999, start="2026-12-03 09:30", end="2026-12-03 10:15", email="a@b.ch"
        )
    # then
    assert str(caught.value) == (
        "eTermin refused POST /appointment with 400: calendar 999 does not belong to this account"
    )
    assert type(caught.value) is EterminError
    assert caught.value.code == "etermin_error"
    assert len(etermin_sandbox.calls()) == 1
    assert etermin_sandbox.state.accounts[PUBLIC].appointments == {}
    assert etermin_sandbox.deliveries() == []


# -- reading answers ---------------------------------------------------------------------------


def test_keys_are_matched_case_insensitively():
    # given eTermin spelling keys three ways
    rows = [
        {"calendarid": 1, "CALENDARNAME": "Eins"},
        {"CalendarId": "2", "Name": "Zwei"},
        {"CalendarID": 3, "calendarName": "Drei"},
    ]
    client, _ = mock_client(lambda r: httpx.Response(200, json=rows))
    # when / then
    assert client.calendars() == [Calendar(1, "Eins"), Calendar(2, "Zwei"), Calendar(3, "Drei")]


def test_calendar_named_name_is_read(etermin_sandbox):
    make_account(etermin_sandbox)
    etermin_sandbox.set_quirks(calendar_name_key="Name")
    with etermin_sandbox.client(PUBLIC) as client:
        assert client.calendars() == [Calendar(211614, "Praxis Seefeld")]


def test_xml_answers_are_read_like_json(etermin_sandbox):
    # given eTermin answering XML even though JSON was asked for
    make_account(etermin_sandbox)
    uid = book(etermin_sandbox, newsletter=True, notes="Bitte läuten")
    etermin_sandbox.set_quirks(xml_always=True)
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        calendars = client.calendars()
        appointment = client.appointment(uid)
        contacts = client.contacts_by_email("lea.brunner@example.ch")
    # then
    assert calendars == [Calendar(211614, "Praxis Seefeld")]
    assert appointment["externalid"] == uid
    assert appointment["calendarid"] == "211614"
    assert appointment["startdatetime"] == "2026-12-03T09:30:00"
    assert appointment["startdatetimeutc"] == "2026-12-03T08:30:00"
    assert appointment["notes"] == "Bitte läuten"
    assert [(c.email, c.first_name, c.newsletter) for c in contacts] == [
        ("lea.brunner@example.ch", "Lea", True)
    ]


def test_xml_nil_values_become_none():
    body = (
        b'<ArrayOfContact xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns="http://schemas.datacontract.org/2004/07/x"><Contact><Email>a@b.ch</Email>'
        b'<FirstName>Ann</FirstName><LastName/><Phone i:nil="true"/>'
        b'<Newsletter i:nil="true"/></Contact></ArrayOfContact>'
    )
    client, _ = mock_client(
        lambda r: httpx.Response(200, content=body, headers={"content-type": "application/xml"})
    )
    [contact] = client.contacts_by_email("a@b.ch")
    assert (contact.email, contact.first_name, contact.last_name, contact.phone) == (
        "a@b.ch",
        "Ann",
        "",
        "",
    )
    assert contact.newsletter is None
    assert contact.raw == {
        "email": "a@b.ch",
        "firstname": "Ann",
        "lastname": "",
        "phone": None,
        "newsletter": None,
    }


def test_xml_with_a_doctype_is_refused():
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><ArrayOfCalendar/>'
    client, _ = mock_client(lambda r: httpx.Response(200, content=body))
    with pytest.raises(EterminError, match="document type declaration"):
        client.calendars()


def test_an_answer_neither_json_nor_xml_is_an_error():
    client, _ = mock_client(lambda r: httpx.Response(200, content=b"Server busy"))
    with pytest.raises(EterminError, match="neither JSON nor XML"):
        client.calendars()


# -- contacts and appointments -----------------------------------------------------------------


def test_contact_lookup_reports_the_newsletter_choice(etermin_sandbox):
    # given two customers, one who ticked the newsletter box
    make_account(etermin_sandbox)
    book(etermin_sandbox, email="Lea.Brunner@example.ch", newsletter=True, phone="+41 79 555 01 23")
    book(etermin_sandbox, email="marco@example.de", first_name="Marco", last_name="Müller")
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        lea = client.contacts_by_email("lea.brunner@example.ch")
        marco = client.contacts_by_email("marco@example.de")
        nobody = client.contacts_by_email("nobody@example.ch")
    # then
    assert lea == [
        EterminContact(
            email="Lea.Brunner@example.ch",
            first_name="Lea",
            last_name="Brunner",
            phone="+41 79 555 01 23",
            newsletter=True,
            raw={},
        )
    ]
    assert lea[0].raw["cid"] == 500001
    assert [(c.first_name, c.last_name, c.newsletter) for c in marco] == [
        ("Marco", "Müller", False)
    ]
    assert nobody == []


def test_contact_newsletter_absent_is_none():
    client, _ = mock_client(lambda r: httpx.Response(200, json=[{"Email": "a@b.ch"}]))
    assert client.contacts_by_email("a@b.ch")[0].newsletter is None


def test_appointment_by_uid(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    uid = book(etermin_sandbox, notes="Erster Termin", selectedanswers="Erstberatung (45 min)")
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        found = client.appointment(uid)
        missing = client.appointment("00000000-0000-0000-0000-000000000000")
    # then
    assert {k: found[k] for k in ("id", "iid", "externalid", "calendarid", "calendarname")} == {
        "id": 1000001,
        "iid": 1000001,
        "externalid": uid,
        "calendarid": 211614,
        "calendarname": "Praxis Seefeld",
    }
    assert (found["startdatetime"], found["enddatetime"]) == (
        "2026-12-03T09:30:00",
        "2026-12-03T10:15:00",
    )
    assert (found["startdatetimeutc"], found["enddatetimeutc"]) == (
        "2026-12-03T08:30:00",
        "2026-12-03T09:15:00",
    )
    assert (found["notes"], found["selectedanswers"]) == ("Erster Termin", "Erstberatung (45 min)")
    assert missing is None


def test_appointment_missing_as_404_is_none():
    client, _ = mock_client(lambda r: httpx.Response(404, json={"Message": "not found"}))
    assert client.appointment("x") is None


def test_appointments_in_a_range_and_calendar(etermin_sandbox):
    # given three appointments on two days in two calendars
    make_account(etermin_sandbox, calendars=[(211614, "Praxis Seefeld"), (211615, "Praxis Enge")])
    first = book(etermin_sandbox)
    other_calendar = book(etermin_sandbox, calendar_id=211615)
    book(
        etermin_sandbox,
        start=datetime(2026, 12, 4, 23, 30, tzinfo=UTC),  # already 5 December in Zurich
        end=datetime(2026, 12, 5, 0, 30, tzinfo=UTC),
    )
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        both = client.appointments(date(2026, 12, 3), date(2026, 12, 4))
        seefeld = client.appointments(date(2026, 12, 3), date(2026, 12, 4), calendar_id=211614)
    # then
    assert [a["externalid"] for a in both] == [first, other_calendar]
    assert [a["externalid"] for a in seefeld] == [first]
    # eTermin's end is exclusive: the day after the last day asked for is sent
    assert (
        etermin_sandbox.calls()[-1]["query"] == "start=2026-12-03&end=2026-12-05&calendarid=211614"
    )


def test_update_and_delete_then_deleted_appointments(etermin_sandbox, time_machine):
    # given
    time_machine.move_to(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    make_account(etermin_sandbox)
    uid = book(etermin_sandbox)
    # when
    with etermin_sandbox.client(PUBLIC) as client:
        answer = client.update_appointment(
            uid,
            start=datetime(2026, 12, 4, 13, 0, tzinfo=UTC),
            end=datetime(2026, 12, 4, 13, 45, tzinfo=UTC),
        )
        changed = client.appointment(uid)
        client.delete_appointment(uid)
        after = client.appointment(uid)
        deleted = client.deleted_appointments(date(2026, 11, 27), date(2026, 11, 27))
        deleted_other_day = client.deleted_appointments(date(2026, 11, 28), date(2026, 11, 30))
    # then
    assert answer == "1 records updated!"
    assert (changed["externalid"], changed["startdatetime"], changed["enddatetime"]) == (
        uid,
        "2026-12-04T14:00:00",
        "2026-12-04T14:45:00",
    )
    assert after is None
    assert [(d["externalid"], d["deletiondate"]) for d in deleted] == [(uid, "2026-11-27T16:00:00")]
    assert deleted_other_day == []


def test_create_sends_local_wall_time_of_the_clients_zone(etermin_sandbox):
    # given an account in Berlin
    make_account(etermin_sandbox, timezone="Europe/Berlin")
    # when an aware UTC start is given
    with etermin_sandbox.client(PUBLIC) as client:
        created = client.create_appointment(
            calendarid=211614,
            start=datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
            end=datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
            email="a@b.de",
            newsletter=False,
        )
    # then it went as Berlin summer time
    query = etermin_sandbox.calls()[-1]["query"]
    assert query == (
        "calendarid=211614&start=2026-07-01+10%3A00&end=2026-07-01+11%3A00"
        "&email=a%40b.de&newsletter=0"
    )
    with etermin_sandbox.client(PUBLIC) as client:
        stored = client.appointment(created.uid)
    assert stored is not None
    assert stored["startdatetimeutc"] == "2026-07-01T08:00:00"
    assert stored["newsletter"] is False


def test_aware_datetime_without_client_zone_is_refused():
    client, seen = mock_client(lambda r: httpx.Response(200, json={}))
    with pytest.raises(ValueError, match="local wall time"):
        client.create_appointment(start=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    assert seen == []


def test_naive_datetime_is_sent_as_is():
    client, seen = mock_client(lambda r: httpx.Response(200, json={"ExternalID": "u-1"}))
    created = client.create_appointment(calendarid=1, start=datetime(2026, 7, 1, 8, 0))
    assert seen[0].url.params["start"] == "2026-07-01 08:00"
    assert (created.uid, created.iid) == ("u-1", None)


# -- client_for and secrets --------------------------------------------------------------------


def test_client_for_uses_the_accounts_keys_and_zone(etermin_sandbox, workspace):
    # given
    make_account(etermin_sandbox, timezone="Europe/Berlin")
    account = EterminAccount.objects.create(
        workspace=workspace,
        name="Praxis",
        public_key=PUBLIC,
        private_key_encrypted=crypto.encrypt(PRIVATE),
        web_push_token_encrypted=crypto.encrypt("token"),
        web_push_token_hash=crypto.token_hash("token"),
        timezone="Europe/Berlin",
    )
    # when
    with client_for(account) as client:
        calendars = client.calendars()
    # then
    assert calendars == [Calendar(211614, "Praxis Seefeld")]
    assert client.timezone == ZoneInfo("Europe/Berlin")


def test_private_key_never_shows_in_repr_logs_or_errors(etermin_sandbox, caplog):
    # given
    make_account(etermin_sandbox)
    caplog.set_level(logging.DEBUG)
    wrong = EterminClient(PUBLIC, "sk-wrong-secret-123", base_url=etermin_sandbox.api_url)
    good = etermin_sandbox.client(PUBLIC)
    # when
    errors = []
    try:
        wrong.calendars()
    except EterminError as exc:
        errors.append(exc)
    etermin_sandbox.fail_next(3, status=500)
    try:
        good.calendars()
    except EterminError as exc:
        errors.append(exc)
    # then
    assert [type(e) for e in errors] == [EterminAuthError, EterminUnavailable]
    shown = " ".join(
        [repr(good), str(good), repr(wrong), caplog.text, json.dumps([e.as_dict() for e in errors])]
    )
    assert (
        repr(good) == f"EterminClient(public_key='{PUBLIC}', base_url='{etermin_sandbox.api_url}')"
    )
    assert "try 3 of 3 failed: it answered 500" in caplog.text
    assert PRIVATE not in shown
    assert "sk-wrong-secret-123" not in shown


# -- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("Tue, 01 Dec 2026 10:05:00 GMT", 300.0),
        ("Tue, 01 Dec 2026 09:00:00 GMT", 0.0),
        ("soon", 60.0),
        (None, 60.0),
    ],
    ids=["seconds", "http date", "date passed", "unreadable", "missing"],
)
def test_retry_after_is_read_as_seconds_or_a_date(header, seconds):
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now=now) == seconds


def test_429_is_not_retried_and_says_how_long_to_wait():
    headers = {"Retry-After": "7"}
    client, seen = mock_client(lambda r: httpx.Response(429, json={}, headers=headers))
    with pytest.raises(EterminRateLimited) as caught:
        client.calendars()
    assert (caught.value.retry_after, caught.value.code, len(seen)) == (
        7.0,
        "etermin_rate_limited",
        1,
    )
