"""Sign-up forms: the list with sign-up counts, and the editor with the hosted URL and snippet."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.contacts.models import Field
from terminflow.forms import services as forms
from terminflow.forms.models import Form
from terminflow.kit.errors import TerminflowError
from terminflow.mail import services as mail
from terminflow.mail.models import EmailKind
from terminflow.web.http import act_and_return, render_page
from terminflow.web.permissions import workspace_view

DEFAULT_CONSENT = (
    "Ja, ich möchte den Newsletter erhalten. Meine Einwilligung kann ich jederzeit über den "
    "Abmeldelink in jeder E-Mail widerrufen."
)


def _form(request: HttpRequest, form_id: int | None) -> Form | None:
    if form_id is None:
        return None
    try:
        return forms.get_form(request.workspace, form_id)  # type: ignore[attr-defined]
    except TerminflowError:
        raise Http404 from None


def _choices(workspace: Any, form: Form | None) -> list[dict[str, Any]]:
    """Every input a form can have, in the editor's order, marked as chosen or not."""
    chosen = {f["key"]: f for f in (form.fields if form else [])}
    rows: list[dict[str, Any]] = [
        {"key": "email", "default": str(forms.BUILT_IN_LABELS["email"]), "fixed": True},
        {"key": "first_name", "default": str(forms.BUILT_IN_LABELS["first_name"])},
        {"key": "last_name", "default": str(forms.BUILT_IN_LABELS["last_name"])},
    ]
    rows += [
        {"key": f.key, "default": f.label or f.key, "type": f.type}
        for f in Field.objects.filter(workspace=workspace).order_by("id")
    ]
    for row in rows:
        item = chosen.get(row["key"])
        new_form_default = form is None and row["key"] == "first_name"
        row["chosen"] = bool(item) or row.get("fixed", False) or new_form_default
        row["label"] = item["label"] if item else ""
        row["required"] = bool(item and item["required"]) or row.get("fixed", False)
    return rows


def _posted(request: HttpRequest, rows: list[dict[str, Any]]) -> forms.FormData:
    post = request.POST
    fields = []
    for row in rows:
        key = row["key"]
        if row.get("fixed") or post.get(f"use_{key}"):
            fields.append(
                {
                    "key": key,
                    "label": post.get(f"label_{key}", ""),
                    "required": bool(post.get(f"required_{key}")),
                }
            )
    email_id = post.get("doi_email_id", "")
    tags = [t.strip() for t in post.get("tags", "").split(",") if t.strip()]
    return forms.FormData(
        name=post.get("name", ""),
        doi_email_id=int(email_id) if email_id.isdigit() else None,
        consent_text=post.get("consent_text", ""),
        fields=fields,
        success_message=post.get("success_message", ""),
        redirect_url=post.get("redirect_url", ""),
        tags=tags,
        active=bool(post.get("active")),
    )


@workspace_view
def form_list(request: HttpRequest) -> HttpResponse:
    return render_page(
        request,
        "web/forms.html",
        {"nav": "forms", "forms": forms.list_forms(request.workspace)},  # type: ignore[attr-defined]
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, form_id: int | None = None) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    form = _form(request, form_id)
    rows = _choices(workspace, form)
    values: dict[str, Any] = {
        "name": form.name if form else "",
        "doi_email_id": form.doi_email_id if form else None,
        "consent_text": form.consent_text if form else DEFAULT_CONSENT,
        "success_message": form.success_message if form else "",
        "redirect_url": form.redirect_url if form else "",
        "tags": ", ".join(form.tags) if form else "",
        "active": form.active if form else True,
    }
    problem = ""
    if request.method == "POST":
        data = _posted(request, rows)
        try:
            if form is None:
                form = forms.create_form(workspace, data)
            else:
                form = forms.update_form(form, data)
        except TerminflowError as exc:
            problem = exc.detail
            values.update(
                {
                    "name": data.name,
                    "doi_email_id": data.doi_email_id,
                    "consent_text": data.consent_text,
                    "success_message": data.success_message,
                    "redirect_url": data.redirect_url,
                    "tags": ", ".join(data.tags),
                    "active": data.active,
                }
            )
            chosen = {f["key"]: f for f in data.fields}
            for row in rows:
                item = chosen.get(row["key"])
                row["chosen"] = bool(item)
                row["label"] = item["label"] if item else ""
                row["required"] = bool(item and item["required"])
        else:
            messages.success(request, _("The form was saved."))
            return redirect("web:form_edit", form_id=form.pk)
    emails = [t for t in mail.list_templates(workspace) if t.kind == EmailKind.DOI]
    context: dict[str, Any] = {
        "nav": "forms",
        "form": form,
        "rows": rows,
        "values": values,
        "problem": problem,
        "doi_emails": emails,
    }
    if form is not None:
        context.update(
            {
                "url": forms.hosted_url(form),
                "snippet": forms.embed_snippet(form),
                "counts": forms.counts(form),
            }
        )
    return render_page(request, "web/form_edit.html", context, status=422 if problem else 200)


@workspace_view
@require_POST
def form_delete(request: HttpRequest, form_id: int) -> HttpResponse:
    def delete() -> None:
        found = _form(request, form_id)
        assert found is not None
        forms.delete_form(found)

    return act_and_return(request, delete, _("The form was deleted."), "web:forms")
