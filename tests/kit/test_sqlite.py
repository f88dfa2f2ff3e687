"""The SQLite backend's write-lock wait: BEGIN IMMEDIATE polls instead of SQLite's long sleeps."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from django.db import OperationalError

from terminflow.kit.sqlite.base import DatabaseWrapper, checkpoints_elsewhere, redoable_commits


def wrapper(path, timeout: float = 5, synchronous: str = "FULL") -> DatabaseWrapper:
    return DatabaseWrapper(
        {
            "ENGINE": "terminflow.kit.sqlite",
            "NAME": str(path),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": timeout,
                "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};",
            },
            "TIME_ZONE": None,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
            "TEST": {},
            "USER": "",
            "PASSWORD": "",
            "HOST": "",
            "PORT": "",
        },
        alias="sqlite-test",
    )


def begin_write(db: DatabaseWrapper, value: int) -> None:
    """What ``transaction.atomic`` does on SQLite, then a write."""
    db.ensure_connection()
    db._start_transaction_under_autocommit()
    db.cursor().execute("INSERT INTO t (v) VALUES (%s)", [value])


def commit(db: DatabaseWrapper) -> None:
    db.cursor().execute("COMMIT")


@pytest.fixture(autouse=True)
def _unblocked(django_db_blocker):
    # These tests open their own SQLite files, not the test database.
    with django_db_blocker.unblock():
        yield


def test_begin_waits_for_the_lock_and_then_writes(tmp_path):
    # given a table and a writer holding the write lock
    path = tmp_path / "db.sqlite3"
    holder, waiter = wrapper(path), wrapper(path)
    holder.inc_thread_sharing()  # committed from a timer thread below
    holder.ensure_connection()
    holder.cursor().execute("CREATE TABLE t (v INTEGER)")
    begin_write(holder, 1)
    release = threading.Timer(0.05, commit, [holder])

    begins: list[str] = []

    def count_begins(execute, sql, params, many, context):
        if sql.startswith("BEGIN"):
            begins.append(sql)
        return execute(sql, params, many, context)

    # when a second writer begins while the first still holds the lock
    release.start()
    with waiter.execute_wrapper(count_begins):
        begin_write(waiter, 2)
    commit(waiter)
    release.join()

    # then it asked again and again rather than sleeping in SQLite's busy handler
    assert len(begins) > 1
    assert set(begins) == {"BEGIN IMMEDIATE"}

    # then it got in once the first committed, and both rows are there
    rows = sorted(r[0] for r in waiter.cursor().execute("SELECT v FROM t").fetchall())
    assert rows == [1, 2]
    # and the connection's usual busy timeout is back for statements outside transactions
    assert waiter.cursor().execute("PRAGMA busy_timeout").fetchone() == (5000,)
    holder.close()
    waiter.close()


def test_begin_gives_up_after_the_timeout_with_the_lock_error(tmp_path):
    # given a writer that never lets go
    path = tmp_path / "db.sqlite3"
    holder, waiter = wrapper(path), wrapper(path, timeout=0.05)
    holder.ensure_connection()
    holder.cursor().execute("CREATE TABLE t (v INTEGER)")
    begin_write(holder, 1)

    # when another writer begins, then it fails with SQLite's own error and wrote nothing
    with pytest.raises(OperationalError, match="locked"):
        begin_write(waiter, 2)
    commit(holder)
    assert holder.cursor().execute("SELECT v FROM t").fetchall() == [(1,)]
    holder.close()
    waiter.close()


def synchronous_in_a_thread(path, *, redoable: bool, configured: str = "FULL") -> int:
    """The ``synchronous`` level of a connection opened in a new thread, as configured."""
    levels: list[int] = []

    def run() -> None:
        if redoable:
            redoable_commits()
        db = wrapper(path, synchronous=configured)
        db.ensure_connection()
        levels.append(db.cursor().execute("PRAGMA synchronous").fetchone()[0])
        db.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return levels[0]


def test_a_thread_of_redoable_commits_skips_their_fsync_and_others_keep_it(tmp_path):
    path = tmp_path / "db.sqlite3"
    # when a thread says its commits can be redone, then its connections commit without fsync
    # (NORMAL = 1), while another thread's keep the configured FULL (2)
    assert synchronous_in_a_thread(path, redoable=True) == 1
    assert synchronous_in_a_thread(path, redoable=False) == 2


def test_redoable_commits_relax_only_full(tmp_path):
    # given an operator who chose EXTRA, then even redoable commits keep it (3)
    path = tmp_path / "db.sqlite3"
    assert synchronous_in_a_thread(path, redoable=True, configured="EXTRA") == 3


def wal_frames_after(path, *, elsewhere: bool) -> tuple[int, int]:
    """Write about 1,500 pages in one thread; (its wal_autocheckpoint, WAL frames left)."""
    seen: dict[str, int] = {}

    def work() -> None:
        stop = checkpoints_elsewhere(every_seconds=3600) if elsewhere else None
        db = wrapper(path)
        try:
            db.ensure_connection()
            raw = db.connection
            (seen["setting"],) = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
            raw.execute("CREATE TABLE IF NOT EXISTS pages (blob BLOB)")
            for _ in range(15):
                db.set_autocommit(False)
                raw.executemany("INSERT INTO pages VALUES (?)", [(b"x" * 4000,)] * 100)
                db.commit()
                db.set_autocommit(True)
            # Asked while the writer is still connected: the last connection's close
            # checkpoints and removes the WAL.
            other = sqlite3.connect(path)
            try:
                _, seen["frames"], _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                other.close()
        finally:
            db.close()
            if stop is not None:
                stop.set()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen["setting"], seen["frames"]


def test_a_thread_whose_checkpoints_go_elsewhere_checkpoints_later_in_its_commits(tmp_path):
    # given a thread that leaves checkpoints to another thread, and one that does not
    # when each writes 1,500 pages (SQLite checkpoints at 1,000)
    elsewhere = wal_frames_after(tmp_path / "elsewhere.sqlite3", elsewhere=True)
    inline = wal_frames_after(tmp_path / "inline.sqlite3", elsewhere=False)

    # then the first's commits did not checkpoint (all its frames are still in the WAL; only
    # past 2,000 pages would they), while the other's commit past 1,000 pages did and the WAL
    # started over
    assert elsewhere[0] == 2000 and elsewhere[1] > 1500
    assert inline[0] == 1000 and inline[1] < 1000
