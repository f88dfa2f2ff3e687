from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext

from . import services
from .models import BounceMessage, EmailTemplate, Outbox


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["workspace", "name", "kind", "subject", "body_html", "body_text", "attach_ics"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        workspace = cleaned.get("workspace")
        if workspace is None:
            return cleaned
        data = services.TemplateData(
            name=cleaned.get("name") or "",
            subject=cleaned.get("subject") or "",
            body_html=cleaned.get("body_html") or "",
            body_text=cleaned.get("body_text") or "",
            kind=cleaned.get("kind") or "",
            attach_ics=bool(cleaned.get("attach_ics")),
        )
        for problem in services.check_template(workspace, data):
            line = " " + gettext("(line %(line)s)") % problem if problem.get("line") else ""
            field = problem["field"] if problem["field"] in self.fields else None
            self.add_error(field, f"{problem['message']}{line}")
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ("name", "kind", "workspace", "version", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "subject")
    readonly_fields = ("version", "created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: EmailTemplate, form: Any, change: bool) -> None:
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    """Read-only: what was queued and sent is a record, not something to edit."""

    list_display = (
        "id",
        "to_email",
        "subject",
        "kind",
        "status",
        "reason",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("to_email", "subject", "message_id")
    list_select_related = ("contact",)
    raw_id_fields = ("contact", "run", "template")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BounceMessage)
class BounceMessageAdmin(admin.ModelAdmin):
    """What came back to the bounce mailbox; filter on ``review`` for what needs a person.

    Unmatched messages belong to no workspace, so they are the operator's to read here.
    """

    list_display = ("id", "received_at", "kind", "status", "dsn_status", "reason", "workspace")
    list_filter = ("status", "kind")
    readonly_fields = ("raw_text",)
    exclude = ("raw",)
    raw_id_fields = ("outbox", "workspace")

    @admin.display(description="raw message")
    def raw_text(self, obj: BounceMessage) -> str:
        return bytes(obj.raw).decode("utf-8", "replace") if obj.raw is not None else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
