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

Each set of figures is one aggregate query over the email's outbox rows (found by the
``template`` or the run's index); bounces, engagements and ledger events are looked up per
row through their indexes (``outbox``, ``(outbox, kind)``, ``(contact, occurred_at)``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from terminflow.campaigns.models import Element
from terminflow.contacts.models import ConsentEvent, ConsentKind

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


def _flagged(rows: QuerySet[Outbox]) -> QuerySet[Outbox]:
    """The sent rows among ``rows``, each with what happened to it as booleans."""
    human = Engagement.objects.filter(outbox=OuterRef("pk"), count__gt=0)
    unsubscribed = (
        ConsentEvent.objects.filter(contact=OuterRef("contact_id"), kind=ConsentKind.UNSUBSCRIBED)
        .annotate(message_id=KT("details__message_id"))
        .filter(message_id=OuterRef("message_id"))
    )
    return rows.filter(status=OutboxStatus.SENT).annotate(
        was_bounced=Exists(
            BounceMessage.objects.filter(outbox=OuterRef("pk"), kind__in=BOUNCE_KINDS)
        ),
        was_opened=Exists(human),
        was_clicked=Exists(human.filter(kind=EngagementKind.CLICK)),
        was_unsubscribed=Exists(unsubscribed),
    )


def _counts() -> dict[str, Any]:
    def contacts(condition: Q | None = None) -> Count:
        return Count("contact_id", distinct=True, filter=condition)

    return {
        "sent": contacts(),
        "bounced": contacts(Q(was_bounced=True)),
        "opened": contacts(Q(was_opened=True)),
        "clicked": contacts(Q(was_clicked=True)),
        "unsubscribed": contacts(Q(was_unsubscribed=True)),
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
    rows = Outbox.objects.filter(workspace_id=template.workspace_id, template=template)
    return _figures(_flagged(rows).aggregate(**_counts()))


def element_stats(campaign: Campaign) -> dict[int, dict[str, int]]:
    """The same figures per email element of ``campaign`` (by element id), over the emails its
    runs queued in every rotation; an email element that sent nothing yet gets zeros."""
    keys = Element.objects.filter(campaign=campaign, type__in=EMAIL_ELEMENT_TYPES).values_list(
        "pk", flat=True
    )
    found: dict[int, dict[str, int]] = {pk: _figures(None) for pk in keys}
    if not found:
        return found
    rows = Outbox.objects.filter(workspace_id=campaign.workspace_id, run__campaign=campaign)
    grouped = _flagged(rows).values("run__element_id").annotate(**_counts()).order_by()
    for row in grouped:
        found[row["run__element_id"]] = _figures(dict(row))
    return found


# The overview: emails per day ----------------------------------------------------------------


def emails_per_day(
    workspace: Workspace, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[date, dict[str, int]]:
    """Emails sent, first opened and first clicked per day of ``zone`` in ``[start, end)``.

    These count emails (outbox rows), not contacts: ``sent`` by the time the server accepted
    it; ``opened`` by the first human open or click of the email, whichever came first (so an
    email opened on Monday and clicked on Tuesday is opened on Monday and clicked on Tuesday);
    ``clicked`` by its first human click. Days without any are missing from the answer.
    """
    found: dict[date, dict[str, int]] = {}

    def add(name: str, rows: QuerySet[Any], field: str) -> None:
        grouped = (
            rows.annotate(day=TruncDate(field, tzinfo=zone))
            .values("day")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in grouped:
            found.setdefault(row["day"], {})[name] = row["n"]

    add(
        "sent",
        Outbox.objects.filter(
            workspace=workspace, status=OutboxStatus.SENT, sent_at__gte=start, sent_at__lt=end
        ),
        "sent_at",
    )
    human = Engagement.objects.filter(
        workspace=workspace, count__gt=0, first_at__gte=start, first_at__lt=end
    )
    # An open row counts unless a click came strictly earlier; a click row only when no open
    # came before it or at the same moment.
    earlier_click = Engagement.objects.filter(
        outbox=OuterRef("outbox_id"),
        kind=EngagementKind.CLICK,
        count__gt=0,
        first_at__lt=OuterRef("first_at"),
    )
    earlier_open = Engagement.objects.filter(
        outbox=OuterRef("outbox_id"),
        kind=EngagementKind.OPEN,
        count__gt=0,
        first_at__lte=OuterRef("first_at"),
    )
    add(
        "opened",
        human.filter(
            Q(~Exists(earlier_click), kind=EngagementKind.OPEN)
            | Q(~Exists(earlier_open), kind=EngagementKind.CLICK)
        ),
        "first_at",
    )
    add("clicked", human.filter(kind=EngagementKind.CLICK), "first_at")
    return found


def doi_confirmation(workspace: Workspace, start: datetime, end: datetime) -> dict[str, Any]:
    """Double opt-in requests sent in ``[start, end)`` and how many were confirmed, by contact.

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
    figures = (
        Outbox.objects.filter(
            workspace=workspace,
            kind=EmailKind.DOI,
            status=OutboxStatus.SENT,
            sent_at__gte=start,
            sent_at__lt=end,
        )
        .annotate(was_confirmed=Exists(confirmed))
        .aggregate(
            requested=Count("contact_id", distinct=True),
            confirmed=Count("contact_id", distinct=True, filter=Q(was_confirmed=True)),
        )
    )
    requested, done = figures["requested"] or 0, figures["confirmed"] or 0
    return {
        "requested": requested,
        "confirmed": done,
        "rate": done / requested if requested else None,
    }
