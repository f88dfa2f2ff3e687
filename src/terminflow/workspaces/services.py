"""Workspace, user and API token services: the only code that writes these tables."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from terminflow.kit import clock
from terminflow.kit.crypto import new_token, token_hash
from terminflow.kit.errors import NotAuthenticated, NotFound, PlanRequired

from .models import ApiToken, Feature, Membership, Plan, Role, User, Workspace

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


@transaction.atomic
def create_admin(*, email: str, password: str, workspace_name: str) -> tuple[User, Workspace]:
    """Create (or update the password of) a user who administers the named workspace.

    The user also gets Django admin access, since the operator manages plans there.
    """
    workspace = get_or_create_workspace(workspace_name)
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    else:
        user.set_password(password)
    user.is_staff = True
    user.is_superuser = True
    user.save()
    Membership.objects.update_or_create(
        user=user, workspace=workspace, defaults={"role": Role.ADMIN}
    )
    return user, workspace


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
        raise NotFound(f"No workspace named {name!r}.") from None


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
        raise NotAuthenticated("Invalid or revoked API token.")
    # Touch at most once a minute so reads do not turn every API call into a write.
    now = clock.now()
    if record.last_used_at is None or (now - record.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def require_feature(workspace: Workspace, feature: str) -> None:
    if not workspace.has_feature(feature):
        raise PlanRequired(
            f"The {workspace.plan.name} plan does not include the {Feature(feature).label}; "
            "ask your operator to move the workspace to a plan that does (Basic and up)."
        )


def update_preferences(
    user: User, *, language: str | None = None, timezone: str | None = None
) -> User:
    """Store a user's UI language and time zone ("" means: follow the workspace)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.conf import settings

    from terminflow.kit.errors import Unprocessable

    changed: list[str] = []
    if language is not None:
        if language and language not in {code for code, _ in settings.LANGUAGES}:
            raise Unprocessable(f"{language!r} is not a supported language.")
        user.language = language
        changed.append("language")
    if timezone is not None:
        if timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise Unprocessable(f"{timezone!r} is not a time zone.") from None
        user.timezone = timezone
        changed.append("timezone")
    if changed:
        user.save(update_fields=changed)
    return user
