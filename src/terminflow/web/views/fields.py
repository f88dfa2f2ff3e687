"""Fields and tags: define, relabel and delete typed contact fields; rename and delete tags."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from terminflow.contacts import fields as contact_fields
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import Field, Tag
from terminflow.kit.errors import TerminflowError
from terminflow.web.forms import FieldForm
from terminflow.web.http import render_page
from terminflow.web.permissions import workspace_view


@workspace_view
@require_http_methods(["GET", "POST"])
def field_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    action = request.POST.get("action", "save") if request.method == "POST" else ""
    if action in _ACTIONS:
        return _manage(request, action)
    if action not in ("", "save", "create"):
        return HttpResponseBadRequest(_("Unknown action."))
    fields = contact_fields.list_fields(workspace)
    posted = request.POST if request.method == "POST" else None
    adding = bool(posted and (posted.get("new-label") or "").strip())
    form = FieldForm(posted if adding else None, prefix="new")
    if posted is not None and (not adding or form.is_valid()):
        try:
            # The whole page is one save: relabels and the new field land together or not at all.
            with transaction.atomic():
                changed = _relabel_all(request, fields)
                created = _create(request, form) if adding else None
        except TerminflowError as exc:
            if adding:
                form.add_error(None, exc.detail)
            else:
                messages.error(request, exc.detail)
        else:
            if created is not None:
                messages.success(
                    request, _("The field %(label)s was created.") % {"label": created.label}
                )
            if changed:
                messages.success(
                    request,
                    ngettext("%(count)s label was saved.", "%(count)s labels were saved.", changed)
                    % {"count": changed},
                )
            if created is None and not changed:
                messages.info(request, _("Nothing was changed."))
            return redirect("web:fields")
    tags = (
        Tag.objects.filter(workspace=workspace)
        .annotate(contact_count=Count("contact_tags"))
        .order_by("name")[:1000]
    )
    labels = {f.key: (posted.get(f"label:{f.key}", f.label) if posted else f.label) for f in fields}
    return render_page(
        request,
        "web/fields.html",
        {
            "nav": "fields",
            "fields": fields,
            "field_rows": [(f, labels[f.key]) for f in fields],
            "tags": tags,
            "form": form,
        },
        status=422 if form.errors or (posted is not None) else 200,
    )


def _relabel_all(request: HttpRequest, fields: list[Field]) -> int:
    changed = 0
    for field in fields:
        label = (request.POST.get(f"label:{field.key}") or "").strip()
        if label and label != field.label:
            contact_fields.update_field(request.workspace, field.key, label=label)  # type: ignore[attr-defined]
            changed += 1
    return changed


def _create(request: HttpRequest, form: FieldForm) -> Field:
    options = [o.strip() for o in form.cleaned_data["options"].split(",") if o.strip()]
    return contact_fields.create_field(
        request.workspace,  # type: ignore[attr-defined]
        key=form.cleaned_data["key"].strip(),
        type=form.cleaned_data["type"],
        label=form.cleaned_data["label"],
        options=options or None,
    )


def _rename_tag(request: HttpRequest) -> str:
    tag = contact_tags.rename_tag(
        request.workspace,  # type: ignore[attr-defined]
        request.POST.get("name", ""),
        request.POST.get("new_name", ""),
    )
    return _("The tag was renamed to %(name)s.") % {"name": tag.name}


def _delete_tag(request: HttpRequest) -> str:
    name = request.POST.get("name", "")
    count = contact_tags.delete_tag(request.workspace, name)  # type: ignore[attr-defined]
    return _("The tag %(name)s was deleted from %(count)s contacts.") % {
        "name": name,
        "count": count,
    }


def _relabel_field(request: HttpRequest) -> str:
    field = contact_fields.update_field(
        request.workspace,  # type: ignore[attr-defined]
        request.POST.get("key", ""),
        label=request.POST.get("label", ""),
    )
    return _("The field %(key)s is now called %(label)s.") % {
        "key": field.key,
        "label": field.label,
    }


def _delete_field(request: HttpRequest) -> str:
    key = request.POST.get("key", "")
    count = contact_fields.delete_field(request.workspace, key)  # type: ignore[attr-defined]
    return _("The field %(key)s was deleted; %(count)s contacts lost its value.") % {
        "key": key,
        "count": count,
    }


_ACTIONS = {
    "rename_tag": _rename_tag,
    "delete_tag": _delete_tag,
    "relabel_field": _relabel_field,
    "delete_field": _delete_field,
}


def _manage(request: HttpRequest, action: str) -> HttpResponse:
    """Run one change from the page's small forms; its outcome shows as a message."""
    try:
        done = _ACTIONS[action](request)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, done)
    return redirect("web:fields")
