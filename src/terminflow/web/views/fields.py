"""Fields and tags: define typed contact fields; see every tag and how many contacts carry it."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
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
