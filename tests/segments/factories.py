"""Small builders for segment tests: a cast of contacts, segments, and what they match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact
from terminflow.segments import query, services
from terminflow.segments.definition import validate
from terminflow.segments.models import Segment
from terminflow.workspaces.models import Workspace
from tests.contacts.factories import DOI_PROOF

# Saturday 28 March 2026, 12:00 in Zurich; summer time starts the next night at 02:00.
NOW = datetime(2026, 3, 28, 11, 0, tzinfo=UTC)


def make_contact(workspace: Workspace, email: str, **kwargs: Any) -> Contact:
    if kwargs.get("email_status") == "confirmed_doi":
        kwargs.setdefault("doi_proof", DOI_PROOF)
    return contacts.create_contact(workspace, email=email, **kwargs)


def make_segment(workspace: Workspace, *conditions: dict[str, Any], **definition: Any) -> Segment:
    return services.create_segment(
        workspace,
        name=definition.pop("name", "Segment"),
        definition={"conditions": list(conditions), **definition},
    )


def matching(
    workspace: Workspace, *conditions: dict[str, Any], now: datetime = NOW, **definition: Any
) -> list[str]:
    """The local parts of the emails of the contacts the definition selects, sorted."""
    checked = validate(workspace, {"conditions": list(conditions), **definition})
    emails = query.members(workspace, checked, now=now).values_list("email", flat=True)
    return sorted(email.split("@")[0] for email in emails)
