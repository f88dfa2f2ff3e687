"""eTermin accounts, the web push inbox and the appointment registry."""

from __future__ import annotations

from django.db import models

from terminflow.kit import crypto
from terminflow.workspaces.models import Workspace


class EterminAccount(models.Model):
    """A connected eTermin account.

    The private key and the web push token are stored encrypted; the token is looked up by its
    SHA-256 (``web_push_token_hash``) so the clear token never sits in a column.
    """

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="etermin_accounts"
    )
    name = models.CharField(max_length=200)
    public_key = models.CharField(max_length=200)
    private_key_encrypted = models.TextField()
    web_push_token_encrypted = models.TextField()
    web_push_token_hash = models.CharField(max_length=64, unique=True)
    # eTermin sends local times in the account's zone; used when a push lacks the UTC fields.
    timezone = models.CharField(max_length=64, default="Europe/Zurich")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Reconciliation with eTermin's API (etermin/sync.py). ``sync_lease_until`` is the lock: a
    # worker owns the account's sync until then, so two workers never sync it at once.
    sync_next_at = models.DateTimeField(null=True, blank=True)
    sync_lease_until = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    sync_attempted_at = models.DateTimeField(null=True, blank=True)
    sync_result = models.JSONField(default=dict, blank=True)
    # A stable code (``SyncError``) the page translates, and eTermin's detail in English.
    sync_error_code = models.CharField(max_length=32, blank=True, default="")
    sync_error = models.TextField(blank=True, default="")
    sync_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sync_next_at"], name="etermin_account_sync_next")]

    def __str__(self) -> str:
        return self.name

    @property
    def private_key(self) -> crypto.Secret:
        return crypto.Secret(crypto.decrypt(self.private_key_encrypted))

    @property
    def web_push_token(self) -> str:
        return crypto.decrypt(self.web_push_token_encrypted)


class SyncError(models.TextChoices):
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    ERROR = "error"


class WebPushSource(models.TextChoices):
    PUSH = "push"  # eTermin sent it to the Web Push URL
    SYNC = "sync"  # reconciliation found a change no push told us about


class WebPushStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class WebPush(models.Model):
    """One HTTP request eTermin sent us, stored raw before anything else (the inbox)."""

    # No index of their own: the (account, appointment_uid, id) and (workspace, id) indexes
    # below serve every lookup by either, and each index is written on every push.
    account = models.ForeignKey(
        EterminAccount, on_delete=models.CASCADE, related_name="pushes", db_index=False
    )
    workspace_id: int
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    received_at = models.DateTimeField()
    content_type = models.CharField(max_length=200, blank=True, default="")
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64)
    # Read at ingest so the inbox can be listed and filtered; null when the body is unreadable.
    command = models.CharField(max_length=16, null=True, blank=True)
    appointment_uid = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=WebPushStatus.choices, default=WebPushStatus.PENDING
    )
    reason = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Unique per account, so a repeated push is stored once even when copies reach two web
    # processes at the same moment: 64 bits of a hash of (appointment, body, the appointment's
    # newest inbox row when this one was stored). Chaining to the newest row keeps A → B → A
    # (rescheduled there and back) three rows, as the ingest writer's dedupe wants. An integer,
    # because this index is written on every push. Null when the body has no appointment, on
    # rows stored before the key existed, and on SQLite, where the writers' BEGIN IMMEDIATE
    # already lets only one decide at a time (and a random key would cost a page write each).
    dedupe_key = models.BigIntegerField(null=True, blank=True)
    # The request id of the web push request that stored the row; logs of its processing
    # carry it, so one push can be followed from the hook to its enrollment.
    request_id = models.CharField(max_length=64, blank=True, default="")
    # A worker that claimed the row owns it until then; a crashed worker's claim lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=8, choices=WebPushSource.choices, default=WebPushSource.PUSH
    )
    # When the retention sweep emptied ``body``; the parsed columns above stay.
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "etermin_inbox"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedupe_key"],
                name="inbox_dedupe_key",
                condition=models.Q(dedupe_key__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="inbox_status_id"),
            models.Index(fields=["account", "appointment_uid", "id"], name="inbox_account_uid"),
            models.Index(fields=["workspace", "id"], name="inbox_workspace_id"),
            # The retention sweep reads only bodies not yet pruned, oldest first.
            models.Index(
                fields=["received_at"],
                name="inbox_unpruned_received",
                condition=models.Q(pruned_at__isnull=True),
            ),
        ]


class AppointmentStatus(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class Appointment(models.Model):
    """Our record of an eTermin appointment: the registry behind the deleted rule and reminders.

    ``taken_in`` is set once a created or modified element of any campaign in the workspace
    took the appointment in; only then can a DELETED push trigger anything.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        EterminAccount, on_delete=models.CASCADE, related_name="appointments"
    )
    uid = models.CharField(max_length=200)
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
    )
    calendar_id = models.CharField(max_length=64, blank=True, default="")
    calendar_name = models.CharField(max_length=200, blank=True, default="")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    services = models.TextField(blank=True, default="")
    notes = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.ACTIVE
    )
    taken_in = models.BooleanField(default=False)
    # The newest push applied: eTermin sends no sequence number, so the order is the command's
    # rank (CREATED < MODIFIED < DELETED) and then arrival (inbox id); a push that is older by
    # that order does not overwrite the appointment's data.
    last_push_id = models.BigIntegerField(default=0)
    last_command = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "uid"], name="appointment_account_uid")
        ]
