"""Sign-up forms, the versions of their consent texts, submissions and submission counters."""

from __future__ import annotations

from django.db import models

from terminflow.contacts.models import Contact
from terminflow.kit.crypto import new_token
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace


def new_public_id() -> str:
    # 128 random bits: the URL of a form is public, but nobody can guess another form's.
    return new_token(16)


class Form(models.Model):
    """A sign-up form, served at ``/f/<public_id>`` and as a plain HTML snippet.

    ``fields`` is a list of ``{"key", "label", "required"}``: ``email`` (always first and
    required), ``first_name``, ``last_name`` or the key of a contact field. ``consent_text`` is
    the current text; each change makes a new ``ConsentVersion`` and ``consent_version`` names it.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    name = models.CharField(max_length=200)
    fields = models.JSONField(default=list)
    # Without its email the form takes no sign-ups (the page says it is not available).
    doi_email = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    consent_text = models.TextField()
    consent_version = models.PositiveIntegerField(default=1)
    success_message = models.TextField(blank=True, default="")
    redirect_url = models.CharField(max_length=2000, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    # Sign-ups the retention sweep deleted (forms.retention), and how many of them had been
    # confirmed: the form's counts go on including them.
    pruned_submissions = models.PositiveIntegerField(default=0)
    pruned_confirmed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["workspace", "id"], name="form_ws")]

    def __str__(self) -> str:
        return self.name


class ConsentVersion(models.Model):
    """One wording of a form's consent text; a submission names the version it was shown."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="consent_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["form", "version"]
        constraints = [
            models.UniqueConstraint(fields=["form", "version"], name="form_consent_version")
        ]


class SubmissionStatus(models.TextChoices):
    # Stored by the request; the worker makes the contact and queues the DOI email.
    RECEIVED = "received"
    # The DOI email is queued: waiting for the person to confirm.
    REQUESTED = "requested"
    # Confirmed (or the address already was): tags added, ``form.submitted`` fired.
    CONFIRMED = "confirmed"
    # Nothing sent: the address is blocked or reported our email as spam.
    REFUSED = "refused"
    # Nothing sent: the form has no DOI email any more, or it could not be rendered.
    FAILED = "failed"


class Submission(models.Model):
    """One sign-up as it arrived: the address, what was typed, and where it stands.

    ``values`` holds ``first_name``, ``last_name`` and ``fields`` (contact field key → value as
    typed and checked); they are applied to the contact when the submission is confirmed.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions")
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    email = models.CharField(max_length=254)
    values = models.JSONField(default=dict, blank=True)
    consent_version = models.PositiveIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=SubmissionStatus.choices, default=SubmissionStatus.RECEIVED
    )
    # When the worker may (again) take a received submission; a worker's claim moves it on by
    # its lease, so a worker that dies leaves the submission due again.
    due_at = models.DateTimeField()
    outbox = models.ForeignKey(
        Outbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="submission_due"),
            models.Index(fields=["form", "status"], name="submission_form"),
        ]


class SubmissionCounter(models.Model):
    """Submissions counted in the current window for one key (a client address or an email).

    The key is a keyed hash, never the address itself. In the database, so every web process
    counts the same submissions (as the login rate limit does).
    """

    key = models.CharField(max_length=80, unique=True)
    count = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(db_index=True)
