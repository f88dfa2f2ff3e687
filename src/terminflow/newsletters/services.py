"""Newsletter services: create, send or schedule, cancel, statistics and test emails."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform
from django.utils.translation import gettext_lazy, pgettext_lazy

from terminflow.contacts.cleaning import workspace_zone
from terminflow.contacts.models import ConsentEvent, ConsentKind, Contact
from terminflow.kit import clock, reasons
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.mail import rendering, transports
from terminflow.mail import services as mail
from terminflow.mail.models import (
    EmailKind,
    EmailTemplate,
    Engagement,
    EngagementKind,
    Outbox,
    OutboxStatus,
)
from terminflow.segments import services as segments
from terminflow.segments.models import Segment
from terminflow.workspaces.models import Workspace

from . import sending
from .models import Newsletter, NewsletterState, Recipient, RecipientStatus

NAME_MAX_LENGTH = 200


def _email(workspace: Workspace, email_id: Any) -> EmailTemplate:
    template = EmailTemplate.objects.filter(workspace=workspace, pk=email_id).first()
    if template is None:
        raise Unprocessable(
            gettext_lazy("email_id: email %(id)s does not exist."),
            code="invalid_newsletter",
            id=email_id,
        )
    if template.kind != EmailKind.MARKETING:
        raise Unprocessable(
            gettext_lazy(
                "email_id: email %(id)s is a double opt-in request; a newsletter sends a "
                "marketing email."
            ),
            code="invalid_newsletter",
            id=email_id,
        )
    return template


def _segment(workspace: Workspace, segment_id: Any) -> Segment:
    segment = Segment.objects.filter(workspace=workspace, pk=segment_id).first()
    if segment is None:
        raise Unprocessable(
            gettext_lazy("segment_id: segment %(id)s does not exist."),
            code="invalid_newsletter",
            id=segment_id,
        )
    return segment


def clean_send_at(workspace: Workspace, value: datetime | None) -> datetime | None:
    """``send_at`` in UTC; a time without an offset is read in the workspace's zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=workspace_zone(workspace))
    return value.astimezone(UTC)


def create_newsletter(
    workspace: Workspace,
    *,
    name: str,
    email_id: int,
    segment_id: int,
    send_at: datetime | None = None,
) -> Newsletter:
    """A draft; 422 ``invalid_newsletter`` for another workspace's or a missing email/segment."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise Unprocessable(
            gettext_lazy("name: 1 to %(max)s characters."),
            code="invalid_newsletter",
            max=NAME_MAX_LENGTH,
        )
    return Newsletter.objects.create(
        workspace=workspace,
        name=name,
        email=_email(workspace, email_id),
        segment=_segment(workspace, segment_id),
        send_at=clean_send_at(workspace, send_at),
    )


def list_newsletters(workspace: Workspace) -> list[Newsletter]:
    return list(
        Newsletter.objects.filter(workspace=workspace)
        .select_related("email", "segment")
        .order_by("-id")[:500]
    )


def get_newsletter(workspace: Workspace, newsletter_id: int) -> Newsletter:
    newsletter = (
        Newsletter.objects.select_related("email", "segment", "workspace")
        .filter(workspace=workspace, pk=newsletter_id)
        .first()
    )
    if newsletter is None:
        raise NotFound(gettext_lazy("Newsletter %(id)s does not exist."), id=newsletter_id)
    return newsletter


# How an error message names a newsletter's state ("The newsletter is being sent; …"); the API
# gives the state itself as ``state``.
STATE_WORDS = {
    NewsletterState.DRAFT: pgettext_lazy("newsletter state", "a draft"),
    NewsletterState.SCHEDULED: pgettext_lazy("newsletter state", "scheduled"),
    NewsletterState.SENDING: pgettext_lazy("newsletter state", "being sent"),
    NewsletterState.SENT: pgettext_lazy("newsletter state", "sent"),
    NewsletterState.CANCELLED: pgettext_lazy("newsletter state", "cancelled"),
}


def send(newsletter: Newsletter, *, now: datetime | None = None) -> Newsletter:
    """Send now, or at ``send_at`` when that is later; only a draft can be sent (409)."""
    now = now or clock.now()
    _email(newsletter.workspace, newsletter.email_id)
    _segment(newsletter.workspace, newsletter.segment_id)
    with transaction.atomic():
        locked = Newsletter.objects.select_for_update().get(pk=newsletter.pk)
        if locked.state != NewsletterState.DRAFT:
            raise Conflict(
                gettext_lazy("The newsletter is %(state)s; only a draft can be sent."),
                code="newsletter_not_draft",
                extra={"state": locked.state},
                state=STATE_WORDS[NewsletterState(locked.state)],
            )
        if locked.send_at is not None and locked.send_at > now:
            locked.state = NewsletterState.SCHEDULED
        else:
            locked.state = NewsletterState.SENDING
            locked.started_at = now
        locked.save(update_fields=["state", "started_at", "updated_at"])
    newsletter.state, newsletter.started_at = locked.state, locked.started_at
    return newsletter


def cancel(newsletter: Newsletter, *, now: datetime | None = None) -> Newsletter:
    """Stop a draft, a scheduled or a sending newsletter (409 once sent or cancelled)."""
    if newsletter.state in (NewsletterState.SENT, NewsletterState.CANCELLED):
        raise Conflict(
            gettext_lazy("The newsletter is already %(state)s."),
            code="newsletter_finished",
            extra={"state": newsletter.state},
            state=STATE_WORDS[NewsletterState(newsletter.state)],
        )
    sending.cancel(newsletter, now=now)
    return newsletter


@dataclass(frozen=True)
class Progress:
    listed: int
    waiting: int
    queued: int
    skipped: int
    cancelled: int
    outbox: dict[str, int]


def progress(newsletter: Newsletter) -> Progress:
    """How far the newsletter has come: recipients by status, its emails by outbox status."""
    by_status = dict(
        Recipient.objects.filter(newsletter=newsletter)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
        .order_by()
    )
    outbox = dict(
        Outbox.objects.filter(recipient__newsletter=newsletter)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
        .order_by()
    )
    return Progress(
        listed=sum(by_status.values()),
        waiting=by_status.get(RecipientStatus.WAITING, 0),
        queued=by_status.get(RecipientStatus.QUEUED, 0),
        skipped=by_status.get(RecipientStatus.SKIPPED, 0),
        cancelled=by_status.get(RecipientStatus.CANCELLED, 0),
        outbox={status: outbox.get(status, 0) for status in OutboxStatus.values},
    )


def _by_message_id(newsletter: Newsletter, kind: str) -> int:
    """Contacts with a ledger entry of ``kind`` that names one of the newsletter's emails."""
    message_ids = Outbox.objects.filter(recipient__newsletter=newsletter).values("message_id")
    return (
        ConsentEvent.objects.filter(workspace_id=newsletter.workspace_id, kind=kind)
        .alias(message_id=KeyTextTransform("message_id", "details"))
        .filter(message_id__in=message_ids)
        .values("contact_id")
        .distinct()
        .count()
    )


def _skipped_status(reason: str) -> str | None:
    """The email status a ``not_confirmed`` skip recorded (the stored row keeps its code)."""
    found = sending.NOT_CONFIRMED.pattern.match(reason)
    return found["status"] if found else None


def stats(newsletter: Newsletter) -> dict[str, Any]:
    """The email statistics (sent, delivered, bounced, opened, clicked, unsubscribed) of this
    newsletter's emails, and the recipients skipped by reason (translated)."""
    rows = Outbox.objects.filter(recipient__newsletter=newsletter)
    sent = rows.filter(status=OutboxStatus.SENT).count()
    bounced = _by_message_id(newsletter, ConsentKind.BOUNCED)
    engaged = Engagement.objects.filter(outbox__recipient__newsletter=newsletter, count__gt=0)
    skipped = (
        Recipient.objects.filter(newsletter=newsletter, status=RecipientStatus.SKIPPED)
        .values("reason")
        .annotate(count=Count("id"))
        .order_by("-count", "reason")
    )
    return {
        "sent": sent,
        "delivered": max(0, sent - bounced),
        "bounced": bounced,
        "opened": engaged.filter(kind=EngagementKind.OPEN).count(),
        "clicked": engaged.filter(kind=EngagementKind.CLICK).count(),
        "unsubscribed": _by_message_id(newsletter, ConsentKind.UNSUBSCRIBED),
        "skipped": [
            {
                "reason": reasons.translate(row["reason"]),
                "reason_code": reasons.describe(row["reason"])[0],
                "email_status": _skipped_status(row["reason"]),
                "count": row["count"],
            }
            for row in skipped
        ],
    }


def sample_contact(workspace: Workspace, segment: Segment | None) -> Contact:
    """The contact whose data fills a test email: the newest in the segment, else any."""
    found = segments.page(segment, limit=1).items if segment is not None else []
    contact = (
        found[0] if found else Contact.objects.filter(workspace=workspace).order_by("-pk").first()
    )
    if contact is None:
        raise Unprocessable(
            gettext_lazy("A test email needs a contact for its data; add a contact first."),
            code="no_contact",
        )
    return contact


@dataclass(frozen=True)
class TestResult:
    sent: bool
    to: str
    contact: str
    problem: str = ""


def send_test(
    workspace: Workspace, *, email_id: int, segment_id: int | None, to: str
) -> TestResult:
    """Send the email once to ``to`` (the user's own address), filled in with a member's data.

    Nothing is stored: no outbox row, no ledger entry; its links lead to pages that change
    nothing. Sent at once over SMTP, outside any transaction.
    """
    template = _email(workspace, email_id)
    segment = _segment(workspace, segment_id) if segment_id is not None else None
    contact = sample_contact(workspace, segment)
    try:
        rendered = mail.render_email(template, contact, public_id=None, extra={}, now=clock.now())
    except rendering.RenderError as exc:
        raise Unprocessable(str(exc), extra={"errors": [exc.as_problem()]}) from None
    try:
        config = transports.current_config()
    except transports.SmtpConfigError as exc:
        return TestResult(False, to, contact.email, str(exc))
    if config is None:
        return TestResult(False, to, contact.email, mail.NO_SMTP_REASON)
    message = transports.build_message(
        from_email=settings.DEFAULT_FROM_EMAIL,
        to_email=to,
        subject=f"[Test] {rendered.subject}",
        body_text=rendered.body_text,
        body_html=rendered.body_html,
        message_id=f"<test.{uuid.uuid4().hex}@{transports.message_id_domain()}>",
        date=clock.now(),
    )
    dkim = transports.current_dkim()
    if dkim is not None:
        message = transports.dkim_sign(message, dkim)
    connection = transports.SmtpConnection(config)
    try:
        delivery = connection.send(transports.Envelope(transports.envelope_sender(), to, message))
    except transports.ServerTrouble as exc:
        return TestResult(False, to, contact.email, str(exc))
    finally:
        connection.close()
    if delivery.outcome != "sent":
        return TestResult(False, to, contact.email, delivery.reply or delivery.outcome)
    return TestResult(True, to, contact.email)
