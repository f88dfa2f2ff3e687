"""The worker: threads that move rows forward (inbox → runs → outbox) until stopped.

Each sweep is idempotent and claims its rows, so any number of workers on any number of
machines can run side by side. A sweep that found work runs again at once; an idle one waits
``idle_seconds`` or until woken.

``terminflow serve`` runs the worker in a child process (``WorkerProcess``), not in threads
beside the event loop: processing is CPU-bound Python, and sharing one GIL with the ingest loop
cut ingest to a tenth of its rate (decision 0002).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from typing import Any

from django.db import connection

from terminflow.kit.sweep import Sweep

log = logging.getLogger("terminflow.worker")


def sweeps() -> list[Sweep]:
    """Every sweep of every app; each app contributes its own in its ``tasks`` module."""
    from terminflow.campaigns import tasks as campaign_tasks
    from terminflow.etermin import tasks as etermin_tasks
    from terminflow.mail import tasks as mail_tasks

    return [
        *getattr(etermin_tasks, "SWEEPS", []),
        *getattr(campaign_tasks, "SWEEPS", []),
        *getattr(mail_tasks, "SWEEPS", []),
    ]


class Worker:
    def __init__(self, selected: list[Sweep] | None = None) -> None:
        self._sweeps = selected if selected is not None else sweeps()
        self._stop = threading.Event()
        # One wake-up per sweep: a shared event cleared by one thread could swallow the stop
        # meant for another, which would then sleep out its whole idle time.
        self._wakes: list[tuple[Sweep, threading.Event]] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for sweep in self._sweeps:
            wake = threading.Event()
            thread = threading.Thread(
                target=self._loop, args=(sweep, wake), name=f"sweep-{sweep.name}", daemon=True
            )
            self._wakes.append((sweep, wake))
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        for sweep, wake in self._wakes:
            if sweep.woken:
                wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for _, wake in self._wakes:
            wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def _loop(self, sweep: Sweep, wake: threading.Event) -> None:
        # Each sweep thread keeps its own connection for its lifetime: reconnecting on every
        # idle tick (Django's request-style close_old_connections) cost ~10 ms on PostgreSQL.
        try:
            while not self._stop.is_set():
                try:
                    moved = sweep.run()
                except Exception:
                    log.exception("sweep %s failed; trying again shortly", sweep.name)
                    # The connection may be what broke (database restarted): start afresh.
                    connection.close()
                    moved = 0
                if moved == 0 and not self._stop.is_set():
                    wake.wait(sweep.idle_seconds)
                    wake.clear()
        finally:
            connection.close()


def _run_child(reader: Any) -> None:
    """The worker process started by ``WorkerProcess``.

    It listens on a pipe from the web process: a byte wakes the sweeps, ``q`` or end-of-file
    stops them. End-of-file is what a killed web process leaves behind, so the worker never
    outlives it. (A ``multiprocessing.Event`` would not do: its lock can die held by a killed
    parent, and the child then waits on it forever.)
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")
    import django

    django.setup()
    worker = Worker()
    worker.start()
    fd = reader.fileno()
    try:
        while True:
            data = os.read(fd, 512)
            if not data or b"q" in data:
                break
            worker.wake()
    finally:
        worker.stop()


class WorkerProcess:
    """The embedded worker of ``terminflow serve``: the same sweeps, in a child process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._reader, self._writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run_child, args=(self._reader,), name="terminflow-worker", daemon=True
        )

    def start(self) -> None:
        self._process.start()
        # Only the child reads; closing our copy lets it see end-of-file if we die.
        self._reader.close()
        os.set_blocking(self._writer.fileno(), False)

    def _send(self, signal: bytes) -> None:
        try:
            os.write(self._writer.fileno(), signal)
        except (BlockingIOError, BrokenPipeError, OSError):
            # A full pipe already holds a wake-up; a closed one means the worker is gone.
            pass

    def wake(self) -> None:
        self._send(b"w")

    def stop(self, timeout: float = 15.0) -> None:
        self._send(b"q")
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._writer.close()
