"""Who may see and change which page: login, the session's workspace, roles, language and zone.

Every workspace page goes through ``workspace_view``: it resolves the user's membership in the
workspace chosen in the session, refuses any write by a viewer (checked here on the server, the
templates only hide the buttons), and turns on the user's language and time zone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from terminflow.kit.errors import Forbidden
from terminflow.workspaces.api import (
    check_write_access,
    has_role,
    memberships_of,
    resolve_membership,
)
from terminflow.workspaces.models import Membership, Role, User, Workspace

from .http import is_htmx

SUPPORTED_LANGUAGES = {code for code, _ in settings.LANGUAGES}


def language_for(user: User | None, workspace: Workspace | None) -> str:
    """The user's chosen language, else the workspace's (German for de-CH / de-DE)."""
    if user is not None and user.language in SUPPORTED_LANGUAGES:
        return user.language
    if workspace is not None:
        return workspace.language
    return settings.LANGUAGE_CODE


def timezone_for(user: User | None, workspace: Workspace | None) -> str:
    if user is not None and user.timezone:
        return user.timezone
    if workspace is not None and workspace.timezone:
        return workspace.timezone
    return settings.TIME_ZONE


def activate_preferences(request: HttpRequest, workspace: Workspace | None) -> None:
    user = request.user if request.user.is_authenticated else None
    language = language_for(user, workspace)  # type: ignore[arg-type]
    translation.activate(language)
    request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
    try:
        timezone.activate(timezone_for(user, workspace))  # type: ignore[arg-type]
    except Exception:  # an unknown zone name stored by hand must not break every page
        timezone.activate(settings.TIME_ZONE)


def _login_redirect(request: HttpRequest) -> HttpResponse:
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = settings.LOGIN_URL
        return response
    return redirect_to_login(request.get_full_path())


def login_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page about the user themself (preferences, switching workspace): login is enough."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _login_redirect(request)
        membership = resolve_membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace if membership else None  # type: ignore[attr-defined]
        activate_preferences(request, request.workspace)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def workspace_view(
    view: Callable[..., HttpResponse] | None = None, *, role: str = Role.VIEWER
) -> Any:
    """A workspace page: reading needs ``role`` (viewer by default), writing needs editor."""

    def decorate(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(fn)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return _login_redirect(request)
            membership = resolve_membership(request)
            if membership is None:
                activate_preferences(request, None)
                raise PermissionDenied(_("You are not a member of any workspace."))
            request.membership = membership  # type: ignore[attr-defined]
            request.workspace = membership.workspace  # type: ignore[attr-defined]
            activate_preferences(request, membership.workspace)
            if not has_role(membership, role):
                raise PermissionDenied(_("Your role does not allow this page."))
            try:
                check_write_access(request, membership)
            except Forbidden as exc:
                raise PermissionDenied(
                    _("Viewers can look at this workspace but not change it.")
                ) from exc
            return fn(request, *args, **kwargs)

        return wrapper

    if view is not None:
        return decorate(view)
    return decorate


def can_edit(membership: Membership | None) -> bool:
    return membership is not None and has_role(membership, Role.EDITOR)


def can_admin(membership: Membership | None) -> bool:
    return membership is not None and has_role(membership, Role.ADMIN)


def navigation_context(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs on every page: workspaces to switch to and what the user may do."""
    membership: Membership | None = getattr(request, "membership", None)
    user = request.user if request.user.is_authenticated else None
    return {
        "membership": membership,
        "workspace": membership.workspace if membership else None,
        "memberships": memberships_of(user) if user else [],
        "can_edit": can_edit(membership),
        "can_admin": can_admin(membership),
    }
