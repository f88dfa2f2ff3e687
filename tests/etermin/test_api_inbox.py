"""``/api/v1/inbox``: stored web pushes, newest first, paged, filtered, isolated; retry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from terminflow.etermin import services
from terminflow.etermin.models import WebPush
from tests.conftest import make_workspace

BASE = "/api/v1/inbox"
SAMPLES = Path(__file__).parent / "samples"
RECEIVED = datetime(2026, 11, 27, 14, 2, 12, tzinfo=UTC)


def account_of(workspace, name="Seefeld"):
    return services.connect_account(
        workspace, name=name, public_key=f"pub-{name}", private_key="priv", verify=False
    )


def stored_push(
    account,
    *,
    body: bytes = b'{"command":"CREATED","appointmentUID":"u-1"}',
    content_type: str = "application/json",
    status: str = "pending",
    command: str | None = "CREATED",
    uid: str | None = "u-1",
    reason: str = "",
    minutes: int = 0,
    processed: bool = False,
) -> WebPush:
    received = RECEIVED + timedelta(minutes=minutes)
    return WebPush.objects.create(
        account=account,
        workspace=account.workspace,
        received_at=received,
        content_type=content_type,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        command=command,
        appointment_uid=uid,
        status=status,
        reason=reason,
        processed_at=received + timedelta(seconds=1) if processed else None,
    )


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


def test_empty_inbox(api):
    # when
    response = api.get(BASE)
    # then
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def test_list_newest_first_with_exact_shape(api):
    # given
    account = account_of(api.workspace)
    older = stored_push(account, status="processed", processed=True)
    newer = stored_push(
        account,
        body=b"nonsense",
        content_type="",
        status="failed",
        command=None,
        uid=None,
        reason="The body is neither a JSON object nor form fields (name=value&…).",
        minutes=5,
    )
    # when
    response = api.get(BASE)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": newer.pk,
                "account_id": account.pk,
                "command": None,
                "command_label": "",
                "appointment_uid": None,
                "status": "failed",
                "status_label": "Failed",
                "reason": "The body is neither a JSON object nor form fields (name=value&…).",
                "reason_code": "unreadable",
                "received_at": "2026-11-27T14:07:12Z",
                "processed_at": None,
                "source": "push",
            },
            {
                "id": older.pk,
                "account_id": account.pk,
                "command": "CREATED",
                "command_label": "Created",
                "appointment_uid": "u-1",
                "status": "processed",
                "status_label": "Processed",
                "reason": "",
                "reason_code": "",
                "received_at": "2026-11-27T14:02:12Z",
                "processed_at": "2026-11-27T14:02:13Z",
                "source": "push",
            },
        ],
        "next_cursor": None,
    }


def test_paging_walks_every_row_once_even_while_pushes_arrive(api):
    # given five pushes
    account = account_of(api.workspace)
    pushes = [stored_push(account, uid=f"u-{n}", minutes=n) for n in range(5)]
    expected = [p.pk for p in reversed(pushes)]
    # when paging two at a time, with a new push arriving after the first page
    first = api.get(BASE, data={"limit": 2})
    stored_push(account, uid="u-late", minutes=10)
    second = api.get(BASE, data={"limit": 2, "cursor": first.json()["next_cursor"]})
    third = api.get(BASE, data={"limit": 2, "cursor": second.json()["next_cursor"]})
    # then
    assert ids(first) + ids(second) + ids(third) == expected
    assert first.json()["next_cursor"] == str(expected[1])
    assert third.json()["next_cursor"] is None


def test_exactly_full_last_page_has_no_cursor(api):
    # given
    account = account_of(api.workspace)
    for n in range(2):
        stored_push(account, minutes=n)
    # when
    response = api.get(BASE, data={"limit": 2})
    # then
    assert len(ids(response)) == 2
    assert response.json()["next_cursor"] is None


def test_filters_by_status_and_account(api):
    # given
    seefeld = account_of(api.workspace, "Seefeld")
    altstadt = account_of(api.workspace, "Altstadt")
    failed_seefeld = stored_push(seefeld, status="failed", reason="x")
    stored_push(seefeld, status="pending")
    failed_altstadt = stored_push(altstadt, status="failed", reason="y")
    # when / then
    assert ids(api.get(BASE, data={"status": "failed"})) == [
        failed_altstadt.pk,
        failed_seefeld.pk,
    ]
    assert ids(api.get(BASE, data={"status": "failed", "account_id": seefeld.pk})) == [
        failed_seefeld.pk
    ]
    assert ids(api.get(BASE, data={"status": "ignored"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "-5"}, "cursor"),
    ],
)
def test_bad_query_is_422(api, params, field):
    # when
    response = api.get(BASE, data=params)
    # then
    assert response.status_code == 422
    assert field in response.json()["detail"].lower()


def test_other_workspaces_pushes_are_invisible(api):
    # given
    own = stored_push(account_of(api.workspace))
    foreign_account = account_of(make_workspace("Andere Praxis"), "Fremd")
    foreign = stored_push(foreign_account, status="failed", reason="x")
    # when / then
    assert ids(api.get(BASE)) == [own.pk]
    assert api.get(BASE, data={"account_id": foreign_account.pk}).status_code == 404
    assert api.get(f"{BASE}/{foreign.pk}").status_code == 404
    response = api.post(f"{BASE}/{foreign.pk}/retry")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No web push {foreign.pk} in this workspace.",
        "code": "not_found",
    }
    foreign.refresh_from_db()
    assert foreign.status == "failed"


def test_detail_shows_raw_body_and_event(api):
    # given
    account = account_of(api.workspace)
    body = (SAMPLES / "created.json").read_bytes()
    push = stored_push(account, body=body, uid="6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11")
    # when
    response = api.get(f"{BASE}/{push.pk}")
    # then
    assert response.status_code == 200
    data = response.json()
    assert data["body"] == body.decode("utf-8")
    assert data["content_type"] == "application/json"
    assert data["parse_error"] is None
    assert data["attempts"] == 0
    event = data["event"]
    assert (event["command"], event["uid"]) == ("CREATED", "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11")
    assert (event["start"], event["end"]) == ("2026-12-03T08:30:00Z", "2026-12-03T09:15:00Z")
    assert (event["birthday"], event["calendar_id"], event["newsletter"]) == (
        "1988-02-14",
        211614,
        "yes",
    )
    assert event["town"] == "Zürich"


def test_detail_reads_local_times_in_the_account_zone(api):
    # given an account in New York and a push with local times only
    account = services.connect_account(
        api.workspace,
        name="NY",
        public_key="pub-ny",
        private_key="priv",
        verify=False,
        timezone="America/New_York",
    )
    body = b"command=CREATED&appointmentUID=u-9&startDateTime=2026-07-03+09%3A30"
    push = stored_push(account, body=body, content_type="application/x-www-form-urlencoded")
    # when
    event = api.get(f"{BASE}/{push.pk}").json()["event"]
    # then
    assert event["start"] == "2026-07-03T13:30:00Z"


def test_detail_of_unreadable_push_has_the_reason_and_latin1_text(api):
    # given a latin-1 body without a command
    body = "firstName=Jürg".encode("latin-1")
    push = stored_push(account_of(api.workspace), body=body, command=None, uid=None)
    # when
    data = api.get(f"{BASE}/{push.pk}").json()
    # then
    assert data["event"] is None
    assert data["parse_error"] == "The push has no command (CREATED, MODIFIED or DELETED)."
    assert data["body"] == "firstName=Jürg"


def test_retry_failed_push(api):
    # given
    push = stored_push(account_of(api.workspace), status="failed", reason="SMTP down")
    # when
    response = api.post(f"{BASE}/{push.pk}/retry")
    # then
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("pending", "")
    push.refresh_from_db()
    assert push.status == "pending"


def test_retry_processed_push_is_409_and_unchanged(api):
    # given
    push = stored_push(account_of(api.workspace), status="processed", processed=True)
    # when
    response = api.post(f"{BASE}/{push.pk}/retry")
    # then
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    push.refresh_from_db()
    assert push.status == "processed"


def test_openapi_documents_the_cursor(api):
    # when
    schema = api.get("/api/v1/openapi.json").json()
    # then
    description = schema["paths"][BASE]["get"]["description"]
    assert "next_cursor" in description
    params = {p["name"] for p in schema["paths"][BASE]["get"]["parameters"]}
    assert params == {"status", "account_id", "limit", "cursor"}
