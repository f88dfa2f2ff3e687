"""What became of sent emails: per email template and per campaign email element; and the
emails of a workspace per day, for the overview.

Every figure counts **unique contacts**, so a contact who got the same email twice (two
rotations of a campaign, two campaigns) counts once:

- ``sent``: contacts with at least one outbox row of the email in status ``sent`` (the SMTP
  server accepted it). Queued, failed and cancelled rows do not count.
- ``bounced``: contacts among ``sent`` with a hard or soft bounce (``BounceMessage`` of kind
  ``hard``/``soft``) matched to one of those rows. Delay notices, delivery reports and
  complaints are not bounces: the email arrived.
- ``delivered``: ``sent`` minus ``bounced``: contacts none of whose copies bounced.
- ``opened``: contacts among ``sent`` with a human open of one of those rows, or a human click
  (a click implies the email was opened, also when the open pixel was blocked). An engagement
  row with ``count`` 0 holds only hits of mail scanners and link prefetchers and never counts.
- ``clicked``: contacts among ``sent`` with a human click (``count`` > 0) on one of those rows.
- ``unsubscribed``: contacts among ``sent`` who unsubscribed through the unsubscribe link (or
  the one-click header) of one of those rows: an ``unsubscribed`` event in the consent ledger
  whose ``message_id`` is that row's. Unsubscribing elsewhere (the API, a person in the UI, a
  link in another email) counts for no email, and a contact who was already unsubscribed
  writes no new event, so it counts for the email that did it first.

Each figure is one aggregate query over the table that holds it (outbox, bounces, engagements),
found through an index (``template``, ``(template, kind)``, the run's campaign), so the database
can join sets rather than look each email up; an ``unsubscribed`` event is looked up per sent
email through the ledger's ``contact`` index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KT

from terminflow.campaigns.models import Element
from terminflow.contacts.models import ConsentEvent, ConsentKind
from terminflow.kit.days import Days, counts_per_day

from .models import (
    BounceKind,
    BounceMessage,
    EmailKind,
    EmailTemplate,
    Engagement,
    EngagementKind,
    Outbox,
    OutboxStatus,
)

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign
    from terminflow.workspaces.models import Workspace

KEYS = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed")
BOUNCE_KINDS = (BounceKind.HARD, BounceKind.SOFT)
# The element types whose runs queue an email (mail/elements.py registers them).
EMAIL_ELEMENT_TYPES = ("email.send", "email.doi")


@dataclass(frozen=True)
class _Scope:
    """Which emails to count: conditions on the outbox and on the tables pointing at it, and
    what to group by (a path from the outbox, e.g. the run's element), if anything."""

    outbox: Q
    bounces: Q
    engagements: Q
    group: str | None = None


def _contacts(rows: QuerySet[Any], contact: str, group: str | None) -> dict[Any, int]:
    counted = Count(contact, distinct=True)
    if group is None:
        return {None: rows.aggregate(n=counted)["n"] or 0}
    return {row[group]: row["n"] for row in rows.values(group).annotate(n=counted).order_by()}


def _collect(scope: _Scope) -> dict[Any, dict[str, int]]:
    """The six figures per group (key None without grouping); groups with no email sent are
    missing."""
    group, linked = scope.group, f"outbox__{scope.group}" if scope.group else None
    sent_rows = Outbox.objects.filter(scope.outbox, status=OutboxStatus.SENT)
    unsubscribed = (
        ConsentEvent.objects.filter(contact=OuterRef("contact_id"), kind=ConsentKind.UNSUBSCRIBED)
        .annotate(message_id=KT("details__message_id"))
        .filter(message_id=OuterRef("message_id"))
    )
    human = Engagement.objects.filter(scope.engagements, count__gt=0)
    counts = {
        "sent": _contacts(sent_rows, "contact_id", group),
        "bounced": _contacts(
            BounceMessage.objects.filter(
                scope.bounces, outbox__status=OutboxStatus.SENT, kind__in=BOUNCE_KINDS
            ),
            "outbox__contact_id",
            linked,
        ),
        "opened": _contacts(human, "contact_id", linked),
        "clicked": _contacts(human.filter(kind=EngagementKind.CLICK), "contact_id", linked),
        "unsubscribed": _contacts(sent_rows.filter(Exists(unsubscribed)), "contact_id", group),
    }
    return {
        key: _figures({name: found.get(key, 0) for name, found in counts.items()})
        for key in counts["sent"]
    }


def _figures(row: dict[str, Any] | None) -> dict[str, int]:
    row = row or {}
    sent = row.get("sent") or 0
    bounced = row.get("bounced") or 0
    return {
        "sent": sent,
        "delivered": sent - bounced,
        "bounced": bounced,
        "opened": row.get("opened") or 0,
        "clicked": row.get("clicked") or 0,
        "unsubscribed": row.get("unsubscribed") or 0,
    }


def email_stats(template: EmailTemplate) -> dict[str, int]:
    """``{sent, delivered, bounced, opened, clicked, unsubscribed}`` of one email template.

    Counts every copy ever sent of the template, from campaigns and single sends alike; the
    module docstring defines each figure.
    """
    # The template is the workspace's (callers look it up by workspace) and so is every email
    # of it: the template alone scopes these queries, and lets SQLite, which keeps no planner
    # statistics, use the template's index rather than scan the workspace's emails.
    scope = _Scope(
        outbox=Q(template=template),
        bounces=Q(outbox__template=template),
        # Engagement rows repeat the outbox row's template: no join needed.
        engagements=Q(template=template),
    )
    return _collect(scope).get(None) or _figures(None)


def element_stats(campaign: Campaign) -> dict[int, dict[str, int]]:
    """The same figures per email element of ``campaign`` (by element id), over the emails its
    runs queued in every rotation; an email element that sent nothing yet gets zeros."""
    keys = Element.objects.filter(campaign=campaign, type__in=EMAIL_ELEMENT_TYPES).values_list(
        "pk", flat=True
    )
    found: dict[int, dict[str, int]] = {pk: _figures(None) for pk in keys}
    if not found:
        return found
    # The campaign is the workspace's, and so is every run of it (see ``email_stats``).
    scope = _Scope(
        outbox=Q(run__campaign=campaign),
        bounces=Q(outbox__run__campaign=campaign),
        engagements=Q(outbox__run__campaign=campaign),
        group="run__element_id",
    )
    found.update(_collect(scope))
    return found


# The overview: emails per day ----------------------------------------------------------------


def emails_per_day(workspace: Workspace, days: Days) -> dict[date, dict[str, int]]:
    """Emails sent, first opened and first clicked per local day of ``days``.

    These count emails (outbox rows), not contacts: ``sent`` by the time the server accepted
    it; ``opened`` by the first human open or click of the email, whichever came first (so an
    email opened on Monday and clicked on Tuesday is opened on Monday and clicked on Tuesday);
    ``clicked`` by its first human click. Days without any are missing from the answer.
    """
    human = Engagement.objects.filter(workspace=workspace, count__gt=0)
    # The other kind's row of the same email, when it came first: a click strictly earlier than
    # the open, or an open no later than the click. One NOT EXISTS (no OR around it), so the
    # database can answer it as an anti-join rather than a lookup per row. No workspace
    # condition inside: SQLite would then look the other row up by workspace, not by email.
    earlier = (
        Engagement.objects.filter(outbox=OuterRef("outbox_id"), count__gt=0)
        .exclude(kind=OuterRef("kind"))
        .filter(
            Q(first_at__lt=OuterRef("first_at"))
            | Q(first_at=OuterRef("first_at"), kind=EngagementKind.OPEN)
        )
    )
    series = {
        "sent": counts_per_day(
            Outbox.objects.filter(workspace=workspace, status=OutboxStatus.SENT), "sent_at", days
        ),
        "opened": counts_per_day(human.filter(~Exists(earlier)), "first_at", days),
        "clicked": counts_per_day(human.filter(kind=EngagementKind.CLICK), "first_at", days),
    }
    found: dict[date, dict[str, int]] = {}
    for name, counted in series.items():
        for (day, _), n in counted.items():
            found.setdefault(day, {})[name] = n
    return found


def doi_confirmation(workspace: Workspace, days: Days) -> dict[str, Any]:
    """Double opt-in requests sent during ``days`` and how many were confirmed, by contact.

    ``requested``: contacts a double opt-in email was sent to in the window; ``confirmed``:
    those of them who confirmed through the link of one of those emails (a ``doi_confirmed``
    event in the consent ledger naming its ``message_id``), at any time up to now; ``rate``:
    confirmed / requested, None when nothing was requested.
    """
    confirmed = (
        ConsentEvent.objects.filter(contact=OuterRef("contact_id"), kind=ConsentKind.DOI_CONFIRMED)
        .annotate(message_id=KT("details__message_id"))
        .filter(message_id=OuterRef("message_id"))
    )
    asked = Outbox.objects.filter(
        workspace=workspace,
        kind=EmailKind.DOI,
        status=OutboxStatus.SENT,
        sent_at__gte=days.start,
        sent_at__lt=days.end,
    )
    requested = _contacts(asked, "contact_id", None)[None]
    done = _contacts(asked.filter(Exists(confirmed)), "contact_id", None)[None]
    return {
        "requested": requested,
        "confirmed": done,
        "rate": done / requested if requested else None,
    }
