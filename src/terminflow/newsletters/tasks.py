"""Worker sweeps of the newsletters app: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep


def send_newsletters() -> int:
    from .sending import sweep

    return sweep()


SWEEPS: list[Sweep] = [Sweep("newsletters", send_newsletters, idle_seconds=1.0)]
