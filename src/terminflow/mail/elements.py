"""The email elements of the campaign builder: ``email.send`` and ``email.doi``.

Each renders its email in ``prepare``, before the engine opens the run's transaction, so a
slow template never holds the database's write lock; the handler then only decides and writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from terminflow.campaigns import registry
from terminflow.campaigns.registry import ElementType, Outcome, RunContext
from terminflow.contacts.models import EmailStatus

from . import services
from .models import EmailKind, EmailTemplate, OutboxStatus

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign
    from terminflow.workspaces.models import Workspace

SEND = "email.send"
DOI = "email.doi"
DOI_REQUIRED = "double opt-in required"


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
            return [f"email {config.email_id} does not exist"]
        if found != kind:
            wanted = "a double opt-in email" if kind == EmailKind.DOI else "a marketing email"
            return [f"email {config.email_id} is not {wanted}"]
        return []

    return check


def _refusal(status: str, kind: str) -> str:
    """Why this contact gets no email of this kind, or "" when it may."""
    if status in services.NO_EMAIL_STATUSES:
        return f"contact is {status}: no email"
    if kind == EmailKind.MARKETING and status not in services.MARKETING_STATUSES:
        return DOI_REQUIRED
    if kind == EmailKind.DOI and status == EmailStatus.CONFIRMED_DOI:
        return "already confirmed by double opt-in"
    return ""


def _template(context: RunContext) -> EmailTemplate | None:
    config = context.config
    assert isinstance(config, EmailConfig)
    return (
        EmailTemplate.objects.select_related("workspace")
        .filter(workspace_id=context.run.workspace_id, pk=config.email_id)
        .first()
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
        return Outcome(status="failed", reason=f"email {config.email_id} does not exist")
    if template.kind != kind:
        return Outcome(
            status="failed", reason=f"email {config.email_id} is a {template.kind} email"
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


def register() -> None:
    registry.register(
        ElementType(
            key=SEND,
            kind="action",
            label="Send email",
            config_schema=EmailConfig,
            handler=send_email,
            prepare=render_email,
            check=_checker(EmailKind.MARKETING),
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
            description="Asks the contact to confirm their address (double opt-in).",
            doi=True,
        )
    )
