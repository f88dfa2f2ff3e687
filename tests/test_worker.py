"""The worker loop: sweeps run until stopped, survive their own failures, and wake on demand."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from terminflow import worker as worker_module
from terminflow.kit.sweep import Sweep
from terminflow.worker import Worker


def test_failing_sweep_is_retried_and_other_sweeps_keep_running():
    # given a sweep that fails on its first call and one that always works
    calls = {"flaky": 0, "steady": 0}
    recovered = threading.Event()
    steady_again = threading.Event()

    def flaky() -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("database went away")
        recovered.set()
        return 0

    def steady() -> int:
        calls["steady"] += 1
        if calls["steady"] >= 2:
            steady_again.set()
        return 0

    worker = Worker([Sweep("flaky", flaky, 0.01), Sweep("steady", steady, 0.01)])

    # when
    worker.start()
    try:
        assert recovered.wait(5)
        assert steady_again.wait(5)
    finally:
        worker.stop()

    # then the failing sweep ran again, and the other one was not held up
    assert calls["flaky"] >= 2
    assert calls["steady"] >= 2


def test_idle_sweep_runs_again_at_once_when_woken():
    # given an idle sweep that would otherwise wait a minute between runs
    runs: list[float] = []
    second_run = threading.Event()

    def sweep() -> int:
        runs.append(time.monotonic())
        if len(runs) == 2:
            second_run.set()
        return 0

    worker = Worker([Sweep("idle", sweep, idle_seconds=60)])
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)

        # when new work is announced
        worker.wake()

        # then it runs again long before its idle wait is over
        assert second_run.wait(5)
    finally:
        worker.stop()
    assert runs[1] - runs[0] < 5


def test_a_sweep_not_woken_by_pushes_waits_its_idle_time_but_stops_at_once():
    # given a sweep that new pushes give nothing to do, beside one they do
    slow_runs: list[float] = []
    fast_runs: list[float] = []
    ran = threading.Event()

    def slow() -> int:
        slow_runs.append(time.monotonic())
        ran.set()
        return 0

    def fast() -> int:
        fast_runs.append(time.monotonic())
        return 0

    worker = Worker(
        [Sweep("sync", slow, idle_seconds=60, woken=False), Sweep("inbox", fast, idle_seconds=60)]
    )
    worker.start()
    try:
        assert ran.wait(5)
        deadline = time.monotonic() + 5
        while not fast_runs and time.monotonic() < deadline:
            time.sleep(0.01)
        # when pushes wake the worker
        worker.wake()
        deadline = time.monotonic() + 5
        while len(fast_runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        # and then it is stopped
        worker.stop(timeout=5)
    # then only the woken sweep ran again, and every thread ended although both were idle
    assert (len(slow_runs), len(fast_runs)) == (1, 2)
    alive = {thread.name for thread in threading.enumerate()}
    assert alive & {"sweep-sync", "sweep-inbox"} == set()


def test_busy_sweep_runs_back_to_back_until_idle():
    # given a sweep with three rounds of work and a long idle wait
    remaining = [3]
    done = threading.Event()

    def sweep() -> int:
        if remaining[0] == 0:
            done.set()
            return 0
        remaining[0] -= 1
        return 1

    worker = Worker([Sweep("busy", sweep, idle_seconds=60)])

    # when
    worker.start()
    try:
        # then all work is done without waiting for the idle timeout in between
        assert done.wait(5)
    finally:
        worker.stop()
    assert remaining == [0]


def test_a_wake_for_one_sweep_leaves_the_others_idle_until_it_moved_rows():
    # given an upstream sweep with one row of work after its first call, and a downstream one
    calls = {"up": 0, "down": 0}
    work = [0]
    down_ran_again = threading.Event()

    def up() -> int:
        calls["up"] += 1
        moved, work[0] = work[0], 0
        return moved

    def down() -> int:
        calls["down"] += 1
        if calls["down"] == 2:
            down_ran_again.set()
        return 0

    worker = Worker([Sweep("up", up, idle_seconds=60), Sweep("down", down, idle_seconds=60)])
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while (calls["up"], calls["down"]) != (1, 1) and time.monotonic() < deadline:
            time.sleep(0.01)

        # when only the upstream sweep is woken, with nothing to do
        worker.wake("up")
        while calls["up"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        # then the downstream sweep stayed idle
        assert calls == {"up": 2, "down": 1}

        # when the upstream sweep is woken and moves a row
        work[0] = 1
        worker.wake("up")
        # then the downstream sweep runs at once
        assert down_ran_again.wait(5)
    finally:
        worker.stop()


def test_a_partial_batch_waits_for_more_rows_before_the_next_turn():
    # given a sweep that moves 3 rows of a full batch of 10 each turn, paced at 0.3 s
    turns: list[float] = []
    third = threading.Event()

    def sweep() -> int:
        turns.append(time.monotonic())
        if len(turns) == 3:
            third.set()
        return 3

    worker = Worker([Sweep("paced", sweep, idle_seconds=60, pace_seconds=0.3, full=10)])

    # when it runs, and is woken all the while (pushes arriving)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not third.is_set() and time.monotonic() < deadline:
            worker.wake()
            time.sleep(0.005)
    finally:
        worker.stop()

    # then its turns are the pace apart, not back to back
    gaps = [b - a for a, b in itertools.pairwise(turns[:3])]
    assert len(gaps) == 2
    assert all(gap >= 0.3 for gap in gaps)


def test_a_held_back_sweep_waits_but_never_longer_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a busy sweep, held back again and again (ingest saturated), with a cap of 0.3 s
    monkeypatch.setattr(worker_module, "HOLD_BACK_MAX_SECONDS", 0.3)
    turns: list[float] = []
    third = threading.Event()

    def sweep() -> int:
        turns.append(time.monotonic())
        if len(turns) == 3:
            third.set()
        return 1

    worker = Worker([Sweep("inbox", sweep, idle_seconds=60)])
    worker.hold_back("inbox", 60)

    # when it runs while the web process keeps saying it is busy
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not third.is_set() and time.monotonic() < deadline:
            worker.hold_back("inbox", 60)
            time.sleep(0.01)
    finally:
        worker.stop()

    # then it still takes a turn every 0.3 s: held back, not starved
    gaps = [b - a for a, b in itertools.pairwise(turns[:3])]
    assert len(gaps) == 2
    assert all(0.3 <= gap < 1.0 for gap in gaps)


def test_while_rows_arrive_a_sweep_takes_small_batches_and_full_ones_after() -> None:
    # given a sweep with a normal and a small-batch run, told of rows arriving
    used: list[str] = []
    small_used = threading.Event()
    normal_used = threading.Event()

    def normal() -> int:
        used.append("normal")
        normal_used.set()
        return 0

    def small() -> int:
        used.append("small")
        small_used.set()
        return 0

    worker = Worker([Sweep("inbox", normal, idle_seconds=0.05, run_while_arriving=small)])
    worker.start()
    try:
        assert normal_used.wait(5)
        # when a stored push is announced for it
        worker.wake("inbox")
        # then it takes small batches
        assert small_used.wait(5)
        # and a second after the last announcement, full ones again
        normal_used.clear()
        assert normal_used.wait(5)
    finally:
        worker.stop()
    first_small = used.index("small")
    assert used[0] == "normal" and "normal" in used[first_small:]


def test_while_rows_arrive_a_batch_as_big_as_the_sweep_says_is_full_is_not_paced() -> None:
    # given a sweep whose batch size changes (10, then 4) and which fills each batch three
    # times, paced at 10 s after a partial batch
    sizes = iter([10, 10, 10, 4])
    size = [10]
    turns: list[int] = []
    done = threading.Event()

    def full() -> int:
        return size[0]

    def small() -> int:
        turns.append(size[0])
        moved = size[0]
        size[0] = next(sizes, 1)
        if len(turns) == 4:
            done.set()
        return moved if len(turns) < 4 else 0

    worker = Worker(
        [
            Sweep(
                "inbox",
                lambda: 0,
                idle_seconds=60,
                pace_seconds=10,
                full=200,
                run_while_arriving=small,
                full_while_arriving=full,
            )
        ]
    )
    worker.start()
    try:
        # when rows arrive
        worker.wake("inbox")
        # then full batches follow each other without the pace, at whatever size is full
        assert done.wait(5)
    finally:
        worker.stop()
    assert turns == [10, 10, 10, 10]


def test_a_redoable_sweep_commits_without_fsync_and_the_others_with_it(
    tmp_path: Path, django_db_blocker: Any
) -> None:
    # given a database set to synchronous=FULL, a redoable sweep and an ordinary one, each
    # opening a connection to it
    from tests.kit.test_sqlite import wrapper

    levels: dict[str, int] = {}
    both = threading.Barrier(3)

    def level_of(name: str) -> Callable[[], int]:
        def sweep() -> int:
            if name not in levels:
                db = wrapper(tmp_path / "db.sqlite3", synchronous="FULL")
                db.ensure_connection()
                levels[name] = db.cursor().execute("PRAGMA synchronous").fetchone()[0]
                db.close()
                both.wait(5)
            return 0

        return sweep

    worker = Worker(
        [
            Sweep("inbox", level_of("inbox"), idle_seconds=60, redoable=True),
            Sweep("runs", level_of("runs"), idle_seconds=60),
        ]
    )

    # when the worker runs (its sweeps open their own SQLite file, not the test database)
    with django_db_blocker.unblock():
        worker.start()
        try:
            both.wait(5)
        finally:
            worker.stop()

    # then only the redoable sweep's commits skip their fsync (NORMAL = 1, FULL = 2)
    assert levels == {"inbox": 1, "runs": 2}


CHILD_SCRIPT = """
import sys, time
from terminflow.worker import WorkerProcess
worker = WorkerProcess()
worker.start()
worker.wake()
print(worker._process.pid, flush=True)
# Wake it without pause, as ingest does under load, so the kill lands in the middle of a wake.
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    worker.wake()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) until its parent (init here) reaps it.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return state != "Z"
    return False


def test_embedded_worker_process_ends_when_the_web_process_is_killed(tmp_path):
    # given a process running the embedded worker in its child
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "terminflow.settings",
        "TERMINFLOW_DATA_DIR": str(tmp_path),
    }
    web = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        worker_pid = int(web.stdout.readline())
        assert _alive(worker_pid)
        time.sleep(0.5)

        # when the web process is killed without any chance to clean up
        web.send_signal(signal.SIGKILL)
        web.wait(10)

        # then its worker notices and ends instead of living on as an orphan
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid)
    finally:
        if web.poll() is None:
            web.kill()


def test_a_sweep_backs_off_while_the_database_is_away_with_one_line_each(monkeypatch, caplog):
    # given a sweep whose database is unreachable three times, then back
    import logging

    from django.db.utils import OperationalError

    from terminflow import worker as worker_module

    monkeypatch.setattr(worker_module, "FIRST_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(worker_module, "MAX_BACKOFF_SECONDS", 0.1)
    calls: list[float] = []
    back = threading.Event()

    def sweep() -> int:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise OperationalError('connection to server at "db" failed\nIs the server running?')
        back.set()
        return 0

    worker = Worker([Sweep("runs", sweep, 5)])

    # when it runs
    with caplog.at_level(logging.WARNING, logger="terminflow.worker"):
        worker.start()
        try:
            assert back.wait(5)
        finally:
            worker.stop()

    # then each failed attempt is one line without a traceback, and the pauses grew to the cap
    records = [r for r in caplog.records if r.name == "terminflow.worker"]
    assert [r.getMessage() for r in records] == [
        f'sweep runs: database unavailable (connection to server at "db" failed); '
        f"trying again in {delay:g} s"
        for delay in (0.05, 0.1, 0.1)
    ]
    assert all(r.exc_info is None for r in records)
    assert calls[2] - calls[1] >= 0.09
