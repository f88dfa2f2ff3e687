"""POST /hooks/etermin/{token}: token → store raw → answer, for good and for bad input.

The app runs in-process (httpx over ASGI, with its lifespan, so the writer thread runs); the
writer commits on its own connection, hence ``transaction=True``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from django.test import override_settings
from starlette.applications import Starlette

from terminflow.asgi import create_app
from terminflow.etermin import ingest
from terminflow.etermin.ingest import IngestWriter, Outcome, incoming_push, ingest_routes
from terminflow.etermin.models import EterminAccount, WebPush
from terminflow.etermin.services import connect_account, delete_account, rotate_web_push_token
from tests.conftest import make_workspace

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = Path(__file__).parent / "samples"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def make_account(name: str = "Praxis Seefeld", workspace_name: str = "Praxis Seefeld") -> Any:
    return connect_account(
        make_workspace(workspace_name),
        name=name,
        public_key="pub-123",
        private_key="priv-456",
        verify=False,
    )


def push_body(uid: str = "uid-1", command: str = "CREATED", **fields: str) -> bytes:
    return json.dumps(
        {
            "command": command,
            "appointmentUID": uid,
            "startDateTimeUTC": "2026-12-03T08:30:00Z",
            "email": "lea.brunner@example.ch",
            **fields,
        }
    ).encode()


Request = tuple[str, bytes, str | None]  # (token, body, content type)


def post(requests: Iterable[Request], *, headers: dict[str, str] | None = None) -> list[Any]:
    """Send the requests concurrently to a fresh app (writer running, no worker)."""

    async def scenario() -> list[Any]:
        app = create_app(run_worker=False, writer_in_child=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                calls = []
                for token, body, content_type in requests:
                    sent = dict(headers or {})
                    if content_type is not None:
                        sent["content-type"] = content_type
                    calls.append(client.post(f"/hooks/etermin/{token}", content=body, headers=sent))
                return await asyncio.gather(*calls)

    return asyncio.run(scenario())


def post_one(token: str, body: bytes, content_type: str | None = JSON) -> Any:
    (response,) = post([(token, body, content_type)])
    return response


def rows() -> list[WebPush]:
    return list(WebPush.objects.order_by("id"))


# -- good pushes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "command", "uid"),
    [
        ("created.json", JSON, "CREATED", "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"),
        ("modified.json", JSON, "MODIFIED", "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"),
        ("deleted.json", JSON, "DELETED", "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11"),
        ("created.form", FORM, "CREATED", "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00"),
        ("deleted.form", FORM, "DELETED", "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00"),
    ],
)
def test_a_sample_push_is_stored_raw_and_answered_ok(
    name: str, content_type: str, command: str, uid: str
) -> None:
    # given a connected account and one of eTermin's sample pushes
    account = make_account()
    body = sample(name)

    # when eTermin posts it to the account's web push URL
    response = post_one(account.web_push_token, body, content_type)

    # then it is answered 200 ok and stored raw, pending, with its command and uid
    assert (response.status_code, response.text) == (200, "ok")
    (row,) = rows()
    assert row.account_id == account.id
    assert row.workspace_id == account.workspace_id
    assert bytes(row.body) == body
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    assert row.content_type == content_type
    assert (row.command, row.appointment_uid) == (command, uid)
    assert (row.status, row.reason) == ("pending", "")
    assert row.received_at is not None
    assert (row.attempts, row.processed_at, row.claimed_until) == (0, None, None)


def test_json_sent_as_text_plain_is_still_read() -> None:
    # given a JSON push with the wrong content type
    account = make_account()

    # when it is posted as text/plain
    response = post_one(account.web_push_token, sample("created.json"), "text/plain")

    # then it is read as JSON and stored pending
    assert (response.status_code, response.text) == (200, "ok")
    (row,) = rows()
    assert (row.command, row.appointment_uid, row.status) == (
        "CREATED",
        "6a1f0e52-3c1d-4b7e-9a51-2f0c8d9e4b11",
        "pending",
    )
    assert row.content_type == "text/plain"


def test_a_form_push_without_content_type_is_still_read() -> None:
    account = make_account()

    response = post_one(account.web_push_token, sample("created.form"), None)

    assert (response.status_code, response.text) == (200, "ok")
    (row,) = rows()
    assert (row.command, row.appointment_uid, row.status, row.content_type) == (
        "CREATED",
        "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00",
        "pending",
        "",
    )


def test_an_email_that_is_not_an_address_is_stored_for_processing_to_judge() -> None:
    # given a push whose email is not an address
    account = make_account()
    body = push_body(email="lea at example")

    # when it is posted
    response = post_one(account.web_push_token, body)

    # then ingest stores it pending; processing decides what an invalid email means
    assert (response.status_code, response.text) == (200, "ok")
    (row,) = rows()
    assert (row.status, row.reason, bytes(row.body)) == ("pending", "", body)


def test_the_account_of_the_token_gets_the_push() -> None:
    # given two accounts in two workspaces
    first = make_account("Praxis Seefeld", "Praxis Seefeld")
    second = make_account("Praxis Altstadt", "Praxis Altstadt")

    # when each gets a push on its own URL
    responses = post(
        [
            (first.web_push_token, push_body("uid-a"), JSON),
            (second.web_push_token, push_body("uid-b"), JSON),
        ]
    )

    # then each row belongs to the account (and workspace) of the URL it came in on
    assert [r.status_code for r in responses] == [200, 200]
    stored = {row.appointment_uid: (row.account_id, row.workspace_id) for row in rows()}
    assert stored == {
        "uid-a": (first.id, first.workspace_id),
        "uid-b": (second.id, second.workspace_id),
    }


def test_a_stored_push_wakes_whoever_processes_the_inbox() -> None:
    # given a writer with a commit hook
    account = make_account()
    woken: list[int] = []

    async def scenario() -> Outcome:
        writer = IngestWriter()
        writer.on_commit = lambda: woken.append(1)
        await writer.start()
        try:
            return await writer.submit(incoming_push(account.web_push_token, push_body(), JSON))
        finally:
            await writer.stop()

    # when a push is committed, then the hook ran once
    assert asyncio.run(scenario()) is Outcome.STORED
    assert woken == [1]
    assert WebPush.objects.count() == 1


def test_the_route_alone_serves_pushes_like_the_shortcut() -> None:
    # given a plain Starlette app with only the ingest route (no shortcut middleware)
    account = make_account()

    async def scenario() -> Any:
        writer = IngestWriter()
        app = Starlette(routes=ingest_routes(writer))
        await writer.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                url = f"/hooks/etermin/{account.web_push_token}"
                return [
                    await client.post(url, content=push_body("uid-route")),
                    await client.post("/hooks/etermin/unknown", content=push_body()),
                ]
        finally:
            await writer.stop()

    # when a push and one with an unknown token arrive, then they are answered the same way
    ok, unknown = asyncio.run(scenario())
    assert (ok.status_code, ok.text) == (200, "ok")
    assert (unknown.status_code, unknown.text) == (404, "Not Found")
    assert [row.appointment_uid for row in rows()] == ["uid-route"]


# -- tokens ------------------------------------------------------------------------------------


def test_an_unknown_token_is_404_with_no_hint_and_nothing_is_stored() -> None:
    make_account()

    response = post_one("not-a-token-of-anyone", sample("created.json"))

    assert (response.status_code, response.text) == (404, "Not Found")
    assert rows() == []


def test_an_unknown_token_with_an_unreadable_body_is_404_not_400() -> None:
    make_account()

    response = post_one("not-a-token-of-anyone", b"[1, 2, 3]")

    assert (response.status_code, response.text) == (404, "Not Found")
    assert rows() == []


def test_a_rotated_token_stops_working_at_once() -> None:
    # given an account whose token was rotated
    account = make_account()
    old_token = account.web_push_token
    rotate_web_push_token(account)
    new_token = EterminAccount.objects.get(id=account.id).web_push_token

    # when pushes arrive on the old and on the new URL
    old, new = post(
        [(old_token, push_body("uid-old"), JSON), (new_token, push_body("uid-new"), JSON)]
    )

    # then only the new URL is accepted
    assert (old.status_code, old.text) == (404, "Not Found")
    assert (new.status_code, new.text) == (200, "ok")
    assert [row.appointment_uid for row in rows()] == ["uid-new"]


def test_a_deleted_account_token_is_404_and_nothing_is_stored() -> None:
    account = make_account()
    token = account.web_push_token
    delete_account(account)

    response = post_one(token, sample("created.json"))

    assert (response.status_code, response.text) == (404, "Not Found")
    assert rows() == []


# -- bodies that cannot be read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "The body is empty."),
        (b"[]", "The body is a JSON array; a web push is one JSON object."),
        (
            b'[{"command": "CREATED", "appointmentUID": "uid-1"}]',
            "The body is a JSON array; a web push is one JSON object.",
        ),
        (
            b'{"appointmentUID": "uid-1"}',
            "The push has no command (CREATED, MODIFIED or DELETED).",
        ),
        (b'{"command": "CREATED"}', "The push has no appointmentUID."),
        (b"command=CREATED&email=a%40b.ch", "The push has no appointmentUID."),
        (
            b'{"command": "BOOKED", "appointmentUID": "uid-1"}',
            "The command 'BOOKED' is not one of CREATED, MODIFIED, DELETED.",
        ),
        (
            b'{"command": "CREATED", "appointmentUID": "uid-1", '
            b'"startDateTimeUTC": "tomorrow at ten"}',
            "The field startDateTimeUTC holds 'tomorrow at ten', which is not a date and time.",
        ),
        (
            b"command=MODIFIED&appointmentUID=uid-1&endDateTime=2026-13-45+25%3A00",
            "The field endDateTime holds '2026-13-45 25:00', which is not a date and time.",
        ),
    ],
)
@pytest.mark.parametrize("content_type", [JSON, "text/plain"])
def test_an_unreadable_body_is_stored_failed_and_answered_400_with_the_reason(
    body: bytes, reason: str, content_type: str
) -> None:
    # given a connected account
    account = make_account()

    # when a body that is not a readable push arrives on its URL
    response = post_one(account.web_push_token, body, content_type)

    # then the answer says why, and the raw body is kept as a failed row with that reason
    assert (response.status_code, response.text) == (400, reason)
    (row,) = rows()
    assert (row.status, row.reason) == ("failed", reason)
    assert (row.command, row.appointment_uid) == (None, None)
    assert bytes(row.body) == body
    assert row.account_id == account.id


def test_text_that_is_neither_json_nor_form_is_stored_failed() -> None:
    account = make_account()

    response = post_one(account.web_push_token, b"just some text", "text/plain")

    reason = "The body is neither a JSON object nor form fields (name=value&…)."
    assert (response.status_code, response.text) == (400, reason)
    (row,) = rows()
    assert (row.status, row.reason, bytes(row.body)) == ("failed", reason, b"just some text")


def test_invalid_json_is_stored_failed_with_the_parser_message() -> None:
    account = make_account()
    body = b'{"command": "CREATED", "appointmentUID": '

    response = post_one(account.web_push_token, body)

    assert response.status_code == 400
    assert response.text.startswith("The body is not valid JSON: ")
    (row,) = rows()
    assert (row.status, row.reason, bytes(row.body)) == ("failed", response.text, body)


# -- size --------------------------------------------------------------------------------------


def test_a_1_mb_body_is_413_and_nothing_is_stored() -> None:
    account = make_account()
    body = push_body(notes="x" * 1_000_000)

    response = post_one(account.web_push_token, body)

    assert response.status_code == 413
    assert rows() == []


def test_a_streamed_body_over_the_cap_is_413_even_without_content_length() -> None:
    # given a body sent in chunks, without a Content-Length, that grows past the 64 KiB cap
    account = make_account()

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    async def scenario() -> Any:
        app = create_app(run_worker=False, writer_in_child=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                return await client.post(
                    f"/hooks/etermin/{account.web_push_token}", content=chunks()
                )

    # when it is posted, then it is refused and nothing is stored
    response = asyncio.run(scenario())
    assert response.status_code == 413
    assert rows() == []


def test_a_body_exactly_at_the_cap_is_accepted() -> None:
    account = make_account()
    with override_settings(WEB_PUSH_MAX_BYTES=300):
        base = push_body("uid-cap", notes="")
        body = push_body("uid-cap", notes="n" * (300 - len(base)))
        assert len(body) == 300

        at_cap = post_one(account.web_push_token, body)
        over_cap = post_one(account.web_push_token, body + b" ")

    assert (at_cap.status_code, over_cap.status_code) == (200, 413)
    assert [bytes(row.body) for row in rows()] == [body]


# -- repeats and concurrency -------------------------------------------------------------------


def test_a_repeated_push_is_answered_ok_and_stored_once() -> None:
    # given a push that was stored
    account = make_account()
    body = sample("created.json")
    first = post_one(account.web_push_token, body)

    # when eTermin sends the same bytes again
    second = post_one(account.web_push_token, body)

    # then both are answered ok, and there is one row
    assert [(r.status_code, r.text) for r in (first, second)] == [(200, "ok"), (200, "ok")]
    assert len(rows()) == 1


def test_rescheduling_there_and_back_keeps_every_push() -> None:
    # given an appointment moved from A to B and back to A (three real changes)
    account = make_account()
    at_a = push_body("uid-1", "MODIFIED", startDateTimeUTC="2026-12-03T08:30:00Z")
    at_b = push_body("uid-1", "MODIFIED", startDateTimeUTC="2026-12-04T08:30:00Z")

    # when the pushes arrive one after the other
    for body in (at_a, at_b, at_a):
        assert post_one(account.web_push_token, body).status_code == 200

    # then all three are stored: only a repeat of the newest push is dropped
    assert [bytes(row.body) for row in rows()] == [at_a, at_b, at_a]


def test_the_same_body_for_another_appointment_or_account_is_not_a_repeat() -> None:
    first = make_account("Praxis Seefeld", "Praxis Seefeld")
    second = make_account("Praxis Altstadt", "Praxis Altstadt")
    body = push_body("uid-1")

    for token in (first.web_push_token, second.web_push_token):
        assert post_one(token, body).status_code == 200
    assert post_one(first.web_push_token, push_body("uid-2")).status_code == 200

    assert [(row.account_id, row.appointment_uid) for row in rows()] == [
        (first.id, "uid-1"),
        (second.id, "uid-1"),
        (first.id, "uid-2"),
    ]


def test_200_concurrent_identical_pushes_are_stored_once() -> None:
    # given one push sent 200 times at once for the same appointment
    account = make_account()
    body = push_body("uid-busy")

    # when they all arrive concurrently
    responses = post([(account.web_push_token, body, JSON)] * 200)

    # then every one is answered ok and exactly one row is stored
    assert [(r.status_code, r.text) for r in responses] == [(200, "ok")] * 200
    assert [bytes(row.body) for row in rows()] == [body]


def test_200_concurrent_distinct_pushes_for_one_appointment_are_each_stored_once() -> None:
    # given 200 different pushes (different notes) for the same appointment, sent at once
    account = make_account()
    bodies = [push_body("uid-busy", "MODIFIED", notes=f"change {n}") for n in range(200)]

    # when they all arrive concurrently
    responses = post([(account.web_push_token, body, JSON) for body in bodies])

    # then every one is answered ok and each body is stored exactly once
    assert [(r.status_code, r.text) for r in responses] == [(200, "ok")] * 200
    stored = [bytes(row.body) for row in rows()]
    assert sorted(stored) == sorted(bodies)
    assert {row.appointment_uid for row in rows()} == {"uid-busy"}


def skip_on_sqlite_where_writers_decide_one_at_a_time() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite: each batch reads the newest row under BEGIN IMMEDIATE; no stale read")


def test_on_sqlite_no_dedupe_key_is_written() -> None:
    # given SQLite, whose writers take turns for the whole batch
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keys every push; see the tests of the key below")
    account = make_account()

    # when a push and its repeat arrive
    assert post_one(account.web_push_token, push_body("uid-k")).status_code == 200
    assert post_one(account.web_push_token, push_body("uid-k")).status_code == 200

    # then one row is stored, without a key (no index entry to write)
    assert [row.dedupe_key for row in rows()] == [None]


def test_a_repeat_stored_meanwhile_by_another_web_process_is_not_stored_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip_on_sqlite_where_writers_decide_one_at_a_time()
    # given a push stored by one web process
    account = make_account()
    body = push_body("uid-race")
    assert post_one(account.web_push_token, body).status_code == 200
    # and a second web process that looked for the newest row just before that commit (the
    # race of two processes: its read cannot see the other's uncommitted row)
    monkeypatch.setattr(ingest, "_newest_sha_by_appointment", lambda *args: {})

    # when the same push reaches the second process
    response = post_one(account.web_push_token, body)

    # then it is answered ok as a repeat and the inbox still holds one row
    assert (response.status_code, response.text) == (200, "ok")
    assert [bytes(row.body) for row in rows()] == [body]


def test_the_same_push_at_two_writers_at_once_is_stored_once() -> None:
    # given two writers (two web processes) and ten appointments, each push sent to both
    account = make_account()
    bodies = [push_body(f"uid-both-{n}") for n in range(10)]

    async def scenario() -> list[Outcome]:
        writers = [IngestWriter(), IngestWriter()]
        for writer in writers:
            await writer.start()
        try:
            # one request per body and writer, each with its own request id
            return await asyncio.gather(
                *(
                    writer.submit(incoming_push(account.web_push_token, body, JSON))
                    for body in bodies
                    for writer in writers
                )
            )
        finally:
            for writer in writers:
                await writer.stop()

    # when both store them concurrently
    outcomes = asyncio.run(scenario())

    # then each appointment's push is stored by one writer and a repeat for the other
    assert sorted(o.value for o in outcomes) == ["repeat"] * 10 + ["stored"] * 10
    assert sorted(bytes(row.body) for row in rows()) == sorted(bodies)


def test_two_different_pushes_whose_dedupe_keys_collide_are_both_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip_on_sqlite_where_writers_decide_one_at_a_time()
    # given a stored push, and a 64-bit key that (as if by a hash collision) is the same for
    # every push
    monkeypatch.setattr(ingest, "_dedupe_key", lambda *args: 42)
    account = make_account()
    first = push_body("uid-1")
    assert post_one(account.web_push_token, first).status_code == 200
    monkeypatch.setattr(ingest, "_newest_sha_by_appointment", lambda *args: {})

    # when a different push for another appointment comes, with the same key
    second = push_body("uid-2")
    response = post_one(account.web_push_token, second)

    # then it is stored too, without a key
    assert (response.status_code, response.text) == (200, "ok")
    assert [(bytes(row.body), row.dedupe_key) for row in rows()] == [(first, 42), (second, None)]


def test_the_writer_is_busy_while_many_requests_wait_for_their_commit() -> None:
    account = make_account()

    async def scenario() -> tuple[bool, bool, bool, list[Outcome]]:
        writer = IngestWriter()
        few = [
            asyncio.ensure_future(
                writer.submit(incoming_push(account.web_push_token, push_body(f"a{n}"), JSON))
            )
            for n in range(ingest.BUSY_WAITING - 1)
        ]
        await asyncio.sleep(0)
        busy_with_few = writer.busy
        many = [
            asyncio.ensure_future(
                writer.submit(incoming_push(account.web_push_token, push_body(f"b{n}"), JSON))
            )
            for n in range(1)
        ]
        await asyncio.sleep(0)
        busy_with_many = writer.busy
        await writer.start()
        try:
            outcomes = await asyncio.gather(*few, *many)
        finally:
            await writer.stop()
        return busy_with_few, busy_with_many, writer.busy, outcomes

    # when 15, then 16 requests wait (the writer not started), then all are committed
    few, many, after, outcomes = asyncio.run(scenario())

    # then it is busy only with 16 waiting, and not once they are answered
    assert (few, many, after) == (False, True, False)
    assert outcomes == [Outcome.STORED] * ingest.BUSY_WAITING


def test_the_request_id_of_a_push_is_kept_with_its_inbox_row() -> None:
    account = make_account()

    # when one push comes with a proxy's request id and one without, one with a bad id
    given = post(
        [(account.web_push_token, push_body("uid-a"), JSON)], headers={"x-request-id": "req-4711"}
    )
    made = post([(account.web_push_token, push_body("uid-b"), JSON)])
    refused = post(
        [(account.web_push_token, push_body("uid-c"), JSON)],
        headers={"x-request-id": "bad id\nwith newline"},
    )

    # then the given one is kept, the others get a fresh 16-hex-digit id
    assert [r.status_code for r in (*given, *made, *refused)] == [200, 200, 200]
    ids = [row.request_id for row in rows()]
    assert ids[0] == "req-4711"
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids[1:])
    assert ids[1] != ids[2]


def test_a_good_push_after_a_bad_one_in_the_same_batch_is_stored() -> None:
    # given a bad body and a good one queued before the writer starts (so: one batch)
    account = make_account()
    token = account.web_push_token
    bad = incoming_push(token, b'{"command": "CREATED"', JSON)
    good = incoming_push(token, push_body("uid-good"), JSON)

    async def scenario() -> list[Outcome]:
        writer = IngestWriter()
        futures = [asyncio.ensure_future(writer.submit(p)) for p in (bad, good)]
        await asyncio.sleep(0)
        await writer.start()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            await writer.stop()

    # when the batch is written
    outcomes = asyncio.run(scenario())

    # then both rows are there: the bad one failed with its reason, the good one pending
    assert outcomes == [Outcome.UNREADABLE, Outcome.STORED]
    stored = [(row.status, row.appointment_uid) for row in rows()]
    assert stored == [("failed", None), ("pending", "uid-good")]
    assert rows()[0].reason.startswith("The body is not valid JSON: ")


def test_an_account_deleted_during_a_batch_does_not_cost_the_other_pushes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a batch in which one push's account is deleted after its token was looked up
    # (simulated: the first lookup still returns the vanished account)
    account = make_account("Praxis Seefeld", "Praxis Seefeld")
    doomed = make_account("Praxis Altstadt", "Praxis Altstadt")
    doomed_token = doomed.web_push_token
    doomed_hash = doomed.web_push_token_hash
    stale = (doomed.id, doomed.workspace_id)
    delete_account(doomed)
    real_lookup = ingest._accounts_by_hash
    calls: list[int] = []

    def stale_once(cursor: Any, sql: Any, hashes: set[str]) -> dict[str, tuple[int, int]]:
        found = real_lookup(cursor, sql, hashes)
        if not calls and doomed_hash in hashes:
            found[doomed_hash] = stale
        calls.append(1)
        return found

    monkeypatch.setattr(ingest, "_accounts_by_hash", stale_once)
    pushes = [
        incoming_push(account.web_push_token, push_body("uid-1"), JSON),
        incoming_push(doomed_token, push_body("uid-2"), JSON),
        incoming_push(account.web_push_token, push_body("uid-3"), JSON),
    ]

    async def scenario() -> list[Outcome]:
        writer = IngestWriter()
        futures = [asyncio.ensure_future(writer.submit(p)) for p in pushes]
        await asyncio.sleep(0)
        await writer.start()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            await writer.stop()

    # when the batch is written, its insert fails on the vanished account
    outcomes = asyncio.run(scenario())

    # then the batch is redone push by push: the others are stored, the orphan is unknown
    assert outcomes == [Outcome.STORED, Outcome.UNKNOWN_TOKEN, Outcome.STORED]
    assert [(row.account_id, row.appointment_uid) for row in rows()] == [
        (account.id, "uid-1"),
        (account.id, "uid-3"),
    ]
    assert len(calls) == 4  # the batch once, then each push on its own


def test_a_push_to_a_stopped_writer_is_503_not_lost_silently() -> None:
    account = make_account()

    async def scenario() -> Any:
        app = create_app(run_worker=False, writer_in_child=False)
        async with app.router.lifespan_context(app):
            await app.state.writer.stop()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                return await client.post(
                    f"/hooks/etermin/{account.web_push_token}", content=push_body()
                )

    response = asyncio.run(scenario())
    assert response.status_code == 503
    assert rows() == []


# -- over real HTTP ----------------------------------------------------------------------------


@pytest.mark.terminflow_server(embedded_worker=False)
def test_over_real_http_a_push_is_stored_and_a_huge_one_refused(terminflow_server: Any) -> None:
    # given the real server (uvicorn, as `terminflow serve` runs it) and an account
    account = make_account()
    url = f"{terminflow_server.url}/hooks/etermin/{account.web_push_token}"

    with httpx.Client(timeout=10) as client:
        # when a sample push, a 1 MB body and the sample again (same connection) are posted
        first = client.post(url, content=sample("created.form"), headers={"content-type": FORM})
        huge = client.post(url, content=push_body(notes="x" * 1_000_000))
        unknown = client.post(f"{terminflow_server.url}/hooks/etermin/nope", content=b"{}")
        again = client.post(url, content=push_body("uid-after-huge"))

    # then the good ones are stored, the huge one is refused unread, the unknown token is 404
    assert (first.status_code, first.text) == (200, "ok")
    assert huge.status_code == 413
    assert (unknown.status_code, unknown.text) == (404, "Not Found")
    assert (again.status_code, again.text) == (200, "ok")
    assert [row.appointment_uid for row in rows()] == [
        "0b7d2c44-9e8f-4f7a-8d2e-5a6b7c8d9e00",
        "uid-after-huge",
    ]


# -- junk is refused before it costs anything (issue 8, point 3) --------------------------------


def _call_endpoint(token: str, content_type: str, body: bytes) -> tuple[int, bytes, int]:
    """One request straight into the endpoint: (status, answer, how often it read the body)."""
    reads: list[int] = []

    async def receive() -> dict[str, Any]:
        reads.append(1)
        return {"type": "http.request", "body": body, "more_body": False}

    async def scenario() -> tuple[int, bytes, int]:
        writer = IngestWriter()
        await writer.start()
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            scope = {
                "type": "http",
                "method": "POST",
                "path": f"/hooks/etermin/{token}",
                "headers": [(b"content-type", content_type.encode("latin-1"))],
                "path_params": {"token": token},
            }
            await ingest.WebPushEndpoint(writer)(scope, receive, send)
        finally:
            await writer.stop()
        return sent[0]["status"], sent[1]["body"], len(reads)

    return asyncio.run(scenario())


def test_an_unknown_token_is_refused_before_the_body_is_read() -> None:
    # given an account, and a request on a token nobody has, in a charset that costs CPU
    make_account()

    # when it arrives
    status, answer, reads = _call_endpoint(
        "not-a-token-of-anyone", "application/json; charset=punycode", push_body()
    )

    # then it is 404 without its body ever being asked for, and nothing is stored
    assert (status, answer, reads) == (404, b"Not Found", 0)
    assert rows() == []


def test_a_refused_charset_is_415_before_the_body_is_read() -> None:
    account = make_account()

    status, answer, reads = _call_endpoint(
        account.web_push_token, "application/json; charset=punycode", push_body()
    )

    assert (status, reads) == (415, 0)
    assert answer == (
        b"The charset 'punycode' is not one eTermin sends; "
        b"send UTF-8, ISO-8859-1, ISO-8859-15, Windows-1252 or UTF-16."
    )
    assert rows() == []


@pytest.mark.parametrize(
    "charset", ["punycode", "idna", "rot13", "rot-13", "utf-7", "UTF-32", "x-made-up", "hex"]
)
def test_a_charset_etermin_does_not_send_is_415_and_nothing_is_stored(charset: str) -> None:
    # given an account
    account = make_account()

    # when a push declares a charset eTermin never sends, then a good push follows
    refused, good = post(
        [
            (account.web_push_token, push_body("uid-exotic"), f"{JSON}; charset={charset}"),
            (account.web_push_token, push_body("uid-good"), JSON),
        ]
    )

    # then the first is 415 and not stored, the good one after it is stored as usual
    assert refused.status_code == 415
    assert refused.text.startswith(f"The charset '{charset.lower()}' is not one eTermin sends")
    assert (good.status_code, good.text) == (200, "ok")
    assert [(row.appointment_uid, row.status) for row in rows()] == [("uid-good", "pending")]


@pytest.mark.parametrize(
    ("charset", "encoded"),
    [
        ("utf-8", lambda text: text.encode("utf-8")),
        ("UTF8", lambda text: text.encode("utf-8")),
        ("us-ascii", lambda text: json.dumps(json.loads(text)).encode("ascii")),
        ("ISO-8859-1", lambda text: text.encode("latin-1", errors="replace")),
        ("iso-8859-15", lambda text: text.encode("iso8859-15")),
        ("windows-1252", lambda text: text.encode("cp1252")),
        ("utf-16", lambda text: text.encode("utf-16")),  # Python writes the BOM
        ("utf-16", lambda text: b"\xfe\xff" + text.encode("utf-16-be")),
        ("UTF-16LE", lambda text: text.encode("utf-16-le")),
        ("utf-16be", lambda text: text.encode("utf-16-be")),
    ],
)
def test_every_charset_etermin_sends_is_stored(
    charset: str, encoded: Callable[[str], bytes]
) -> None:
    # given a push whose notes hold characters of the charset (the euro sign where it exists)
    account = make_account()
    text = push_body("uid-charset", notes="Zürich, 20 €").decode()
    body = encoded(text.replace("\\u00fc", "ü").replace("\\u20ac", "€"))

    # when it is posted with that charset declared
    response = post_one(account.web_push_token, body, f"{JSON}; charset={charset}")

    # then it is stored pending, raw
    assert (response.status_code, response.text) == (200, "ok")
    (row,) = rows()
    assert (row.appointment_uid, row.status, bytes(row.body)) == ("uid-charset", "pending", body)


def test_a_utf16_body_without_byte_order_mark_is_stored_failed_with_the_reason() -> None:
    account = make_account()
    body = push_body("uid-16").decode().encode("utf-16-le")

    response = post_one(account.web_push_token, body, f"{JSON}; charset=utf-16")

    reason = "The body is declared UTF-16 but has no byte order mark."
    assert (response.status_code, response.text) == (400, reason)
    (row,) = rows()
    assert (row.status, row.reason, bytes(row.body)) == ("failed", reason, body)


@pytest.mark.parametrize(
    "body",
    [
        # ends in a byte that is not UTF-8: the standard parser then read it as latin-1 and
        # recursed until RecursionError (a 500 with a traceback)
        b"[" * 20_000 + b"\xff",
        # valid, 1,010 deep: orjson reads it, turning the UID into text recursed too far
        b'{"command": "CREATED", "appointmentUID": ' + b"[" * 1010 + b"]" * 1010 + b"}",
    ],
    ids=["invalid-byte", "valid-1010-deep"],
)
def test_deeply_nested_json_is_400_without_a_traceback(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # given an account, and deeply nested JSON
    account = make_account()

    # when it is posted, and a good push right after it
    with caplog.at_level("WARNING"):
        bad, good = post(
            [(account.web_push_token, body, JSON), (account.web_push_token, push_body(), JSON)]
        )

    # then the bad one is 400 with the reason and kept as a failed row; the good one is stored
    reason = "The body is JSON nested too deeply to be a web push."
    assert (bad.status_code, bad.text) == (400, reason)
    assert (good.status_code, good.text) == (200, "ok")
    assert [(row.status, row.reason, row.appointment_uid) for row in rows()] == [
        ("failed", reason, None),
        ("pending", "", "uid-1"),
    ]
    # and nothing was logged as an error, let alone with a traceback
    assert [r for r in caplog.records if r.levelno >= 40 or r.exc_info] == []


def test_a_token_created_after_start_works_at_once_and_a_rotated_one_stops_at_once() -> None:
    # given a running app that has already accepted a push on one account's token
    first = make_account("Praxis Seefeld", "Praxis Seefeld")
    old_token = first.web_push_token

    async def scenario() -> list[Any]:
        app = create_app(run_worker=False, writer_in_child=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                answers = [
                    await client.post(f"/hooks/etermin/{old_token}", content=push_body("uid-1"))
                ]
                # when that token is rotated and another account is connected meanwhile
                await asyncio.to_thread(rotate_web_push_token, first)
                second = await asyncio.to_thread(make_account, "Altstadt", "Altstadt")
                for token, uid in [(old_token, "uid-2"), (second.web_push_token, "uid-3")]:
                    answers.append(
                        await client.post(f"/hooks/etermin/{token}", content=push_body(uid))
                    )
                return answers

    answers = asyncio.run(scenario())

    # then the old token, though known a moment ago, is refused; the new account's is accepted
    assert [(a.status_code, a.text) for a in answers] == [
        (200, "ok"),
        (404, "Not Found"),
        (200, "ok"),
    ]
    assert [row.appointment_uid for row in rows()] == ["uid-1", "uid-3"]


@pytest.mark.terminflow_server(embedded_worker=False)
def test_over_real_http_junk_is_refused_and_never_logged_as_a_crash(
    terminflow_server: Any,
) -> None:
    # given the real server and an account
    account = make_account()
    url = f"{terminflow_server.url}/hooks/etermin/{account.web_push_token}"

    with httpx.Client(timeout=10) as client:
        # when an exotic charset, deeply nested JSON and then a good push arrive
        exotic = client.post(
            url, content=push_body("uid-x"), headers={"content-type": f"{JSON}; charset=punycode"}
        )
        nested = client.post(url, content=b'{"a": ' * 5_000 + b"\xff")
        good = client.post(url, content=push_body("uid-good"))

    # then 415, 400 and 200; only the nested body (failed) and the good push are stored
    assert exotic.status_code == 415
    assert (nested.status_code, nested.text) == (
        400,
        "The body is JSON nested too deeply to be a web push.",
    )
    assert (good.status_code, good.text) == (200, "ok")
    assert [(row.appointment_uid, row.status) for row in rows()] == [
        (None, "failed"),
        ("uid-good", "pending"),
    ]
    assert "Traceback" not in terminflow_server.log_tail(400)
