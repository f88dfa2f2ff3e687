"""Issue 2's whole path over real HTTP: connect an account → book in eTermin → push → inbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from terminflow.etermin.models import WebPush

PUBLIC_KEY = "pk-flow"
PRIVATE_KEY = "sk-flow-secret"


@pytest.mark.django_db(transaction=True)
def test_connect_book_and_find_the_parsed_push_in_the_inbox(api, etermin_sandbox, terminflow_front):
    # given an eTermin account with one calendar, connected through the API with a key check
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY, calendars=[(211614, "Praxis Seefeld")])
    connected = api.post(
        "/api/v1/etermin/accounts",
        {"name": "Praxis Seefeld", "public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY},
    )
    assert connected.status_code == 201
    push_url = connected.json()["web_push_url"]
    assert push_url.startswith("http://testserver/hooks/etermin/")
    token = push_url.rsplit("/", 1)[1]
    # and the Web Push URL pasted into eTermin (the front listens on its own port here)
    etermin_sandbox.configure_push(
        PUBLIC_KEY, f"{terminflow_front.url}/hooks/etermin/{token}", format="json"
    )

    # when a customer books in eTermin
    uid = etermin_sandbox.book(
        PUBLIC_KEY,
        calendar_id=211614,
        start=datetime(2026, 12, 3, 8, 30, tzinfo=UTC),
        end=datetime(2026, 12, 3, 9, 15, tzinfo=UTC),
        email="lea.brunner@example.ch",
        first_name="Lea",
        last_name="Brunner",
        notes="Erster Termin",
    )
    [delivery] = etermin_sandbox.wait_for_deliveries(1)

    # then eTermin got "ok", and the inbox lists the push with its parsed event
    assert (delivery["status_code"], delivery["response_body"]) == (200, "ok")
    listed = api.get("/api/v1/inbox").json()["items"]
    assert [(i["command"], i["appointment_uid"], i["status"]) for i in listed] == [
        ("CREATED", uid, "pending")
    ]
    detail = api.get(f"/api/v1/inbox/{listed[0]['id']}").json()
    event = detail["event"]
    assert (event["command"], event["uid"], event["email"]) == (
        "CREATED",
        uid,
        "lea.brunner@example.ch",
    )
    assert (event["start"], event["end"]) == ("2026-12-03T08:30:00Z", "2026-12-03T09:15:00Z")
    assert (event["calendar_id"], event["calendar_name"], event["notes"]) == (
        211614,
        "Praxis Seefeld",
        "Erster Termin",
    )
    assert WebPush.objects.count() == 1
