"""Operator views of eTermin data: read-only, since every write goes through the services.

Accounts show no key and no Web Push URL (both are secrets); the inbox shows each raw body as
text, the way eTermin sent it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from terminflow.kit.errors import Conflict

from . import services
from .models import Appointment, EterminAccount, WebPush, WebPushStatus


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EterminAccount)
class EterminAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "workspace",
        "public_key",
        "timezone",
        "created_at",
        "synced_at",
        "sync_error_code",
    )
    list_select_related = ("workspace",)
    search_fields = ("name", "public_key", "workspace__name")
    fields = ("workspace", "name", "public_key", "timezone", "created_at", "updated_at")


def _body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


@admin.action(description="Retry the selected failed web pushes")
def retry_failed(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    retried = 0
    for push in queryset.filter(status=WebPushStatus.FAILED):
        try:
            services.retry_push(push)
        except Conflict:
            continue
        retried += 1
    modeladmin.message_user(request, f"{retried} web push(es) set back to pending.", messages.INFO)


@admin.register(WebPush)
class WebPushAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "workspace",
        "account",
        "command",
        "appointment_uid",
        "status",
        "source",
        "received_at",
        "processed_at",
        "attempts",
    )
    list_filter = ("status", "command", "source")
    list_select_related = ("workspace", "account")
    search_fields = ("=appointment_uid",)
    # The inbox grows without bound; counting all of it on every page view would be slow.
    show_full_result_count = False
    actions = [retry_failed]
    fields = (
        "workspace",
        "account",
        "received_at",
        "content_type",
        "body_text",
        "body_sha256",
        "command",
        "appointment_uid",
        "status",
        "reason",
        "attempts",
        "next_attempt_at",
        "processed_at",
    )
    readonly_fields = fields

    @admin.display(description="body")
    def body_text(self, obj: WebPush) -> SafeString:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>', _body_text(bytes(obj.body))
        )


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = (
        "uid",
        "workspace",
        "account",
        "calendar_name",
        "start",
        "end",
        "status",
        "taken_in",
        "contact",
    )
    list_filter = ("status", "taken_in")
    list_select_related = ("workspace", "account", "contact")
    search_fields = ("=uid", "contact__email")
    show_full_result_count = False
    raw_id_fields = ("contact",)
