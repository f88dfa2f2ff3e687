"""Contacts: list with search, filters and keyset paging; detail; edit; CSV import and export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.campaigns.models import Enrollment, Run
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import notes as contact_notes
from terminflow.contacts import privacy
from terminflow.contacts import services as contacts
from terminflow.contacts import tags as tagging
from terminflow.contacts.models import ConsentEvent, Contact, ContactTag, Field, Tag
from terminflow.kit.errors import TerminflowError
from terminflow.web import consent_text, contact_import
from terminflow.web.forms import ContactForm, ImportUploadForm, NoteForm
from terminflow.web.http import is_htmx, render_page
from terminflow.web.labels import EMAIL_STATUSES
from terminflow.web.models import ContactImport, ContactImportRow, ImportStatus
from terminflow.web.permissions import workspace_view
from terminflow.workspaces.models import Role

PAGE_SIZE = 50
EXPORT_BATCH = 2000


def _source(request: HttpRequest) -> str:
    return f"ui:{request.user.email}"  # type: ignore[union-attr]


def _workspace_contact(request: HttpRequest, contact_id: int) -> Contact:
    contact = (
        Contact.objects.select_related("workspace")
        .filter(workspace=request.workspace, pk=contact_id)  # type: ignore[attr-defined]
        .first()
    )
    if contact is None:
        raise Http404
    return contact


def _int(value: str | None) -> int | None:
    if value and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def filtered_contacts(workspace: Any, params: Any, fields: list[Field]) -> QuerySet[Contact]:
    """The contacts matching the list's filters (search, status, tag, field), newest first."""
    query = Contact.objects.filter(workspace=workspace)
    q = (params.get("q") or "").strip()[:200]
    if q:
        query = query.filter(
            Q(email__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q)
        )
    status = params.get("status") or ""
    if status in EMAIL_STATUSES:
        query = query.filter(email_status=status)
    tag = (params.get("tag") or "").strip()
    if tag:
        tag_ids = Tag.objects.filter(workspace=workspace, name=tag).values("pk")
        query = query.filter(
            Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag_id__in=tag_ids))
        )
    key = params.get("field") or ""
    field = next((f for f in fields if f.key == key), None)
    if field is not None:
        value = (params.get("value") or "").strip()
        # The key comes from the workspace's own fields, never straight from the request.
        lookup = f"fields__{field.key}"
        if not value:
            query = query.filter(fields__has_key=field.key)
        elif field.type == "checkbox":
            truthy = value.lower() in {"1", "yes", "ja", "true", "on", "x"}
            query = query.filter(**{lookup: truthy})
        elif field.type == "number":
            try:
                number = float(value.replace(",", "."))
            except ValueError:
                return query.none()
            query = query.filter(**{lookup: int(number) if number.is_integer() else number})
        elif field.type in {"date", "datetime"}:
            query = query.filter(**{f"{lookup}__startswith": value})
        elif field.type == "select":
            query = query.filter(**{lookup: value})
        else:
            query = query.filter(**{f"{lookup}__icontains": value})
    return query


@workspace_view
def contact_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    fields = contact_fields.list_fields(workspace)
    query = filtered_contacts(workspace, request.GET, fields)
    before = _int(request.GET.get("before"))
    after = _int(request.GET.get("after"))
    # Keyset paging by id: each page costs the same on page 1 and on page 20,000.
    if after is not None:
        rows = list(query.filter(pk__gt=after).order_by("pk")[: PAGE_SIZE + 1])
        has_newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        has_older = query.filter(pk__lt=rows[-1].pk).exists() if rows else False
    else:
        page_query = query.filter(pk__lt=before) if before is not None else query
        rows = list(page_query.order_by("-pk")[: PAGE_SIZE + 1])
        has_older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_newer = before is not None and bool(rows) and query.filter(pk__gt=rows[0].pk).exists()
    tags_by_contact: dict[int, list[str]] = {}
    for link in ContactTag.objects.filter(contact__in=[c.pk for c in rows]).select_related("tag"):
        tags_by_contact.setdefault(link.contact_id, []).append(link.tag.name)
    for contact in rows:
        contact.tag_list = sorted(tags_by_contact.get(contact.pk, []))  # type: ignore[attr-defined]
    params = request.GET.copy()
    for name in ("before", "after"):
        params.pop(name, None)
    context = {
        "nav": "contacts",
        "contacts": rows,
        "fields": fields,
        "tags": Tag.objects.filter(workspace=workspace).order_by("name")[:500],
        "statuses": list(EMAIL_STATUSES.items()),
        "filters": request.GET,
        "query_string": params.urlencode(),
        "older": rows[-1].pk if rows and has_older else None,
        "newer": rows[0].pk if rows and has_newer else None,
        "filtered": any(request.GET.get(k) for k in ("q", "status", "tag", "field")),
    }
    template = "web/contacts_table.html" if is_htmx(request) else "web/contacts.html"
    return render_page(request, template, context)


def _initial_values(contact: Contact, fields: list[Field]) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "email_status": contact.email_status,
        "tags": ", ".join(tagging.tag_names(contact)),
    }
    for field in fields:
        value = (contact.fields or {}).get(field.key)
        if field.type == "datetime" and isinstance(value, str):
            try:
                moment = timezone.localtime(datetime.fromisoformat(value))
                value = moment.strftime("%Y-%m-%dT%H:%M")
            except ValueError:
                pass
        initial[f"field__{field.key}"] = value
    return initial


def _field_values_for_service(form: ContactForm) -> dict[str, Any]:
    values = form.field_values()
    for field in form.workspace_fields:
        value = values.get(field.key)
        if field.type == "datetime" and isinstance(value, str):
            # The input shows the user's zone; hand the service an aware time.
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, timezone.get_current_timezone())
            values[field.key] = moment.isoformat()
    return values


def _tag_list(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@workspace_view
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    fields = contact_fields.list_fields(workspace)
    form = ContactForm(
        request.POST or None, workspace_fields=fields, initial={"email_status": "unknown"}
    )
    if request.method == "POST" and form.is_valid():
        try:
            contact = contacts.create_contact(
                workspace,
                email=form.cleaned_data["email"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                phone=form.cleaned_data["phone"],
                email_status=form.cleaned_data["email_status"],
                fields={k: v for k, v in _field_values_for_service(form).items() if v is not None},
                tags=_tag_list(form.cleaned_data["tags"]),
                source=_source(request),
            )
        except TerminflowError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("The contact was created."))
            return redirect("web:contact_detail", contact_id=contact.pk)
    return render_page(
        request,
        "web/contact_form.html",
        {"nav": "contacts", "form": form, "contact": None},
        status=422 if form.errors else 200,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    fields = contact_fields.list_fields(contact.workspace)
    form = ContactForm(
        request.POST or None,
        workspace_fields=fields,
        initial=_initial_values(contact, fields),
        current_status=contact.email_status,
    )
    if request.method == "POST" and form.is_valid():
        try:
            contacts.update_contact(
                contact,
                email=form.cleaned_data["email"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                phone=form.cleaned_data["phone"],
                email_status=form.cleaned_data["email_status"],
                fields=_field_values_for_service(form),
                tags=_tag_list(form.cleaned_data["tags"]),
                source=_source(request),
            )
        except TerminflowError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("The contact was saved."))
            return redirect("web:contact_detail", contact_id=contact.pk)
    return render_page(
        request,
        "web/contact_form.html",
        {"nav": "contacts", "form": form, "contact": contact},
        status=422 if form.errors else 200,
    )


@workspace_view
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    fields = contact_fields.list_fields(contact.workspace)
    enrollments = list(
        Enrollment.objects.filter(contact=contact)
        .select_related("campaign")
        .order_by("-created_at", "-id")[:100]
    )
    runs = (
        Run.objects.filter(contact=contact)
        .select_related("element", "campaign")
        .order_by("-created_at", "-id")[:200]
    )
    return render_page(
        request,
        "web/contact_detail.html",
        {
            "nav": "contacts",
            "contact": contact,
            "field_rows": [(f, (contact.fields or {}).get(f.key)) for f in fields],
            "tags": tagging.tag_names(contact),
            "notes": list(contact.notes.order_by("-created_at", "-id")),
            "consent": _consent_rows(contact),
            "appointments": contacts.contact_appointments(contact),
            "enrollments": enrollments,
            "runs": list(runs),
            "note_form": NoteForm(),
        },
    )


def _consent_rows(contact: Contact) -> list[tuple[ConsentEvent, str]]:
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("-occurred_at", "-id"))
    names = consent_text.names_for(events, contact.workspace)
    return [(event, consent_text.sentence(event, names)) for event in events]


@workspace_view
@require_POST
def contact_delete(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    contacts.delete_contact(contact)
    messages.success(request, _("The contact %(email)s was deleted.") % {"email": contact.email})
    return redirect("web:contacts")


@workspace_view
@require_POST
def contact_add_note(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            contact_notes.add_note(contact, form.cleaned_data["text"], source=_source(request))
        except TerminflowError as exc:
            messages.error(request, exc.detail)
    else:
        messages.error(request, _("A note needs text."))
    return redirect("web:contact_detail", contact_id=contact.pk)


@workspace_view
@require_POST
def contact_tags(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    try:
        if request.POST.get("add"):
            tagging.add_tags(contact, _tag_list(request.POST["add"]), source=_source(request))
        if request.POST.get("remove"):
            tagging.remove_tags(contact, [request.POST["remove"]])
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    return redirect("web:contact_detail", contact_id=contact.pk)


def _export_rows(workspace: Any, query: QuerySet[Contact], fields: list[Field]) -> Iterator[str]:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    keys = [f.key for f in fields]
    header = ["email", "first_name", "last_name", "phone", "email_status", "tags", *keys]
    yield "\ufeff" + writer.writerow(
        [contact_import.neutralise(cell) for cell in [*header, "created_at"]]
    )
    last_id = None
    while True:
        batch_query = query.order_by("-pk")
        if last_id is not None:
            batch_query = batch_query.filter(pk__lt=last_id)
        batch = list(batch_query[:EXPORT_BATCH])
        if not batch:
            return
        tags: dict[int, list[str]] = {}
        for link in ContactTag.objects.filter(contact__in=[c.pk for c in batch]).select_related(
            "tag"
        ):
            tags.setdefault(link.contact_id, []).append(link.tag.name)
        for c in batch:
            values = c.fields or {}
            cells = [
                c.email,
                c.first_name,
                c.last_name,
                c.phone,
                c.email_status,
                ", ".join(sorted(tags.get(c.pk, []))),
                *(_csv_value(values.get(k)) for k in keys),
                c.created_at.isoformat(),
            ]
            # Contacts type their own names (forms, eTermin bookings): a "=HYPERLINK(...)"
            # must reach the spreadsheet as text, never as a formula.
            yield writer.writerow([contact_import.neutralise(cell) for cell in cells])
        last_id = batch[-1].pk


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@workspace_view(role=Role.EDITOR)
def contact_data_export(request: HttpRequest, contact_id: int) -> HttpResponse:
    """The person's data as a JSON download (the same document as the API's export)."""
    contact = _workspace_contact(request, contact_id)
    response = JsonResponse(
        privacy.export_contact(contact), json_dumps_params={"ensure_ascii": False, "indent": 2}
    )
    response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.json"'
    return response


@workspace_view(role=Role.EDITOR)
@require_POST
def contact_erase(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _workspace_contact(request, contact_id)
    privacy.erase_contact(contact)
    messages.success(request, _("The contact's data was erased everywhere."))
    return redirect("web:contacts")


@workspace_view
def contact_export(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    fields = contact_fields.list_fields(workspace)
    query = filtered_contacts(workspace, request.GET, fields)
    response = StreamingHttpResponse(
        _export_rows(workspace, query, fields), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
    return response  # type: ignore[return-value]


@workspace_view
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > contact_import.MAX_BYTES:
            form.add_error("file", _("The file is larger than 20 MB."))
        else:
            try:
                item = contact_import.start_import(
                    workspace,
                    request.user,  # type: ignore[arg-type]
                    filename=upload.name,
                    raw=upload.read(),
                )
            except TerminflowError as exc:
                form.add_error("file", exc.detail)
            else:
                return redirect("web:contact_import_detail", import_id=item.pk)
    recent = ContactImport.objects.filter(workspace=workspace)[:10]
    return render_page(
        request,
        "web/import_upload.html",
        {"nav": "contacts", "form": form, "recent": recent},
        status=422 if form.errors else 200,
    )


def _import_targets(fields: list[Field]) -> list[tuple[str, str]]:
    return [
        ("", _("— skip this column —")),
        ("email", pgettext("address", "Email")),
        ("first_name", _("First name")),
        ("last_name", _("Last name")),
        ("phone", _("Phone")),
        ("tags", _("Tags")),
        *((f"field:{f.key}", f"{f.label} ({f.key})") for f in fields),
    ]


@workspace_view
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """The mapping step, then the progress bar; each htmx POST with ``step`` imports a chunk."""
    workspace = request.workspace  # type: ignore[attr-defined]
    item = ContactImport.objects.filter(workspace=workspace, pk=import_id).first()
    if item is None:
        raise Http404
    if request.GET.get("format") == "rejected.csv":
        response = HttpResponse(
            contact_import.rejected_csv(item), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{item.pk}-rejected.csv"'
        return response
    fields = contact_fields.list_fields(workspace)
    error = ""
    if request.method == "POST" and request.POST.get("step"):
        item = contact_import.import_chunk(item.pk, workspace)
        return render_page(request, "web/import_progress.html", {"item": item})
    if request.method == "POST":
        mapping = {str(i): request.POST.get(f"column_{i}", "") for i in range(len(item.header))}
        try:
            contact_import.configure(
                item,
                mapping=mapping,
                email_status=request.POST.get("email_status", "unknown"),
                add_tags=_tag_list(request.POST.get("add_tags", "")),
            )
        except TerminflowError as exc:
            error = exc.detail
            item.mapping = mapping
        else:
            return redirect("web:contact_import_detail", import_id=item.pk)
    preview = _preview_rows(item)
    columns = [
        {
            "index": i,
            "title": title,
            "target": item.mapping.get(str(i), ""),
            "samples": [row[i] if i < len(row) else "" for row in preview],
        }
        for i, title in enumerate(item.header)
    ]
    return render_page(
        request,
        "web/import_detail.html",
        {
            "nav": "contacts",
            "item": item,
            "columns": columns,
            "targets": _import_targets(fields),
            "error": error,
            "statuses": [(s, EMAIL_STATUSES[s]) for s in contact_import.IMPORT_STATUSES],
            "running": item.status == ImportStatus.RUNNING,
        },
        status=422 if error else 200,
    )


def _preview_rows(item: ContactImport, count: int = 3) -> list[list[str]]:
    return [
        list(cells)
        for cells in ContactImportRow.objects.filter(contact_import=item)
        .order_by("number")
        .values_list("cells", flat=True)[:count]
    ]
