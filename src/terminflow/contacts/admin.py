"""Admin pages for operators: look up contacts and their ledger.

Contacts, tags and consent events are read-only here, since every change has to go through the
services (normalised email and phone, typed field values, ledger entries, signals).
"""

from django.contrib import admin

from .models import ConsentEvent, Contact, ContactTag, Field, Note, Tag


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class ContactTagInline(ReadOnlyInline):
    model = ContactTag
    fields = ("tag", "created_at")
    readonly_fields = fields


class NoteInline(ReadOnlyInline):
    model = Note
    fields = ("text", "source", "created_at")
    readonly_fields = fields


class ConsentEventInline(ReadOnlyInline):
    model = ConsentEvent
    fields = ("kind", "occurred_at", "source", "details", "ip", "user_agent")
    readonly_fields = fields


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "email_status", "workspace", "created_at")
    list_filter = ("email_status", "workspace")
    search_fields = ("email",)
    # A count over a million contacts would make every page slow.
    show_full_result_count = False
    list_select_related = ("workspace",)
    fields = (
        "workspace",
        "email",
        "first_name",
        "last_name",
        "phone",
        "email_status",
        "fields",
        "blocked_until",
        "block_count",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [ContactTagInline, NoteInline, ConsentEventInline]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Field)
class FieldAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "type", "workspace", "created_at")
    list_filter = ("type", "workspace")
    search_fields = ("key", "label")
    # Key, type and options decide how stored values read; only the label is safe to edit.
    readonly_fields = ("workspace", "key", "type", "options", "created_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace")
    list_filter = ("workspace",)
    search_fields = ("name",)
    readonly_fields = ("workspace", "name")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """The ledger: events are recorded by the services and never changed or removed here."""

    list_display = ("occurred_at", "kind", "contact", "source", "ip")
    list_filter = ("kind",)
    search_fields = ("contact__email",)
    list_select_related = ("contact",)
    show_full_result_count = False
    fields = (
        "workspace",
        "contact",
        "kind",
        "occurred_at",
        "source",
        "details",
        "ip",
        "user_agent",
    )
    readonly_fields = fields

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
