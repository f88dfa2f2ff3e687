"""Group commit in a child process: batches, answers in order, one bad item failing only
itself, a killed child failing only what it had not answered, and a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from terminflow.kit.childcommit import ChildGroupCommit, WriterFailed
from terminflow.kit.groupcommit import WriterStopped

LOG_ENV = "TERMINFLOW_TEST_CHILDCOMMIT_LOG"


def record_and_upper(items: Sequence[str]) -> list[str]:
    """The child's commit: all-or-nothing like a transaction, written down for the test."""
    log = Path(os.environ[LOG_ENV])
    if any(item == "slow" for item in items):
        log.with_suffix(".slow").write_text(str(os.getpid()))
        time.sleep(30)  # a commit that never ends; the test kills the child
    bad = [item for item in items if item.startswith("bad")]
    ok = not bad
    with log.open("a") as out:
        out.write(json.dumps({"pid": os.getpid(), "items": list(items), "ok": ok}) + "\n")
    if bad:
        raise ValueError(f"cannot store {bad}")
    return [item.upper() for item in items]


def set_up_unless_told_to_fail() -> None:
    """The child's setup; fails while the test's marker file exists."""
    if Path(os.environ[LOG_ENV]).with_suffix(".fail").exists():
        raise RuntimeError("this child cannot start")


def attempts(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "commits.jsonl"
    monkeypatch.setenv(LOG_ENV, str(path))
    return path


def test_items_go_to_the_child_in_batches_and_each_caller_gets_its_result(log: Path) -> None:
    # given a child writer with batches of at most 20, and 50 items submitted at once
    group: ChildGroupCommit[str, str] = ChildGroupCommit(record_and_upper, max_batch=20)
    commits: list[int] = []
    group.on_commit = lambda: commits.append(1)

    async def scenario() -> list[str]:
        await group.start()
        try:
            futures = [group.submit(f"item-{n}") for n in range(50)]
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout=30))
        finally:
            await group.stop()

    # when they are committed
    results = asyncio.run(scenario())

    # then every caller has its own result, in another process, in batches of 20, 20, 10
    assert results == [f"ITEM-{n}" for n in range(50)]
    done = attempts(log)
    assert [len(a["items"]) for a in done] == [20, 20, 10]  # type: ignore[arg-type]
    assert {a["pid"] for a in done} != {os.getpid()}
    assert len({a["pid"] for a in done}) == 1
    assert len(commits) == 3


def test_a_bad_item_fails_only_its_own_caller(log: Path) -> None:
    group: ChildGroupCommit[str, str] = ChildGroupCommit(record_and_upper)

    async def scenario() -> list[object]:
        await group.start()
        try:
            futures = [group.submit(item) for item in ("a", "bad-b", "c")]
            return list(await asyncio.gather(*futures, return_exceptions=True))
        finally:
            await group.stop()

    # when a batch holds a bad item between two good ones
    results = asyncio.run(scenario())

    # then the batch is redone item by item: the good ones are stored, the bad one fails
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], WriterFailed)
    assert str(results[1]) == "cannot store ['bad-b']"
    assert [(a["items"], a["ok"]) for a in attempts(log)] == [
        (["a", "bad-b", "c"], False),
        (["a"], True),
        (["bad-b"], False),
        (["c"], True),
    ]


def test_a_killed_child_fails_what_it_had_not_answered_and_a_new_one_takes_over(
    log: Path,
) -> None:
    group: ChildGroupCommit[str, str] = ChildGroupCommit(record_and_upper)
    slow_pid_file = log.with_suffix(".slow")

    async def scenario() -> tuple[object, str, int]:
        await group.start()
        try:
            # given an item whose commit hangs in the child
            hanging = group.submit("slow")
            for _ in range(300):
                if slow_pid_file.exists():
                    break
                await asyncio.sleep(0.05)
            child = int(slow_pid_file.read_text())
            # when the child is killed
            os.kill(child, signal.SIGKILL)
            (outcome,) = await asyncio.gather(hanging, return_exceptions=True)
            # then the next item is committed by a new child
            after = await asyncio.wait_for(group.submit("next"), timeout=60)
            return outcome, after, child
        finally:
            await group.stop()

    outcome, after, killed = asyncio.run(scenario())

    assert isinstance(outcome, WriterStopped)
    assert after == "NEXT"
    assert [(a["items"], a["pid"] != killed) for a in attempts(log)] == [(["next"], True)]


def test_stop_commits_what_was_submitted_and_refuses_what_comes_after(log: Path) -> None:
    group: ChildGroupCommit[str, str] = ChildGroupCommit(record_and_upper)

    async def scenario() -> tuple[list[str], BaseException | None]:
        await group.start()
        futures = [group.submit(f"x{n}") for n in range(5)]
        await group.stop()
        late = group.submit("late")
        return [f.result() for f in futures], late.exception()

    # when the writer is stopped right after five submissions
    results, refused = asyncio.run(scenario())

    # then the five are committed and answered, and a later one is refused
    assert results == ["X0", "X1", "X2", "X3", "X4"]
    assert isinstance(refused, WriterStopped)
    assert [a["items"] for a in attempts(log)] == [["x0", "x1", "x2", "x3", "x4"]]


def test_when_no_new_child_can_start_callers_are_told_and_a_later_one_starts(log: Path) -> None:
    group: ChildGroupCommit[str, str] = ChildGroupCommit(
        record_and_upper, setup=set_up_unless_told_to_fail
    )
    fail = log.with_suffix(".fail")

    async def scenario() -> tuple[str, object, str]:
        await group.start()
        try:
            first = await asyncio.wait_for(group.submit("a"), timeout=30)
            (child,) = {a["pid"] for a in attempts(log)}
            # given a child that dies while no new one can start
            fail.touch()
            os.kill(int(str(child)), signal.SIGKILL)
            while group.running:
                await asyncio.sleep(0.05)
            # when an item comes meanwhile
            (refused,) = await asyncio.wait_for(
                asyncio.gather(group.submit("b"), return_exceptions=True), timeout=60
            )
            # and one more once a child can start again
            fail.unlink()
            later = await asyncio.wait_for(group.submit("c"), timeout=60)
            return first, refused, later
        finally:
            await group.stop()

    first, refused, later = asyncio.run(scenario())

    # then the caller in between is told (not left waiting), and the next one is committed
    assert first == "A"
    assert isinstance(refused, WriterStopped)
    assert later == "C"
    assert [a["items"] for a in attempts(log)] == [["a"], ["c"]]
