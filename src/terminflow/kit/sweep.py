"""The shape of a worker sweep, so domain apps can offer sweeps without importing the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[], int]  # returns how many rows it moved forward; 0 means idle
    idle_seconds: float = 0.2
    # False for a sweep that new pushes give nothing to do: worker wake-ups (one per ingest
    # commit) would only make it ask the database again; it waits out ``idle_seconds``.
    woken: bool = True
