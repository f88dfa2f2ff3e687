"""Request and response shapes of the team API: ``/api/v1/members`` and ``/invitations``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema

RoleName = Literal["admin", "editor", "viewer"]


class ErrorOut(Schema):
    detail: str
    code: str


class MemberOut(Schema):
    id: int
    user_id: int
    email: str
    name: str
    role: RoleName
    joined_at: datetime
    last_login: datetime | None


class MemberPatch(Schema):
    role: RoleName


class InvitationIn(Schema):
    email: str
    role: RoleName


class InvitationOut(Schema):
    id: int
    # null for viewers: they see that someone is invited, not who.
    email: str | None
    role: RoleName
    status: Literal["pending", "expired"]
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None


class IssuedInvitationOut(InvitationOut):
    email_sent: bool
    # Why the email did not go out, and then (only then) the link, for the admin to pass on.
    email_problem: str
    accept_url: str | None
