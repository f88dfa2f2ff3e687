"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

from . import submissions


def _process() -> int:
    return submissions.process_due()


SWEEPS: list[Sweep] = [
    # A sign-up waits for this at most: the person is looking at the thank-you page meanwhile.
    Sweep(name="forms.submissions", run=_process, idle_seconds=0.5),
]
