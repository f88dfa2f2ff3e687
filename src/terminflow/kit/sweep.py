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
    # After a turn that moved some rows but fewer than ``full``, wait this long (wake-ups
    # ignored) for more to gather: one bigger batch then takes the write lock once instead of
    # many small ones taking it in turn with the web push writer.
    pace_seconds: float = 0.0
    full: int = 0
    # Used instead of ``run`` while new rows keep arriving (the embedded worker hears of each
    # stored web push): smaller batches, so each hold of SQLite's write lock, which the web
    # push writer waits for, stays short even while a backlog is worked off. A full one is
    # ``full_while_arriving`` rows, or what it returns when the batch size varies.
    run_while_arriving: Callable[[], int] | None = None
    full_while_arriving: int | Callable[[], int] = 0
    # Its transactions only derive state from rows already stored durably and leave those rows
    # to be done again until they commit (the inbox), so on SQLite they skip their fsync:
    # shorter holds of the write lock, which the web push writer waits for (kit/sqlite).
    redoable: bool = False
