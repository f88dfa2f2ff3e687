"""Newsletters: one marketing email sent once to a segment, and its fixed list of recipients."""

from __future__ import annotations

from django.db import models

from terminflow.contacts.models import Contact
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.segments.models import Segment
from terminflow.workspaces.models import Workspace


class NewsletterState(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # waits for send_at
    SENDING = "sending"  # recipients being listed and handed to the outbox
    SENT = "sent"  # every recipient's email has left the outbox (sent, failed or cancelled)
    CANCELLED = "cancelled"


class Newsletter(models.Model):
    """A marketing email for the members of a segment, sent now or at ``send_at`` (UTC).

    While ``sending``, ``listed_through`` is the highest contact id already written to the
    recipient list (the list is written in batches by contact id) and ``listed`` says the list
    is complete; the segment is evaluated as of ``started_at`` throughout.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    email = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    segment = models.ForeignKey(
        Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(
        max_length=16, choices=NewsletterState.choices, default=NewsletterState.DRAFT
    )
    send_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    listed_through = models.BigIntegerField(default=0)
    listed = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="newsletter_ws"),
            models.Index(fields=["state", "send_at"], name="newsletter_state_due"),
        ]

    def __str__(self) -> str:
        return self.name


class RecipientStatus(models.TextChoices):
    WAITING = "waiting"  # on the list, its email not yet in the outbox
    QUEUED = "queued"  # its email is in the outbox (``outbox``)
    SKIPPED = "skipped"  # not sent: ``reason`` says why (not confirmed by double opt-in)
    CANCELLED = "cancelled"  # the newsletter was cancelled before its email was queued


class Recipient(models.Model):
    """One contact on a newsletter's list: at most one per newsletter, one email at most."""

    newsletter = models.ForeignKey(Newsletter, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=RecipientStatus.choices)
    reason = models.TextField(blank=True, default="")
    # Unique: the guard that lets one recipient queue one email, however often the job runs.
    outbox = models.OneToOneField(
        Outbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="recipient"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["newsletter", "contact"], name="recipient_unique")
        ]
        indexes = [
            models.Index(fields=["newsletter", "status", "id"], name="recipient_status"),
        ]
