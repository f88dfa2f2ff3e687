from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import ApiToken, Invitation, Membership, Plan, TeamEvent, User, Workspace


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


class UserAddForm(AdminUserCreationForm):
    """The email address is the login name, here as on ``/login/`` and in the CLI."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: ClassVar[dict[str, Any]] = {}

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        taken = User.objects.filter(email__iexact=email) | User.objects.filter(
            username__iexact=email
        )
        if taken.exists():
            raise ValidationError(_("A user with this email already exists."), code="unique")
        return email

    def _post_clean(self) -> None:
        if self.cleaned_data.get("email"):
            self.instance.username = self.cleaned_data["email"]
        super()._post_clean()  # type: ignore[misc]


@admin.register(User)
class TerminflowUserAdmin(UserAdmin):
    list_display = ("email", "is_staff", "is_superuser", "is_active", "date_joined")
    ordering = ("email",)
    add_form = UserAddForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "workspace",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = ("token_hash", "prefix", "created_by", "created_at", "last_used_at")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """For the operator to look; admins manage invitations on Settings → Team."""

    list_display = ("email", "workspace", "role", "created_at", "expires_at", "accepted_at")
    list_filter = ("role",)
    exclude = ("secret_hash",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(TeamEvent)
class TeamEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "workspace", "kind", "actor_label", "subject_email", "role")
    list_filter = ("kind",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
