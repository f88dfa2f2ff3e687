"""Workspaces, users, memberships with roles, API tokens and plans."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone


class Feature(models.TextChoices):
    ETERMIN = "etermin", "eTermin integration"


class Plan(models.Model):
    """A commercial plan; the operator decides in the admin which features each plan includes."""

    key = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    features = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name

    def includes(self, feature: str) -> bool:
        return feature in (self.features or [])


class Workspace(models.Model):
    name = models.CharField(max_length=200, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="workspaces")
    timezone = models.CharField(max_length=64, default="Europe/Zurich")
    locale = models.CharField(max_length=16, default="de-CH")
    # Open and click tracking in marketing emails; on by default, as in the peers. When off,
    # nothing in an email is rewritten or embedded.
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    # Days a sign-up on a form is kept after it ended (confirmed, refused, or its confirmation
    # link expired unconfirmed); 0 keeps sign-ups until the form or the person is deleted. The
    # business is the controller: how long it keeps what people typed is its call.
    submission_retention_days = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def has_feature(self, feature: str) -> bool:
        return self.plan.includes(feature)

    @property
    def language(self) -> str:
        """The language of the workspace's locale (``de`` for de-CH), else the default one."""
        prefix = (self.locale or "").split("-")[0].lower()
        if prefix in {code for code, _ in settings.LANGUAGES}:
            return prefix
        return str(settings.LANGUAGE_CODE)


class EmailUserManager(UserManager):
    def create_user(self, username=None, email=None, password=None, **extra):  # type: ignore[override]
        email = self.normalize_email(email or username)
        return super().create_user(username=email, email=email, password=password, **extra)


class User(AbstractUser):
    """A person who logs in; the email address is the login name."""

    email = models.EmailField(unique=True)
    language = models.CharField(max_length=8, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")

    objects = EmailUserManager()  # type: ignore[misc]


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")
        ]


class ApiToken(models.Model):
    """A workspace API token; only its SHA-256 is stored, the token is shown once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="default")
    # A token carries its creator's admin rights: it is revoked when they leave the workspace or
    # stop being its admin (docs/decisions/0005-team-invitations-and-tokens.md).
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class Invitation(models.Model):
    """An invitation to join a workspace, by email, with a role.

    The link carries a random secret; only its SHA-256 is stored, so the table never holds a
    usable link. The secret changes on every re-send, which makes older links stop working.
    An invitation is open until it is accepted or revoked; past ``expires_at`` it is expired.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why the last email did not go out (SMTP down or not configured); empty once it went.
    send_problem = models.CharField(max_length=500, blank=True, default="")
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One open invitation per address and workspace, even when two admins click at once.
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_open_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.workspace} ({self.role})"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class TeamEventKind(models.TextChoices):
    INVITED = "invited", "Invited"
    INVITATION_RESENT = "invitation_resent", "Invitation sent again"
    INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
    JOINED = "joined", "Joined"
    ROLE_CHANGED = "role_changed", "Role changed"
    REMOVED = "removed", "Removed"


class TeamEvent(models.Model):
    """One change to a workspace's team, with who made it and when; never edited afterwards.

    Emails are copied, not only linked, so the record still says who it was after a user is
    deleted.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="team_events")
    kind = models.CharField(max_length=32, choices=TeamEventKind.choices)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The user's email, or "API token tf_ab12…" when a script made the change.
    actor_label = models.CharField(max_length=254)
    subject_email = models.EmailField()
    invitation = models.ForeignKey(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    role = models.CharField(max_length=16, blank=True, default="")
    old_role = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="team_event_ws")]


class LoginThrottle(models.Model):
    """Failed logins counted in the current window for one key.

    A key is a hash of an (email, client address) pair or of an address alone, never the email
    itself. Kept in the database so every web process counts the same failures.
    """

    key = models.CharField(max_length=80, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(db_index=True)
