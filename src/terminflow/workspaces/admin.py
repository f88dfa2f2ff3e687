from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiToken, Membership, Plan, User, Workspace


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "features")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "plan", "timezone", "locale", "created_at")
    list_filter = ("plan",)
    inlines = [MembershipInline]


@admin.register(User)
class TerminflowUserAdmin(UserAdmin):
    list_display = ("email", "is_staff", "is_active", "date_joined")
    ordering = ("email",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "workspace", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("token_hash", "prefix", "created_at", "last_used_at")
