"""Log lines: JSON when asked, a request id that follows a push, and never a secret."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest

from terminflow.etermin.models import WebPush
from terminflow.kit.logs import JsonFormatter, PlainFormatter, redact, request_id_var
from tests.etermin.test_ingest import make_account, push_body


def record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    entry = logging.LogRecord("terminflow.test", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "POST /hooks/etermin/Zx8k_3-abcDEF HTTP/1.1",
            "POST /hooks/etermin/[redacted] HTTP/1.1",
        ),
        (
            "cannot connect to smtp://mailer:s3cr3t!@mail.example.ch:587",
            "cannot connect to smtp://mailer:[redacted]@mail.example.ch:587",
        ),
        (
            "postgresql://tf:hunter2@db:5432/tf refused",
            "postgresql://tf:[redacted]@db:5432/tf refused",
        ),
        ("password=hunter2&user=lea", "password=[redacted]&user=lea"),
        (
            '{"private_key": "priv-456", "name": "Praxis"}',
            '{"private_key": "[redacted]", "name": "Praxis"}',
        ),
        ("Authorization: Bearer tf_abcdef.123", "Authorization: Bearer [redacted]"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_secrets_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_json_line_has_the_request_id_and_no_secret() -> None:
    line = JsonFormatter().format(
        record("push to %s failed", "/hooks/etermin/tok-123", request_id="req-1", inbox_id=7)
    )

    entry = json.loads(line)
    assert entry["message"] == "push to /hooks/etermin/[redacted] failed"
    assert (entry["level"], entry["logger"]) == ("INFO", "terminflow.test")
    assert (entry["request_id"], entry["inbox_id"]) == ("req-1", 7)
    assert "tok-123" not in line


def test_the_request_id_of_the_current_request_is_used_when_the_record_has_none() -> None:
    token = request_id_var.set("req-ctx")
    try:
        plain = PlainFormatter().format(record("hello"))
        entry = json.loads(JsonFormatter().format(record("hello")))
    finally:
        request_id_var.reset(token)

    assert plain.endswith("INFO terminflow.test hello request_id=req-ctx")
    assert entry["request_id"] == "req-ctx"


def test_an_exception_is_redacted_too() -> None:
    try:
        raise RuntimeError("login failed for smtp://u:topsecret@host")
    except RuntimeError:
        import sys

        entry = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    line = JsonFormatter().format(entry)

    assert "topsecret" not in line
    assert "smtp://u:[redacted]@host" in json.loads(line)["exception"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.terminflow_server(
    embedded_worker=True,
    env={"TERMINFLOW_LOG_FORMAT": "json", "TERMINFLOW_LOG_LEVEL": "DEBUG"},
)
def test_a_push_is_followed_by_its_request_id_from_hook_to_processing(
    terminflow_server: Any,
) -> None:
    # given the real server logging JSON at DEBUG, and an account
    account = make_account()
    token = account.web_push_token

    # when a push arrives with a proxy's request id, and is processed
    response = httpx.post(
        f"{terminflow_server.url}/hooks/etermin/{token}",
        content=push_body("uid-followed"),
        headers={"x-request-id": "req-follow-1"},
        timeout=10,
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not WebPush.objects.filter(status="pending").exists():
            break
        time.sleep(0.05)
    (row,) = WebPush.objects.all()
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and "processing" not in terminflow_server.log_path.read_text()
    ):
        time.sleep(0.05)
    text = terminflow_server.log_path.read_text()

    # then every line is one JSON object, and the hook's and the worker's lines share the id
    lines = [line for line in text.splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("{")] == []
    entries = [json.loads(line) for line in lines]
    followed = [
        (e["logger"], e["message"]) for e in entries if e.get("request_id") == "req-follow-1"
    ]
    assert followed == [
        ("terminflow.etermin.ingest", "web push stored"),
        ("terminflow.etermin.processing", f"web push {row.id} {row.status}: {row.reason}"),
    ]
    assert (row.status, row.request_id) == ("ignored", "req-follow-1")
    # and the web push token appears nowhere
    assert token not in text
