"""What an operator asks a running deployment: is it ready (``/readyz``), how is it doing
(``/metrics``), and the worker heartbeat both read.

``/healthz`` (in ``asgi.py``) only says the process answers. ``/readyz`` says the deployment can
do its job: the database answers, every migration is applied, and some worker finished a sweep
lately. ``/metrics`` sums the counters of every process (``kit/metrics.py``) and adds what is a
state of the database, read at scrape time: backlogs, the oldest pending push, runs due, worker
heartbeats.
"""

from __future__ import annotations

import hmac
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Min
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from terminflow.campaigns.engine import due_runs
from terminflow.etermin.models import WebPush, WebPushStatus
from terminflow.kit import clock
from terminflow.mail.models import Outbox, OutboxStatus
from terminflow.web.models import WorkerHeartbeat

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Rows of workers not seen for this long are dropped by the next heartbeat of any worker.
FORGET_WORKERS_AFTER = timedelta(days=1)

_migrated = False


# -- the worker heartbeat ----------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(name: str, started_at: datetime, swept_at: datetime) -> None:
    """Record that worker ``name`` is alive, and that until ``swept_at`` none of its sweeps was
    stuck in a turn (``Worker.swept_at``: a sweep waiting for work counts as done)."""
    now = clock.now()
    updated = WorkerHeartbeat.objects.filter(name=name).update(beat_at=now, swept_at=swept_at)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            name=name,
            defaults={"started_at": started_at, "beat_at": now, "swept_at": swept_at},
        )
        WorkerHeartbeat.objects.filter(beat_at__lt=now - FORGET_WORKERS_AFTER).delete()


def forget_worker(name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()


# -- readiness ---------------------------------------------------------------------------------


def _migrations_pending() -> bool:
    global _migrated
    if _migrated:
        # Applied migrations do not come undone; a new release with new ones is a new process.
        return False
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrated = not pending
    return pending


def readiness() -> list[str]:
    """Why the deployment is not ready; an empty list when it is. Closes its connection."""
    try:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            return [f"database: {type(exc).__name__}"]
        if _migrations_pending():
            return ["migrations: not all applied (run terminflow migrate)"]
        since = clock.now() - timedelta(seconds=settings.READY_WORKER_SECONDS)
        if not WorkerHeartbeat.objects.filter(swept_at__gte=since).exists():
            return [f"worker: no sweep in the last {settings.READY_WORKER_SECONDS:g} s"]
        return []
    finally:
        connection.close()


# -- metrics -----------------------------------------------------------------------------------


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = clock.now()
        pending = WebPush.objects.filter(status=WebPushStatus.PENDING)
        oldest = pending.aggregate(oldest=Min("received_at"))["oldest"]
        yield _gauge(
            "terminflow_inbox_backlog", "Web pushes stored and not yet processed.", pending.count()
        )
        yield _gauge(
            "terminflow_inbox_oldest_pending_seconds",
            "Age of the oldest web push waiting to be processed (0 when none waits).",
            (now - oldest).total_seconds() if oldest else 0.0,
        )
        yield _gauge(
            "terminflow_runs_due",
            "Campaign runs due now and not claimed by a worker.",
            due_runs(now).count(),
        )
        outbox = Outbox.objects.filter(status=OutboxStatus.QUEUED)
        yield _gauge("terminflow_outbox_backlog", "Emails queued to send.", outbox.count())
        yield _gauge(
            "terminflow_outbox_due",
            "Queued emails whose send time has come.",
            outbox.filter(next_attempt_at__lte=now).count(),
        )
        beats = GaugeMetricFamily(
            "terminflow_worker_last_sweep_seconds",
            "Seconds since each worker process last had none of its sweeps stuck in a turn.",
            labels=["worker"],
        )
        alive = 0
        since = now - timedelta(seconds=settings.READY_WORKER_SECONDS)
        for name, swept_at in WorkerHeartbeat.objects.values_list("name", "swept_at"):
            beats.add_metric([name], (now - swept_at).total_seconds())
            alive += swept_at >= since
        yield beats
        yield _gauge(
            "terminflow_workers_alive",
            f"Worker processes that swept within {settings.READY_WORKER_SECONDS:g} s.",
            alive,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def metrics_authorized(header: str) -> bool:
    scheme, _, token = header.partition(" ")
    expected = settings.METRICS_TOKEN
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


def render_metrics() -> bytes:
    """The exposition text: every process's counters plus the database gauges."""
    registry: Any = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = _Both(REGISTRY)
    registry.register(DatabaseCollector())
    try:
        return generate_latest(registry)
    finally:
        connection.close()


class _Both(CollectorRegistry):
    """This process's own counters (no multiprocess folder) plus collectors registered here."""

    def __init__(self, base: CollectorRegistry) -> None:
        super().__init__()
        self._base = base

    def collect(self) -> Iterator[Any]:
        yield from self._base.collect()
        yield from super().collect()
