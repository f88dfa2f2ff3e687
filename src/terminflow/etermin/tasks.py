"""Worker sweeps of the etermin app: thin wrappers around service functions."""

import math
import time

from terminflow.kit.sweep import Sweep


def process_inbox() -> int:
    from .processing import BATCH_SIZE, process_pending

    return process_pending(limit=BATCH_SIZE)


class TimedBatches:
    """Inbox batches sized to take about ``target`` seconds each (used while pushes arrive).

    A batch's transaction holds SQLite's write lock, and the web push writer waits for it, so
    its length is what a push may wait. A batch costs what its rows cost on this machine now
    (a loaded machine takes several times longer), so the size follows the measured time of
    the last full batches instead of being a fixed number of rows.
    """

    def __init__(self, *, target: float, smallest: int, largest: int) -> None:
        self.target = target
        self.smallest = smallest
        self.largest = largest
        self.limit = smallest

    def full(self) -> int:
        """The size of the next batch: a batch that moved this many left rows behind."""
        return self.limit

    def __call__(self) -> int:
        from .processing import process_pending

        limit = self.limit
        started = time.perf_counter()
        moved = process_pending(limit=limit)
        elapsed = time.perf_counter() - started
        # Only a full batch says how many rows fit: a partial one is mostly fixed costs.
        # Halfway to the new size per batch, so one stall does not set the size alone.
        if moved == limit and elapsed > 0:
            fitting = max(self.smallest, min(self.largest, limit * self.target / elapsed))
            step = (fitting - limit) / 2
            self.limit = limit + (math.ceil(step) if step > 0 else math.floor(step))
        return moved


# About 5 ms per batch, of which the transaction (the write-lock hold) is about half: read and
# parsed before it, written in it. At least 5 rows: each transaction has fixed costs (on a
# machine busy with other work 5-row batches once processed a third of what 20-row ones did).
# With the web push writer in its own process (decision 0009), 20-row batches held the lock
# 20-107 ms, which pushes waited out; 5 ms batches brought the paced p99 from 25 to 10-13 ms,
# and the worker now works off part of a 1,000/s stream after it ends.
BATCHES_WHILE_ARRIVING = TimedBatches(target=0.005, smallest=5, largest=50)


def sync_accounts() -> int:
    from .sync import sync_due

    return sync_due()


def prune_bodies() -> int:
    from .services import prune_raw_bodies

    return prune_raw_bodies()


SWEEPS: list[Sweep] = [
    # Paced: while pushes trickle in, one batch every 50 ms rather than one per group commit,
    # so processing takes SQLite's write lock a few times a second instead of hundreds.
    Sweep(
        "inbox",
        process_inbox,
        idle_seconds=0.1,
        pace_seconds=0.05,
        full=200,
        run_while_arriving=BATCHES_WHILE_ARRIVING,
        full_while_arriving=BATCHES_WHILE_ARRIVING.full,
        # Processing leaves a push pending until its commit and is idempotent; what it sets
        # off (runs, emails) happens in other sweeps, after commits that keep their fsync.
        redoable=True,
    ),
    # Syncs are due every few minutes at most; looking twice a minute is plenty.
    Sweep("etermin-sync", sync_accounts, idle_seconds=30, woken=False),
    # Bodies age by the day: an hourly look is enough, and a busy one goes on batch by batch.
    Sweep("etermin-retention", prune_bodies, idle_seconds=3600, woken=False),
]
