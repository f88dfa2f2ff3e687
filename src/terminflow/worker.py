"""The worker: threads that move rows forward (inbox → runs → outbox) until stopped.

Each sweep is idempotent and claims its rows, so any number of workers on any number of
machines can run side by side. A sweep that found work runs again at once; an idle one waits
``idle_seconds`` or until woken.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

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
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for sweep in self._sweeps:
            thread = threading.Thread(
                target=self._loop, args=(sweep,), name=f"sweep-{sweep.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
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
        try:
            while not self._stop.is_set():
                close_old_connections()
                try:
                    moved = sweep.run()
                except Exception:
                    log.exception("sweep %s failed; trying again shortly", sweep.name)
                    moved = 0
                if moved == 0:
                    self._wake.wait(sweep.idle_seconds)
                    self._wake.clear()
        finally:
            connection.close()
