"""Django's SQLite backend with a faster way to wait for the write lock.

SQLite lets one writer in at a time. When ``BEGIN IMMEDIATE`` finds the lock taken, SQLite's
own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries, so a
writer that arrives during someone else's 5 ms transaction may wait 18 ms and one behind a 30 ms
transaction 53 ms. The ingest writer answers web pushes only after its commit, so those sleeps
land straight in their latency. Here ``BEGIN IMMEDIATE`` is retried every half millisecond
instead, up to the connection's usual busy timeout; statements outside a transaction keep
SQLite's busy handler.

The database file is made readable by this user only before SQLite opens it; SQLite gives the
``-wal`` and ``-shm`` files it creates the database file's mode.

A thread whose writes can be redone from rows already on disk (the worker's inbox processing)
may call ``redoable_commits()``: its commits then skip their fsync (``synchronous=NORMAL``; in
WAL mode a crash of the process loses nothing, a power cut may lose its last commits, never
half of one). The fsync is taken while holding the write lock, so skipping it shortens every
hold that the web push writer may be waiting behind; the writer's own commits keep theirs.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

log = logging.getLogger("terminflow.sqlite")

# Short enough to follow a released lock closely, long enough to cost no noticeable CPU.
POLL_SECONDS = 0.0005


_CHECKED_COMPANIONS: set[str] = set()

# Per thread: set by ``checkpoints_elsewhere()``.
_CHECKPOINTS_ELSEWHERE = threading.local()
ELSEWHERE_AUTOCHECKPOINT_PAGES = 2000
# Per thread: set by ``redoable_commits()``.
_REDOABLE = threading.local()
SYNCHRONOUS_FULL = 2
SYNCHRONOUS_NORMAL = 1


def redoable_commits() -> None:
    """Let this thread's SQLite commits skip their fsync, now and on every later connection.

    For work that is redone when lost: processing reads its input from the durable inbox and
    leaves it pending until its own commit, so after a power cut it is simply processed again.
    Anything that leaves the machine (an email, an API call) must follow a commit of a thread
    that did not call this: that commit's fsync makes every earlier commit durable too (the
    WAL is one file, written in order). Only ``FULL`` is relaxed; ``EXTRA`` is left as chosen.
    """
    _REDOABLE.on = True
    from django.db import connection

    if connection.vendor == "sqlite" and connection.connection is not None:
        _relax(connection.connection)


def _relax(raw: Any) -> None:
    (level,) = raw.execute("PRAGMA synchronous").fetchone()
    if level == SYNCHRONOUS_FULL:
        raw.execute(f"PRAGMA synchronous={SYNCHRONOUS_NORMAL}")


def checkpoints_elsewhere(every_seconds: float = 0.1) -> threading.Event:
    """Let this thread's commits leave WAL checkpoints to a thread of their own, started here.

    A checkpoint runs inside the ``COMMIT`` that crosses SQLite's threshold (1,000 pages): it
    copies the WAL into the database and fsyncs it (measured: 145-270 ms for a few hundred
    pages of a 200 MB database file), and that commit has not returned meanwhile: for the web
    push writer, a stall every caller of the batch waits for. The thread started here
    checkpoints (``PASSIVE``: it never waits for or blocks a writer) every ``every_seconds``
    instead, on its own connection; the call is one SQLite call, without the GIL, and does
    nothing when nothing is new. Setting the returned event ends that thread.

    Under a steady stream of commits such a checkpoint never catches the last frame, and only a
    complete one lets the next write start the WAL over: it grew to 180 MB in 15 s of load.
    So this thread's commits still checkpoint at ``ELSEWHERE_AUTOCHECKPOINT_PAGES``; by then the
    thread has copied nearly every frame, so that checkpoint is short and lets the WAL restart.
    """
    _CHECKPOINTS_ELSEWHERE.on = True
    from django.db import connection

    if connection.vendor == "sqlite" and connection.connection is not None:
        connection.connection.execute(f"PRAGMA wal_autocheckpoint={ELSEWHERE_AUTOCHECKPOINT_PAGES}")
    stop = threading.Event()
    threading.Thread(
        target=_checkpoint_loop, args=(every_seconds, stop), name="checkpoints", daemon=True
    ).start()
    return stop


def _checkpoint_loop(every_seconds: float, stop: threading.Event) -> None:
    from django.db import connection

    try:
        while not stop.wait(every_seconds):
            try:
                connection.ensure_connection()
                connection.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception:
                log.warning("WAL checkpoint failed; trying again", exc_info=True)
                connection.close()
    finally:
        connection.close()


def make_private(name: str) -> None:
    """Create the database file ``0600`` if it is missing; narrow it (and ``-wal``, ``-shm``)
    if a file from an older version is readable by others."""
    path = Path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError:
            return  # SQLite will say what is wrong with the path
        mode = 0o600
    try:
        if mode & 0o077:
            path.chmod(0o600)
        if name in _CHECKED_COMPANIONS:
            return
        _CHECKED_COMPANIONS.add(name)
        for suffix in ("-wal", "-shm"):
            companion = Path(name + suffix)
            if companion.exists() and companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
    except OSError:
        pass  # a file someone else owns is left as they made it


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: Any) -> Any:
        name = str(conn_params.get("database", ""))
        if name and not name.startswith("file:") and not self.is_in_memory_db():
            make_private(name)
        raw = super().get_new_connection(conn_params)
        if getattr(_REDOABLE, "on", False):
            _relax(raw)
        if getattr(_CHECKPOINTS_ELSEWHERE, "on", False):
            raw.execute(f"PRAGMA wal_autocheckpoint={ELSEWHERE_AUTOCHECKPOINT_PAGES}")
        return raw

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode != "IMMEDIATE":  # type: ignore[attr-defined]
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        cursor = self.cursor()
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        raw: Any = self.connection
        busy_ms = int(timeout * 1000)
        raw.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return
                except Exception as exc:  # Django wraps sqlite3.OperationalError
                    cause = exc.__cause__ if exc.__cause__ is not None else exc
                    locked = isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)
                    if not locked or time.monotonic() >= deadline:
                        raise
                time.sleep(POLL_SECONDS)  # noqa: TID251 (waiting for a lock, not a job)
        finally:
            raw.execute(f"PRAGMA busy_timeout={busy_ms}")
