"""Contacts, typed fields, tags, notes, email status and the consent ledger."""

from __future__ import annotations

from typing import Literal

from django.db import models
from django.db.models.functions import Lower

from terminflow.workspaces.models import Workspace


class EmailStatus(models.TextChoices):
    UNKNOWN = "unknown"
    CONFIRMED_DOI = "confirmed_doi"
    CONFIRMED_SOI = "confirmed_soi"
    CONFIRMED_MANUAL = "confirmed_manual"
    CONFIRMED_IMPORT = "confirmed_import"
    UNSUBSCRIBED = "unsubscribed"
    SPAM = "spam"
    BLOCKED = "blocked"
    BLOCKED_TEMPORARILY = "blocked_temporarily"


# The statuses as a type, for element and segment configs that name some of them.
EmailStatusName = Literal[
    "unknown",
    "confirmed_doi",
    "confirmed_soi",
    "confirmed_manual",
    "confirmed_import",
    "unsubscribed",
    "spam",
    "blocked",
    "blocked_temporarily",
]
assert set(EmailStatusName.__args__) == set(EmailStatus.values)  # type: ignore[attr-defined]


class FieldType(models.TextChoices):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    CHECKBOX = "checkbox"
    SELECT = "select"


class Field(models.Model):
    """A typed contact field defined per workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="fields")
    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=FieldType.choices)
    options = models.JSONField(default=list, blank=True)  # choices of a select field
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="field_workspace_key")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.key


class Contact(models.Model):
    """A person we email; unique per workspace by email, case-insensitively.

    Field values live in ``fields`` as JSON: {key: value}, dates and datetimes as ISO 8601
    strings (datetimes in UTC with offset), validated by type in the services.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    email = models.CharField(max_length=254)
    first_name = models.CharField(max_length=200, blank=True, default="")
    last_name = models.CharField(max_length=200, blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    email_status = models.CharField(
        max_length=24, choices=EmailStatus.choices, default=EmailStatus.UNKNOWN
    )
    fields = models.JSONField(default=dict, blank=True)
    # Temporary blocks grow with each bounce (Quentn's rule); the count decides when it is final.
    blocked_until = models.DateTimeField(null=True, blank=True)
    block_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("workspace", Lower("email"), name="contact_workspace_email_ci")
        ]
        indexes = [
            models.Index(fields=["workspace", "email_status", "id"], name="contact_ws_status"),
            models.Index(fields=["workspace", "-id"], name="contact_ws_id"),
        ]

    def __str__(self) -> str:
        return self.email


class FieldValue(models.Model):
    """One contact's value of one field in a typed, indexed column: a copy for queries.

    ``Contact.fields`` stays the record; ``contacts.field_values`` keeps one row per contact
    and field with a value equal to it, in the same transaction as every write of
    ``fields``. Segments compare here, where an index range finds the contacts instead of a
    read of every contact's JSON (docs/decisions/0008). Exactly one typed column is set per
    row (two for dates); a row whose value has no typed form keeps them all empty.
    """

    # The key: the field stands for workspace and key in one integer, and leads.
    pk = models.CompositePrimaryKey("field", "contact")
    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(null=True)  # text and select fields
    number = models.FloatField(null=True)  # number fields; checkbox fields as 1 or 0
    date = models.DateField(null=True)
    month_day = models.PositiveSmallIntegerField(null=True)  # of a date: 1231 for 31 December
    moment = models.DateTimeField(null=True)  # datetime fields

    class Meta:
        # One partial index per typed column: each row is in the one its type uses.
        indexes = [
            models.Index(
                fields=["field", column, "contact"],
                name=f"field_value_{column}",
                condition=models.Q(**{f"{column}__isnull": False}),
            )
            for column in ("number", "date", "month_day", "moment")
        ]

    def __str__(self) -> str:
        return f"{self.field_id}:{self.contact_id}"


class Tag(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="tag_workspace_name")
        ]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    # No index of their own: (contact, tag) and (tag, contact) below lead with each.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="contact_tags", db_index=False
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="contact_tags", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")
        ]
        indexes = [models.Index(fields=["tag", "contact"], name="contact_tag_by_tag")]


class Note(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()
    source = models.CharField(max_length=200, blank=True, default="")
    # Lets a source add a note at most once (e.g. "etermin:<account>:<appointment uid>").
    source_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "source_key"], name="note_source_key")
        ]


class ConsentKind(models.TextChoices):
    SOI = "soi", "Single opt-in"
    DOI_REQUESTED = "doi_requested", "Double opt-in requested"
    DOI_SENT = "doi_sent", "Double opt-in email sent"
    DOI_CONFIRMED = "doi_confirmed", "Double opt-in confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"
    BLOCKED = "blocked", "Blocked"
    STATUS_CHANGED = "status_changed", "Email status changed"


class ConsentEventQuerySet(models.QuerySet):
    """Refuses bulk changes: the ledger only grows.

    Deleting a contact or workspace still removes its events (cascades bypass the queryset),
    which is what erasure on request needs.
    """

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("consent events are append-only")

    def delete(self):  # type: ignore[no-untyped-def]
        raise ValueError("consent events are append-only")


class ConsentEvent(models.Model):
    """An immutable entry in the consent ledger; rows are only ever inserted."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events")
    kind = models.CharField(max_length=32, choices=ConsentKind.choices)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=255, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["contact", "occurred_at"], name="consent_contact_time")]

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise ValueError("consent events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("consent events are append-only")


class ErasureReason(models.TextChoices):
    # Fixed reasons rather than free text, so nobody writes the person's name back in.
    REQUEST = "request", "The person asked to be erased"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
    NO_LONGER_NEEDED = "no_longer_needed", "No longer needed"
    OTHER = "other", "Other"


class Erasure(models.Model):
    """What is left of an erased contact: a pseudonym, when, why, and the ledger's shape.

    ``email_hash`` is a keyed hash of the normalized address (``kit.crypto.workspace_pseudonym``)
    so the business can show that a given address was erased and when, without storing it.
    ``ledger`` keeps the consent events' kinds and times only (no IP, user agent or details).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email_hash = models.CharField(max_length=64)
    reason = models.CharField(max_length=32, choices=ErasureReason.choices)
    erased_at = models.DateTimeField()
    ledger = models.JSONField(default=list, blank=True)
    # What each app removed, e.g. {"contacts": 1, "etermin.pushes": 3}: counts only.
    removed = models.JSONField(default=dict, blank=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["erased_at", "id"]
        indexes = [models.Index(fields=["workspace", "email_hash"], name="erasure_ws_hash")]

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise ValueError("erasure records are append-only")
        super().save(*args, **kwargs)
