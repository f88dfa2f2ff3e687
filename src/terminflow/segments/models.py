"""Segments (saved filters over a workspace's contacts) and who was in them at the last sweep."""

from __future__ import annotations

from django.db import models

from terminflow.contacts.models import Contact
from terminflow.workspaces.models import Workspace


class Segment(models.Model):
    """A saved filter; ``definition`` is validated on save (``definition.py``).

    ``tracked_since`` is set by the membership sweep while an active ``segment.entered``
    trigger uses the segment: the first sweep only records who is in it (nobody is let in),
    later sweeps let in the contacts that entered since. Null while no trigger uses it.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    definition = models.JSONField(default=dict)
    tracked_since = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["workspace", "id"], name="segment_ws")]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A contact that was in a tracked segment at the last sweep (unique per segment)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="segment_member_unique")
        ]
