"""Rows the pages keep for themselves: CSV imports that advance chunk by chunk."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from terminflow.workspaces.models import Workspace


class ImportStatus(models.TextChoices):
    UPLOADING = "uploading"  # its rows are being stored
    MAPPING = "mapping"  # uploaded; waiting for the user to map columns to fields
    RUNNING = "running"
    DONE = "done"


class ContactImport(models.Model):
    """A CSV upload; ``position`` is the number of the last row imported, so a row runs once.

    The file is parsed once, at upload, into ``ContactImportRow``s. The import advances one
    chunk per request of the progress page, each chunk in a few short transactions that read
    only their rows and write only their contacts, so nothing waits in a job, a closed browser
    only pauses it, and the database's write lock is never held for long.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True, default="")
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
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # [{"line": n, "email": "...", "reason": "..."}], the first REJECTED_KEPT of them
    rejected = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class ContactImportRow(models.Model):
    """One data row of an upload, parsed once; deleted when it has been imported.

    ``number`` counts the non-empty data rows from 1; ``line`` is where the row starts in the
    file, for the report of rejected rows.
    """

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    line = models.PositiveIntegerField()
    cells = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact_import", "number"], name="contact_import_row_number"
            )
        ]


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
