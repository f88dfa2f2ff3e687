"""Worker sweeps of the segments app: thin wrappers around service functions."""

from django.conf import settings

from terminflow.kit.sweep import Sweep


def sweep_members() -> int:
    from .membership import sweep

    return sweep()


SWEEPS: list[Sweep] = [
    # Relative conditions ("in the next 7 days") change with the clock, not with new rows, so the
    # sweep looks on its own schedule and wake-ups are ignored.
    Sweep("segments", sweep_members, idle_seconds=settings.SEGMENT_SWEEP_SECONDS, woken=False),
]
