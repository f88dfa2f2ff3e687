"""Email templates and the outbox: ``/api/v1/emails`` and ``/api/v1/outbox`` (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import pgettext_lazy
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from terminflow.contacts.services import get_contact
from terminflow.kit import reasons
from terminflow.workspaces.api import current_workspace

from . import services, stats
from .models import EmailTemplate, Outbox

router = Router(tags=["Emails"])
outbox_router = Router(tags=["Outbox"])


class EmailIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=500)
    body_html: str = Field(min_length=1, max_length=500_000)
    body_text: str = Field(
        default="", max_length=500_000, description="Generated from the HTML when empty."
    )
    kind: Literal["marketing", "doi"] = "marketing"
    attach_ics: bool = Field(
        default=False, description="Attach the triggering appointment as an .ics file."
    )


class EmailOut(Schema):
    id: int
    name: str
    subject: str
    body_html: str
    body_text: str
    kind: str
    attach_ics: bool
    version: int
    archived: bool = False
    created_at: datetime
    updated_at: datetime


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    contact_id: int


class PreviewOut(Schema):
    subject: str
    body_html: str
    body_text: str
    headers: dict[str, str]
    has_ics: bool
    sample_appointment: bool = Field(
        description="True when the contact has no appointment and a sample stood in."
    )


class OutboxOut(Schema):
    id: int
    contact_id: int
    email_id: int | None
    run_id: int | None
    kind: str
    to: str
    subject: str
    status: str
    status_label: str = ""
    reason: str
    reason_code: str = ""
    attempts: int
    message_id: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None


class OutboxFilters(Schema):
    contact_id: int | None = None
    status: Literal["queued", "sent", "failed", "cancelled"] | None = None
    before_id: int | None = Field(default=None, description="Page: rows with a smaller id.")
    limit: int = Field(default=100, ge=1, le=500)


def _email_out(template: EmailTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "subject": template.subject,
        "body_html": template.body_html,
        "body_text": template.body_text,
        "kind": template.kind,
        "attach_ics": template.attach_ics,
        "version": template.version,
        "archived": template.archived_at is not None,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _data(payload: EmailIn) -> services.TemplateData:
    return services.TemplateData(**payload.dict())


@router.get("", response=list[EmailOut])
def list_emails(request: HttpRequest, archived: bool = False) -> list[dict[str, Any]]:
    """The current emails (what the builder offers); ``?archived=true`` the archived ones."""
    templates = services.list_templates(current_workspace(request), archived=archived)
    return [_email_out(t) for t in templates]


@router.post("/{email_id}/archive", response=EmailOut)
def archive_email(request: HttpRequest, email_id: int) -> dict[str, Any]:
    """409 ``email_in_use`` while a campaign that is not archived sends it."""
    template = services.get_template(current_workspace(request), email_id)
    return _email_out(services.archive_template(template))


@router.post("/{email_id}/unarchive", response=EmailOut)
def unarchive_email(request: HttpRequest, email_id: int) -> dict[str, Any]:
    template = services.get_template(current_workspace(request), email_id)
    return _email_out(services.unarchive_template(template))


@router.delete("/{email_id}", response={204: None})
def delete_email(request: HttpRequest, email_id: int) -> Status:
    """Only an email no campaign uses and none was sent of; 409 ``email_in_use`` otherwise."""
    services.delete_template(services.get_template(current_workspace(request), email_id))
    return Status(204, None)


@router.post("", response={201: EmailOut})
def create_email(request: HttpRequest, payload: EmailIn) -> Status:
    template = services.create_template(current_workspace(request), _data(payload))
    return Status(201, _email_out(template))


@router.get("/{email_id}", response=EmailOut)
def get_email(request: HttpRequest, email_id: int) -> dict[str, Any]:
    return _email_out(services.get_template(current_workspace(request), email_id))


class EmailStatsOut(Schema):
    """What became of the email, in unique contacts (definitions: ``mail/stats.py``)."""

    sent: int = Field(description="Contacts the email was sent to (accepted by the server)")
    delivered: int = Field(description="Sent minus bounced")
    bounced: int = Field(description="Contacts whose email bounced (hard or soft)")
    opened: int = Field(description="Contacts who opened it or clicked in it; bots not counted")
    clicked: int = Field(description="Contacts who clicked a link in it; bots not counted")
    unsubscribed: int = Field(description="Contacts who unsubscribed through its link")


@router.get("/{email_id}/stats", response=EmailStatsOut)
def email_stats(request: HttpRequest, email_id: int) -> dict[str, int]:
    return stats.email_stats(services.get_template(current_workspace(request), email_id))


@router.put("/{email_id}", response=EmailOut)
def update_email(request: HttpRequest, email_id: int, payload: EmailIn) -> dict[str, Any]:
    template = services.get_template(current_workspace(request), email_id)
    return _email_out(services.update_template(template, _data(payload)))


@router.post("/{email_id}/preview", response=PreviewOut)
def preview_email(request: HttpRequest, email_id: int, payload: PreviewIn) -> dict[str, Any]:
    workspace = current_workspace(request)
    template = services.get_template(workspace, email_id)
    contact = get_contact(workspace, payload.contact_id)
    return services.preview(template, contact)


OUTBOX_STATUS_LABELS = {
    "queued": pgettext_lazy("outbox", "Queued"),
    "sending": pgettext_lazy("outbox", "Sending"),
    "sent": pgettext_lazy("outbox", "Sent"),
    "failed": pgettext_lazy("outbox", "Failed"),
    "cancelled": pgettext_lazy("outbox", "Not sent on purpose"),
}


def _outbox_out(row: Outbox) -> dict[str, Any]:
    return {
        "id": row.pk,
        "contact_id": row.contact_id,
        "email_id": row.template_id,
        "run_id": row.run_id,
        "kind": row.kind,
        "to": row.to_email,
        "subject": row.subject,
        "status": row.status,
        "status_label": str(OUTBOX_STATUS_LABELS.get(row.status, row.status)),
        "reason": reasons.translate(row.reason),
        "reason_code": reasons.describe(row.reason)[0],
        "attempts": row.attempts,
        "message_id": row.message_id,
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at,
        "sent_at": row.sent_at,
    }


@outbox_router.get("", response=list[OutboxOut])
def list_outbox(request: HttpRequest, filters: Query[OutboxFilters]) -> list[dict[str, Any]]:
    """Emails queued and sent, newest first; page with ``before_id`` = the last id seen."""
    rows = services.list_outbox(
        current_workspace(request),
        contact_id=filters.contact_id,
        status=filters.status,
        limit=filters.limit,
        before_id=filters.before_id,
    )
    return [_outbox_out(row) for row in rows]
