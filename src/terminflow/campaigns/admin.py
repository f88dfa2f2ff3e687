"""Django admin for operators: campaigns with their graph, enrollments and runs (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Campaign, Edge, Element, Enrollment, Run


class ElementInline(admin.TabularInline):
    model = Element
    extra = 0
    fields = ("key", "type", "kind", "config", "position", "removed")


class EdgeInline(admin.TabularInline):
    model = Edge
    extra = 0
    fields = ("source", "branch", "target")
    raw_id_fields = ("source", "target")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "status", "version", "updated_at")
    list_filter = ("status",)
    search_fields = ("name",)
    raw_id_fields = ("workspace",)
    readonly_fields = ("version", "created_at", "updated_at")
    inlines = [ElementInline, EdgeInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Runs and enrollments are the engine's log; people read them, only the engine writes."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("contact", "campaign", "rotation", "status", "created_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("contact__email", "campaign__name")
    raw_id_fields = ("workspace", "campaign", "contact")
    list_select_related = ("contact", "campaign")


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = (
        "element_key",
        "campaign",
        "contact",
        "rotation",
        "status",
        "due_at",
        "finished_at",
        "reason",
    )
    list_filter = ("status",)
    search_fields = ("contact__email", "element__key", "campaign__name")
    raw_id_fields = ("workspace", "campaign", "enrollment", "element", "contact")
    list_select_related = ("element", "contact", "campaign")
    # The sweep's index serves pending rows; the admin list must not scan the whole table.
    show_full_result_count = False

    @admin.display(description="element", ordering="element__key")
    def element_key(self, run: Run) -> str:
        return f"{run.element.key} ({run.element.type})"
