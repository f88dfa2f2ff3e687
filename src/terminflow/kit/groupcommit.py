"""Group commit: many callers, one writer thread, one transaction per batch.

Callers on an asyncio loop ``await submit(item)`` and get that item's result once the batch
holding it has been committed. The writer takes whatever is queued (up to ``max_batch``) the
moment it is free, so under load batches grow by themselves and one commit (one fsync) is shared
by many items, while a lone item is committed at once without waiting for company.

Callers that answer before the write (open and click tracking) ``post(item)`` instead: no future,
no wake-up of their loop, a failure only logged; such a writer may ``linger`` a moment after the
first item to gather more into one transaction.

The writer is a thread, not a task: database drivers block, and a thread keeps its own database
connection for its whole life.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger("terminflow.groupcommit")

T = TypeVar("T")
R = TypeVar("R")


class WriterStopped(RuntimeError):
    """The writer is stopped (or stopping); the item was not committed."""


@dataclass(slots=True)
class _Pending(Generic[T]):
    item: T
    # None for an item posted without waiting (``post``): nobody to tell.
    future: asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None


_STOP = object()


def _settle(pending: list[_Pending[Any]], outcomes: list[tuple[bool, Any]]) -> None:
    """Runs on the callers' loop: hand each caller its own result or exception."""
    for entry, (ok, value) in zip(pending, outcomes, strict=True):
        if entry.future is None or entry.future.done():  # the caller gave up (cancelled)
            continue
        if ok:
            entry.future.set_result(value)
        else:
            entry.future.set_exception(value)


def commit_batch(
    commit: Callable[[Sequence[T]], Sequence[R]], items: list[T], name: str
) -> list[tuple[bool, Any]]:
    """``commit`` the items as one batch; if that raises, one at a time, so one bad item fails
    only itself. One ``(ok, result or exception)`` per item, in order."""
    try:
        results = commit(items)
        if len(results) != len(items):
            raise RuntimeError(f"commit returned {len(results)} results for {len(items)}")
        return [(True, result) for result in results]
    except Exception as exc:
        if len(items) == 1:
            log.exception("%s: committing an item failed", name)
            return [(False, exc)]
        log.warning("%s: batch of %d failed; retrying one by one", name, len(items))
    outcomes: list[tuple[bool, Any]] = []
    for item in items:
        try:
            (result,) = commit([item])
        except Exception as exc:
            log.exception("%s: committing an item failed", name)
            outcomes.append((False, exc))
        else:
            outcomes.append((True, result))
    return outcomes


class GroupCommit(Generic[T, R]):
    """Commit items in batches on one writer thread.

    ``commit(items)`` runs on the writer thread, must commit all items in one transaction and
    return one result per item, in order. When it raises, the batch is retried one item at a
    time, so one bad item fails only its own caller. ``on_commit`` (if set) runs on the writer
    thread after every batch that committed at least one item.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 256,
        linger_seconds: float = 0.0,
        name: str = "groupcommit",
        on_thread_exit: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit = commit
        self.max_batch = max_batch
        # > 0: after the first item, wait this long for more before committing. Only for
        # items nobody waits for (``post``): it trades their latency for fewer transactions.
        self.linger_seconds = linger_seconds
        self.name = name
        self.on_commit: Callable[[], None] | None = None
        self._on_thread_exit = on_thread_exit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit everything already submitted, then end the writer thread."""
        self._accepting = False
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.error("%s: still busy after %.0f s; left to finish", self.name, timeout)
            return
        self._thread = None
        # A submit that passed the check just before stop() began is refused, not left hanging.
        self._refuse_rest()

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the returned future resolves once its batch is committed.

        Items submitted before ``start()`` wait in the queue and go into the first batch.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._accepting:
            future.set_exception(WriterStopped(f"{self.name} is stopped"))
            return future
        self._queue.put(_Pending(item, future, loop))
        return future

    def post(self, item: T) -> bool:
        """Queue ``item`` without waiting for its commit; a failure is only logged.

        For callers that answer before the write (and must not spend a wake-up of their loop
        on its outcome). Returns False, without queueing, when the writer is stopped.
        """
        if not self._accepting:
            return False
        self._queue.put(_Pending(item, None, None))
        return True

    @property
    def backlog(self) -> int:
        """Items queued and not yet taken into a batch (approximate)."""
        return self._queue.qsize()

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    stopping = True
                    batch: list[_Pending[T]] = []
                else:
                    batch = [first]
                # Take what is queued now, without waiting: waiting for a fuller batch would
                # only add latency, since under load the queue refills while we commit. (Unless
                # told to linger; never once stopping.)
                lingering = time.monotonic() + self.linger_seconds if batch else 0.0
                while len(batch) < self.max_batch:
                    wait = 0.0 if stopping else lingering - time.monotonic()
                    try:
                        nxt = (
                            self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                        )
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        continue
                    batch.append(nxt)
                if batch:
                    self._process(batch)
            # Items that raced with stop() are refused rather than left hanging.
            self._refuse_rest()
        finally:
            if self._on_thread_exit is not None:
                try:
                    self._on_thread_exit()
                except Exception:
                    log.exception("%s: cleanup on exit failed", self.name)

    def _process(self, batch: list[_Pending[T]]) -> None:
        outcomes = commit_batch(self._commit, [entry.item for entry in batch], self.name)
        if any(ok for ok, _ in outcomes) and self.on_commit is not None:
            try:
                self.on_commit()
            except Exception:
                log.exception("%s: on_commit callback failed", self.name)
        self._deliver(batch, outcomes)

    @staticmethod
    def _deliver(batch: list[_Pending[T]], outcomes: list[tuple[bool, Any]]) -> None:
        # One wake-up per loop per batch instead of one per item: that is most of the point.
        by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Pending[T]], list[Any]]] = {}
        for entry, outcome in zip(batch, outcomes, strict=True):
            if entry.loop is None:
                continue
            entries, results = by_loop.setdefault(entry.loop, ([], []))
            entries.append(entry)
            results.append(outcome)
        for loop, (entries, results) in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, entries, results)
            except RuntimeError:  # that loop is closed; its callers are gone
                pass

    def _refuse_rest(self) -> None:
        refused: list[_Pending[T]] = []
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is not _STOP:
                refused.append(entry)
        if refused:
            error = WriterStopped(f"{self.name} is stopped")
            self._deliver(refused, [(False, error)] * len(refused))
