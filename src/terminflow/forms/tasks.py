"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

from . import retention, submissions


def _process() -> int:
    return submissions.process_due()


def _prune() -> int:
    return retention.prune_submissions()


SWEEPS: list[Sweep] = [
    # A sign-up waits for this at most: the person is looking at the thank-you page meanwhile.
    Sweep(name="forms.submissions", run=_process, idle_seconds=0.5),
    # Sign-ups past their workspace's retention: an hour late costs nothing.
    Sweep(name="forms.retention", run=_prune, idle_seconds=3600, woken=False),
]
