import asyncio
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from terminflow.etermin.client import EterminClient, signature_headers
from terminflow.etermin.sandbox.state import SandboxState
from tests.fixtures.sandbox import ServerThread

PUBLIC = "pk-seefeld-4711"
PRIVATE = "sk-geheim-7f3a9c21"
ZURICH = ZoneInfo("Europe/Zurich")
HEADER = ("X-Terminflow-Secret", "s3cret-header")


class PushReceiver:
    """A tiny web server that stores every push it gets and answers ``ok``."""

    def __init__(self):
        self.received = []
        self.release = threading.Event()
        self.arrived = threading.Event()
        app = Starlette(routes=[Route("/push/{name}", self.receive, methods=["POST"])])
        self.server = ServerThread(app)

    async def receive(self, request):
        self.received.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )
        if request.path_params["name"] == "slow":
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, 5)
        return PlainTextResponse("ok")

    def url(self, name="hook"):
        return f"{self.server.url}/push/{name}"


@pytest.fixture(scope="module")
def _receiver():
    receiver = PushReceiver()
    receiver.server.start()
    yield receiver
    receiver.release.set()
    receiver.server.stop()


@pytest.fixture
def receiver(_receiver):
    _receiver.received.clear()
    _receiver.release.clear()
    _receiver.arrived.clear()
    return _receiver


def make_account(sandbox, push_url=None, format="json", header=HEADER, **kwargs):
    sandbox.add_account(PUBLIC, PRIVATE, **kwargs)
    if push_url:
        sandbox.configure_push(PUBLIC, push_url, format=format, header=header)


def signed(private_key=PRIVATE, accept="application/json", **drop):
    headers = {**signature_headers(PUBLIC, private_key), "Accept": accept}
    for name in drop:
        headers.pop(name)
    return headers


def closed_port():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# -- signature checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Accept": "application/json"}, id="no signature headers"),
        pytest.param(signed(publickey=True), id="no publickey"),
        pytest.param(signed(salt=True), id="no salt"),
        pytest.param(signed(signature=True), id="no signature"),
        pytest.param(signed(private_key="sk-wrong"), id="wrong signature"),
        pytest.param({**signed(), "publickey": "pk-unknown"}, id="unknown public key"),
    ],
)
def test_api_refuses_unsigned_requests_and_stores_nothing(etermin_sandbox, receiver, headers):
    # given
    make_account(etermin_sandbox, push_url=receiver.url())
    # when
    response = httpx.post(
        etermin_sandbox.api_url + "/appointment",
        params={"calendarid": 211614, "start": "2026-12-03 09:30", "end": "2026-12-03 10:15"},
        headers=headers,
    )
    # then
    assert response.status_code == 401
    assert response.json() == {"Message": "Authorization has been denied for this request."}
    assert etermin_sandbox.state.accounts[PUBLIC].appointments == {}
    assert etermin_sandbox.calls()[0]["status"] == 401
    # a marker queued after the refused call: the only delivery must be this one
    etermin_sandbox.test_push(PUBLIC, "DELETED")
    assert [d["command"] for d in etermin_sandbox.wait_for_deliveries(1)] == ["DELETED"]
    assert len(receiver.received) == 1


def test_api_answers_xml_when_xml_is_asked_for(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    # when
    response = httpx.get(
        etermin_sandbox.api_url + "/calendar", headers=signed(accept="application/xml")
    )
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.text == (
        '<ArrayOfCalendar xmlns="http://schemas.datacontract.org/2004/07/eTermin.Api.Models">'
        "<Calendar><CalendarID>211614</CalendarID><CalendarName>Praxis Seefeld</CalendarName>"
        "<Street /><ZIP /><Town /><Enabled>true</Enabled><TimeSlotMinutes>15</TimeSlotMinutes>"
        "</Calendar></ArrayOfCalendar>"
    )


def test_api_paths_ignore_case(etermin_sandbox):
    make_account(etermin_sandbox)
    response = httpx.get(etermin_sandbox.url + "/api/Calendar", headers=signed())
    assert response.status_code == 200
    assert response.json()[0]["CalendarID"] == 211614


def test_api_creates_calendars(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    # when
    response = httpx.post(
        etermin_sandbox.api_url + "/calendar", params={"name": "Praxis Enge"}, headers=signed()
    )
    # then
    assert response.json() == {"CalendarID": 211615, "CalendarName": "Praxis Enge"}
    assert etermin_sandbox.state.accounts[PUBLIC].calendars == {
        211614: "Praxis Seefeld",
        211615: "Praxis Enge",
    }


def test_put_with_a_form_body_is_understood(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    uid = etermin_sandbox.book(
        PUBLIC,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=ZURICH),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
    )
    # when
    response = httpx.put(
        etermin_sandbox.api_url + "/appointment",
        params={"id": uid},
        data={
            "Start": "2026-12-03 11:00",
            "End": "2026-12-03 11:45",
            "CalendarID": "211614",
            "Notes": "verschoben",
        },
        headers=signed(),
    )
    # then eTermin confirms briefly, and the appointment has the new slot and notes
    assert (response.status_code, response.json()) == (200, "1 records updated!")
    row = etermin_sandbox.state.accounts[PUBLIC].appointments[uid].as_api(ZURICH)
    assert (row["StartDateTime"], row["EndDateTime"], row["Notes"]) == (
        "2026-12-03T11:00:00",
        "2026-12-03T11:45:00",
        "verschoben",
    )


def test_unknown_appointment_update_is_404(etermin_sandbox):
    make_account(etermin_sandbox)
    response = httpx.put(
        etermin_sandbox.api_url + "/appointment", params={"id": "nope"}, headers=signed()
    )
    assert response.status_code == 404
    assert response.json() == {"Message": "no appointment with id 'nope'"}


# -- web push ----------------------------------------------------------------------------------


def test_api_booking_pushes_json_with_every_field_and_the_custom_header(
    etermin_sandbox, receiver, time_machine
):
    # given
    time_machine.move_to(datetime(2026, 11, 27, 14, 2, 11, tzinfo=UTC), tick=False)
    make_account(etermin_sandbox, push_url=receiver.url())
    # when
    uid = etermin_sandbox.book(
        PUBLIC,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 8, 30, tzinfo=UTC),
        end=datetime(2026, 12, 3, 9, 15, tzinfo=UTC),
        email="lea.brunner@example.ch",
        first_name="Lea",
        last_name="Brunner",
        notes="Bitte Parkplatz reservieren.\nDanke! 🚗",
        newsletter=True,
        salutation="Frau",
        phone="+41 79 555 01 23",
        street="Seestrasse 4",
        zip="8002",
        town="Zürich",
        birthday="14.02.1988",
        selectedanswers="Erstberatung (45 min)",
        additional2="Versichert",
    )
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    # then
    [pushed] = receiver.received
    assert pushed["path"] == "/push/hook"
    assert pushed["headers"]["content-type"] == "application/json; charset=utf-8"
    assert pushed["headers"]["x-terminflow-secret"] == "s3cret-header"
    assert json.loads(pushed["body"]) == {
        "command": "CREATED",
        "appointmentUID": uid,
        "startDateTimeUTC": "2026-12-03T08:30:00Z",
        "endDateTimeUTC": "2026-12-03T09:15:00Z",
        "startDateTime": "2026-12-03T09:30:00",
        "endDateTime": "2026-12-03T10:15:00",
        "bookingDateUTC": "2026-11-27T14:02:11Z",
        "salutation": "Frau",
        "firstName": "Lea",
        "lastName": "Brunner",
        "phone": "+41 79 555 01 23",
        "street": "Seestrasse 4",
        "ZIP": "8002",
        "town": "Zürich",
        "birthday": "14.02.1988",
        "notes": "Bitte Parkplatz reservieren.\nDanke! 🚗",
        "email": "lea.brunner@example.ch",
        "calendarName": "Praxis Seefeld",
        "calendarID": "211614",
        "selectedAnswers": "Erstberatung (45 min)",
        "bookingLanguage": "DE",
        "newsletter": "1",
        "additional1": "",
        "additional2": "Versichert",
        "additional3": "",
        "additional4": "",
        "additional5": "",
        "additional6": "",
    }
    assert {k: delivery[k] for k in ("public_key", "command", "url", "format")} == {
        "public_key": PUBLIC,
        "command": "CREATED",
        "url": receiver.url(),
        "format": "json",
    }
    assert (delivery["status_code"], delivery["response_body"], delivery["error"]) == (
        200,
        "ok",
        "",
    )
    assert delivery["headers"]["X-Terminflow-Secret"] == "s3cret-header"
    assert json.loads(delivery["body"]) == json.loads(pushed["body"])


def test_form_push_carries_only_filled_fields(etermin_sandbox, receiver, time_machine):
    # given
    time_machine.move_to(datetime(2026, 11, 27, 15, 10, tzinfo=UTC), tick=False)
    make_account(
        etermin_sandbox,
        push_url=receiver.url(),
        format="form",
        calendars=[(311, "Praxis Altstadt")],
    )
    # when
    uid = etermin_sandbox.book(
        PUBLIC,
        calendar_id=311,
        start=datetime(2026, 12, 10, 16, 0, tzinfo=ZURICH),
        end=datetime(2026, 12, 10, 17, 0, tzinfo=ZURICH),
        email="marco.mueller@example.de",
        first_name="Marco",
        last_name="Müller",
        notes="Erster Termin",
    )
    etermin_sandbox.wait_for_deliveries(1)
    # then
    [pushed] = receiver.received
    assert pushed["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert pushed["headers"]["x-terminflow-secret"] == "s3cret-header"
    assert dict(parse_qsl(pushed["body"].decode("ascii"), keep_blank_values=True)) == {
        "command": "CREATED",
        "appointmentUID": uid,
        "startDateTimeUTC": "2026-12-10T15:00:00Z",
        "endDateTimeUTC": "2026-12-10T16:00:00Z",
        "startDateTime": "2026-12-10T16:00:00",
        "endDateTime": "2026-12-10T17:00:00",
        "bookingDateUTC": "2026-11-27T15:10:00Z",
        "firstName": "Marco",
        "lastName": "Müller",
        "notes": "Erster Termin",
        "email": "marco.mueller@example.de",
        "calendarName": "Praxis Altstadt",
        "calendarID": "311",
        "bookingLanguage": "DE",
    }


def test_push_without_custom_header_has_none(etermin_sandbox, receiver):
    make_account(etermin_sandbox, push_url=receiver.url(), header=None)
    etermin_sandbox.test_push(PUBLIC)
    etermin_sandbox.wait_for_deliveries(1)
    assert "x-terminflow-secret" not in receiver.received[0]["headers"]


def test_reschedule_and_cancel_push_modified_then_deleted(etermin_sandbox, receiver):
    # given
    make_account(etermin_sandbox, push_url=receiver.url())
    uid = etermin_sandbox.book(
        PUBLIC,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=ZURICH),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
    )
    etermin_sandbox.wait_for_deliveries(1)
    # when
    etermin_sandbox.reschedule(
        PUBLIC,
        uid,
        datetime(2026, 12, 4, 14, 0, tzinfo=ZURICH),
        datetime(2026, 12, 4, 14, 45, tzinfo=ZURICH),
    )
    etermin_sandbox.wait_for_deliveries(2)
    etermin_sandbox.cancel(PUBLIC, uid)
    deliveries = etermin_sandbox.wait_for_deliveries(3)
    # then
    bodies = [json.loads(d["body"]) for d in deliveries]
    assert [(b["command"], b["appointmentUID"], b["startDateTime"]) for b in bodies] == [
        ("CREATED", uid, "2026-12-03T09:30:00"),
        ("MODIFIED", uid, "2026-12-04T14:00:00"),
        ("DELETED", uid, "2026-12-04T14:00:00"),
    ]
    assert bodies[1]["endDateTimeUTC"] == "2026-12-04T13:45:00Z"
    account = etermin_sandbox.state.accounts[PUBLIC]
    assert (list(account.appointments), list(account.deleted)) == ([], [uid])


def test_push_leaves_after_the_api_answered_and_never_holds_it(etermin_sandbox, receiver):
    # given a receiver that does not answer until released
    make_account(etermin_sandbox, push_url=receiver.url("slow"))
    # when
    uid = etermin_sandbox.book(
        PUBLIC,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=ZURICH),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
    )
    # then the API answered while the push is still in flight
    assert receiver.arrived.wait(5)
    assert etermin_sandbox.deliveries() == []
    with etermin_sandbox.client(PUBLIC) as client:
        assert client.appointment(uid)["externalid"] == uid
    receiver.release.set()
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    assert delivery["status_code"] == 200


@pytest.mark.parametrize("command", ["CREATED", "MODIFIED", "DELETED"])
def test_test_buttons_send_a_made_up_push(etermin_sandbox, receiver, command):
    # given
    make_account(etermin_sandbox, push_url=receiver.url())
    # when
    uid = etermin_sandbox.test_push(PUBLIC, command)
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    # then
    body = json.loads(delivery["body"])
    assert (body["command"], body["appointmentUID"], body["calendarName"], body["calendarID"]) == (
        command,
        uid,
        "Praxis Seefeld",
        "211614",
    )
    assert (body["firstName"], body["lastName"], body["email"]) == (
        "Max",
        "Muster",
        "max.muster@example.com",
    )
    assert etermin_sandbox.state.accounts[PUBLIC].appointments == {}


def test_test_push_without_web_push_is_refused(etermin_sandbox):
    make_account(etermin_sandbox)
    response = httpx.post(
        f"{etermin_sandbox.url}/_sandbox/accounts/{PUBLIC}/webpush/test",
        json={"command": "CREATED"},
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "web push is not configured for this account"}
    assert etermin_sandbox.deliveries() == []


def test_no_web_push_configured_sends_nothing(etermin_sandbox, receiver):
    # given one account without and one with a web push URL
    make_account(etermin_sandbox)
    etermin_sandbox.add_account("pk-other", "sk-other")
    etermin_sandbox.configure_push("pk-other", receiver.url("other"))
    # when both get a booking, the one without first
    for public_key in (PUBLIC, "pk-other"):
        etermin_sandbox.book_as_customer(
            public_key,
            calendar_id=211614,
            start="2026-12-03T09:30:00",
            end="2026-12-03T10:15:00",
            email="a@example.ch",
        )
    deliveries = etermin_sandbox.wait_for_deliveries(1)
    # then
    assert [d["public_key"] for d in deliveries] == ["pk-other"]
    assert [r["path"] for r in receiver.received] == ["/push/other"]
    assert etermin_sandbox.deliveries(PUBLIC) == []


def test_customer_booking_with_newsletter(etermin_sandbox, receiver):
    # given
    make_account(etermin_sandbox, push_url=receiver.url(), format="form")
    # when
    booked = etermin_sandbox.book_as_customer(
        PUBLIC,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 9, 30, tzinfo=ZURICH),
        end=datetime(2026, 12, 3, 10, 15, tzinfo=ZURICH),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
        newsletter=True,
    )
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    # then
    pushed = dict(parse_qsl(delivery["body"]))
    assert (pushed["appointmentUID"], pushed["newsletter"]) == (booked["ExternalID"], "1")
    with etermin_sandbox.client(PUBLIC) as client:
        [contact] = client.contacts_by_email("lea@example.ch")
    assert contact.newsletter is True


def test_unreachable_push_url_is_a_recorded_failed_delivery(etermin_sandbox):
    # given
    url = f"http://127.0.0.1:{closed_port()}/hook"
    make_account(etermin_sandbox, push_url=url)
    # when
    etermin_sandbox.test_push(PUBLIC, "DELETED")
    [delivery] = etermin_sandbox.wait_for_deliveries(1)
    # then
    assert (delivery["url"], delivery["status_code"]) == (url, None)
    assert delivery["error"].startswith("ConnectError: ")


# -- control -----------------------------------------------------------------------------------


def test_fail_next_answers_the_status_then_recovers(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    etermin_sandbox.fail_next(1, status=503)
    # when
    first = httpx.get(etermin_sandbox.api_url + "/calendar", headers=signed())
    second = httpx.get(etermin_sandbox.api_url + "/calendar", headers=signed())
    # then
    assert (first.status_code, second.status_code) == (503, 200)
    assert [c["status"] for c in etermin_sandbox.calls()] == [503, 200]


def test_control_errors_are_clear(etermin_sandbox):
    make_account(etermin_sandbox)
    unknown = httpx.get(f"{etermin_sandbox.url}/_sandbox/accounts/pk-nobody")
    bad_format = httpx.put(
        f"{etermin_sandbox.url}/_sandbox/accounts/{PUBLIC}/webpush",
        json={"url": "http://127.0.0.1/x", "format": "xml"},
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "no account with public key 'pk-nobody'"},
    )
    assert (bad_format.status_code, bad_format.json()) == (
        400,
        {"detail": "format must be one of json, form"},
    )
    assert etermin_sandbox.state.accounts[PUBLIC].push is None


def test_reset_forgets_everything(etermin_sandbox):
    # given
    make_account(etermin_sandbox)
    etermin_sandbox.book_as_customer(
        PUBLIC, calendar_id=211614, start="2026-12-03T09:30", end="2026-12-03T10:00"
    )
    etermin_sandbox.fail_next(2)
    # when
    etermin_sandbox.reset()
    # then
    state = etermin_sandbox.state
    assert (state.accounts, state.deliveries, state.calls, state.failure.count) == ({}, [], [], 0)


def test_state_file_loads_accounts(tmp_path):
    # given
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "public_key": PUBLIC,
                        "private_key": PRIVATE,
                        "timezone": "Europe/Berlin",
                        "calendars": [{"id": 211614, "name": "Praxis Seefeld"}],
                        "web_push": {"url": "http://127.0.0.1:9/hook", "format": "form"},
                    }
                ]
            }
        )
    )
    state = SandboxState()
    # when
    state.load(path)
    # then
    account = state.accounts[PUBLIC]
    assert account.summary() == {
        "public_key": PUBLIC,
        "timezone": "Europe/Berlin",
        "calendars": [{"id": 211614, "name": "Praxis Seefeld"}],
        "web_push": {
            "url": "http://127.0.0.1:9/hook",
            "format": "form",
            "header_name": "",
            "header_value": "",
            "variant": "standard",
            "paused": False,
        },
        "appointments": 0,
        "deleted_appointments": 0,
        "contacts": 0,
    }
    assert account.private_key == PRIVATE


def test_terminflow_sandbox_command_serves_the_state_file(tmp_path):
    # given
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "public_key": PUBLIC,
                        "private_key": PRIVATE,
                        "calendars": [{"id": 7, "name": "Praxis Enge"}],
                    }
                ]
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "terminflow.cli", "sandbox", "--port", "0", "--state", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # when
        banner = process.stdout.readline()
        api_url = banner.split()[3]
        with EterminClient(PUBLIC, PRIVATE, base_url=api_url) as client:
            calendars = client.calendars()
    finally:
        process.terminate()
        process.wait(timeout=10)
    # then
    assert banner.startswith("eTermin sandbox at http://127.0.0.1:")
    assert [(c.id, c.name) for c in calendars] == [(7, "Praxis Enge")]
