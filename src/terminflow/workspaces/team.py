"""A workspace's team: members and their roles, invitations, and the record of every change.

Only admins change the team; every function that changes it takes an ``Actor`` and checks that
here, so the pages and the API cannot disagree. A workspace always keeps at least one admin: the
last one can be neither demoted nor removed (checked under a row lock, so two admins demoting
each other at the same moment cannot both succeed).

Invitation links are ``<id>-<secret>`` signed with a timestamp (``django.core.signing``): the
signature tells a tampered link from an unknown one, the timestamp and ``expires_at`` end it after
``INVITATION_VALID_FOR``, and only the secret's SHA-256 is stored, so the row decides whether the
link is still the current one and whether it was used. The email itself goes out through a
sender that a higher layer registers (``register_invitation_sender``; the mail app does), after
the invitation is committed and outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse

from terminflow.kit import clock
from terminflow.kit.crypto import new_token, token_hash
from terminflow.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable

from .models import (
    ApiToken,
    Invitation,
    Membership,
    Role,
    TeamEvent,
    TeamEventKind,
    User,
    Workspace,
)
from .services import PasswordRejected, validate_new_password

log = logging.getLogger("terminflow.team")

INVITATION_VALID_FOR = timedelta(days=7)
_SALT = "terminflow.workspaces.invitation"


# Errors ---------------------------------------------------------------------------------------


class LastAdmin(Conflict):
    code = "last_admin"


class AlreadyMember(Conflict):
    code = "already_member"


class AlreadyInvited(Conflict):
    code = "already_invited"


class InvitationInvalid(NotFound):
    """The link was changed, cut short, or never issued."""

    code = "invitation_invalid"


class InvitationGone(BadRequest):
    """The link was genuine but can no longer be used; ``reason`` says why."""

    status = 410
    code = "invitation_gone"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason


class WrongAccount(Forbidden):
    code = "wrong_account"


class AccountExists(Conflict):
    code = "account_exists"


# Who acts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a logged-in member, or a workspace API token (acting as admin)."""

    workspace: Workspace
    role: str
    user: User | None
    label: str

    @classmethod
    def member(cls, membership: Membership) -> Actor:
        return cls(membership.workspace, membership.role, membership.user, membership.user.email)

    @classmethod
    def token(cls, record: ApiToken) -> Actor:
        return cls(record.workspace, Role.ADMIN, None, f"API token {record.prefix}…")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only admins can change the team.")


def _record(
    workspace: Workspace,
    kind: str,
    *,
    actor_user: User | None,
    actor_label: str,
    subject_email: str,
    role: str = "",
    old_role: str = "",
    invitation: Invitation | None = None,
) -> TeamEvent:
    return TeamEvent.objects.create(
        workspace=workspace,
        kind=kind,
        actor=actor_user,
        actor_label=actor_label,
        subject_email=subject_email,
        role=role,
        old_role=old_role,
        invitation=invitation,
        created_at=clock.now(),
    )


def _valid_role(role: str) -> str:
    if role not in Role.values:
        raise Unprocessable(f"{role!r} is not a role; use admin, editor or viewer.")
    return role


# Reading --------------------------------------------------------------------------------------


def members(workspace: Workspace) -> list[Membership]:
    return list(
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    )


def member(workspace: Workspace, membership_id: int) -> Membership:
    found = (
        Membership.objects.select_related("user", "workspace")
        .filter(workspace=workspace, pk=membership_id)
        .first()
    )
    if found is None:
        raise NotFound(f"No member {membership_id} in this workspace.")
    return found


def open_invitations(workspace: Workspace) -> list[Invitation]:
    """Invitations neither accepted nor revoked, newest first (expired ones included)."""
    return list(
        Invitation.objects.filter(
            workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
        )
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitation_status(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= clock.now():
        return "expired"
    return "pending"


def events(workspace: Workspace, *, limit: int = 100) -> list[TeamEvent]:
    return list(
        TeamEvent.objects.filter(workspace=workspace).order_by("-created_at", "-id")[:limit]
    )


# Invitations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    sent: bool
    problem: str = ""


InvitationSender = Callable[[Invitation, str], SendResult]
_senders: list[InvitationSender] = []


def register_invitation_sender(sender: InvitationSender) -> None:
    """Called once by the app that sends email (mail), from its ``AppConfig.ready``."""
    if sender not in _senders:
        _senders.append(sender)


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation with its link; ``url`` is the only copy of the link that will exist."""

    invitation: Invitation
    url: str
    sent: bool
    problem: str


def _signer() -> signing.TimestampSigner:
    # "." instead of ":" keeps the token one plain path segment for every mail client.
    return signing.TimestampSigner(salt=_SALT, sep=".")


def _new_link(invitation_id: int) -> tuple[str, str]:
    secret = new_token(24)
    return _signer().sign(f"{invitation_id}-{secret}"), token_hash(secret)


def invitation_url(token: str) -> str:
    return settings.BASE_URL + reverse("web:invitation", kwargs={"token": token})


def _deliver(invitation: Invitation, token: str) -> IssuedInvitation:
    """Send the email (outside any transaction), then record whether it went out."""
    url = invitation_url(token)
    if not _senders:
        result = SendResult(False, "no email sender is installed")
    else:
        try:
            result = _senders[0](invitation, url)
        except Exception as exc:  # a broken sender must not lose the committed invitation
            log.exception("sending the invitation %s failed", invitation.pk)
            result = SendResult(False, f"sending failed: {type(exc).__name__}")
    now = clock.now()
    if result.sent:
        Invitation.objects.filter(pk=invitation.pk).update(sent_at=now, send_problem="")
        invitation.sent_at, invitation.send_problem = now, ""
    else:
        problem = result.problem[:500]
        Invitation.objects.filter(pk=invitation.pk).update(send_problem=problem)
        invitation.send_problem = problem
    return IssuedInvitation(invitation, url, result.sent, result.problem)


def _normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Unprocessable(f"{email!r} is not an email address.") from None
    return email


def invite(actor: Actor, *, email: str, role: str) -> IssuedInvitation:
    """Invite ``email`` with ``role`` and send the email with the link.

    An expired invitation to the same address is replaced; a pending one is refused (send it
    again instead), and so is an address that already belongs to a member.
    """
    _require_admin(actor)
    email = _normal_email(email)
    role = _valid_role(role)
    workspace = actor.workspace
    now = clock.now()
    try:
        with transaction.atomic():
            if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
                raise AlreadyMember(f"{email} is already a member of this workspace.")
            previous = (
                Invitation.objects.select_for_update()
                .filter(
                    workspace=workspace,
                    email=email,
                    accepted_at__isnull=True,
                    revoked_at__isnull=True,
                )
                .first()
            )
            if previous is not None:
                if previous.expires_at > now:
                    raise AlreadyInvited(
                        f"{email} is already invited; send the invitation again instead."
                    )
                previous.revoked_at = now
                previous.save(update_fields=["revoked_at"])
            # The row needs its id before the link can name it; the hash is replaced below.
            invitation = Invitation.objects.create(
                workspace=workspace,
                email=email,
                role=role,
                invited_by=actor.user,
                secret_hash=token_hash(new_token(24)),
                created_at=now,
                expires_at=now + INVITATION_VALID_FOR,
            )
            token, secret_hash = _new_link(invitation.pk)
            invitation.secret_hash = secret_hash
            invitation.save(update_fields=["secret_hash"])
            _record(
                workspace,
                TeamEventKind.INVITED,
                actor_user=actor.user,
                actor_label=actor.label,
                subject_email=email,
                role=role,
                invitation=invitation,
            )
    except IntegrityError:
        # Another admin invited the same address in the same moment.
        raise AlreadyInvited(
            f"{email} is already invited; send the invitation again instead."
        ) from None
    return _deliver(invitation, token)


def _open_invitation(actor: Actor, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update()
        .filter(workspace=actor.workspace, pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFound(f"No invitation {invitation_id} in this workspace.")
    if not invitation.is_open:
        raise Conflict(f"The invitation was already {invitation_status(invitation)}.")
    return invitation


def resend(actor: Actor, invitation_id: int) -> IssuedInvitation:
    """Send the invitation again with a new link, valid for another seven days.

    The earlier link stops working: whoever forwarded or lost it cannot use it any more.
    """
    _require_admin(actor)
    now = clock.now()
    with transaction.atomic():
        invitation = _open_invitation(actor, invitation_id)
        token, secret_hash = _new_link(invitation.pk)
        invitation.secret_hash = secret_hash
        invitation.expires_at = now + INVITATION_VALID_FOR
        invitation.save(update_fields=["secret_hash", "expires_at"])
        _record(
            actor.workspace,
            TeamEventKind.INVITATION_RESENT,
            actor_user=actor.user,
            actor_label=actor.label,
            subject_email=invitation.email,
            role=invitation.role,
            invitation=invitation,
        )
    return _deliver(invitation, token)


@transaction.atomic
def revoke(actor: Actor, invitation_id: int) -> Invitation:
    _require_admin(actor)
    invitation = _open_invitation(actor, invitation_id)
    invitation.revoked_at = clock.now()
    invitation.save(update_fields=["revoked_at"])
    _record(
        actor.workspace,
        TeamEventKind.INVITATION_REVOKED,
        actor_user=actor.user,
        actor_label=actor.label,
        subject_email=invitation.email,
        role=invitation.role,
        invitation=invitation,
    )
    return invitation


def read_invitation(token: str, *, for_update: bool = False) -> Invitation:
    """The open invitation a link names; raises ``InvitationInvalid`` or ``InvitationGone``."""
    try:
        value = _signer().unsign(token, max_age=INVITATION_VALID_FOR)
    except signing.SignatureExpired:
        raise InvitationGone("This invitation has expired.", reason="expired") from None
    except signing.BadSignature:
        raise InvitationInvalid("This invitation link is not valid.") from None
    raw_id, _, secret = value.partition("-")
    if not raw_id.isdigit() or not secret:
        raise InvitationInvalid("This invitation link is not valid.")
    query = Invitation.objects.select_related("workspace", "invited_by")
    if for_update:
        query = query.select_for_update(of=("self",))
    invitation = query.filter(pk=int(raw_id)).first()
    if invitation is None:
        raise InvitationInvalid("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise InvitationGone("This invitation was already accepted.", reason="accepted")
    if invitation.revoked_at is not None:
        raise InvitationGone("This invitation was revoked.", reason="revoked")
    if invitation.secret_hash != token_hash(secret):
        raise InvitationGone(
            "This invitation was sent again; use the link in the newest email.", reason="replaced"
        )
    if invitation.expires_at <= clock.now():
        raise InvitationGone("This invitation has expired.", reason="expired")
    return invitation


def account_for(invitation: Invitation) -> User | None:
    return User.objects.filter(email__iexact=invitation.email).first()


def _join(invitation: Invitation, user: User) -> Membership:
    now = clock.now()
    membership, created = Membership.objects.get_or_create(
        user=user,
        workspace=invitation.workspace,
        defaults={"role": invitation.role, "joined_at": now},
    )
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if created:
        _record(
            invitation.workspace,
            TeamEventKind.JOINED,
            actor_user=user,
            actor_label=user.email,
            subject_email=user.email,
            role=membership.role,
            invitation=invitation,
        )
    return membership


def _password_problems(password: str, user: User) -> tuple[list[str], list[str]]:
    """Each validator's message and stable code for a refused password, for the form."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        return list(exc.messages), [str(e.code) for e in exc.error_list]
    return [], []


@transaction.atomic
def accept_as_new_user(token: str, *, first_name: str, last_name: str, password: str) -> Membership:
    """Create the invited person's account with the password they chose, and let them join.

    The password must pass Django's password validators; their messages come back in the
    ``Unprocessable`` error's ``errors``.
    """
    invitation = read_invitation(token, for_update=True)
    if account_for(invitation) is not None:
        raise AccountExists("An account with this email exists; log in to accept.")
    first_name, last_name = first_name.strip(), last_name.strip()
    if not first_name:
        raise Unprocessable("A first name is required.", extra={"errors": {"first_name": []}})
    candidate = User(
        username=invitation.email,
        email=invitation.email,
        first_name=first_name[:150],
        last_name=last_name[:150],
    )
    try:
        # The same policy as every other place a password is set (CLI, admin, forms).
        validate_new_password(password, candidate)
    except PasswordRejected as rejected:
        messages, codes = _password_problems(password, candidate)
        messages = messages or [rejected.detail]
        codes = codes or [rejected.code]
        raise Unprocessable(
            "The password is not accepted: " + " ".join(messages),
            extra={"errors": {"password": messages}, "codes": {"password": codes}},
        ) from None
    user = User.objects.create_user(
        email=invitation.email,
        password=password,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
    )
    return _join(invitation, user)


@transaction.atomic
def accept_as_user(token: str, user: User) -> Membership:
    """The logged-in user joins; only the account the invitation was sent to may."""
    invitation = read_invitation(token, for_update=True)
    if user.email.lower() != invitation.email:
        raise WrongAccount(
            f"This invitation is for {invitation.email}; log in with that address to accept it."
        )
    return _join(invitation, user)


# Members --------------------------------------------------------------------------------------


def _lock_admins(actor: Actor) -> list[int]:
    """Lock the workspace's admin memberships; their ids, for the last-admin rule.

    The actor's own role is checked again under the lock: an admin demoted a moment ago by
    another admin must not still act on the role read at the start of their request.
    """
    admins = list(
        Membership.objects.select_for_update()
        .filter(workspace=actor.workspace, role=Role.ADMIN)
        .values_list("pk", "user_id")
    )
    if actor.user is not None and actor.user.pk not in {user_id for _, user_id in admins}:
        raise Forbidden("Only admins can change the team.")
    return [pk for pk, _ in admins]


def _revoke_tokens_of(user: User, workspace: Workspace) -> int:
    return ApiToken.objects.filter(
        workspace=workspace, created_by=user, revoked_at__isnull=True
    ).update(revoked_at=clock.now())


@dataclass(frozen=True)
class MemberChange:
    membership: Membership
    old_role: str
    tokens_revoked: int


@transaction.atomic
def change_role(actor: Actor, membership_id: int, role: str) -> MemberChange:
    """Give a member another role; someone who stops being admin loses the tokens they made."""
    _require_admin(actor)
    role = _valid_role(role)
    admins = _lock_admins(actor)
    membership = member(actor.workspace, membership_id)
    old_role = membership.role
    if old_role == role:
        return MemberChange(membership, old_role, 0)
    if old_role == Role.ADMIN and admins == [membership.pk]:
        raise LastAdmin("The workspace's last admin cannot be given another role.")
    membership.role = role
    membership.save(update_fields=["role"])
    revoked = 0
    if old_role == Role.ADMIN:
        revoked = _revoke_tokens_of(membership.user, actor.workspace)
    _record(
        actor.workspace,
        TeamEventKind.ROLE_CHANGED,
        actor_user=actor.user,
        actor_label=actor.label,
        subject_email=membership.user.email,
        role=role,
        old_role=old_role,
    )
    return MemberChange(membership, old_role, revoked)


@transaction.atomic
def remove(actor: Actor, membership_id: int) -> MemberChange:
    """Take a member out of the workspace, at once.

    Their sessions stop reaching the workspace on their next request (every request looks the
    membership up again, ``workspaces.api.resolve_membership``), and the API tokens they created
    in it are revoked. Their user account stays: it may belong to other workspaces.
    """
    _require_admin(actor)
    admins = _lock_admins(actor)
    membership = member(actor.workspace, membership_id)
    if admins == [membership.pk]:
        raise LastAdmin("The workspace's last admin cannot be removed.")
    revoked = _revoke_tokens_of(membership.user, actor.workspace)
    old_role = membership.role
    membership.delete()
    _record(
        actor.workspace,
        TeamEventKind.REMOVED,
        actor_user=actor.user,
        actor_label=actor.label,
        subject_email=membership.user.email,
        old_role=old_role,
    )
    return MemberChange(membership, old_role, revoked)
