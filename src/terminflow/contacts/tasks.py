"""Worker sweeps: thin wrappers around service functions."""

from terminflow.kit.sweep import Sweep

SWEEPS: list[Sweep] = []
