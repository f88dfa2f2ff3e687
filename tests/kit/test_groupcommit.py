"""Group commit: batching, answers only after commit, and one bad item failing only itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from terminflow.kit.groupcommit import GroupCommit, WriterStopped


class FakeStore:
    """Commits a batch all-or-nothing, like a transaction; items starting with "bad" fail it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.attempts: list[list[str]] = []
        self.threads: set[str] = set()

    def commit(self, items: Sequence[str]) -> list[str]:
        self.attempts.append(list(items))
        self.threads.add(threading.current_thread().name)
        if any(item.startswith("bad") for item in items):
            raise ValueError(f"cannot store {[i for i in items if i.startswith('bad')]}")
        self.batches.append(list(items))
        return [item.upper() for item in items]

    @property
    def committed(self) -> list[str]:
        return [item for batch in self.batches for item in batch]


async def _stop(group: GroupCommit) -> None:
    await asyncio.to_thread(group.stop)


def test_items_queued_before_start_are_committed_in_full_batches() -> None:
    # given a writer with batches of at most 20 and 50 items waiting before it starts
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit, max_batch=20, name="test-writer")

    async def scenario() -> list[str]:
        futures = [group.submit(f"item-{n}") for n in range(50)]
        # when the writer starts
        group.start()
        try:
            return await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
        finally:
            await _stop(group)

    results = asyncio.run(scenario())

    # then every caller gets its own result, and the items went in batches of 20, 20, 10
    assert results == [f"ITEM-{n}" for n in range(50)]
    assert [len(batch) for batch in store.batches] == [20, 20, 10]
    assert store.committed == [f"item-{n}" for n in range(50)]
    assert store.threads == {"test-writer"}


def test_a_lone_item_is_committed_without_waiting_for_a_full_batch() -> None:
    # given a started writer with room for 256 items per batch
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit, max_batch=256)

    async def scenario() -> str:
        group.start()
        try:
            # when one item is submitted and nothing else comes
            return await asyncio.wait_for(group.submit("alone"), timeout=10)
        finally:
            await _stop(group)

    # then it is committed on its own
    assert asyncio.run(scenario()) == "ALONE"
    assert store.batches == [["alone"]]


def test_a_failing_item_fails_only_its_own_caller() -> None:
    # given one bad item among good ones in the same batch
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit, max_batch=10)
    commits: list[int] = []
    group.on_commit = lambda: commits.append(1)

    async def scenario() -> list[object]:
        futures = [group.submit(name) for name in ("good-1", "bad-2", "good-3")]
        group.start()
        try:
            return await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), timeout=10
            )
        finally:
            await _stop(group)

    # when the batch is committed
    good_1, bad_2, good_3 = asyncio.run(scenario())

    # then the batch was tried whole, then item by item; the good items are stored once each
    assert good_1 == "GOOD-1"
    assert good_3 == "GOOD-3"
    assert isinstance(bad_2, ValueError)
    assert str(bad_2) == "cannot store ['bad-2']"
    assert store.attempts == [["good-1", "bad-2", "good-3"], ["good-1"], ["bad-2"], ["good-3"]]
    assert store.committed == ["good-1", "good-3"]
    assert commits == [1]


def test_on_commit_is_not_called_when_nothing_was_committed() -> None:
    # given a writer whose only item fails
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit)
    commits: list[int] = []
    group.on_commit = lambda: commits.append(1)

    async def scenario() -> None:
        group.start()
        try:
            await asyncio.wait_for(group.submit("bad"), timeout=10)
        finally:
            await _stop(group)

    # when it is submitted, then its caller gets the error and nobody is told of a commit
    with pytest.raises(ValueError, match=r"cannot store \['bad'\]"):
        asyncio.run(scenario())
    assert store.committed == []
    assert commits == []


def test_stop_commits_what_was_submitted_and_refuses_what_comes_after() -> None:
    # given items submitted to a writer that has not started yet
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit)

    async def scenario() -> tuple[list[str], BaseException | None]:
        futures = [group.submit(f"item-{n}") for n in range(3)]
        group.start()
        # when the writer is stopped at once
        await _stop(group)
        done = await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
        late = group.submit("late")
        try:
            await late
        except WriterStopped as exc:
            return done, exc
        return done, None

    done, late_error = asyncio.run(scenario())

    # then the submitted items were still committed, and a later one is refused, not stored
    assert done == ["ITEM-0", "ITEM-1", "ITEM-2"]
    assert store.committed == ["item-0", "item-1", "item-2"]
    assert isinstance(late_error, WriterStopped)
    assert not group.running


def test_callers_on_two_loops_each_get_their_answers() -> None:
    # given a writer shared by two event loops in two threads
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit)
    group.start()
    answers: dict[str, list[str]] = {}

    def caller(prefix: str) -> None:
        async def submit_all() -> list[str]:
            futures = [group.submit(f"{prefix}-{n}") for n in range(25)]
            return await asyncio.wait_for(asyncio.gather(*futures), timeout=10)

        answers[prefix] = asyncio.run(submit_all())

    threads = [threading.Thread(target=caller, args=(p,)) for p in ("a", "b")]
    # when both submit at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    group.stop()

    # then each caller got exactly its own results
    assert answers == {p: [f"{p.upper()}-{n}" for n in range(25)] for p in ("a", "b")}
    assert sorted(store.committed) == sorted(f"{p}-{n}" for p in ("a", "b") for n in range(25))


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        GroupCommit(FakeStore().commit, max_batch=0)


def test_posted_items_are_committed_without_anyone_waiting_and_failures_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a running writer
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit, name="test-writer")
    group.start()
    try:
        # when items are posted, one of them bad
        assert group.post("a") is True
        assert group.post("bad-b") is True
        assert group.post("c") is True
    finally:
        group.stop()

    # then the good ones are committed, the bad one is logged, and nothing else happens
    assert store.committed == ["a", "c"]
    assert "committing an item failed" in caplog.text
    assert group.backlog == 0
    # and a stopped writer takes nothing more
    assert group.post("d") is False
    assert store.committed == ["a", "c"]


def test_a_lingering_writer_gathers_posted_items_into_one_batch() -> None:
    # given a writer that waits half a second for company after the first item
    store = FakeStore()
    group: GroupCommit[str, str] = GroupCommit(store.commit, name="test-writer", linger_seconds=0.5)
    group.start()
    try:
        # when three items arrive a moment apart
        for item in ("a", "b", "c"):
            group.post(item)
            threading.Event().wait(0.05)
    finally:
        # (stopping commits at once what is queued, without lingering)
        group.stop()

    # then they were committed together
    assert store.batches == [["a", "b", "c"]]
