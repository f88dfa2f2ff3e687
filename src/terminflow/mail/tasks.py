"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

from . import sending


def _send() -> int:
    return sending.send_due(rounds=sending.ROUNDS_PER_SWEEP)


def prune_bodies() -> int:
    from .services import prune_rendered_bodies

    return prune_rendered_bodies()


SWEEPS: list[Sweep] = [
    Sweep(name="mail.send", run=_send, idle_seconds=0.5),
    # Bodies age by the day: an hourly look is enough, and a busy one goes on batch by batch.
    Sweep(name="mail.retention", run=prune_bodies, idle_seconds=3600, woken=False),
]
