"""API authentication.

Two ways in: ``Authorization: Bearer <workspace API token>`` for scripts, and the Django session
cookie (with CSRF) for the browser, so the builder island calls ``/api/v1`` as the logged-in
user in the workspace chosen in the session, with that user's role enforced on the server.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from ninja.security import APIKeyCookie, HttpBearer

from terminflow.kit.errors import Forbidden, NotAuthenticated

from .models import Membership, Role, Workspace
from .services import authenticate_token

# The workspace a logged-in user works in, kept in the session; switched in the UI.
SESSION_WORKSPACE_KEY = "terminflow_workspace_id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


# The attribute on the request that holds the role the request acts with.
_ROLE_ATTRIBUTE = "terminflow_role"
# Tokens belong to a workspace, not to a person, and only admins can issue them; a token acts
# with the admin role (it reads secrets such as Web Push URLs and writes everything).
API_TOKEN_ROLE = Role.ADMIN


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Workspace | None:
        try:
            workspace = authenticate_token(token)
        except NotAuthenticated:
            return None
        setattr(request, _ROLE_ATTRIBUTE, API_TOKEN_ROLE)
        return workspace


def memberships_of(user: Any) -> list[Membership]:
    """The workspaces a user belongs to, by name."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    return list(
        Membership.objects.select_related("workspace__plan")
        .filter(user=user)
        .order_by("workspace__name", "workspace_id")
    )


def resolve_membership(request: HttpRequest) -> Membership | None:
    """The logged-in user's membership in the session's workspace.

    Falls back to the user's first workspace (and remembers it) when the session names none or
    one the user no longer belongs to, so removing a member takes effect on their next request.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    memberships = Membership.objects.select_related("workspace__plan").filter(user=user)
    chosen = request.session.get(SESSION_WORKSPACE_KEY)
    membership = memberships.filter(workspace_id=chosen).first() if chosen else None
    if membership is None:
        membership = memberships.order_by("workspace__name", "workspace_id").first()
        if membership is not None:
            request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    return membership


def has_role(membership: Membership, role: str) -> bool:
    return ROLE_RANK[Role(membership.role)] >= ROLE_RANK[Role(role)]


def check_write_access(request: HttpRequest, membership: Membership) -> None:
    """Viewers may read everything and change nothing; raises ``Forbidden`` on any write."""
    if request.method not in SAFE_METHODS and not has_role(membership, Role.EDITOR):
        raise Forbidden(gettext_lazy("Viewers can look at this workspace but not change it."))


class SessionAuth(APIKeyCookie):
    """The browser's session cookie, with Django's CSRF check on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Workspace | None:
        if not key:
            return None
        membership = resolve_membership(request)
        if membership is None:
            return None
        check_write_access(request, membership)
        request.membership = membership  # type: ignore[attr-defined]
        setattr(request, _ROLE_ATTRIBUTE, Role(membership.role))
        return membership.workspace


def request_role(request: Any) -> Role:
    """The role an API request acts with: the session user's, or ``API_TOKEN_ROLE``.

    Anything that did not go through the two authenticators counts as a viewer.
    """
    return getattr(request, _ROLE_ATTRIBUTE, Role.VIEWER)


def may_see_secrets(request: Any) -> bool:
    """Web Push URLs and other secret-bearing values are for editors and admins only."""
    return ROLE_RANK[request_role(request)] >= ROLE_RANK[Role.EDITOR]


def current_workspace(request: Any) -> Workspace:
    workspace = getattr(request, "auth", None)
    if not isinstance(workspace, Workspace):
        raise NotAuthenticated(gettext_lazy("Send Authorization: Bearer <workspace API token>."))
    return workspace
