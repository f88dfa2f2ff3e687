"""Email templates: the list, and the editor with a live preview for a chosen contact."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.campaigns import registry
from terminflow.campaigns.models import Enrollment
from terminflow.contacts.models import Contact
from terminflow.kit import clock
from terminflow.kit.errors import TerminflowError
from terminflow.mail import rendering, starters
from terminflow.mail import services as mail
from terminflow.mail import stats as mail_stats
from terminflow.mail.models import EmailTemplate
from terminflow.web import overview
from terminflow.web.forms import EmailTemplateForm
from terminflow.web.http import act_and_return, render_page
from terminflow.web.permissions import can_edit, workspace_view

STARTER_HTML = """<p>Guten Tag {{ contact.first_name }}</p>
<p>Ihr Termin: {{ appointment.start|datetime("full") }}</p>
<p>Freundliche Grüsse<br>{{ workspace.name }}</p>
"""


def _template(request: HttpRequest, email_id: int | None) -> EmailTemplate | None:
    if email_id is None:
        return None
    try:
        return mail.get_template(request.workspace, email_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None


def _existing_template(request: HttpRequest, email_id: int) -> EmailTemplate:
    template = _template(request, email_id)
    assert template is not None
    return template


def _data(form: EmailTemplateForm) -> mail.TemplateData:
    d = form.cleaned_data
    return mail.TemplateData(
        name=d["name"],
        subject=d["subject"],
        body_html=d["body_html"],
        body_text=d["body_text"],
        kind=d["kind"],
        attach_ics=d["attach_ics"],
    )


@workspace_view
def email_list(request: HttpRequest) -> HttpResponse:
    """The current emails; ``?archived=1`` shows the archived ones instead.

    Above them, the starter emails to start from, in the workspace's language unless
    ``?starters=`` names the other one.
    """
    workspace = request.workspace  # type: ignore[attr-defined]
    archived = request.GET.get("archived") == "1"
    templates = mail.list_templates(workspace, archived=archived)
    language = request.GET.get("starters") or workspace.language
    if language not in starters.LANGUAGES:
        language = workspace.language if workspace.language in starters.LANGUAGES else "de"
    return render_page(
        request,
        "web/emails.html",
        {
            "nav": "emails",
            "templates": templates,
            "archived": archived,
            "starters": starters.list_starters(language),
            "starter_language": language,
        },
    )


@workspace_view
@require_POST
def email_from_starter(request: HttpRequest, key: str) -> HttpResponse:
    """One click on a starter: the email is copied into the workspace and opened."""
    workspace = request.workspace  # type: ignore[attr-defined]
    try:
        template = starters.create_from_starter(
            workspace, key, request.POST.get("language") or None
        )
    except TerminflowError as exc:
        messages.error(request, exc.detail)
        return redirect("web:emails")
    messages.success(
        request,
        _("The email “%(name)s” was created from the template; adapt it to your business.")
        % {"name": template.name},
    )
    return redirect("web:email_edit", email_id=template.pk)


@workspace_view
@require_POST
def email_archive(request: HttpRequest, email_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: mail.archive_template(_existing_template(request, email_id)),
        _("The email was archived."),
        "web:emails",
    )


@workspace_view
@require_POST
def email_unarchive(request: HttpRequest, email_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: mail.unarchive_template(_existing_template(request, email_id)),
        _("The email is back in the list."),
        "web:emails",
    )


@workspace_view
@require_POST
def email_delete(request: HttpRequest, email_id: int) -> HttpResponse:
    return act_and_return(
        request,
        lambda: mail.delete_template(_existing_template(request, email_id)),
        _("The email was deleted."),
        "web:emails",
    )


# What the email page shows of an email's results; rates are of the emails delivered, as the
# peers count them, except bounces (of those sent).
RESULTS = (
    ("sent", _lazy("Sent"), None),
    ("delivered", _lazy("Delivered"), "sent"),
    ("bounced", _lazy("Bounced"), "sent"),
    ("opened", _lazy("Opened"), "delivered"),
    ("clicked", _lazy("Clicked"), "delivered"),
    ("unsubscribed", _lazy("Unsubscribed"), "delivered"),
)


def _results(template: EmailTemplate) -> list[dict[str, Any]]:
    """The email's figures (unique contacts) with their rates, in the order the page shows."""
    figures = mail_stats.email_stats(template)
    return [
        {
            "key": key,
            "label": label,
            "count": figures[key],
            "percent": overview.percent(figures[key], figures[base]) if base else None,
        }
        for key, label, base in RESULTS
    ]


def _preview_contacts(workspace: Any) -> list[Contact]:
    return list(Contact.objects.filter(workspace=workspace).order_by("-id")[:50])


def _designer(request: HttpRequest, template: EmailTemplate | None) -> HttpResponse:
    """The visual editor (the React island); it loads and saves the email through the API."""
    kind = request.GET.get("kind")
    return render_page(
        request,
        "web/email_designer.html",
        {
            "nav": "emails",
            "template": template,
            "read_only": not can_edit(request.membership),  # type: ignore[attr-defined]
            "csrf": get_token(request),
            "language": get_language(),
            "me": request.user.email,  # type: ignore[union-attr]
            "kind": kind if kind in ("marketing", "doi") else "marketing",
            "results": _results(template) if template else None,
        },
    )


@workspace_view
@require_http_methods(["GET"])
def email_create_visual(request: HttpRequest) -> HttpResponse:
    """A new email in the visual editor (``/emails/new/`` is the HTML editor)."""
    if not can_edit(request.membership):  # type: ignore[attr-defined]
        raise PermissionDenied
    return _designer(request, None)


@workspace_view
@require_http_methods(["GET", "POST"])
def email_edit(request: HttpRequest, email_id: int | None = None) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    template = _template(request, email_id)
    if template is not None and template.design is not None:
        # A designed email stays in the visual editor; its HTML is made from the design.
        if request.method == "POST":
            raise PermissionDenied
        return _designer(request, template)
    initial = (
        {
            "name": template.name,
            "kind": template.kind,
            "subject": template.subject,
            "body_html": template.body_html,
            "body_text": template.body_text,
            "attach_ics": template.attach_ics,
        }
        if template
        else {
            "kind": "marketing",
            "subject": "Ihr Termin bei {{ workspace.name }}",
            "body_html": STARTER_HTML,
        }
    )
    form = EmailTemplateForm(request.POST or None, initial=initial)
    problems: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        try:
            if template is None:
                template = mail.create_template(workspace, _data(form))
            else:
                template = mail.update_template(template, _data(form))
        except TerminflowError as exc:
            problems = exc.extra.get("errors") or [
                {"field": None, "line": None, "message": exc.detail}
            ]
        else:
            messages.success(request, _("The email was saved."))
            return redirect("web:email_edit", email_id=template.pk)
    return render_page(
        request,
        "web/email_edit.html",
        {
            "nav": "emails",
            "form": form,
            "template": template,
            "problems": problems,
            "contacts": _preview_contacts(workspace),
            "results": _results(template) if template else None,
        },
        status=422 if problems or form.errors else 200,
    )


def _appointment_choices(contact: Contact) -> list[tuple[int, str]]:
    """The contact's enrollments that came with an appointment, newest first."""
    choices = []
    for enrollment in contact.enrollments.select_related("campaign").order_by("-id")[:20]:
        appointment = registry.enrollment_context(enrollment).get("appointment")
        if appointment and appointment.get("start"):
            start = formats.date_format(
                timezone.localtime(appointment["start"]), "SHORT_DATETIME_FORMAT"
            )
            label = f"{enrollment.campaign.name}: {start}"
            choices.append((enrollment.pk, label))
    return choices


@workspace_view
@require_http_methods(["GET", "POST"])
def email_preview(request: HttpRequest) -> HttpResponse:
    """Render the editor's current text (POST) or a saved email (GET) for one contact.

    Nothing is stored: the draft is an unsaved template object.
    """
    workspace = request.workspace  # type: ignore[attr-defined]
    params = request.POST if request.method == "POST" else request.GET
    contact_id = params.get("preview_contact") or ""
    contact = None
    if contact_id.isdigit():
        contact = Contact.objects.filter(workspace=workspace, pk=int(contact_id)).first()
    if contact is None:
        contact = Contact.objects.filter(workspace=workspace).order_by("-id").first()
    if request.method == "POST":
        posted = request.POST.copy()
        # The name plays no part in rendering; a new email can be previewed before it has one.
        posted["name"] = posted.get("name") or "preview"
        form = EmailTemplateForm(posted)
        if not form.is_valid():
            return render_page(
                request,
                "web/email_preview.html",
                {"form_errors": form.errors, "contact": contact},
                status=422,
            )
        data = _data(form)
        problems = mail.check_template(workspace, data)
        template = EmailTemplate(
            workspace=workspace,
            name=data.name,
            kind=data.kind,
            subject=data.subject,
            body_html=data.body_html,
            body_text=data.body_text,
            attach_ics=data.attach_ics,
        )
    else:
        found = _template(request, int(params.get("email_id") or 0) or None)
        if found is None:
            raise Http404
        template = found
        problems = []
    context: dict[str, Any] = {"problems": problems, "contact": contact}
    if problems:
        # The check already rendered the draft (with sample data) and said why it fails.
        return render_page(request, "web/email_preview.html", context, status=422)
    if contact is None:
        return render_page(request, "web/email_preview.html", context)
    contact.workspace = workspace
    choices = _appointment_choices(contact)
    enrollment_id = params.get("preview_enrollment") or ""
    context.update({"appointments": choices, "enrollment_id": enrollment_id})
    try:
        if enrollment_id.isdigit() and int(enrollment_id) in {c[0] for c in choices}:
            enrollment = Enrollment.objects.get(pk=int(enrollment_id), contact=contact)
            rendered = mail.render_email(
                template,
                contact,
                public_id=None,
                extra=registry.enrollment_context(enrollment),
                now=clock.now(),
                seconds=rendering.check_budget_seconds(),
            )
            context["rendered"] = {
                "subject": rendered.subject,
                "body_html": rendered.body_html,
                "body_text": rendered.body_text,
                "headers": rendered.headers,
                "sample_appointment": False,
            }
        else:
            context["rendered"] = mail.preview(template, contact)
    except rendering.RenderError as exc:
        context["render_error"] = str(exc)
    except TerminflowError as exc:
        context["render_error"] = exc.detail
    failed = bool(problems or context.get("render_error"))
    return render_page(request, "web/email_preview.html", context, status=422 if failed else 200)
