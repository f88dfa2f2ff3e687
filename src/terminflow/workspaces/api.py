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
from ninja import Router, Status
from ninja.security import APIKeyCookie, HttpBearer

from terminflow.kit.errors import Forbidden, NotAuthenticated

from . import team
from .models import Invitation, Membership, Role, Workspace
from .schemas import (
    ErrorOut,
    InvitationIn,
    InvitationOut,
    IssuedInvitationOut,
    MemberOut,
    MemberPatch,
)
from .services import authenticate_token_record

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
            record = authenticate_token_record(token)
        except NotAuthenticated:
            return None
        request.api_token = record  # type: ignore[attr-defined]
        setattr(request, _ROLE_ATTRIBUTE, API_TOKEN_ROLE)
        return record.workspace


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


def has_role_name(role: str, needed: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


def has_role(membership: Membership, role: str) -> bool:
    return has_role_name(membership.role, role)


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


# -- the team: /api/v1/members and /api/v1/invitations -----------------------------------------

members_router = Router(tags=["Team"])
invitations_router = Router(tags=["Team"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def current_actor(request: Any) -> team.Actor:
    """Who calls: the session's member with their role, or an API token (acting as admin)."""
    workspace = current_workspace(request)
    record = getattr(request, "api_token", None)
    if record is not None and record.workspace_id == workspace.pk:
        return team.Actor.token(record)
    membership = getattr(request, "membership", None)
    if membership is None or membership.workspace_id != workspace.pk:
        raise NotAuthenticated(gettext_lazy("Send Authorization: Bearer <workspace API token>."))
    return team.Actor.member(membership)


def _member_out(membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {
        "id": membership.pk,
        "user_id": user.pk,
        "email": user.email,
        "name": user.get_full_name(),
        "role": membership.role,
        "joined_at": membership.joined_at,
        "last_login": user.last_login,
    }


def _invitation_out(invitation: Invitation, actor: team.Actor) -> dict[str, Any]:
    show_email = has_role_name(actor.role, Role.EDITOR)
    return {
        "id": invitation.pk,
        "email": invitation.email if show_email else None,
        "role": invitation.role,
        "status": team.invitation_status(invitation),
        "invited_by": (
            invitation.invited_by.email if show_email and invitation.invited_by else None
        ),
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "sent_at": invitation.sent_at,
    }


def _issued_out(issued: team.IssuedInvitation, actor: team.Actor) -> dict[str, Any]:
    return {
        **_invitation_out(issued.invitation, actor),
        "email_sent": issued.sent,
        "email_problem": issued.problem,
        "accept_url": None if issued.sent else issued.url,
    }


@members_router.get("", response={200: list[MemberOut], **ERRORS}, summary="List members")
def list_members(request: HttpRequest) -> list[dict[str, Any]]:
    """Everyone in the workspace with their role and last login, by email."""
    actor = current_actor(request)
    return [_member_out(m) for m in team.members(actor.workspace)]


@members_router.patch(
    "/{member_id}", response={200: MemberOut, **ERRORS}, summary="Change a member's role"
)
def change_member_role(request: HttpRequest, member_id: int, payload: MemberPatch) -> Any:
    """Admins only. The last admin cannot be demoted (409 `last_admin`); a member who stops
    being admin loses the API tokens they created."""
    change = team.change_role(current_actor(request), member_id, payload.role)
    return _member_out(change.membership)


@members_router.delete("/{member_id}", response={204: None, **ERRORS}, summary="Remove a member")
def remove_member(request: HttpRequest, member_id: int) -> Status[None]:
    """Admins only. The member's sessions lose the workspace at once and the API tokens they
    created are revoked. The last admin cannot be removed (409 `last_admin`)."""
    team.remove(current_actor(request), member_id)
    return Status(204, None)


@invitations_router.get(
    "", response={200: list[InvitationOut], **ERRORS}, summary="List open invitations"
)
def list_invitations(request: HttpRequest) -> list[dict[str, Any]]:
    """Invitations not yet accepted or revoked (pending or expired). Viewers get `email` null."""
    actor = current_actor(request)
    return [_invitation_out(i, actor) for i in team.open_invitations(actor.workspace)]


@invitations_router.post(
    "", response={201: IssuedInvitationOut, **ERRORS}, summary="Invite someone"
)
def create_invitation(request: HttpRequest, payload: InvitationIn) -> Status[dict[str, Any]]:
    """Admins only. Sends an email with a single-use link valid for 7 days. When the email
    cannot be sent, `email_sent` is false and `accept_url` holds the link (shown only here)."""
    actor = current_actor(request)
    issued = team.invite(actor, email=payload.email, role=payload.role)
    return Status(201, _issued_out(issued, actor))


@invitations_router.post(
    "/{invitation_id}/resend",
    response={200: IssuedInvitationOut, **ERRORS},
    summary="Send an invitation again",
)
def resend_invitation(request: HttpRequest, invitation_id: int) -> dict[str, Any]:
    """Admins only. A new link, valid for another 7 days; the earlier link stops working."""
    actor = current_actor(request)
    return _issued_out(team.resend(actor, invitation_id), actor)


@invitations_router.delete(
    "/{invitation_id}", response={204: None, **ERRORS}, summary="Revoke an invitation"
)
def revoke_invitation(request: HttpRequest, invitation_id: int) -> Status[None]:
    """Admins only. The link then answers that the invitation was revoked."""
    team.revoke(current_actor(request), invitation_id)
    return Status(204, None)
