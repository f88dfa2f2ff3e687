"""Worker sweeps of the etermin app: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep


def process_inbox() -> int:
    from .processing import process_pending

    return process_pending()


import os as _os

SWEEPS: list[Sweep] = [
    Sweep(
        "inbox",
        process_inbox,
        idle_seconds=0.1,
        pace_seconds=float(_os.environ.get("TF_EXP_PACE", "0")),
        full=200,
    )
]
