"""Workspace, user and API token services: the only code that writes these tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from email_validator import EmailNotValidError, validate_email

from terminflow.kit import clock
from terminflow.kit.crypto import new_token, token_hash
from terminflow.kit.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PlanRequired,
    Unprocessable,
)

from .models import ApiToken, Feature, LoginThrottle, Membership, Plan, Role, User, Workspace

# The operator edits plans in the admin; these are only the starting set.
DEFAULT_PLANS: list[tuple[str, str, list[str]]] = [
    ("free", "Free", []),
    ("basic", "Basic", [Feature.ETERMIN.value]),
    ("pro", "Pro", [Feature.ETERMIN.value]),
    ("enterprise", "Enterprise", [Feature.ETERMIN.value]),
]
DEFAULT_PLAN_KEY = "basic"


def ensure_default_plans() -> None:
    for key, name, features in DEFAULT_PLANS:
        Plan.objects.get_or_create(key=key, defaults={"name": name, "features": features})


def get_or_create_workspace(
    name: str, *, plan_key: str = DEFAULT_PLAN_KEY, timezone: str = "Europe/Zurich"
) -> Workspace:
    ensure_default_plans()
    plan = Plan.objects.get(key=plan_key)
    workspace, _ = Workspace.objects.get_or_create(
        name=name, defaults={"plan": plan, "timezone": timezone}
    )
    return workspace


class PasswordRejected(Unprocessable):
    code = "password_rejected"


class UserExists(Conflict):
    code = "user_exists"


def is_operator(user: Any) -> bool:
    """Whether the user runs the server: only operators may open ``/admin/``."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.is_superuser
    )


def validate_new_password(password: str, user: User) -> None:
    """Refuse a password the validators reject (``settings.AUTH_PASSWORD_VALIDATORS``).

    ``user`` may be unsaved; its email is what the similarity check compares against.
    """
    if not password:
        raise PasswordRejected(_("The password must not be empty."))
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise PasswordRejected(" ".join(str(m).strip() for m in exc.messages)) from None


def _existing_user(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()


def _clean_login_email(email: str) -> str:
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise Unprocessable(
            _("%(email)s is not an email address.") % {"email": repr(email)}
        ) from None
    return email


def create_admin(
    *, email: str, password: str, workspace_name: str, reset_password: bool = False
) -> tuple[User, Workspace]:
    """Create a user who administers the named workspace (never an operator).

    An existing email is refused with ``UserExists`` unless ``reset_password`` is set: then the
    password is replaced and the user made admin of the workspace. Nothing is stored when the
    password or the email is refused.
    """
    email = _clean_login_email(email)
    user = _existing_user(email)
    if user is not None and not reset_password:
        raise UserExists(
            _(
                "A user with the email %(email)s already exists; "
                "add --reset-password to give them a new password."
            )
            % {"email": user.email}
        )
    validate_new_password(password, user or User(username=email, email=email))
    with transaction.atomic():
        workspace = get_or_create_workspace(workspace_name)
        if user is None:
            user = User.objects.create_user(email=email, password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        Membership.objects.update_or_create(
            user=user, workspace=workspace, defaults={"role": Role.ADMIN}
        )
    return user, workspace


def create_operator(*, email: str, password: str, reset_password: bool = False) -> User:
    """Create the person who runs the server: staff and superuser, in no workspace.

    An existing operator's password changes only with ``reset_password``; a workspace user is
    never turned into an operator here, since the operator sees every workspace's data.
    """
    email = _clean_login_email(email)
    user = _existing_user(email)
    if user is not None and not is_operator(user):
        raise UserExists(
            _(
                "%(email)s is already a user but not an operator; "
                "give the operator an email address of their own."
            )
            % {"email": user.email}
        )
    if user is not None and not reset_password:
        raise UserExists(
            _(
                "The operator %(email)s already exists; "
                "add --reset-password to give them a new password."
            )
            % {"email": user.email}
        )
    validate_new_password(password, user or User(username=email, email=email))
    with transaction.atomic():
        if user is None:
            user = User.objects.create_user(
                email=email, password=password, is_staff=True, is_superuser=True
            )
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
    return user


def operators_in_workspaces() -> list[User]:
    """Users who can open ``/admin/`` and also belong to a workspace.

    Before operators and workspace admins were split, ``createadmin`` made every admin a
    superuser; these are the accounts to check after upgrading.
    """
    return list(
        User.objects.filter(is_staff=True, is_superuser=True, is_active=True)
        .filter(memberships__isnull=False)
        .distinct()
        .order_by("email")
    )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


def issue_api_token(
    workspace: Workspace, *, name: str = "default", created_by: User | None = None
) -> IssuedToken:
    """Create an API token; the returned clear token is the only copy that will ever exist.

    ``created_by`` ties the token to the admin who made it: it is revoked when they leave the
    workspace or stop being its admin (``team.remove``, ``team.change_role``).
    """
    token = "tf_" + new_token(32)
    record = ApiToken.objects.create(
        workspace=workspace,
        name=name,
        token_hash=token_hash(token),
        prefix=token[:10],
        created_by=created_by,
    )
    return IssuedToken(token=token, record=record)


def workspace_by_name(name: str) -> Workspace:
    try:
        return Workspace.objects.select_related("plan").get(name=name)
    except Workspace.DoesNotExist:
        raise NotFound(gettext_lazy("No workspace named %(name)r."), name=name) from None


def authenticate_token(token: str) -> Workspace:
    """The workspace an API token belongs to; raises ``NotAuthenticated`` for any other token."""
    return authenticate_token_record(token).workspace


def authenticate_token_record(token: str) -> ApiToken:
    """The valid API token record for ``token``; raises ``NotAuthenticated`` for any other."""
    record = (
        ApiToken.objects.select_related("workspace__plan")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if record is None:
        raise NotAuthenticated(gettext_lazy("Invalid or revoked API token."))
    # Touch at most once a minute so reads do not turn every API call into a write.
    now = clock.now()
    if record.last_used_at is None or (now - record.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def require_feature(workspace: Workspace, feature: str) -> None:
    if not workspace.has_feature(feature):
        raise PlanRequired(
            gettext_lazy(
                "The %(name)s plan does not include the %(label)s; ask your operator to move the "
                "workspace to a plan that does (Basic and up)."
            ),
            name=workspace.plan.name,
            label=Feature(feature).label,
        )


def update_preferences(
    user: User, *, language: str | None = None, timezone: str | None = None
) -> User:
    """Store a user's UI language and time zone ("" means: follow the workspace)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.conf import settings

    changed: list[str] = []
    if language is not None:
        if language and language not in {code for code, _ in settings.LANGUAGES}:
            raise Unprocessable(
                gettext_lazy("%(language)r is not a supported language."), language=language
            )
        user.language = language
        changed.append("language")
    if timezone is not None:
        if timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise Unprocessable(
                    gettext_lazy("%(timezone)r is not a time zone."), timezone=timezone
                ) from None
        user.timezone = timezone
        changed.append("timezone")
    if changed:
        user.save(update_fields=changed)
    return user


def set_tracking(workspace: Workspace, *, track_opens: bool, track_clicks: bool) -> Workspace:
    """Switch open and click tracking of the workspace's marketing emails on or off.

    Emails rendered from now on follow the switches; a hit on an email sent earlier still
    redirects (its links must keep working) but is recorded only while its kind is on.
    """
    workspace.track_opens = track_opens
    workspace.track_clicks = track_clicks
    workspace.save(update_fields=["track_opens", "track_clicks"])
    return workspace


# About ten years: longer than any limitation period a sign-up could matter for.
MAX_RETENTION_DAYS = 3650


def set_submission_retention(workspace: Workspace, *, days: Any) -> Workspace:
    """Keep the sign-ups on the workspace's forms ``days`` after they ended (0: keep them).

    The worker's sweep ``forms.retention`` deletes those older from then on; the consent
    ledger, which holds the proof of each opt-in, is never touched by it.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RETENTION_DAYS:
        raise Unprocessable(
            gettext_lazy("The retention is a whole number of days from 0 to %(max)s."),
            code="invalid_retention",
            max=MAX_RETENTION_DAYS,
        )
    workspace.submission_retention_days = days
    workspace.save(update_fields=["submission_retention_days"])
    return workspace


# -- login rate limit ------------------------------------------------------------------------

LOGIN_WINDOW = timedelta(minutes=15)
# Per (email, client address): a stranger elsewhere cannot lock the real user out.
MAX_LOGIN_FAILURES_PER_PAIR = 10
# Per client address, looser: one address trying many emails (password spraying).
MAX_LOGIN_FAILURES_PER_ADDRESS = 50


def _throttle_keys(email: str, address: str) -> tuple[str, str]:
    email = (email or "").strip().lower()
    pair = hashlib.sha256(f"{email}\n{address}".encode()).hexdigest()
    alone = hashlib.sha256(address.encode()).hexdigest()
    return f"pair:{pair}", f"addr:{alone}"


def login_locked(email: str, address: str) -> bool:
    """Whether logins for this email from this address are paused for now."""
    pair, alone = _throttle_keys(email, address)
    counts = dict(
        LoginThrottle.objects.filter(
            key__in=(pair, alone), window_started_at__gt=clock.now() - LOGIN_WINDOW
        ).values_list("key", "failures")
    )
    return (
        counts.get(pair, 0) >= MAX_LOGIN_FAILURES_PER_PAIR
        or counts.get(alone, 0) >= MAX_LOGIN_FAILURES_PER_ADDRESS
    )


def record_login_failure(email: str, address: str) -> None:
    """Count one failed login for the pair and for the address (atomic across processes)."""
    now = clock.now()
    with transaction.atomic():
        # Expired windows go first, so a key found below is always in its current window.
        LoginThrottle.objects.filter(window_started_at__lte=now - LOGIN_WINDOW).delete()
        for key in _throttle_keys(email, address):
            if LoginThrottle.objects.filter(key=key).update(failures=F("failures") + 1):
                continue
            try:
                with transaction.atomic():
                    LoginThrottle.objects.create(key=key, failures=1, window_started_at=now)
            except IntegrityError:  # another process counted the first failure at once
                LoginThrottle.objects.filter(key=key).update(failures=F("failures") + 1)


def clear_login_failures(email: str, address: str) -> None:
    """Forget the pair's failures after a good login; the address's count stays."""
    pair, _alone = _throttle_keys(email, address)
    LoginThrottle.objects.filter(key=pair).delete()
