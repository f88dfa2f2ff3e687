"""Fields and tags: define, relabel and delete typed contact fields; rename and delete tags."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from terminflow.contacts import services as contacts
from terminflow.contacts.models import Tag
from terminflow.kit.errors import TerminflowError
from terminflow.web.forms import FieldForm
from terminflow.web.http import render_page
from terminflow.web.permissions import workspace_view


@workspace_view
@require_http_methods(["GET", "POST"])
def field_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    action = request.POST.get("action", "create") if request.method == "POST" else ""
    if action in _ACTIONS:
        return _manage(request, action)
    if action not in ("", "create"):
        return HttpResponseBadRequest(_("Unknown action."))
    form = FieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        options = [o.strip() for o in form.cleaned_data["options"].split(",") if o.strip()]
        try:
            field = contacts.create_field(
                workspace,
                key=form.cleaned_data["key"].strip(),
                type=form.cleaned_data["type"],
                label=form.cleaned_data["label"],
                options=options or None,
            )
        except TerminflowError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(
                request, _("The field %(label)s was created.") % {"label": field.label}
            )
            return redirect("web:fields")
    tags = (
        Tag.objects.filter(workspace=workspace)
        .annotate(contact_count=Count("contact_tags"))
        .order_by("name")[:1000]
    )
    return render_page(
        request,
        "web/fields.html",
        {
            "nav": "fields",
            "fields": contacts.list_fields(workspace),
            "tags": tags,
            "form": form,
        },
        status=422 if form.errors else 200,
    )


def _rename_tag(request: HttpRequest) -> str:
    tag = contacts.rename_tag(
        request.workspace,  # type: ignore[attr-defined]
        request.POST.get("name", ""),
        request.POST.get("new_name", ""),
    )
    return _("The tag was renamed to %(name)s.") % {"name": tag.name}


def _delete_tag(request: HttpRequest) -> str:
    name = request.POST.get("name", "")
    count = contacts.delete_tag(request.workspace, name)  # type: ignore[attr-defined]
    return _("The tag %(name)s was deleted from %(count)s contacts.") % {
        "name": name,
        "count": count,
    }


def _relabel_field(request: HttpRequest) -> str:
    field = contacts.update_field(
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
    count = contacts.delete_field(request.workspace, key)  # type: ignore[attr-defined]
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
