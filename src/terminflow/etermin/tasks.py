"""Worker sweeps of the etermin app: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep


def process_inbox() -> int:
    from .processing import process_pending

    return process_pending()


def sync_accounts() -> int:
    from .sync import sync_due

    return sync_due()


SWEEPS: list[Sweep] = [
    Sweep("inbox", process_inbox, idle_seconds=0.1),
    # Syncs are due every few minutes at most; looking twice a minute is plenty.
    Sweep("etermin-sync", sync_accounts, idle_seconds=30, woken=False),
]
