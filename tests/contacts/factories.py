"""Small builders for contact tests; each returns what the services would have stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal

from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services
from terminflow.contacts.models import Contact, Field
from terminflow.workspaces.models import Workspace


def make_field(
    workspace: Workspace, key: str, type: str, *, options: list[str] | None = None
) -> Field:
    return contact_fields.create_field(
        workspace, key=key, type=type, label=key.replace("_", " ").title(), options=options
    )


# What an import from a system that ran the double opt-in would carry (see create_contact).
DOI_PROOF = {"confirmed_at": "2026-11-02T09:00:00+01:00", "by": "test factory"}


def make_contact(
    workspace: Workspace, email: str = "anna.muster@example.ch", **kwargs: Any
) -> Contact:
    if kwargs.get("email_status") == "confirmed_doi":
        kwargs.setdefault("doi_proof", DOI_PROOF)
    return services.create_contact(workspace, email=email, **kwargs)


@contextmanager
def captured(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    """Every send of ``signal`` while the block runs, as the keyword arguments it carried."""
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        calls.append({"sender": sender, **kwargs})

    signal.connect(receiver, weak=False)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)
