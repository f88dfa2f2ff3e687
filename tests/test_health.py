"""/readyz, /metrics and the worker heartbeat behind both."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings

from terminflow import health
from terminflow.asgi import create_app
from terminflow.etermin.models import WebPush
from terminflow.kit import clock
from terminflow.kit.sweep import Sweep
from terminflow.web.models import WorkerHeartbeat
from terminflow.worker import Worker
from tests.etermin.test_ingest import make_account, push_body

pytestmark = pytest.mark.django_db(transaction=True)

METRICS_TOKEN = "metrics-secret-token-1234"


def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def scenario() -> httpx.Response:
        app = create_app(run_worker=False, writer_in_child=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tf") as client:
                return await client.get(path, headers=headers or {})

    return asyncio.run(scenario())


def beat(seconds_ago: float) -> None:
    at = clock.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(name="host:1", started_at=at, beat_at=at, swept_at=at)


# -- /readyz -----------------------------------------------------------------------------------


def test_readyz_is_503_without_a_worker_and_healthz_still_200() -> None:
    # given a database that answers and is migrated, and no worker heartbeat
    ready = get("/readyz")
    live = get("/healthz")

    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "reasons": ["worker: no sweep in the last 60 s"]},
    )
    assert (live.status_code, live.json()) == (200, {"status": "ok"})


def test_readyz_is_200_with_a_worker_that_swept_lately() -> None:
    beat(seconds_ago=5)

    response = get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_503_when_the_last_sweep_is_too_old() -> None:
    beat(seconds_ago=61)

    response = get("/readyz")

    assert response.status_code == 503
    assert response.json()["reasons"] == ["worker: no sweep in the last 60 s"]


def test_readyz_is_503_while_a_migration_is_not_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a worker, and the newest migration of an app recorded as not applied
    beat(seconds_ago=1)
    monkeypatch.setattr(health, "_migrated", False)
    ((_app, newest),) = MigrationLoader(connection).graph.leaf_nodes("web")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'web' AND name = %s", [newest])
    try:
        response = get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) "
                "VALUES ('web', %s, CURRENT_TIMESTAMP)",
                [newest],
            )

    assert response.status_code == 503
    assert response.json()["reasons"] == ["migrations: not all applied (run terminflow migrate)"]


def test_a_running_worker_keeps_a_heartbeat_and_removes_it_when_stopped() -> None:
    # given a full worker (all sweeps)
    worker = Worker()
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (row,) = WorkerHeartbeat.objects.all()
        # then its row names this process and its sweeps turned just now
        assert row.name == health.worker_name()
        assert clock.now() - row.swept_at < timedelta(seconds=5)
        assert get("/readyz").status_code == 200
    finally:
        worker.stop()
    # and a clean stop takes the row away
    assert list(WorkerHeartbeat.objects.all()) == []


def test_a_sweep_waiting_out_a_long_idle_keeps_the_worker_ready_and_a_stuck_one_does_not() -> None:
    # given a worker with a sweep that waits an hour between turns and one that gets stuck
    idle_turned, stuck_entered, release = threading.Event(), threading.Event(), threading.Event()

    def idle() -> int:
        idle_turned.set()
        return 0

    def stuck() -> int:
        if not release.is_set():
            stuck_entered.set()
            release.wait(10)
        return 0

    worker = Worker([Sweep("idle", idle, idle_seconds=3600)])
    worker.start()
    try:
        assert idle_turned.wait(5)
        turned = clock.now()
        time.sleep(0.2)
        # when the idle sweep waits, then the worker is done with its turns as of now
        assert worker.swept_at() > turned
    finally:
        worker.stop()

    worker = Worker([Sweep("idle", idle, idle_seconds=3600), Sweep("stuck", stuck)])
    worker.start()
    try:
        assert stuck_entered.wait(5)
        entered = clock.now()
        time.sleep(0.2)
        # when a sweep stays in its turn, then the worker's sweeps were done only until it began
        assert worker.swept_at() <= entered
    finally:
        release.set()
        worker.stop()


# -- /metrics ----------------------------------------------------------------------------------


def test_metrics_are_404_without_a_token() -> None:
    response = get("/metrics", {"authorization": f"Bearer {METRICS_TOKEN}"})

    assert response.status_code == 404


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
@pytest.mark.parametrize(
    "authorization", ["", "Bearer wrong-token", f"Basic {METRICS_TOKEN}", METRICS_TOKEN]
)
def test_metrics_are_401_without_the_right_bearer_token(authorization: str) -> None:
    response = get("/metrics", {"authorization": authorization} if authorization else {})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "terminflow_" not in response.text


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in:\n{text}"
    return float(found.group(1))


@pytest.mark.terminflow_server(
    embedded_worker=True, env={"TERMINFLOW_METRICS_TOKEN": METRICS_TOKEN}
)
def test_metrics_sum_the_web_and_the_worker_process(terminflow_server: Any) -> None:
    # given the real server (web process + worker child) and an account
    account = make_account()
    url = f"{terminflow_server.url}/hooks/etermin/{account.web_push_token}"
    with httpx.Client(timeout=10) as client:
        # when three pushes arrive, one of them twice, plus one for an unknown token
        for body in (push_body("uid-1"), push_body("uid-2"), push_body("uid-2")):
            assert client.post(url, content=body).status_code == 200
        assert (
            client.post(f"{terminflow_server.url}/hooks/etermin/nope", content=b"{}").status_code
            == 404
        )
        deadline = time.monotonic() + 20
        while WebPush.objects.filter(status="pending").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        response = client.get(
            terminflow_server.url + "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}
        )

    # then the web process's and the worker's counters are both in one answer
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert metric(text, "terminflow_web_pushes_received_total", 'outcome="stored"') == 2
    assert metric(text, "terminflow_web_pushes_received_total", 'outcome="repeat"') == 1
    assert metric(text, "terminflow_web_pushes_received_total", 'outcome="unknown_token"') == 1
    assert metric(text, "terminflow_inbox_processed_total", 'status="ignored"') == 2
    assert metric(text, "terminflow_inbox_batch_seconds_count") >= 1
    assert metric(text, "terminflow_inbox_backlog") == 0
    assert metric(text, "terminflow_inbox_oldest_pending_seconds") == 0
    assert metric(text, "terminflow_outbox_backlog") == 0
    assert metric(text, "terminflow_runs_due") == 0
    assert metric(text, "terminflow_workers_alive") == 1
    assert metric(text, "terminflow_emails_total", 'outcome="sent"') == 0
    assert metric(text, "terminflow_etermin_sync_total", 'result="created"') == 0
    assert metric(text, "terminflow_run_lateness_seconds_count") == 0
