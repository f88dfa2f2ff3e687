"""The email elements of the campaign builder: ``email.send`` and ``email.doi``.

Each renders its email in ``prepare``, before the engine opens the run's transaction, so a
slow template never holds the database's write lock; the handler then only decides and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, Max
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field

from terminflow.campaigns import registry
from terminflow.campaigns.registry import ElementType, Outcome, RunContext
from terminflow.contacts.models import EmailStatus
from terminflow.kit import memo
from terminflow.kit.reasons import Reason

from . import rendering, services
from .models import EmailKind, EmailTemplate, Outbox, OutboxStatus

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign
    from terminflow.workspaces.models import Workspace

SEND = "email.send"
DOI = "email.doi"
DOI_REQUIRED = "double opt-in required"
# The reasons these elements store on runs (English; shown translated through kit.reasons).
Reason("doi_required", DOI_REQUIRED)
NO_EMAIL = Reason("no_email", "contact is %(status)s: no email")
ALREADY_CONFIRMED = Reason("already_confirmed", "already confirmed by double opt-in")
EMAIL_GONE = Reason("email_gone", "email %(id)s does not exist")
EMAIL_WRONG_KIND = Reason("email_wrong_kind", "email %(id)s is a %(kind)s email")


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_id: int = Field(description="The email template (GET /api/v1/emails) to send.")


def _checker(kind: str):  # type: ignore[no-untyped-def]
    def check(
        workspace: Workspace, config: BaseModel, campaign: Campaign | None = None
    ) -> list[str]:
        assert isinstance(config, EmailConfig)
        found = (
            EmailTemplate.objects.filter(workspace=workspace, pk=config.email_id)
            .values_list("kind", flat=True)
            .first()
        )
        if found is None:
            return [gettext("email %(id)s does not exist") % {"id": config.email_id}]
        if found != kind:
            if kind == EmailKind.DOI:
                return [
                    gettext("email %(id)s is not a double opt-in email") % {"id": config.email_id}
                ]
            return [gettext("email %(id)s is not a marketing email") % {"id": config.email_id}]
        return []

    return check


def _needs(workspace: Workspace, config: BaseModel) -> set[str]:
    """What the email's template reads, for the campaign's check of the paths leading to it."""
    assert isinstance(config, EmailConfig)
    template = EmailTemplate.objects.filter(workspace=workspace, pk=config.email_id).first()
    if template is None:
        return set()
    names: set[str] = set()
    for source in (template.subject, template.body_html, template.body_text):
        names |= rendering.names_used(source)
    return names


def _refusal(status: str, kind: str) -> str:
    """Why this contact gets no email of this kind, or "" when it may."""
    if status in services.NO_EMAIL_STATUSES:
        return NO_EMAIL(status=status)
    if kind == EmailKind.MARKETING and status not in services.MARKETING_STATUSES:
        return DOI_REQUIRED
    if kind == EmailKind.DOI and status == EmailStatus.CONFIRMED_DOI:
        return ALREADY_CONFIRMED()
    return ""


def _template(context: RunContext) -> EmailTemplate | None:
    config = context.config
    assert isinstance(config, EmailConfig)
    workspace_id = context.run.workspace_id
    return memo.remember(
        ("mail.template", workspace_id, config.email_id),
        lambda: (
            EmailTemplate.objects.select_related("workspace")
            .filter(workspace_id=workspace_id, pk=config.email_id)
            .first()
        ),
    )


def _render(context: RunContext, kind: str) -> services.Rendering | None:
    """The email rendered for the run's contact; None when the handler will not send one."""
    contact = context.run.contact
    if _refusal(services.current_status(contact, context.now), kind):
        return None
    template = _template(context)
    if template is None or template.kind != kind:
        return None
    return services.render_for_queue(
        template, contact, enrollment=context.enrollment, now=context.now
    )


def _queue(context: RunContext, kind: str) -> Outcome:
    config = context.config
    assert isinstance(config, EmailConfig)
    run = context.run
    contact = run.contact
    status = services.deliverable_status(contact, context.now)
    refusal = _refusal(status, kind)
    if refusal:
        return Outcome(status="skipped", reason=refusal)
    template = _template(context)
    if template is None:
        return Outcome(status="failed", reason=EMAIL_GONE(id=config.email_id))
    if template.kind != kind:
        return Outcome(
            status="failed", reason=EMAIL_WRONG_KIND(id=config.email_id, kind=template.kind)
        )
    campaign = context.enrollment.campaign
    row = services.queue_email(
        template,
        contact,
        run=run,
        enrollment=context.enrollment,
        source=f"campaign {campaign.name!r} ({context.element.type} {context.element.key})",
        now=context.now,
        rendered=context.prepared,
    )
    if row.status == OutboxStatus.FAILED:
        return Outcome(status="failed", reason=row.reason)
    return Outcome(status="completed")


def send_email(context: RunContext) -> Outcome:
    return _queue(context, EmailKind.MARKETING)


def request_doi(context: RunContext) -> Outcome:
    return _queue(context, EmailKind.DOI)


def render_email(context: RunContext) -> services.Rendering | None:
    return _render(context, EmailKind.MARKETING)


def render_doi(context: RunContext) -> services.Rendering | None:
    return _render(context, EmailKind.DOI)


def _send_failures(campaign: Campaign) -> list[tuple[int, str, int, datetime | None]]:
    """Emails of the campaign that failed after their run completed (refused by the server)."""
    from terminflow.campaigns.models import RunStatus

    rows = (
        Outbox.objects.filter(
            run__campaign=campaign, status=OutboxStatus.FAILED, run__status=RunStatus.COMPLETED
        )
        .values("run__element_id", "reason")
        .annotate(count=Count("id"), latest_at=Max(Coalesce("claimed_at", "created_at")))
        .order_by()
    )
    return [(r["run__element_id"], r["reason"], r["count"], r["latest_at"]) for r in rows]


def register() -> None:
    registry.register_failures(_send_failures)
    registry.register(
        ElementType(
            key=SEND,
            kind="action",
            label="Send email",
            config_schema=EmailConfig,
            handler=send_email,
            prepare=render_email,
            check=_checker(EmailKind.MARKETING),
            needs=_needs,
            description="A marketing email; only contacts confirmed by double opt-in get it.",
            marketing=True,
        )
    )
    registry.register(
        ElementType(
            key=DOI,
            kind="action",
            label="Double opt-in email",
            config_schema=EmailConfig,
            handler=request_doi,
            prepare=render_doi,
            check=_checker(EmailKind.DOI),
            needs=_needs,
            description="Asks the contact to confirm their address (double opt-in).",
            doi=True,
        )
    )
