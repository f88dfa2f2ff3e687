"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

from . import engine


def advance_due_sweep() -> int:
    """Move every run that is due now; the worker calls again at once while there is work."""
    return engine.advance_due()


SWEEPS: list[Sweep] = [Sweep("runs", advance_due_sweep)]
