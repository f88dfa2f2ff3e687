"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

from . import sending


def _send() -> int:
    return sending.send_due(rounds=sending.ROUNDS_PER_SWEEP)


SWEEPS: list[Sweep] = [Sweep(name="mail.send", run=_send, idle_seconds=0.5)]
