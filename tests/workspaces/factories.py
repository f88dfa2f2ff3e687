"""Small builders for team tests: members with a role, actors, and invitations with their link."""

from __future__ import annotations

from terminflow.workspaces import team
from terminflow.workspaces.models import Membership, Role, User, Workspace

PASSWORD = "correct horse battery staple"


def make_member(workspace: Workspace, email: str, role: str = Role.EDITOR) -> Membership:
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email=email, password=PASSWORD, first_name=email.split("@")[0].title()
    )
    return Membership.objects.create(user=user, workspace=workspace, role=role)


def actor_for(membership: Membership) -> team.Actor:
    return team.Actor.member(membership)


def invite(
    admin: Membership, email: str = "lea@praxis.example", role: str = Role.EDITOR
) -> team.IssuedInvitation:
    return team.invite(actor_for(admin), email=email, role=role)


def token_of(issued: team.IssuedInvitation) -> str:
    """The token in an invitation's link (the last path segment)."""
    return issued.url.rstrip("/").rsplit("/", 1)[1]
