"""The words the UI shows for stored codes (roles, statuses, kinds), in the user's language."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

ROLES = {"admin": _("Admin"), "editor": _("Editor"), "viewer": _("Viewer")}

EMAIL_STATUSES = {
    "unknown": _("Unknown"),
    "confirmed_doi": _("Confirmed (double opt-in)"),
    "confirmed_soi": _("Confirmed (single opt-in)"),
    "confirmed_manual": _("Confirmed (manually)"),
    "confirmed_import": _("Confirmed (import)"),
    "unsubscribed": _("Unsubscribed"),
    "spam": _("Marked as spam"),
    "blocked": _("Blocked"),
    "blocked_temporarily": _("Blocked temporarily"),
}

FIELD_TYPES = {
    "text": _("Text"),
    "number": _("Number"),
    "date": _("Date"),
    "datetime": _("Date and time"),
    "checkbox": _("Checkbox"),
    "select": _("Selection"),
}

CONSENT_KINDS = {
    "soi": _("Single opt-in"),
    "doi_requested": _("Double opt-in requested"),
    "doi_sent": _("Double opt-in email sent"),
    "doi_confirmed": _("Double opt-in confirmed"),
    "unsubscribed": _("Unsubscribed"),
    "bounced": _("Bounced"),
    "blocked": _("Blocked"),
    "status_changed": _("Email status changed"),
}

CAMPAIGN_STATUSES = {
    "draft": pgettext_lazy("campaign", "Draft"),
    "active": pgettext_lazy("campaign", "Active"),
    "paused": pgettext_lazy("campaign", "Paused"),
}

RUN_STATUSES = {
    "pending": pgettext_lazy("run", "Waiting"),
    "completed": pgettext_lazy("run", "Completed"),
    "skipped": pgettext_lazy("run", "Skipped"),
    "failed": pgettext_lazy("run", "Failed"),
    "cancelled": pgettext_lazy("run", "Cancelled"),
}

INBOX_STATUSES = {
    "pending": pgettext_lazy("inbox", "Pending"),
    "processed": pgettext_lazy("inbox", "Processed"),
    "ignored": pgettext_lazy("inbox", "Ignored"),
    "failed": pgettext_lazy("inbox", "Failed"),
}

OUTBOX_STATUSES = {
    "queued": pgettext_lazy("outbox", "Queued"),
    "pending": pgettext_lazy("outbox", "Queued"),
    "sending": pgettext_lazy("outbox", "Sending"),
    "sent": pgettext_lazy("outbox", "Sent"),
    "failed": pgettext_lazy("outbox", "Failed"),
    "skipped": pgettext_lazy("outbox", "Skipped"),
    "not_sent": pgettext_lazy("outbox", "Not sent"),
    "held": pgettext_lazy("outbox", "Held"),
    "cancelled": pgettext_lazy("outbox", "Not sent on purpose"),
}

APPOINTMENT_STATUSES = {
    "active": pgettext_lazy("appointment", "Booked"),
    "deleted": pgettext_lazy("appointment", "Deleted"),
}

ENROLLMENT_STATUSES = {
    "active": pgettext_lazy("enrollment", "In progress"),
    "completed": pgettext_lazy("enrollment", "Completed"),
    "stopped": pgettext_lazy("enrollment", "Stopped"),
    "reset": pgettext_lazy("enrollment", "Reset"),
    "ready": pgettext_lazy("enrollment", "Ready for a new pass"),
}

NEWSLETTER_STATES = {
    "draft": pgettext_lazy("newsletter", "Draft"),
    "scheduled": pgettext_lazy("newsletter", "Scheduled"),
    "sending": pgettext_lazy("newsletter", "Sending"),
    "sent": pgettext_lazy("newsletter", "Sent"),
    "cancelled": pgettext_lazy("newsletter", "Cancelled"),
}

# eTermin's appointment commands as a person says them.
COMMANDS = {
    "CREATED": pgettext_lazy("appointment event", "Created"),
    "MODIFIED": pgettext_lazy("appointment event", "Changed"),
    "DELETED": pgettext_lazy("appointment event", "Deleted"),
}

EMAIL_KINDS = {"marketing": _("Marketing"), "doi": _("Double opt-in request")}

# The builder's palette names, for pages that list runs; unknown types fall back to the registry.
ELEMENT_TYPES = {
    "etermin.appointment": _("eTermin appointment"),
    "contact.tag_added": _("Tag added"),
    "contact.doi_confirmed": _("Double opt-in confirmed"),
    "form.submitted": _("Form submitted"),
    "email.send": _("Send email"),
    "email.doi": _("Double opt-in email"),
    "contact.tag": _("Add or remove tags"),
    "contact.set_field": _("Set a field"),
    "campaign.reset": _("Reset campaign"),
    "campaign.stop": _("Stop campaign"),
    "wait.duration": _("Wait"),
    "wait.until_field": _("Wait until a date"),
    "condition.tag": _("Has tag?"),
    "condition.field": _("Field check"),
    "condition.email_status": _("Email status?"),
    "condition.segment": _("In segment?"),
    "segment.entered": _("Entered segment"),
    "condition.email_opened": _("Email opened?"),
    "condition.email_clicked": _("Link clicked?"),
}

GROUPS = {
    "roles": ROLES,
    "email_status": EMAIL_STATUSES,
    "field_type": FIELD_TYPES,
    "consent": CONSENT_KINDS,
    "campaign": CAMPAIGN_STATUSES,
    "run": RUN_STATUSES,
    "inbox": INBOX_STATUSES,
    "outbox": OUTBOX_STATUSES,
    "appointment": APPOINTMENT_STATUSES,
    "email_kind": EMAIL_KINDS,
    "enrollment": ENROLLMENT_STATUSES,
    "command": COMMANDS,
    "newsletter": NEWSLETTER_STATES,
}


def label(group: str, code: str | None) -> str:
    """The translated word for ``code``; an unknown code shows as itself rather than nothing."""
    if code is None or code == "":
        return "–" if group == "command" else ""
    return str(GROUPS[group].get(code, code))
