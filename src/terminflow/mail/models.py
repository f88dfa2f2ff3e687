"""Email templates and the outbox: one row per email to send, rendered when it was queued."""

from __future__ import annotations

import uuid

from django.db import models

from terminflow.campaigns.models import Run
from terminflow.contacts.models import Contact
from terminflow.workspaces.models import Workspace


class EmailKind(models.TextChoices):
    MARKETING = "marketing", "Marketing email"
    DOI = "doi", "Double opt-in request"


class EmailTemplate(models.Model):
    """An email a campaign can send; subject and bodies are Jinja2 templates (sandboxed).

    ``body_text`` left empty means "generate the text part from the rendered HTML".
    ``version`` grows with every save, so the consent ledger can name the exact text a contact
    was asked to confirm.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="emails")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=EmailKind.choices, default=EmailKind.MARKETING)
    subject = models.CharField(max_length=500)
    body_html = models.TextField()
    body_text = models.TextField(blank=True, default="")
    # The visual editor's block document (mail/design.py); ``body_html`` is rendered from it on
    # save. None: the email is written as HTML by hand.
    design = models.JSONField(null=True, blank=True)
    # Attach the appointment as an .ics file (confirmations, reschedules, cancellations).
    attach_ics = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    # Archived emails leave the lists and the builder's choices; emails sent keep pointing here.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["workspace", "id"], name="email_template_ws")]

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    """An image uploaded for emails, re-encoded without metadata and served at ``/media/``.

    ``path`` is ``<workspace id>/<random name>.<ext>`` under ``<data>/media``; the random name
    makes the public URL unguessable. ``name`` is the uploaded file's name, for people.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=200, unique=True)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="image_workspace")]

    def __str__(self) -> str:
        return self.name


class TrialEmail(models.Model):
    """A test email sent from the editor: who sent it when, for the per-person rate limit.

    Not an outbox row: a test goes to the sender, not to a contact, so it is in no contact's
    history and no statistics.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # "user:<id>" or "token:<id>": whoever asked, for the rate limit.
    sender = models.CharField(max_length=64)
    to_email = models.CharField(max_length=254)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["sender", "created_at"], name="trial_email_sender")]


class OutboxStatus(models.TextChoices):
    # Waiting for ``next_attempt_at``; a sender that claims the row moves that time forward by
    # its lease, so a sender that dies leaves the row due again without any cleanup.
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    # Not sent on purpose: the contact unsubscribed or was blocked after the email was queued.
    CANCELLED = "cancelled"


class Outbox(models.Model):
    """One email to one contact, rendered when queued and sent at most once per run.

    ``public_id`` names the row in links and in the Message-ID, so a resent copy carries the
    same Message-ID as the first one and duplicates stay detectable.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="outbox")
    # Unique: the guard that lets one run queue one email, however often its handler runs.
    run = models.OneToOneField(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox"
    )
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox"
    )
    template_version = models.PositiveIntegerField(default=0)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message_id = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=16, choices=EmailKind.choices)
    to_email = models.CharField(max_length=254)
    from_email = models.CharField(max_length=320)
    subject = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    body_text = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    ics = models.TextField(blank=True, default="")
    # The link targets of a tracked email, in order: a click token names an index here, so a
    # tracking URL can only ever redirect to an address that was in the email. Kept when the
    # bodies are pruned.
    links = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED
    )
    reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a sender last took the row; the rate limit counts these over the last minute.
    claimed_at = models.DateTimeField(null=True, blank=True)
    smtp_reply = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the retention sweep emptied the rendered bodies; subject, status and times stay.
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The sender reads only queued rows in due order, so its cost does not grow with
            # the number of sent emails.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_queued_due",
                condition=models.Q(status="queued"),
            ),
            models.Index(fields=["contact", "-id"], name="outbox_contact"),
            models.Index(fields=["workspace", "-id"], name="outbox_workspace"),
            # The overview's emails sent per day read one range of this, not every email.
            models.Index(fields=["workspace", "sent_at"], name="outbox_workspace_sent"),
            models.Index(fields=["claimed_at"], name="outbox_claimed_at"),
            models.Index(
                fields=["created_at"],
                name="outbox_unpruned_created",
                condition=models.Q(pruned_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to_email}: {self.subject}"


class EngagementKind(models.TextChoices):
    OPEN = "open"
    CLICK = "click"


class Engagement(models.Model):
    """Opens or clicks of one sent email (one outbox row) by its contact: one row per kind.

    ``first_at`` and ``count`` hold what a person did; hits from mail scanners and link
    prefetchers are counted in ``bot_count`` only, so a row can exist with ``count`` 0.
    ``template`` and ``contact`` repeat the outbox row's so statistics need no join.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    outbox = models.ForeignKey(Outbox, on_delete=models.CASCADE, related_name="engagements")
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="engagements")
    kind = models.CharField(max_length=8, choices=EngagementKind.choices)
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    bot_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["outbox", "kind"], name="engagement_once_per_kind")
        ]
        indexes = [
            models.Index(fields=["template", "kind"], name="engagement_template"),
            models.Index(fields=["contact", "kind"], name="engagement_contact"),
            models.Index(fields=["workspace", "first_at"], name="engagement_workspace_first"),
        ]


class BounceKind(models.TextChoices):
    HARD = "hard"  # the address does not exist (DSN status 5.x.x): blocked for good
    SOFT = "soft"  # a temporary failure (4.x.x) that gave up: blocked for a while
    DELAYED = "delayed"  # still trying: nothing to do
    DELIVERED = "delivered"  # a positive notification: nothing to do
    COMPLAINT = "complaint"  # a feedback-loop report (ARF): the contact marked it as spam
    UNKNOWN = "unknown"  # not a report we can read


class BounceStatus(models.TextChoices):
    APPLIED = "applied"  # matched to one of our emails and acted on
    IGNORED = "ignored"  # matched, but nothing to do (delayed, delivered)
    REVIEW = "review"  # unreadable or unmatched: kept with its raw message for a person


class BounceMessage(models.Model):
    """One message taken from the bounce mailbox, read and acted on once.

    ``sha256`` of the raw message makes a message fetched twice (two workers, a crash before
    it was removed from the mailbox) count once. The raw message is kept only when it needs a
    person (status ``review``); for the others the parsed facts are enough.
    """

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Goes with its email: erasing a contact deletes its outbox rows and so these.
    outbox = models.ForeignKey(
        Outbox, on_delete=models.CASCADE, null=True, blank=True, related_name="bounces"
    )
    sha256 = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=BounceKind.choices)
    status = models.CharField(max_length=16, choices=BounceStatus.choices)
    dsn_status = models.CharField(max_length=16, blank=True, default="")
    diagnostic = models.TextField(blank=True, default="")
    reason = models.TextField(blank=True, default="")
    raw = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="bounce_status")]
