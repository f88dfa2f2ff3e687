"""Worker sweeps of the etermin app: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep


def process_inbox() -> int:
    from .processing import BATCH_SIZE, process_pending

    return process_pending(limit=BATCH_SIZE)


# A quarter batch keeps each processing transaction to a few milliseconds.
BATCH_WHILE_ARRIVING = 50


def process_inbox_while_pushes_arrive() -> int:
    from .processing import process_pending

    return process_pending(limit=BATCH_WHILE_ARRIVING)


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
        run_while_arriving=process_inbox_while_pushes_arrive,
        full_while_arriving=BATCH_WHILE_ARRIVING,
    ),
    # Syncs are due every few minutes at most; looking twice a minute is plenty.
    Sweep("etermin-sync", sync_accounts, idle_seconds=30, woken=False),
    # Bodies age by the day: an hourly look is enough, and a busy one goes on batch by batch.
    Sweep("etermin-retention", prune_bodies, idle_seconds=3600, woken=False),
]
