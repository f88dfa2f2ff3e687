"""The sandbox behaves as eTermin is observed to behave (docs/etermin.md, one test per line).

Each test pins one observed behaviour over real HTTP, the way public clients call eTermin: no
Accept header, form bodies, ``externalid`` deletes. The last part runs our client's whole
surface against the sandbox.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest

from terminflow.etermin.client import (
    Calendar,
    EterminClient,
    EterminRateLimited,
    signature_headers,
)
from terminflow.etermin.pushes import parse_push

PUBLIC = "pk-conformance"
PRIVATE = "sk-conformance-secret"
ZURICH = ZoneInfo("Europe/Zurich")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(EterminClient, "BACKOFF_SECONDS", (0,))


def signed(**extra: str) -> dict[str, str]:
    """The three signature headers and nothing else, like a client that sends no Accept."""
    return {**signature_headers(PUBLIC, PRIVATE), **extra}


def api(sandbox, method: str, path: str, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", None) or signed()
    return httpx.request(method, sandbox.api_url + path, headers=headers, **kwargs)


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def account(sandbox) -> None:
    sandbox.add_account(PUBLIC, PRIVATE, calendars=[(211614, "Praxis Seefeld"), (211615, "Enge")])


def book(sandbox, start: datetime, **fields) -> str:
    return sandbox.book(
        PUBLIC,
        calendar_id=fields.pop("calendar_id", 211614),
        start=start,
        end=start.replace(minute=45),
        email=fields.pop("email", "lea.brunner@example.ch"),
        first_name="Lea",
        last_name="Brunner",
        **fields,
    )


def appointment_row(sandbox, uid: str) -> dict:
    return sandbox.state.accounts[PUBLIC].appointments[uid].as_api(ZURICH)


# -- answer format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "text/html, */*"],
    ids=["no Accept", "*/*", "application/json", "browser-like"],
)
def test_json_is_the_default_answer(etermin_sandbox, accept):
    account(etermin_sandbox)
    headers = signed(**({"Accept": accept} if accept else {}))
    response = api(etermin_sandbox, "GET", "/calendar", headers=headers)
    assert response.headers["content-type"] == "application/json"
    assert [row["CalendarID"] for row in response.json()] == [211614, 211615]


def test_xml_only_when_asked_for(etermin_sandbox):
    account(etermin_sandbox)
    response = api(etermin_sandbox, "GET", "/calendar", headers=signed(Accept="application/xml"))
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.text.startswith("<ArrayOfCalendar ")


# -- appointments by date range ------------------------------------------------------------------


def test_range_end_is_exclusive(etermin_sandbox):
    # given appointments on 3, 4 and 5 December (Zurich)
    account(etermin_sandbox)
    third = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    fourth = book(etermin_sandbox, datetime(2026, 12, 4, 23, 0, tzinfo=ZURICH))
    book(etermin_sandbox, datetime(2026, 12, 5, 0, 0, tzinfo=ZURICH))
    # when asked for start=3 December, end=5 December
    response = api(
        etermin_sandbox, "GET", "/appointment", params={"start": "2026-12-03", "end": "2026-12-05"}
    )
    # then the end day is not included
    assert [row["ExternalID"] for row in response.json()] == [third, fourth]


def test_deleted_range_end_is_exclusive(etermin_sandbox, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    etermin_sandbox.cancel(PUBLIC, uid)
    same_day = api(
        etermin_sandbox,
        "GET",
        "/appointmentdeleted",
        params={"start": "2026-11-27", "end": "2026-11-27"},
    )
    next_day = api(
        etermin_sandbox,
        "GET",
        "/appointmentdeleted",
        params={"start": "2026-11-27", "end": "2026-11-28"},
    )
    assert same_day.json() == []
    assert [row["ExternalID"] for row in next_day.json()] == [uid]


# -- updates ---------------------------------------------------------------------------------------


def test_put_takes_a_form_body_and_answers_a_short_confirmation(etermin_sandbox):
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    response = api(
        etermin_sandbox,
        "PUT",
        "/appointment",
        params={"id": uid},
        data={
            "start": "2026-12-04 14:00",
            "end": "2026-12-04 14:30",
            "calendarid": "211615",
            "notes": "verschoben",
        },
    )
    assert (response.status_code, response.json()) == (200, "1 records updated!")
    row = appointment_row(etermin_sandbox, uid)
    assert (row["StartDateTime"], row["EndDateTime"], row["CalendarID"], row["Notes"]) == (
        "2026-12-04T14:00:00",
        "2026-12-04T14:30:00",
        211615,
        "verschoben",
    )


@pytest.mark.parametrize(
    "sent",
    [
        {"notes": "nur Notizen"},
        {"start": "2026-12-04 14:00", "end": "2026-12-04 14:30"},
        {"start": "2026-12-04 14:00", "calendarid": "211614"},
    ],
    ids=["notes only", "no calendarid", "no end"],
)
def test_put_needs_start_end_and_calendarid_every_time(etermin_sandbox, sent):
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH), notes="alt")
    before = appointment_row(etermin_sandbox, uid)
    response = api(etermin_sandbox, "PUT", "/appointment", params={"id": uid}, data=sent)
    assert response.status_code == 400
    assert "start, end and calendarid are required on every update" in response.json()["Message"]
    assert appointment_row(etermin_sandbox, uid) == before


def test_put_fields_in_the_query_string_are_no_update(etermin_sandbox):
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    before = appointment_row(etermin_sandbox, uid)
    response = api(
        etermin_sandbox,
        "PUT",
        "/appointment",
        params={
            "id": uid,
            "start": "2026-12-04 14:00",
            "end": "2026-12-04 14:30",
            "calendarid": "211614",
        },
    )
    assert response.status_code == 400
    assert appointment_row(etermin_sandbox, uid) == before


# -- deletes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        lambda uid, iid: {"externalid": uid, "sync": "1"},
        lambda uid, iid: {"id": uid},
        lambda uid, iid: {"id": str(iid)},
    ],
    ids=["externalid and sync", "id = ExternalID", "id = IID"],
)
def test_delete_by_externalid_with_sync_or_by_id(etermin_sandbox, query):
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    iid = appointment_row(etermin_sandbox, uid)["IID"]
    response = api(etermin_sandbox, "DELETE", "/appointment", params=query(uid, iid))
    assert (response.status_code, response.json()) == (200, "1 records deleted!")
    assert etermin_sandbox.state.accounts[PUBLIC].appointments == {}
    assert list(etermin_sandbox.state.accounts[PUBLIC].deleted) == [uid]


# -- identifiers -----------------------------------------------------------------------------------


def test_post_answers_id_and_a_numeric_iid(etermin_sandbox):
    account(etermin_sandbox)
    response = api(
        etermin_sandbox,
        "POST",
        "/appointment",
        params={"calendarid": "211614", "start": "2026-12-03 09:00", "end": "2026-12-03 09:45"},
    )
    answer = response.json()
    assert set(answer) == {"ID", "IID"}
    [stored] = etermin_sandbox.state.accounts[PUBLIC].appointments.values()
    assert (answer["ID"], answer["IID"]) == (stored.uid, stored.id)
    assert isinstance(answer["IID"], int)


@pytest.mark.parametrize("by", ["ExternalID", "IID"])
def test_get_by_id_accepts_the_externalid_and_the_iid(etermin_sandbox, by):
    account(etermin_sandbox)
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH))
    key = appointment_row(etermin_sandbox, uid)[by]
    response = api(etermin_sandbox, "GET", "/appointment", params={"id": key})
    assert [row["ExternalID"] for row in response.json()] == [uid]


# -- fields of listings, contacts and calendars ----------------------------------------------------


def test_listing_fields(etermin_sandbox):
    account(etermin_sandbox)
    uid = book(
        etermin_sandbox,
        datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH),
        selectedanswers="Erstberatung",
        location="Raum 2",
        title="Dr.",
        additional17="siebzehn",
    )
    [row] = api(
        etermin_sandbox, "GET", "/appointment", params={"start": "2026-12-03", "end": "2026-12-04"}
    ).json()
    assert (row["StartDateTimeUTC"], row["EndDateTimeUTC"]) == (
        "2026-12-03T08:00:00",
        "2026-12-03T08:45:00",
    )
    assert {
        key: row[key]
        for key in (
            "ExternalID",
            "IID",
            "Location",
            "Title",
            "ServicesText",
            "ManualConfirmed",
            "BlockedApp",
            "AppAttrib",
        )
    } == {
        "ExternalID": uid,
        "IID": 1000001,
        "Location": "Raum 2",
        "Title": "Dr.",
        "ServicesText": "Erstberatung",
        "ManualConfirmed": False,
        "BlockedApp": False,
        "AppAttrib": 0,
    }


def test_appointments_keep_additional_1_to_17(etermin_sandbox):
    account(etermin_sandbox)
    extra = {f"additional{n}": f"Wert {n}" for n in range(1, 18)}
    uid = book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH), **extra)
    [row] = api(etermin_sandbox, "GET", "/appointment", params={"id": uid}).json()
    assert [row[f"Additional{n}"] for n in range(1, 18)] == [f"Wert {n}" for n in range(1, 18)]
    assert "Additional18" not in row


def test_contact_fields(etermin_sandbox):
    account(etermin_sandbox)
    book(etermin_sandbox, datetime(2026, 12, 3, 9, 0, tzinfo=ZURICH), town="Zürich")
    [row] = api(
        etermin_sandbox, "GET", "/contact", params={"email": "lea.brunner@example.ch"}
    ).json()
    assert {"City", "cid", "ExternalID", "Company", "Title", "CustomerNumber"} <= set(row)
    assert [f"Additional{n}" in row for n in range(1, 18)] == [True] * 17
    assert (row["City"], row["cid"]) == ("Zürich", 500001)


def test_calendar_fields(etermin_sandbox):
    account(etermin_sandbox)
    rows = api(etermin_sandbox, "GET", "/calendar").json()
    assert [(r["CalendarID"], r["Enabled"], r["TimeSlotMinutes"]) for r in rows] == [
        (211614, True, 15),
        (211615, True, 15),
    ]


# -- web push variants and pause ------------------------------------------------------------------


def pushed_body(sandbox, variant: str, format: str = "json") -> dict:
    sandbox.configure_push(
        PUBLIC, f"http://127.0.0.1:{closed_port()}/hook", format=format, variant=variant
    )
    book(sandbox, datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH), newsletter=True)
    [delivery] = sandbox.wait_for_deliveries(1)
    body = delivery["body"].encode()
    if format == "form":
        return dict(parse_qsl(body.decode()))
    return json.loads(body)


def test_push_variant_upper_case_keys_and_compact_dates(etermin_sandbox):
    account(etermin_sandbox)
    body = pushed_body(etermin_sandbox, "upper_compact")
    assert all(key == key.upper() for key in body)
    assert (body["COMMAND"], body["CALENDARID"]) == ("CREATED", "211614")
    assert (body["STARTDATETIMEUTC"], body["ENDDATETIMEUTC"], body["STARTDATETIME"]) == (
        "20261203083000",
        "20261203084500",
        "20261203093000",
    )


def test_push_variant_without_calendar_id_and_newsletter(etermin_sandbox):
    account(etermin_sandbox)
    body = pushed_body(etermin_sandbox, "sparse")
    assert "calendarID" not in body
    assert "newsletter" not in body
    assert body["calendarName"] == "Praxis Seefeld"


def test_push_variant_utc_without_z(etermin_sandbox):
    account(etermin_sandbox)
    body = pushed_body(etermin_sandbox, "utc_without_z", format="form")
    assert (body["startDateTimeUTC"], body["endDateTimeUTC"]) == (
        "2026-12-03T08:30:00",
        "2026-12-03T08:45:00",
    )


@pytest.mark.parametrize("variant", ["upper_compact", "sparse", "utc_without_z"])
def test_every_variant_reads_as_the_same_appointment(etermin_sandbox, variant):
    account(etermin_sandbox)
    standard = pushed_body(etermin_sandbox, "standard")
    etermin_sandbox.reset()
    account(etermin_sandbox)
    other = pushed_body(etermin_sandbox, variant)
    read = [parse_push(json.dumps(b).encode(), "application/json") for b in (standard, other)]
    assert (read[1].start, read[1].end, read[1].email) == (
        read[0].start,
        read[0].end,
        read[0].email,
    )
    assert read[1].calendar_name == read[0].calendar_name


def test_paused_web_push_keeps_the_url_and_sends_nothing(etermin_sandbox):
    # given an account whose pushes are paused
    account(etermin_sandbox)
    url = f"http://127.0.0.1:{closed_port()}/hook"
    etermin_sandbox.configure_push(PUBLIC, url)
    paused = etermin_sandbox.pause_pushes(PUBLIC)
    # when a booking is made
    book(etermin_sandbox, datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH))
    # then nothing is sent, and the URL is kept
    assert paused["web_push"]["url"] == url
    assert paused["web_push"]["paused"] is True
    assert etermin_sandbox.deliveries() == []
    # and after resuming, the next change is sent
    resumed = etermin_sandbox.pause_pushes(PUBLIC, paused=False)
    book(etermin_sandbox, datetime(2026, 12, 4, 9, 30, tzinfo=ZURICH))
    assert resumed["web_push"] == {**paused["web_push"], "paused": False}
    assert [d["command"] for d in etermin_sandbox.wait_for_deliveries(1)] == ["CREATED"]


def test_pause_without_web_push_is_refused(etermin_sandbox):
    account(etermin_sandbox)
    response = httpx.put(
        f"{etermin_sandbox.url}/_sandbox/accounts/{PUBLIC}/webpush", json={"paused": True}
    )
    assert response.status_code == 409


# -- rate limit ---------------------------------------------------------------------------------


def test_429_carries_retry_after_and_the_client_does_not_ask_again(etermin_sandbox):
    account(etermin_sandbox)
    etermin_sandbox.fail_next(1, status=429, retry_after=30)
    with etermin_sandbox.client(PUBLIC) as client, pytest.raises(EterminRateLimited) as caught:
        client.calendars()
    assert caught.value.retry_after == 30
    assert [c["status"] for c in etermin_sandbox.calls()] == [429]


# -- our client's whole surface --------------------------------------------------------------------


def test_the_clients_whole_surface(etermin_sandbox, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    account(etermin_sandbox)
    with etermin_sandbox.client(PUBLIC) as client:
        # calendars
        assert client.calendars() == [Calendar(211614, "Praxis Seefeld"), Calendar(211615, "Enge")]
        # create: the ExternalID and the numeric IID
        created = client.create_appointment(
            calendarid=211614,
            start=datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
            end=datetime(2026, 12, 3, 8, 45, tzinfo=UTC),
            email="lea.brunner@example.ch",
            firstname="Lea",
            newsletter=True,
        )
        assert created.iid == 1000001
        # read by ExternalID, and in a range whose last day is included
        assert client.appointment(created.uid)["externalid"] == created.uid
        assert [
            a["externalid"] for a in client.appointments(date(2026, 12, 3), date(2026, 12, 3))
        ] == [created.uid]
        # contacts
        [contact] = client.contacts_by_email("lea.brunner@example.ch")
        assert (contact.first_name, contact.newsletter) == ("Lea", True)
        # a partial update: the client re-sends the slot from eTermin itself
        assert client.update_appointment(created.uid, notes="bitte läuten") == "1 records updated!"
        after = client.appointment(created.uid)
        assert (after["startdatetime"], after["calendarid"], after["notes"]) == (
            "2026-12-03T09:00:00",
            211614,
            "bitte läuten",
        )
        # delete with externalid and sync, then the deleted listing of today includes it
        assert client.delete_appointment(created.uid) == "1 records deleted!"
        assert client.appointment(created.uid) is None
        assert [
            d["externalid"]
            for d in client.deleted_appointments(date(2026, 11, 27), date(2026, 11, 27))
        ] == [created.uid]
    calls = [(c["method"], c["path"], c["query"], c["status"]) for c in etermin_sandbox.calls()]
    update = next(c for c in etermin_sandbox.calls() if c["method"] == "PUT")
    assert dict(parse_qsl(update["body"])) == {
        "notes": "bitte läuten",
        "start": "2026-12-03 09:00",
        "end": "2026-12-03 09:45",
        "calendarid": "211614",
    }
    assert ("DELETE", "/api/appointment", f"externalid={created.uid}&sync=1", 200) in calls
    assert all(status == 200 for *_, status in calls)
