"""Small builders for newsletter tests: a segment of contacts in mixed statuses, a newsletter."""

from __future__ import annotations

from typing import Any

from terminflow.contacts.models import EmailStatus, Tag
from terminflow.newsletters import services
from terminflow.newsletters.models import Newsletter
from terminflow.segments.models import Segment
from terminflow.workspaces.models import Workspace
from tests.mail.conftest import make_email
from tests.segments.factories import make_contact, make_segment

# Every fourth contact of the list is not confirmed by double opt-in, in turn these statuses.
OTHER_STATUSES = ("unknown", "confirmed_soi", "unsubscribed", "blocked")


def make_readers(workspace: Workspace, count: int, *, tag: str = "Newsletter") -> Segment:
    """``count`` contacts with the tag (3 of 4 confirmed_doi), and the segment of the tag."""
    for n in range(count):
        status = OTHER_STATUSES[(n // 4) % 4] if n % 4 == 3 else "confirmed_doi"
        make_contact(workspace, f"reader{n:04d}@example.ch", email_status=status, tags=[tag])
    Tag.objects.get_or_create(workspace=workspace, name=tag)
    return make_segment(workspace, {"type": "tags", "match": "any", "tags": [tag]}, name=tag)


def make_one_of_each_status(workspace: Workspace, *, tag: str = "Alle") -> Segment:
    """One tagged contact per email status (``status@example.ch``), and the segment of the tag."""
    for status in EmailStatus.values:
        make_contact(workspace, f"{status}@example.ch", email_status=status, tags=[tag])
    Tag.objects.get_or_create(workspace=workspace, name=tag)
    return make_segment(workspace, {"type": "tags", "match": "any", "tags": [tag]}, name=tag)


def make_newsletter(workspace: Workspace, segment: Segment, **kwargs: Any) -> Newsletter:
    email = kwargs.pop("email", None) or make_email(workspace, "marketing", name="Frühling")
    return services.create_newsletter(
        workspace,
        name=kwargs.pop("name", "Frühlingsnews"),
        email_id=email.pk,
        segment_id=segment.pk,
        **kwargs,
    )
