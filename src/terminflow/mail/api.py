"""Email templates and the outbox: ``/api/v1/emails`` and ``/api/v1/outbox`` (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from email_validator import EmailNotValidError, validate_email
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from pydantic import ConfigDict

from terminflow.contacts.services import get_contact
from terminflow.kit import reasons
from terminflow.kit.errors import Unprocessable
from terminflow.kit.input_errors import sentence
from terminflow.workspaces.api import current_workspace

from . import images, services, starters, stats, trial
from .models import EmailTemplate, Image, Outbox

router = Router(tags=["Emails"])
outbox_router = Router(tags=["Outbox"])
images_router = Router(tags=["Images"])


class EmailContent(Schema):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=500)
    body_html: str | None = Field(
        default=None,
        min_length=1,
        max_length=500_000,
        description="The HTML body (a Jinja template). Give this or `design`, not both.",
    )
    design: dict[str, Any] | None = Field(
        default=None,
        description=(
            "A visual editor design (block document, docs/decisions/0006); `body_html` is "
            "rendered from it. Give this or `body_html`, not both."
        ),
    )
    body_text: str = Field(
        default="", max_length=500_000, description="Generated from the HTML when empty."
    )
    kind: Literal["marketing", "doi"] = "marketing"
    attach_ics: bool = Field(
        default=False, description="Attach the triggering appointment as an .ics file."
    )


class EmailIn(EmailContent):
    name: str = Field(min_length=1, max_length=200)


class DraftPreviewIn(EmailContent):
    contact_id: int


class TestIn(Schema):
    model_config = ConfigDict(extra="forbid")

    contact_id: int = Field(description="Whose data (and latest appointment) fill the email.")
    to: str | None = Field(
        default=None,
        max_length=254,
        description="The recipient; by default the address of the person logged in.",
    )


class TestOut(Schema):
    to: str
    subject: str
    with_appointment: bool


class ImageOut(Schema):
    id: int
    name: str
    url: str
    content_type: str
    size: int
    width: int
    height: int
    created_at: datetime


class EmailOut(Schema):
    id: int
    name: str
    subject: str
    body_html: str
    body_text: str
    design: dict[str, Any] | None = None
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
        "design": template.design,
        "kind": template.kind,
        "attach_ics": template.attach_ics,
        "version": template.version,
        "archived": template.archived_at is not None,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _data(payload: EmailContent, name: str) -> services.TemplateData:
    if (payload.body_html is None) == (payload.design is None):
        both = _("Give either body_html (HTML) or design (visual editor), exactly one of them.")
        # Neither given reads like any missing field ("HTML content: required.").
        missing = payload.body_html is None
        raise Unprocessable(
            sentence({"type": "missing", "loc": ("body_html",)}) if missing else both,
            code="body_html_or_design",
            extra={"errors": [{"loc": ["body_html"], "msg": str(both), "type": "value_error"}]},
        )
    return services.TemplateData(
        name=name,
        subject=payload.subject,
        body_html=payload.body_html or "",
        body_text=payload.body_text,
        kind=payload.kind,
        attach_ics=payload.attach_ics,
        design=payload.design,
    )


class StarterOut(Schema):
    key: str
    language: str
    name: str
    subject: str
    kind: str
    attach_ics: bool


class StarterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(
        default=None, max_length=8, description="de or en; the workspace's language by default"
    )


@router.get("/starters", response=list[StarterOut])
def list_starter_emails(request: HttpRequest, language: str | None = None) -> list[dict[str, Any]]:
    """Ready-written emails to start from, in German and English (``?language=`` for one)."""
    current_workspace(request)
    return [
        {
            "key": s.key,
            "language": s.language,
            "name": s.name,
            "subject": s.subject,
            "kind": s.kind,
            "attach_ics": s.attach_ics,
        }
        for s in starters.list_starters(language)
    ]


@router.post("/starters/{key}", response={201: EmailOut})
def create_from_starter(request: HttpRequest, key: str, payload: StarterIn | None = None) -> Status:
    """Copy a starter into the workspace as a new email; a taken name gets " (2)" and so on."""
    workspace = current_workspace(request)
    template = starters.create_from_starter(workspace, key, payload.language if payload else None)
    return Status(201, _email_out(template))


@router.get("", response=list[EmailOut])
def list_emails(request: HttpRequest, archived: bool = False) -> list[dict[str, Any]]:
    """The current emails (what the builder offers); ``?archived=true`` the archived ones."""
    templates = services.list_templates(current_workspace(request), archived=archived)
    return [_email_out(t) for t in templates]


@router.post("/preview", response=PreviewOut)
def preview_draft(request: HttpRequest, payload: DraftPreviewIn) -> dict[str, Any]:
    """Render an unsaved email (HTML or design) for a contact, as the editor shows it.

    Nothing is stored or sent. The render has the budget of a save (a quarter of a send's);
    without an appointment of the contact a sample one stands in (``sample_appointment``).
    """
    workspace = current_workspace(request)
    contact = get_contact(workspace, payload.contact_id)
    return services.preview_draft(workspace, _data(payload, "preview"), contact)


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
    template = services.create_template(current_workspace(request), _data(payload, payload.name))
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
    return _email_out(services.update_template(template, _data(payload, payload.name)))


@router.post("/{email_id}/test", response=TestOut)
def send_test(request: HttpRequest, email_id: int, payload: TestIn) -> dict[str, Any]:
    """Send the saved email once to ``to`` (default: you) with a contact's data (429 when
    over 20 an hour). Not an outbox row: no contact history, no statistics, no tracking."""
    workspace = current_workspace(request)
    template = services.get_template(workspace, email_id)
    contact = get_contact(workspace, payload.contact_id)
    user = getattr(request, "user", None)
    own = user.email if user is not None and user.is_authenticated else ""
    token = getattr(request, "api_token", None)
    sender = f"token:{token.pk}" if token is not None else f"user:{getattr(user, 'pk', '')}"
    to = (payload.to or own).strip()
    if not to:
        raise Unprocessable(_("Give the address to send the test to (to)."), code="to_missing")
    try:
        to = validate_email(to, check_deliverability=False).normalized
    except EmailNotValidError:
        raise Unprocessable(
            _("“%(value)s” is not an email address."), value=to[:80], code="to_invalid"
        ) from None
    return trial.send_test(template, contact, to=to, sender=sender)


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


def _image_out(image: Image) -> dict[str, Any]:
    return {
        "id": image.pk,
        "name": image.name,
        "url": images.url(image),
        "content_type": image.content_type,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "created_at": image.created_at,
    }


@images_router.post("", response={201: ImageOut})
def upload_image(request: HttpRequest, file: File[UploadedFile]) -> Status:
    """Upload an image for emails (multipart field ``file``): PNG, JPEG, GIF or WebP.

    Re-encoded without metadata (EXIF etc.) and served at ``url`` (absolute, public, cached for
    a year). 422 for anything else, a file over ``TERMINFLOW_IMAGE_MAX_BYTES`` or too many
    pixels; nothing is kept then.
    """
    workspace = current_workspace(request)
    if (file.size or 0) > settings.IMAGE_MAX_BYTES:
        raise images.too_large()
    data = file.read(settings.IMAGE_MAX_BYTES + 1)
    return Status(201, _image_out(images.store(workspace, file.name or "", data)))


@images_router.get("", response=list[ImageOut])
def list_images(request: HttpRequest) -> list[dict[str, Any]]:
    """The workspace's images, newest first (at most 200)."""
    return [_image_out(image) for image in images.list_images(current_workspace(request))]
