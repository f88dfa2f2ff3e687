"""Email services: templates, queueing rendered emails, previews, double opt-in and unsubscribe.

The only code that writes the ``mail`` tables. Emails are rendered just before they are queued
(``render_for_queue``, outside any write transaction: the campaign engine calls it from the
email elements' ``prepare`` step), so a template error fails that run at once with its reason,
a slow template holds no lock, the outbox keeps exactly what was sent, and the sender only has
to put bytes on the wire.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from email.utils import formataddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext, gettext_lazy

from terminflow.campaigns import registry
from terminflow.contacts import consent as contact_consent
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentKind, Contact, EmailStatus, Field, FieldType
from terminflow.kit import clock, memo, reasons
from terminflow.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from terminflow.kit.input_errors import label
from terminflow.kit.reasons import Reason

from . import calendar, design, links, rendering, sandbox, signals, tracking, transports
from .models import EmailKind, EmailTemplate, Outbox, OutboxStatus

if TYPE_CHECKING:
    from terminflow.campaigns.models import Enrollment, Run
    from terminflow.workspaces.models import Workspace

NO_SMTP_REASON = "not sent: no SMTP server configured"
DOI_LINK_MISSING = "a double opt-in email must contain the confirmation link {{ links.confirm }}"
SUBJECT_EMPTY = "the subject is empty"
KIND_INVALID = "kind must be marketing or doi"
# The reasons stored on outbox rows (English; shown translated through kit.reasons).
Reason("no_smtp", NO_SMTP_REASON)
UNSUBSCRIBED = Reason("unsubscribed", "contact unsubscribed")
# Render errors: the part and line, then Jinja's or our own message.
Reason("template_error", "Template error in %(part)s, line %(line)s: %(message)s")
Reason("template_error", "Template error in %(where)s: %(message)s")
# Problems of a template, shown when it is saved and stored with a failed email.
for _code, _msgid in (
    ("unknown_placeholder", "unknown placeholder '%(name)s'"),
    ("private_attribute", "attributes starting with '_' are not allowed ('%(name)s')"),
    ("not_allowed", "not allowed in a template: %(error)s"),
    ("syntax", "unexpected '%(token)s'"),
    ("syntax", "unexpected end of template, expected '%(token)s'."),
    ("syntax", "Encountered unknown tag '%(tag)s'."),
    ("doi_link_missing", DOI_LINK_MISSING),
    ("subject_empty", SUBJECT_EMPTY),
    ("kind_invalid", KIND_INVALID),
):
    Reason(_code, _msgid)
BASE_NAMES = ("contact", "appointment", "links", "workspace")

# Statuses that may receive each kind of email (DESIGN §2: marketing only after double opt-in).
MARKETING_STATUSES = frozenset({EmailStatus.CONFIRMED_DOI})
DOI_STATUSES = frozenset(
    {
        EmailStatus.UNKNOWN,
        EmailStatus.CONFIRMED_SOI,
        EmailStatus.CONFIRMED_MANUAL,
        EmailStatus.CONFIRMED_IMPORT,
    }
)
NO_EMAIL_STATUSES = frozenset(
    {
        EmailStatus.UNSUBSCRIBED,
        EmailStatus.SPAM,
        EmailStatus.BLOCKED,
        EmailStatus.BLOCKED_TEMPORARILY,
    }
)

FOOTER_TEXT = {
    "de": "Sie möchten keine E-Mails mehr von {name} erhalten? Hier abmelden: {url}",
    "en": "Don't want emails from {name} any more? Unsubscribe here: {url}",
}
FOOTER_HTML = {
    "de": 'Sie möchten keine E-Mails mehr von {name} erhalten? <a href="{url}">Hier abmelden</a>.',
    "en": 'Don\'t want emails from {name} any more? <a href="{url}">Unsubscribe here</a>.',
}


# Templates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateData:
    name: str
    subject: str
    body_html: str
    body_text: str = ""
    kind: str = EmailKind.MARKETING
    attach_ics: bool = False
    # A visual editor design; when given, ``body_html`` is rendered from it (``with_design``).
    design: dict[str, Any] | None = None


def with_design(workspace: Workspace, data: TemplateData) -> TemplateData:
    """The data with its design cleaned and ``body_html`` rendered from it (if it has one).

    Raises ``design.DesignInvalid`` (422) naming every problem of the design.
    """
    if data.design is None:
        return data
    cleaned = design.clean(data.design)
    body_html = design.render(cleaned, language=workspace.language, attach_ics=data.attach_ics)
    return replace(data, design=cleaned, body_html=body_html)


def formatting(workspace: Workspace) -> rendering.Formatting:
    return rendering.Formatting(locale=workspace.locale, timezone=workspace.timezone)


def template_names() -> set[str]:
    """Top-level names a template may use: the contract's four plus every context provider's."""
    return set(BASE_NAMES) | registry.context_names()


def _sample_field_value(field: Field) -> Any:
    samples: dict[str, Any] = {
        FieldType.TEXT: "Text",
        FieldType.NUMBER: 1,
        FieldType.DATE: "2026-12-14",
        FieldType.DATETIME: "2026-12-14T08:00:00+00:00",
        FieldType.CHECKBOX: True,
        FieldType.SELECT: (field.options or [""])[0],
    }
    return samples.get(field.type, "")


def _sample_appointment(workspace: Workspace) -> dict[str, Any]:
    zone = ZoneInfo(workspace.timezone)
    start = datetime.combine(clock.now().astimezone(zone).date() + timedelta(days=1), time(9), zone)
    return {
        "uid": "sample-appointment",
        "start": start,
        "end": start + timedelta(minutes=30),
        "calendar_id": None,
        "calendar_name": "Kalender",
        "services": "Beratung",
        "notes": "",
        "status": "booked",
    }


def _sample_context(workspace: Workspace, kind: str) -> dict[str, Any]:
    fields = {f.key: _sample_field_value(f) for f in Field.objects.filter(workspace=workspace)}
    contact = {
        "email": "anna.muster@example.com",
        "first_name": "Anna",
        "last_name": "Muster",
        "phone": "+41 44 000 00 00",
        "fields": fields,
        "tags": ["Beispiel"],
    }
    return {
        "contact": contact,
        "appointment": _sample_appointment(workspace),
        "links": _links(kind, None),
        "workspace": {"name": workspace.name},
    }


def check_template(workspace: Workspace, data: TemplateData) -> list[dict[str, Any]]:
    """Problems that keep a template from being saved, each ``{field, line, message}``."""
    if data.kind not in EmailKind.values:
        return [{"field": "kind", "line": None, "message": reasons.translate(KIND_INVALID)}]
    names = template_names()
    problems: list[rendering.RenderError] = []
    sources = {"subject": data.subject, "body_html": data.body_html, "body_text": data.body_text}
    for part, source in sources.items():
        problems.extend(rendering.static_problems(part, source, names))
    if not problems:
        # A trial render with sample data catches what parsing cannot: sandbox escapes, unknown
        # fields, filters applied to the wrong kind of value.
        context = localized_context(workspace, _sample_context(workspace, data.kind))
        # One budget for the parts together, as when the email is sent: the editor's answer
        # comes within it, whatever the template does. (Parsing above compiled nothing.)
        fmt = formatting(workspace)
        for part, source in sources.items():
            try:
                rendering.compile_part(part, source, fmt)
            except rendering.RenderError:
                pass  # reported by the trial render below, with the same reason
        with rendering.budget(rendering.check_budget_seconds()) as budget:
            for part, source in sources.items():
                try:
                    rendering.render_part(part, source, context, fmt)
                except rendering.RenderError as exc:
                    problems.append(exc)
                    if budget.expired:
                        break
    found = [{**p.as_problem(), "message": reasons.translate(p.message)} for p in problems]
    if data.design is not None:
        # The HTML was made from the design: its line numbers mean nothing to the person.
        for problem in found:
            if problem["field"] == "body_html":
                problem.update(field="design", line=None)
    if (
        not found
        and data.kind == EmailKind.DOI
        and not (
            rendering.uses_link(data.body_html, "confirm")
            or rendering.uses_link(data.body_text, "confirm")
        )
    ):
        found.append(
            {
                "field": "body_html" if data.design is None else "design",
                "line": None,
                "message": reasons.translate(DOI_LINK_MISSING),
            }
        )
    if not data.subject.strip():
        found.append(
            {"field": "subject", "line": None, "message": reasons.translate(SUBJECT_EMPTY)}
        )
    return found


def _refuse(problems: list[dict[str, Any]]) -> Unprocessable:
    first = problems[0]
    where = label([first["field"]])
    if first.get("line"):
        where = gettext("%(part)s, line %(line)s") % {"part": where, "line": first["line"]}
    return Unprocessable(
        gettext_lazy("%(where)s: %(value)s"),
        where=where,
        value=first["message"],
        extra={"errors": problems},
    )


def create_template(workspace: Workspace, data: TemplateData) -> EmailTemplate:
    """Save a new email template; raises ``Unprocessable`` with every problem found."""
    data = with_design(workspace, data)
    problems = check_template(workspace, data)
    if problems:
        raise _refuse(problems)
    return EmailTemplate.objects.create(
        workspace=workspace,
        name=data.name,
        kind=data.kind,
        subject=data.subject,
        body_html=data.body_html,
        body_text=data.body_text,
        attach_ics=data.attach_ics,
        design=data.design,
    )


def update_template(template: EmailTemplate, data: TemplateData) -> EmailTemplate:
    """Replace a template's content; the version grows, queued emails keep what they rendered.

    Saving HTML (no design) turns a designed email into a hand-written one.
    """
    data = with_design(template.workspace, data)
    problems = check_template(template.workspace, data)
    if problems:
        raise _refuse(problems)
    template.design = data.design
    template.name = data.name
    template.kind = data.kind
    template.subject = data.subject
    template.body_html = data.body_html
    template.body_text = data.body_text
    template.attach_ics = data.attach_ics
    template.version += 1
    template.save()
    return template


def get_template(workspace: Workspace, template_id: int) -> EmailTemplate:
    template = (
        EmailTemplate.objects.select_related("workspace")
        .filter(workspace=workspace, pk=template_id)
        .first()
    )
    if template is None:
        raise NotFound(
            gettext_lazy("Email %(template_id)s does not exist."), template_id=template_id
        )
    return template


def list_templates(workspace: Workspace, *, archived: bool = False) -> list[EmailTemplate]:
    """The workspace's emails: the current ones (what the builder offers), or the archived."""
    return list(
        EmailTemplate.objects.filter(
            workspace=workspace, archived_at__isnull=not archived
        ).order_by("id")
    )


def _campaigns_using(template: EmailTemplate, *, archived_too: bool = True) -> list[str]:
    """Names of the campaigns with an email element that sends this email."""
    from terminflow.campaigns.models import Element

    elements = Element.objects.filter(
        campaign__workspace_id=template.workspace_id,
        type__in=["email.send", "email.doi"],
        removed=False,
        config__email_id=template.pk,
    )
    if not archived_too:
        elements = elements.filter(campaign__archived_at__isnull=True)
    return sorted(set(elements.values_list("campaign__name", flat=True)))


def archive_template(template: EmailTemplate) -> EmailTemplate:
    """Take an email out of the lists; refused while a campaign that is not archived uses it."""
    using = _campaigns_using(template, archived_too=False)
    if using:
        raise Conflict(
            gettext_lazy(
                "The email is used by the campaigns %(names)s; take it out of them or archive "
                "them first."
            ),
            names=", ".join(f"“{name}”" for name in using),
            code="email_in_use",
        )
    if template.archived_at is None:
        template.archived_at = clock.now()
        template.save(update_fields=["archived_at", "updated_at"])
    return template


def unarchive_template(template: EmailTemplate) -> EmailTemplate:
    if template.archived_at is not None:
        template.archived_at = None
        template.save(update_fields=["archived_at", "updated_at"])
    return template


def delete_template(template: EmailTemplate) -> None:
    """Delete an email that no campaign uses and that was never queued; else archive it."""
    if _campaigns_using(template) or Outbox.objects.filter(template=template).exists():
        raise Conflict(
            gettext_lazy(
                "The email “%(name)s” is used by a campaign or was sent; archive it instead of "
                "deleting it."
            ),
            name=template.name,
            code="email_in_use",
        )
    template.delete()


# Rendering an email ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_html: str
    body_text: str
    headers: dict[str, str]
    ics: str = ""
    # The targets of the tracked links, in order (``Outbox.links``); empty when untracked.
    links: tuple[str, ...] = ()


def _links(kind: str, public_id: uuid.UUID | None) -> dict[str, str]:
    purposes = [links.Purpose.UNSUBSCRIBE, links.Purpose.WEBVIEW]
    if kind == EmailKind.DOI:
        purposes.insert(0, links.Purpose.CONFIRM)
    if public_id is None:
        return {p.value: links.preview_url(p) for p in purposes}
    return {p.value: links.url(p, public_id) for p in purposes}


def contact_context(contact: Contact) -> dict[str, Any]:
    return {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "fields": dict(contact.fields or {}),
        "tags": contact_tags.tag_names(contact),
    }


def _context(
    workspace: Workspace,
    contact: Contact,
    kind: str,
    public_id: uuid.UUID | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    context: dict[str, Any] = {
        # Providers return None when the enrollment has nothing for them (no appointment), so
        # a template that needs one fails with "unknown placeholder 'appointment'".
        name: value
        for name, value in extra.items()
        if value is not None
    }
    context["contact"] = contact_context(contact)
    context["links"] = _links(kind, public_id)
    context["workspace"] = {"name": workspace.name}
    return localized_context(workspace, context)


def _moment_fields(workspace: Workspace) -> dict[str, str]:
    """The workspace's date and datetime fields: key → type."""
    return dict(
        Field.objects.filter(
            workspace=workspace, type__in=[FieldType.DATE, FieldType.DATETIME]
        ).values_list("key", "type")
    )


def localized_context(workspace: Workspace, context: dict[str, Any]) -> dict[str, Any]:
    """The context as templates see it: scoped names, dates read in the workspace's locale.

    Date and datetime fields (stored as ISO text) and the providers' datetimes become
    ``rendering.Moment``, so ``{{ contact.fields.termin }}`` reads "Freitag, 4. Dezember 2026
    um 16:30" and the date filters still work on them.
    """
    fmt = formatting(workspace)
    contact = context.get("contact")
    if isinstance(contact, dict) and contact.get("fields"):
        kinds = memo.remember(
            ("mail.moment_fields", workspace.pk), lambda: _moment_fields(workspace)
        )
        contact["fields"] = {
            key: rendering.moment(value, fmt, kind=kinds[key]) if key in kinds else value
            for key, value in contact["fields"].items()
        }
    for name, value in context.items():
        if name != "contact" and isinstance(value, dict):
            context[name] = {
                key: rendering.moment(item, fmt) if isinstance(item, datetime | date) else item
                for key, item in value.items()
            }
    return {name: rendering.scoped(name, value) for name, value in context.items()}


def _footer(workspace: Workspace, html_body: str, text_body: str, url: str) -> tuple[str, str]:
    language = workspace.locale.split("-")[0].lower()
    name = workspace.name
    text = FOOTER_TEXT.get(language, FOOTER_TEXT["en"]).format(name=name, url=url)
    markup = FOOTER_HTML.get(language, FOOTER_HTML["en"]).format(
        name=rendering.html.escape(name), url=rendering.html.escape(url)
    )
    block = f'<p style="font-size:12px;color:#666">{markup}</p>'
    at = html_body.lower().rfind("</body>")
    html_body = html_body[:at] + block + html_body[at:] if at >= 0 else html_body + block
    return html_body, text_body.rstrip("\n") + "\n\n-- \n" + text + "\n"


def render_email(
    template: EmailTemplate,
    contact: Contact,
    *,
    public_id: uuid.UUID | None,
    extra: dict[str, Any],
    now: datetime,
    seconds: float | None = None,
) -> RenderedEmail:
    """Render a template for one contact; raises ``rendering.RenderError`` with the reason.

    All of it (parts, text version, footer, tracking, calendar file) shares one wall-clock
    budget: ``seconds``, by default ``TERMINFLOW_RENDER_BUDGET_SECONDS``. With a ``public_id``
    (an email for the outbox, not a preview) a marketing email's links and open pixel are
    tracked as the workspace's switches say (``tracking.track``).
    """
    workspace = template.workspace
    fmt = formatting(workspace)
    context = _context(workspace, contact, template.kind, public_id, extra)
    for name in rendering.PARTS:
        source = getattr(template, name)
        if name != "body_text" or source.strip():
            rendering.compile_part(name, source, fmt)  # before the budget, which is for rendering
    part = "subject"
    try:
        with rendering.budget(seconds):
            subject = rendering.one_line(
                rendering.render_part("subject", template.subject, context, fmt)
            )
            part = "body_html"
            body_html = rendering.render_part("body_html", template.body_html, context, fmt)
            part = "body_text"
            if template.body_text.strip():
                body_text = rendering.render_part("body_text", template.body_text, context, fmt)
            else:
                with sandbox.watched():
                    body_text = rendering.html_to_text(body_html)
            return _finish_email(template, public_id, extra, now, subject, body_html, body_text)
    except sandbox.RenderLimit as exc:
        # The budget ran out between two parts (the text version of a huge HTML body).
        raise rendering.RenderError(part, str(exc)) from exc


def _finish_email(
    template: EmailTemplate,
    public_id: uuid.UUID | None,
    extra: dict[str, Any],
    now: datetime,
    subject: str,
    body_html: str,
    body_text: str,
) -> RenderedEmail:
    workspace = template.workspace
    headers: dict[str, str] = {}
    unsubscribe = (
        links.url(links.Purpose.UNSUBSCRIBE, public_id)
        if public_id is not None
        else links.preview_url(links.Purpose.UNSUBSCRIBE)
    )
    if template.kind == EmailKind.MARKETING:
        if not (
            rendering.uses_link(template.body_html, "unsubscribe")
            and (
                not template.body_text.strip()
                or rendering.uses_link(template.body_text, "unsubscribe")
            )
        ):
            body_html, body_text = _footer(workspace, body_html, body_text, unsubscribe)
        # RFC 8058: mailbox providers show their own unsubscribe button and POST to this URL.
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    targets: list[str] = []
    if (
        public_id is not None
        and template.kind == EmailKind.MARKETING
        and (workspace.track_clicks or workspace.track_opens)
    ):
        # Last, so the footer's unsubscribe link is there to be left alone. The text part
        # keeps the original addresses (docs/tracking.md).
        body_html, targets = tracking.track(
            body_html, public_id, clicks=workspace.track_clicks, opens=workspace.track_opens
        )
    ics = ""
    appointment = extra.get("appointment")
    if template.attach_ics and appointment and appointment.get("start"):
        ics = calendar.appointment_ics(
            appointment,
            summary=subject,
            organizer_name=workspace.name,
            organizer_email=settings.DEFAULT_FROM_EMAIL,
            timezone=workspace.timezone,
            now=now,
        )
    return RenderedEmail(subject, body_html, body_text, headers, ics, tuple(targets))


# Queueing -------------------------------------------------------------------------------------


def smtp_configured() -> bool:
    try:
        return transports.current_config() is not None
    except transports.SmtpConfigError:
        return False


def _from_address(workspace: Workspace) -> str:
    return formataddr((workspace.name, settings.DEFAULT_FROM_EMAIL))


def consent_text_version(template: EmailTemplate) -> str:
    return f"email {template.pk} v{template.version}"


@dataclass(frozen=True)
class Rendering:
    """One email rendered for one contact, not yet stored: what ``queue_email`` writes."""

    template_version: int
    public_id: uuid.UUID
    extra: dict[str, Any]
    email: RenderedEmail | None
    error: str = ""


def render_for_queue(
    template: EmailTemplate,
    contact: Contact,
    *,
    enrollment: Enrollment | None = None,
    now: datetime | None = None,
) -> Rendering:
    """Render ``template`` for ``contact`` as ``queue_email`` will store it; writes nothing.

    Call it outside any transaction: a render may take up to its budget.
    """
    now = now or clock.now()
    public_id = uuid.uuid4()
    extra = registry.enrollment_context(enrollment) if enrollment is not None else {}
    try:
        email = render_email(template, contact, public_id=public_id, extra=extra, now=now)
    except rendering.RenderError as exc:
        return Rendering(template.version, public_id, extra, None, str(exc))
    return Rendering(template.version, public_id, extra, email)


def queue_email(
    template: EmailTemplate,
    contact: Contact,
    *,
    run: Run | None = None,
    enrollment: Enrollment | None = None,
    source: str = "",
    now: datetime | None = None,
    rendered: Rendering | None = None,
    consent: dict[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> Outbox:
    """Queue ``template`` for ``contact``; one row per run, however often called.

    ``rendered`` is what ``render_for_queue`` made beforehand, outside the transaction; without
    it the email is rendered here. A template that cannot be rendered gives a ``failed`` row
    carrying the reason (the caller fails its run with it). A double opt-in request is
    recorded in the consent ledger, with ``consent`` (what the person agreed to, e.g. a sign-up
    form's consent text version), ``ip`` and ``user_agent`` of the request that asked for it.
    """
    now = now or clock.now()
    if run is not None:
        existing = Outbox.objects.filter(run=run).first()
        if existing is not None:
            return existing
    if rendered is None:
        rendered = render_for_queue(template, contact, enrollment=enrollment, now=now)
    workspace = template.workspace
    public_id = rendered.public_id
    row = Outbox(
        workspace=workspace,
        contact=contact,
        run=run,
        template=template,
        # The version that was rendered, should the template have been saved since.
        template_version=rendered.template_version,
        public_id=public_id,
        message_id=f"<{public_id.hex}@{transports.message_id_domain()}>",
        kind=template.kind,
        to_email=contact.email,
        from_email=_from_address(workspace),
        created_at=now,
        next_attempt_at=now,
    )
    if rendered.email is None:
        row.status = OutboxStatus.FAILED
        row.reason = rendered.error
        row.next_attempt_at = None
        row.subject = rendering.one_line(template.subject)
    else:
        row.subject = rendered.email.subject
        row.body_html = rendered.email.body_html
        row.body_text = rendered.email.body_text
        row.headers = rendered.email.headers
        row.ics = rendered.email.ics
        row.links = list(rendered.email.links)
        if not smtp_configured():
            row.reason = NO_SMTP_REASON
    # No savepoint of its own for a second row of the same run: the engine holds the run's row
    # lock while its handler queues, so none can come; should one, the unique run key refuses
    # it and the handler's savepoint turns that into a retry, which finds the first row above.
    row.save()
    if row.kind == EmailKind.DOI and row.status == OutboxStatus.QUEUED:
        contact_consent.record_consent(
            contact,
            ConsentKind.DOI_REQUESTED,
            source=source or "email",
            details={**_doi_details(template, row, rendered.extra, enrollment), **(consent or {})},
            occurred_at=now,
            ip=ip,
            user_agent=user_agent,
        )
    return row


def _doi_details(
    template: EmailTemplate,
    row: Outbox,
    extra: dict[str, Any],
    enrollment: Enrollment | None,
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "consent_text_version": consent_text_version(template),
        "consent_text_sha256": hashlib.sha256(row.body_html.encode("utf-8")).hexdigest(),
        "email_id": template.pk,
        "message_id": row.message_id,
    }
    if enrollment is not None:
        details["campaign_id"] = enrollment.campaign_id
        details["trigger"] = dict(enrollment.context or {})
    appointment = extra.get("appointment")
    if appointment:
        details["appointment_uid"] = appointment.get("uid")
        details["calendar"] = appointment.get("calendar_name")
    return details


def mark_unconfigured() -> int:
    """Label queued emails while no SMTP server is configured; they stay queued for later."""
    unlabelled = Outbox.objects.filter(status=OutboxStatus.QUEUED).exclude(reason=NO_SMTP_REASON)
    # Reading first keeps the idle sweep from taking SQLite's write lock twice a second.
    if not unlabelled.exists():
        return 0
    return unlabelled.update(reason=NO_SMTP_REASON)


# Preview --------------------------------------------------------------------------------------


def preview(template: EmailTemplate, contact: Contact) -> dict[str, Any]:
    """The email as ``contact`` would get it; links point at pages that change nothing.

    The appointment comes from the contact's latest enrollment that has one; without one a
    sample appointment stands in, and ``sample_appointment`` says so.
    """
    if contact.workspace_id != template.workspace_id:
        raise NotFound(gettext_lazy("Contact %(pk)s does not exist."), pk=contact.pk)
    extra: dict[str, Any] = {}
    for enrollment in contact.enrollments.order_by("-id")[:20]:
        extra = registry.enrollment_context(enrollment)
        if extra.get("appointment"):
            break
    sample = not extra.get("appointment")
    if sample:
        extra = {**extra, "appointment": _sample_appointment(template.workspace)}
    try:
        rendered = render_email(
            template,
            contact,
            public_id=None,
            extra=extra,
            now=clock.now(),
            seconds=rendering.check_budget_seconds(),
        )
    except rendering.RenderError as exc:
        raise Unprocessable(str(exc), extra={"errors": [exc.as_problem()]}) from None
    return {
        "subject": rendered.subject,
        "body_html": rendered.body_html,
        "body_text": rendered.body_text,
        "headers": rendered.headers,
        "has_ics": bool(rendered.ics),
        "sample_appointment": sample,
    }


def preview_draft(workspace: Workspace, data: TemplateData, contact: Contact) -> dict[str, Any]:
    """``preview`` of an email not saved yet (the editor's current state); stores nothing.

    Refused like a save (422 with every problem) when the draft could not be saved.
    """
    data = with_design(workspace, data)
    problems = check_template(workspace, data)
    if problems:
        raise _refuse(problems)
    draft = EmailTemplate(
        workspace=workspace,
        name=data.name,
        kind=data.kind,
        subject=data.subject,
        body_html=data.body_html,
        body_text=data.body_text,
        attach_ics=data.attach_ics,
        design=data.design,
    )
    return preview(draft, contact)


# Links: double opt-in, unsubscribe, web view ---------------------------------------------------


def outbox_for_link(purpose: links.Purpose, token: str) -> Outbox:
    """The email a signed link came from; raises ``LinkInvalid`` / ``LinkExpired``."""
    public_id = links.read_token(purpose, token)
    row = (
        Outbox.objects.select_related("contact", "workspace", "template")
        .filter(public_id=public_id)
        .first()
    )
    if row is None:
        raise links.LinkInvalid("This link is not valid.")
    return row


class ConfirmationRefused(Forbidden):
    code = "confirmation_refused"


def confirm_doi(
    token: str, *, ip: str | None = None, user_agent: str = "", now: datetime | None = None
) -> Contact:
    """Confirm a double opt-in from its link (POST only): ``confirmed_doi``, ledger, trigger.

    Sends ``signals.doi_link_confirmed`` for the email, also when the address was confirmed
    already (a sign-up form applies its submission then). Confirming twice changes nothing
    else. A link sent before the contact unsubscribed no longer re-subscribes them, and
    blocked or spam-reporting addresses stay as they are.
    """
    row = outbox_for_link(links.Purpose.CONFIRM, token)
    if row.kind != EmailKind.DOI:
        raise links.LinkInvalid("This link is not valid.")
    contact = row.contact
    with transaction.atomic():
        current = contact_consent.lock_status(contact)
        if current == EmailStatus.CONFIRMED_DOI:
            signals.doi_link_confirmed.send(sender=Outbox, outbox=row, contact=contact)
            return contact
        if current in (EmailStatus.SPAM, EmailStatus.BLOCKED):
            raise ConfirmationRefused("This address cannot be confirmed.")
        if current == EmailStatus.UNSUBSCRIBED:
            unsubscribed_after = contact.consent_events.filter(
                kind=ConsentKind.UNSUBSCRIBED, occurred_at__gte=row.created_at
            ).exists()
            if unsubscribed_after:
                raise ConfirmationRefused(
                    "You unsubscribed after this link was sent; it no longer confirms."
                )
        contact_consent.set_email_status(
            contact,
            EmailStatus.CONFIRMED_DOI,
            source="double opt-in link",
            details={
                "message_id": row.message_id,
                "consent_text_version": f"email {row.template_id} v{row.template_version}",
            },
            ip=ip,
            user_agent=user_agent,
        )
        signals.doi_link_confirmed.send(sender=Outbox, outbox=row, contact=contact)
    return contact


def unsubscribe(
    token: str,
    *,
    channel: str,
    ip: str | None = None,
    user_agent: str = "",
) -> Contact:
    """Unsubscribe the contact an email went to (``channel``: ``link`` or ``one-click``).

    Queued marketing email to the contact is cancelled at once; unsubscribing twice writes
    nothing new.
    """
    row = outbox_for_link(links.Purpose.UNSUBSCRIBE, token)
    contact = row.contact
    details = {"channel": channel, "message_id": row.message_id}
    with transaction.atomic():
        current = contact_consent.lock_status(contact)
        if current == EmailStatus.UNSUBSCRIBED:
            return contact
        if current in (EmailStatus.SPAM, EmailStatus.BLOCKED):
            # The stronger status stays; the wish is still on record.
            contact_consent.record_consent(
                contact,
                ConsentKind.UNSUBSCRIBED,
                source=f"unsubscribe ({channel})",
                details=details,
                ip=ip,
                user_agent=user_agent,
            )
        else:
            contact_consent.set_email_status(
                contact,
                EmailStatus.UNSUBSCRIBED,
                source=f"unsubscribe ({channel})",
                details=details,
                ip=ip,
                user_agent=user_agent,
            )
        Outbox.objects.filter(
            contact=contact, status=OutboxStatus.QUEUED, kind=EmailKind.MARKETING
        ).update(status=OutboxStatus.CANCELLED, reason=UNSUBSCRIBED(), next_attempt_at=None)
    return contact


def webview(token: str) -> Outbox:
    row = outbox_for_link(links.Purpose.WEBVIEW, token)
    if row.pruned_at is not None:
        raise NotFound("This email is no longer kept.")
    return row


# Outbox queries -------------------------------------------------------------------------------


def list_outbox(
    workspace: Workspace,
    *,
    contact_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    since: datetime | None = None,
) -> list[Outbox]:
    query = Outbox.objects.filter(workspace=workspace)
    if since is not None:
        query = query.filter(created_at__gte=since)
    if contact_id is not None:
        query = query.filter(contact_id=contact_id)
    if status:
        query = query.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return list(query.order_by("-id")[: max(1, min(limit, 500))])


# Bounces and blocks ---------------------------------------------------------------------------

# Quentn's rule for temporary blocks: 72 hours, growing with each one up to 75 days, and the
# fifth makes the block permanent.
TEMPORARY_BLOCKS_BEFORE_PERMANENT = 5
FIRST_BLOCK = timedelta(hours=72)
LONGEST_BLOCK = timedelta(days=75)


def block_duration(count: int) -> timedelta:
    """The length of the ``count``-th temporary block: 3, 9, 27, then 75 days."""
    return min(FIRST_BLOCK * (3 ** (count - 1)), LONGEST_BLOCK)


def record_bounce(
    contact: Contact,
    *,
    permanent: bool,
    reply: str,
    message_id: str,
    now: datetime | None = None,
    source: str = "smtp",
) -> str:
    """Record a bounce and block the address; returns the contact's new email status.

    A permanent bounce blocks for good. A temporary one blocks for ``block_duration`` of the
    contact's count of temporary blocks, and the fifth becomes permanent. ``source`` says who
    told us: ``smtp`` (the server's reply) or ``dsn`` (a bounce that came back by email).
    """
    now = now or clock.now()
    details = {"reply": reply, "message_id": message_id, "permanent": permanent}
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        previous = locked.email_status
        contact_consent.record_consent(
            locked, ConsentKind.BOUNCED, source=source, details=details, occurred_at=now
        )
        if previous in (EmailStatus.BLOCKED, EmailStatus.SPAM):
            return previous
        count = locked.block_count + (0 if permanent else 1)
        if permanent or count >= TEMPORARY_BLOCKS_BEFORE_PERMANENT:
            status, until = EmailStatus.BLOCKED, None
        else:
            status, until = EmailStatus.BLOCKED_TEMPORARILY, now + block_duration(count)
        contact_consent.set_block(locked, count=count, until=until)
        block_details = {
            **details,
            "previous_status": (
                previous
                if previous != EmailStatus.BLOCKED_TEMPORARILY
                else _status_before_block(locked)
            ),
            "block_count": count,
            "blocked_until": until.isoformat() if until else None,
        }
        if previous == status:
            contact_consent.record_consent(
                locked, ConsentKind.BLOCKED, source=source, details=block_details, occurred_at=now
            )
        else:
            contact_consent.set_email_status(locked, status, source=source, details=block_details)
        contact.email_status = status
        contact.block_count = count
        contact.blocked_until = until
    return status


def record_complaint(contact: Contact, *, message_id: str, feedback_type: str) -> str:
    """A feedback-loop report: the contact marked our email as spam; never email them again.

    The status change is the ledger entry (``status_changed`` to ``spam``, source ``arf``).
    """
    contact_consent.set_email_status(
        contact,
        EmailStatus.SPAM,
        source="arf",
        details={"message_id": message_id, "feedback_type": feedback_type},
    )
    return EmailStatus.SPAM


def _status_before_block(contact: Contact) -> str:
    event = (
        contact.consent_events.filter(kind=ConsentKind.BLOCKED)
        .order_by("-occurred_at", "-id")
        .first()
    )
    previous = (event.details or {}).get("previous_status") if event else None
    return previous or EmailStatus.UNKNOWN


def current_status(contact: Contact, now: datetime | None = None) -> str:
    """``deliverable_status`` without writing: what it would return."""
    if contact.email_status != EmailStatus.BLOCKED_TEMPORARILY:
        return contact.email_status
    now = now or clock.now()
    if contact.blocked_until is not None and contact.blocked_until > now:
        return contact.email_status
    return _status_before_block(contact)


def deliverable_status(contact: Contact, now: datetime | None = None) -> str:
    """The contact's email status, lifting a temporary block whose time is up."""
    if contact.email_status != EmailStatus.BLOCKED_TEMPORARILY:
        return contact.email_status
    now = now or clock.now()
    if contact.blocked_until is not None and contact.blocked_until > now:
        return contact.email_status
    restored = _status_before_block(contact)
    contact_consent.set_email_status(
        contact,
        restored,
        source="smtp",
        details={"reason": "temporary block expired"},
    )
    return restored


# Retention -------------------------------------------------------------------------------------

PRUNE_BATCH = 500
_FINAL = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.CANCELLED)


def prune_rendered_bodies(*, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Empty the rendered bodies of emails older than the retention period; one batch per call.

    Subject, status, times and the SMTP reply stay for the outbox, statistics and the export.
    Queued emails keep their body until they are sent. Safe to run twice or in parallel.
    """
    if settings.RETENTION_DAYS <= 0:
        return 0
    now = now or clock.now()
    cutoff = now - timedelta(days=settings.RETENTION_DAYS)
    prunable = Outbox.objects.filter(
        pruned_at__isnull=True, created_at__lt=cutoff, status__in=_FINAL
    )
    with transaction.atomic():
        ids = list(prunable.order_by("created_at", "id").values_list("id", flat=True)[:batch])
        if not ids:
            return 0
        return prunable.filter(pk__in=ids).update(body_html="", body_text="", ics="", pruned_at=now)
