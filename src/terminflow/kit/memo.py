"""Reads remembered for one unit of work: a sweep batch that handles many contacts of the same
workspaces reads each workspace's settings (an email template, which fields an eTermin element
fills) once instead of once per contact.

Only for rows that the unit itself does not change and whose change meanwhile it may miss, as
it would have missed one made a moment after it read them. Outside ``scope`` nothing is
remembered: every call computes afresh, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_remembered: ContextVar[dict[Hashable, Any] | None] = ContextVar("memo", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """Remember reads until the scope ends; a scope inside another shares the outer one."""
    if _remembered.get() is not None:
        yield
        return
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def remember(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` within the scope; every time outside one.

    The key names what is read and for whom, e.g. ``("mail.template", workspace_id, id)``.
    """
    remembered = _remembered.get()
    if remembered is None:
        return compute()
    if key not in remembered:
        remembered[key] = compute()
    return remembered[key]  # type: ignore[no-any-return]
