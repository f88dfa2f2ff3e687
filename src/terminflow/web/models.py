"""Rows the pages keep for themselves: CSV imports that advance chunk by chunk."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from terminflow.workspaces.models import Workspace


class ImportStatus(models.TextChoices):
    MAPPING = "mapping"  # uploaded; waiting for the user to map columns to fields
    RUNNING = "running"
    DONE = "done"


class ContactImport(models.Model):
    """A CSV upload; ``position`` is the next data row to import, so a chunk runs at most once.

    The import advances one chunk per request of the progress page (each chunk one
    transaction), so nothing waits in a job and a closed browser only pauses it.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True, default="")
    content = models.TextField()
    delimiter = models.CharField(max_length=1, default=",")
    header = models.JSONField(default=list)
    # {column index as str: target}, target "email", "first_name", ..., "field:<key>", "tags"
    mapping = models.JSONField(default=dict, blank=True)
    email_status = models.CharField(max_length=24, default="unknown")
    add_tags = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.MAPPING
    )
    total_rows = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)
    # Character offset of the next unread line in ``content``, so a chunk parses only its rows.
    offset = models.PositiveBigIntegerField(default=0)
    line = models.PositiveIntegerField(default=1)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # [{"line": n, "email": "...", "reason": "..."}], the first REJECTED_KEPT of them
    rejected = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class WorkerHeartbeat(models.Model):
    """One row per running worker process, refreshed every few seconds while its sweeps turn.

    ``/readyz`` and ``/metrics`` read it: a deployment whose workers all stopped still answers
    web pushes, and only this row says that nothing processes them.
    """

    name = models.CharField(max_length=200, unique=True)  # host:pid
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    # The least recent of the process's sweeps finishing a turn: a sweep thread stuck in one
    # call holds this back while the others keep beating.
    swept_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["swept_at"], name="heartbeat_swept_at")]
