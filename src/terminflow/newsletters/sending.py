"""The newsletter job: a worker sweep that moves newsletters from scheduled to sent.

Each turn, in short transactions:

1. **Start** scheduled newsletters whose ``send_at`` has come (state ``sending``).
2. **List** recipients: the segment's members as of ``started_at``, in batches by contact id,
   one row each (unique per newsletter and contact). ``confirmed_doi`` contacts are
   ``waiting``; the others are ``skipped`` with the reason. The list is written once: a contact
   that joins the segment later is not added, one that leaves stays, and nobody is listed twice.
3. **Queue**: render the emails of a batch of waiting recipients outside any transaction, then
   write each one's outbox row and link it to the recipient in one transaction, after checking
   under the row locks that the newsletter is still sending and the recipient still has no
   email. A worker killed at any point leaves either both or neither, so the next turn goes on
   where it stopped and nobody gets a second copy. The outbox sends at the configured rate; so
   that appointment emails never wait behind a whole newsletter, a newsletter only keeps
   ``OUTBOX_WINDOW`` emails queued in the outbox at a time.
4. **Finish**: a newsletter whose list is complete, with nobody waiting and no email of it
   still queued in the outbox, is ``sent``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from terminflow.contacts.models import Contact, EmailStatus
from terminflow.kit import clock
from terminflow.kit.errors import TerminflowError
from terminflow.kit.reasons import Reason
from terminflow.mail import services as mail
from terminflow.mail.models import EmailKind, EmailTemplate, Outbox, OutboxStatus
from terminflow.segments import query
from terminflow.segments.definition import parse

from .models import Newsletter, NewsletterState, Recipient, RecipientStatus

log = logging.getLogger("terminflow.newsletters")

# Contacts listed per transaction.
LIST_BATCH = 1000
# Emails rendered, then queued in one transaction.
QUEUE_BATCH = 100
# A newsletter's emails queued in the outbox at a time (see the module).
OUTBOX_WINDOW = 500

# Each email status as the skipped reason names it ("not confirmed by double opt-in
# (unsubscribed)"): the row stores the status code, which no reader should have to decode.
STATUS_WORDS = {
    EmailStatus.UNKNOWN: pgettext_lazy("skipped because", "status unknown"),
    EmailStatus.CONFIRMED_DOI: pgettext_lazy("skipped because", "confirmed by double opt-in"),
    EmailStatus.CONFIRMED_SOI: pgettext_lazy("skipped because", "single opt-in only"),
    EmailStatus.CONFIRMED_MANUAL: pgettext_lazy("skipped because", "confirmed by hand"),
    EmailStatus.CONFIRMED_IMPORT: pgettext_lazy("skipped because", "confirmed by an import"),
    EmailStatus.UNSUBSCRIBED: pgettext_lazy("skipped because", "unsubscribed"),
    EmailStatus.SPAM: pgettext_lazy("skipped because", "reported an email as spam"),
    EmailStatus.BLOCKED: pgettext_lazy("skipped because", "blocked"),
    EmailStatus.BLOCKED_TEMPORARILY: pgettext_lazy("skipped because", "blocked temporarily"),
}
assert set(STATUS_WORDS) == set(EmailStatus.values)

# The reasons stored on recipients (English; shown translated through kit.reasons).
NOT_CONFIRMED = Reason(
    "not_confirmed",
    "not confirmed by double opt-in (%(status)s)",
    words={"status": {str(code): words for code, words in STATUS_WORDS.items()}},
)
NEWSLETTER_CANCELLED = Reason("newsletter_cancelled", "the newsletter was cancelled")
EMAIL_MISSING = Reason("email_missing", "the newsletter's email no longer exists")
SEGMENT_MISSING = Reason("segment_missing", "the newsletter's segment no longer exists")


def sweep(*, now: datetime | None = None) -> int:
    """One turn over every newsletter that has work; returns rows moved (0 = idle)."""
    now = now or clock.now()
    moved = start_due(now)
    for newsletter_id in Newsletter.objects.filter(state=NewsletterState.SENDING).values_list(
        "pk", flat=True
    ):
        newsletter = Newsletter.objects.select_related("workspace", "segment", "email").get(
            pk=newsletter_id
        )
        try:
            if not newsletter.listed:
                moved += list_batch(newsletter)
            moved += queue_batch(newsletter, now=now)
            moved += finish_if_done(newsletter, now=now)
        except TerminflowError as exc:
            log.warning("newsletter %s: %s", newsletter.pk, exc.english)
    return moved


def start_due(now: datetime) -> int:
    return Newsletter.objects.filter(state=NewsletterState.SCHEDULED, send_at__lte=now).update(
        state=NewsletterState.SENDING, started_at=now
    )


def list_batch(newsletter: Newsletter, *, batch: int = LIST_BATCH) -> int:
    """Write the next batch of the recipient list; marks the list complete after the last."""
    if newsletter.segment is None:
        _cancel_for(newsletter, SEGMENT_MISSING())
        return 1
    assert newsletter.started_at is not None
    condition = query.condition(
        newsletter.workspace, parse(newsletter.segment.definition), now=newsletter.started_at
    )
    members = list(
        Contact.objects.filter(
            workspace_id=newsletter.workspace_id, pk__gt=newsletter.listed_through
        )
        .filter(condition)
        .order_by("pk")
        .values_list("pk", "email_status")[:batch]
    )
    with transaction.atomic():
        # Another worker may have listed this batch meanwhile: go on from where the row says.
        locked = Newsletter.objects.select_for_update().get(pk=newsletter.pk)
        if locked.state != NewsletterState.SENDING or locked.listed:
            return 0
        members = [(pk, status) for pk, status in members if pk > locked.listed_through]
        Recipient.objects.bulk_create(
            [
                Recipient(
                    newsletter_id=newsletter.pk,
                    contact_id=pk,
                    status=RecipientStatus.WAITING
                    if status == EmailStatus.CONFIRMED_DOI
                    else RecipientStatus.SKIPPED,
                    reason=""
                    if status == EmailStatus.CONFIRMED_DOI
                    else NOT_CONFIRMED(status=status),
                )
                for pk, status in members
            ],
            ignore_conflicts=True,
        )
        locked.listed_through = members[-1][0] if members else locked.listed_through
        locked.listed = len(members) < batch
        locked.save(update_fields=["listed_through", "listed", "updated_at"])
    newsletter.listed_through, newsletter.listed = locked.listed_through, locked.listed
    return len(members) + (1 if locked.listed else 0)


def _template(newsletter: Newsletter) -> EmailTemplate | None:
    template = newsletter.email
    if template is None or template.kind != EmailKind.MARKETING:
        return None
    template.workspace = newsletter.workspace
    return template


def queue_batch(newsletter: Newsletter, *, now: datetime, batch: int = QUEUE_BATCH) -> int:
    """Render and queue the emails of the next waiting recipients (see the module)."""
    in_outbox = Outbox.objects.filter(
        recipient__newsletter=newsletter, status=OutboxStatus.QUEUED
    ).count()
    room = min(batch, OUTBOX_WINDOW - in_outbox)
    if room <= 0:
        return 0
    waiting = list(
        Recipient.objects.filter(newsletter=newsletter, status=RecipientStatus.WAITING)
        .select_related("contact")
        .order_by("pk")[:room]
    )
    if not waiting:
        return 0
    template = _template(newsletter)
    if template is None:
        _cancel_for(newsletter, EMAIL_MISSING())
        return 1
    # Slow work first, with no transaction open: rendering has a budget of seconds per email.
    rendered = {r.pk: mail.render_for_queue(template, r.contact, now=now) for r in waiting}
    queued = 0
    with transaction.atomic():
        state = (
            Newsletter.objects.select_for_update()
            .filter(pk=newsletter.pk)
            .values_list("state", flat=True)
        ).get()
        if state != NewsletterState.SENDING:
            return 0
        still = {
            r.pk: r
            for r in Recipient.objects.select_for_update()
            .filter(pk__in=rendered, status=RecipientStatus.WAITING, outbox__isnull=True)
            .select_related("contact")
        }
        for pk, rendering in rendered.items():
            recipient = still.get(pk)
            if recipient is None:
                continue  # another worker queued it a moment ago
            row = mail.queue_email(
                template,
                recipient.contact,
                source=f"newsletter {newsletter.name!r}",
                now=now,
                rendered=rendering,
            )
            recipient.outbox = row
            recipient.status = RecipientStatus.QUEUED
            recipient.save(update_fields=["outbox", "status"])
            queued += 1
    return queued


def finish_if_done(newsletter: Newsletter, *, now: datetime) -> int:
    """``sent`` once listed, nobody waits and none of its emails is still queued."""
    if not newsletter.listed:
        return 0
    if Recipient.objects.filter(newsletter=newsletter, status=RecipientStatus.WAITING).exists():
        return 0
    if Outbox.objects.filter(recipient__newsletter=newsletter, status=OutboxStatus.QUEUED).exists():
        return 0
    return Newsletter.objects.filter(pk=newsletter.pk, state=NewsletterState.SENDING).update(
        state=NewsletterState.SENT, finished_at=now
    )


def _cancel_for(newsletter: Newsletter, reason: str) -> None:
    log.warning("newsletter %s stopped: %s", newsletter.pk, reason)
    cancel(newsletter, reason=reason)


def cancel(newsletter: Newsletter, *, reason: str = "", now: datetime | None = None) -> int:
    """Stop the newsletter: nobody else is queued, its queued emails are not sent.

    Emails already sent (or being handed to the SMTP server right now) stay sent. Returns how
    many recipients and emails were stopped.
    """
    now = now or clock.now()
    reason = reason or NEWSLETTER_CANCELLED()
    with transaction.atomic():
        Newsletter.objects.select_for_update().filter(pk=newsletter.pk).update(
            state=NewsletterState.CANCELLED, cancelled_at=now
        )
        stopped = Recipient.objects.filter(
            newsletter=newsletter, status=RecipientStatus.WAITING
        ).update(status=RecipientStatus.CANCELLED, reason=reason)
        stopped += Outbox.objects.filter(
            Q(recipient__newsletter=newsletter), status=OutboxStatus.QUEUED
        ).update(status=OutboxStatus.CANCELLED, reason=reason, next_attempt_at=None)
    newsletter.state = NewsletterState.CANCELLED
    newsletter.cancelled_at = now
    return stopped
