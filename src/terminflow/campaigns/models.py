"""Campaigns (graphs of elements and edges), enrollments and runs."""

from __future__ import annotations

from django.db import models

from terminflow.contacts.models import Contact
from terminflow.workspaces.models import Workspace


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"


class Campaign(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    # Bumped on every save of the graph; a run remembers nothing about older versions.
    version = models.PositiveIntegerField(default=1)
    # Archived campaigns leave the lists and react to nothing; their history stays.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Element(models.Model):
    """A node of a campaign; ``key`` is the client-chosen id, ``type`` a registry key."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="elements")
    key = models.CharField(max_length=64)
    type = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    config = models.JSONField(default=dict, blank=True)
    position = models.JSONField(default=dict, blank=True)
    # A saved graph keeps elements that left it (their runs are history); they no longer run.
    removed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="element_campaign_key")
        ]
        indexes = [models.Index(fields=["type", "campaign"], name="element_type_campaign")]


class Edge(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="edges")
    source = models.ForeignKey(Element, on_delete=models.CASCADE, related_name="out_edges")
    target = models.ForeignKey(Element, on_delete=models.CASCADE, related_name="in_edges")
    branch = models.CharField(max_length=16, default="next")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "branch", "target"], name="edge_source_branch_target"
            )
        ]


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active"  # runs are pending or the flow is under way
    COMPLETED = "completed"  # no run is pending any more
    STOPPED = "stopped"  # ended by campaign.stop or the API; no trigger lets it in again
    RESET = "reset"  # ended early by a reset; the next rotation took over
    READY = "ready"  # a new rotation after a reset, waiting for a trigger to let it in


class Enrollment(models.Model):
    """A contact in a campaign for one rotation (0, then +1 per reset)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrollments")
    rotation = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    # What let the contact in, e.g. {"appointment_id": 7} for an eTermin trigger.
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact", "rotation"], name="enrollment_unique"
            )
        ]


class RunStatus(models.TextChoices):
    PENDING = "pending"  # due at due_at (a wait, or an action queued to run now)
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Run(models.Model):
    """One element executed or scheduled for one enrollment.

    Unique per (element, contact, rotation): the guard that lets each contact pass each element
    at most once per rotation, and the per-contact log that is the source of truth.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="runs")
    element = models.ForeignKey(Element, on_delete=models.CASCADE, related_name="runs")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="runs")
    rotation = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    # When the sweep should look at the run; null while its campaign is paused (parked).
    due_at = models.DateTimeField(null=True, blank=True)
    # A wait's own due time, computed when the contact reaches it; null until then.
    wait_until = models.DateTimeField(null=True, blank=True)
    branch = models.CharField(max_length=16, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["element", "contact", "rotation"], name="run_element_contact_rotation"
            )
        ]
        indexes = [
            # The sweep reads only pending rows in due order, so its cost does not grow with
            # the number of finished runs.
            models.Index(
                fields=["due_at"],
                name="run_pending_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["campaign", "element", "status"], name="run_stats"),
            models.Index(fields=["contact", "campaign"], name="run_contact_campaign"),
        ]
