"""The operators' door: ``/admin/`` opens only for operators, and its login is rate-limited.

Operators run the server and see every workspace; workspace admins, editors and viewers use
the pages and the API, which only ever show their own workspace.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from terminflow.workspaces.models import User
from terminflow.workspaces.services import (
    clear_login_failures,
    is_operator,
    login_locked,
    record_login_failure,
)

from .throttle import LOCKED_MESSAGE, client_address

# Set on the request by the login view, read by the form: a paused login is never checked.
_LOCKED_ATTRIBUTE = "terminflow_login_locked"


class OperatorAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": _("Email or password is wrong, or this account is not an operator."),
    }

    def clean(self) -> dict[str, Any]:
        if getattr(self.request, _LOCKED_ATTRIBUTE, False):
            raise ValidationError(LOCKED_MESSAGE, code="throttled")
        # Like /login/: the email is the login name, in whatever case it is typed.
        typed = (self.cleaned_data.get("username") or "").strip()
        known = User.objects.filter(email__iexact=typed).first() if typed else None
        if known is not None:
            self.cleaned_data["username"] = known.get_username()
        return super().clean()

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not is_operator(user):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class OperatorAdminSite(admin.AdminSite):
    site_header = "terminflow"
    site_title = _("terminflow operators")
    login_form = OperatorAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        email = request.POST.get("username", "")
        address = client_address(request)
        locked = login_locked(email, address)
        setattr(request, _LOCKED_ATTRIBUTE, locked)
        response = super().login(request, extra_context)
        if locked:
            response.status_code = 429
        elif response.status_code == 302:
            clear_login_failures(email, address)
        else:
            record_login_failure(email, address)
        return response
