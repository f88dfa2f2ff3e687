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
import signal
import threading
import time
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.utils import InterfaceError, OperationalError

from terminflow.kit import clock
from terminflow.kit.sqlite.base import redoable_commits
from terminflow.kit.sweep import Sweep

log = logging.getLogger("terminflow.worker")

# Pauses of a sweep while the database is unavailable: 1 s, doubling, at most 30 s.
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0


def sweeps() -> list[Sweep]:
    """Every sweep of every app; each app contributes its own in its ``tasks`` module."""
    from terminflow.campaigns import tasks as campaign_tasks
    from terminflow.etermin import tasks as etermin_tasks
    from terminflow.forms import tasks as forms_tasks
    from terminflow.mail import tasks as mail_tasks
    from terminflow.newsletters import tasks as newsletter_tasks
    from terminflow.segments import tasks as segment_tasks

    return [
        *getattr(etermin_tasks, "SWEEPS", []),
        *getattr(campaign_tasks, "SWEEPS", []),
        *getattr(mail_tasks, "SWEEPS", []),
        *getattr(forms_tasks, "SWEEPS", []),
        *getattr(segment_tasks, "SWEEPS", []),
        *getattr(newsletter_tasks, "SWEEPS", []),
    ]


# The sweep that a stored web push wakes in the embedded worker.
PUSH_SWEEP = "inbox"
# While the web process says ingest is busy, the embedded worker's inbox sweep waits this long
# after each such word, but never more than ``HOLD_BACK_MAX_SECONDS`` between two turns: a
# backlog is fine during a burst, a worker that never runs is not.
HOLD_BACK_SECONDS = 0.2
# A sweep told of new rows within this long counts them as still arriving.
ARRIVING_SECONDS = 1.0
HOLD_BACK_MAX_SECONDS = 2.0
# How often a worker writes its heartbeat row (``/readyz``, ``/metrics``).
HEARTBEAT_SECONDS = 5.0


class Worker:
    """The sweeps, one thread each; with ``heartbeat`` a row says the process is alive."""

    def __init__(self, selected: list[Sweep] | None = None, *, heartbeat: bool = True) -> None:
        self._sweeps = selected if selected is not None else sweeps()
        self._heartbeat = heartbeat and selected is None
        self._stop = threading.Event()
        # One per sweep: a push wakes only the inbox sweep, and a sweep that moved rows wakes
        # the others (its work flows downstream), instead of every wake-up stirring them all;
        # and a shared event cleared by one thread could swallow the stop meant for another.
        self._wakes = {sweep.name: threading.Event() for sweep in self._sweeps}
        # Per sweep, a monotonic time before which it does not start a turn (``hold_back``).
        self._held: dict[str, float] = {}
        # Per sweep, when it was last told of new rows by name (a stored web push).
        self._told: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self._started_at = clock.now()
        # Per sweep, since when it has been in a turn that has not ended (None while it waits
        # for work). A sweep waiting out an idle hour is well; one stuck in a turn, or kept
        # out by an unavailable database, is not. The heartbeat reports the oldest.
        self._busy_since: dict[str, datetime | None] = {
            s.name: self._started_at for s in self._sweeps
        }

    def start(self) -> None:
        for sweep in self._sweeps:
            thread = threading.Thread(
                target=self._loop, args=(sweep,), name=f"sweep-{sweep.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self._heartbeat:
            thread = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self, only: str | None = None) -> None:
        """Run the sweeps (or just the sweep named ``only``) now instead of after their idle.

        Sweeps that new rows give nothing to do (``woken=False``) keep waiting out their idle.
        """
        for sweep in self._sweeps:
            if sweep.woken and (only is None or sweep.name == only):
                self._wakes[sweep.name].set()
        if only is not None:
            self._told[only] = time.monotonic()

    def hold_back(self, name: str, seconds: float) -> None:
        """Keep sweep ``name`` from starting a turn for ``seconds`` (bounded, see below)."""
        now = time.monotonic()
        self._held[name] = now + seconds
        self._told[name] = now

    def _wait_if_held(self, name: str, last_turn: float) -> bool:
        """Wait while held back, at most until ``HOLD_BACK_MAX_SECONDS`` after the last turn;
        returns False when the worker is stopping."""
        while True:
            now = time.monotonic()
            until = min(self._held.get(name, 0.0), last_turn + HOLD_BACK_MAX_SECONDS)
            if until <= now:
                return True
            if self._stop.wait(until - now):
                return False

    def swept_at(self) -> datetime:
        """Until when every sweep had ended its turns: now, unless one is still in a turn."""
        busy = [since for since in self._busy_since.values() if since is not None]
        return min(busy, default=clock.now())

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for event in self._wakes.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def _loop(self, sweep: Sweep) -> None:
        # Each sweep thread keeps its own connection for its lifetime: reconnecting on every
        # idle tick (Django's request-style close_old_connections) cost ~10 ms on PostgreSQL.
        woken = self._wakes[sweep.name]
        last_turn = time.monotonic()
        delay = 0.0
        if sweep.redoable:
            redoable_commits()
        try:
            while not self._stop.is_set():
                if not self._wait_if_held(sweep.name, last_turn):
                    break
                last_turn = time.monotonic()
                if self._busy_since[sweep.name] is None:
                    self._busy_since[sweep.name] = clock.now()
                since_told = last_turn - self._told.get(sweep.name, -ARRIVING_SECONDS)
                run, full = sweep.run, sweep.full
                if sweep.run_while_arriving is not None and since_told < ARRIVING_SECONDS:
                    run = sweep.run_while_arriving
                    sized = sweep.full_while_arriving
                    full = sized() if callable(sized) else sized
                try:
                    moved = run()
                    delay = 0.0
                except (OperationalError, InterfaceError) as exc:
                    # The database is away (restarting, unreachable): one line per attempt and
                    # a growing pause, not a traceback many times a second.
                    delay = min(delay * 2, MAX_BACKOFF_SECONDS) if delay else FIRST_BACKOFF_SECONDS
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.warning(
                        "sweep %s: database unavailable (%s); trying again in %g s",
                        sweep.name,
                        first,
                        delay,
                    )
                    connection.close()
                    if self._stop.wait(delay):
                        break
                    continue
                except Exception:
                    log.exception("sweep %s failed; trying again shortly", sweep.name)
                    # The connection may be what broke (database restarted): start afresh.
                    connection.close()
                    moved = 0
                self._busy_since[sweep.name] = None
                if moved:
                    for other in self._sweeps:
                        if other.woken and other.name != sweep.name:
                            self._wakes[other.name].set()
                if 0 < moved < full and sweep.pace_seconds > 0:
                    # Wake-ups meanwhile are for rows this wait gathers anyway.
                    if self._stop.wait(sweep.pace_seconds):
                        break
                    woken.clear()
                elif moved == 0 and not self._stop.is_set():
                    woken.wait(sweep.idle_seconds)
                    woken.clear()
        finally:
            connection.close()

    def _beat_loop(self) -> None:
        from terminflow import health

        name = health.worker_name()
        try:
            while True:
                try:
                    health.beat(name, self._started_at, self.swept_at())
                except Exception:
                    log.warning("worker heartbeat not written; trying again", exc_info=True)
                    connection.close()
                if self._stop.wait(HEARTBEAT_SECONDS):
                    break
            try:
                health.forget_worker(name)
            except Exception:
                log.warning("worker heartbeat not removed", exc_info=True)
        finally:
            connection.close()


def _run_child(reader: Any) -> None:
    """The worker process started by ``WorkerProcess``.

    It listens on a pipe from the web process: a byte wakes the sweeps, ``q`` or end-of-file
    stops them. End-of-file is what a killed web process leaves behind, so the worker never
    outlives it. (A ``multiprocessing.Event`` would not do: its lock can die held by a killed
    parent, and the child then waits on it forever.)
    """
    # Ctrl+C in a terminal reaches the whole process group; the web process says when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
            if b"b" in data:
                worker.hold_back(PUSH_SWEEP, HOLD_BACK_SECONDS)
            else:
                worker.wake(PUSH_SWEEP)
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

    def wake(self, *, busy: bool = False) -> None:
        """New pushes are stored; ``busy``: ingest is saturated, so hold processing back."""
        self._send(b"b" if busy else b"w")

    def stop(self, timeout: float = 15.0) -> None:
        self._send(b"q")
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._writer.close()
