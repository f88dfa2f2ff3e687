"""Workspaces, users, memberships with roles, API tokens and plans."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


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
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def has_feature(self, feature: str) -> bool:
        return self.plan.includes(feature)


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")
        ]


class ApiToken(models.Model):
    """A workspace API token; only its SHA-256 is stored, the token is shown once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="default")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class LoginThrottle(models.Model):
    """Failed logins counted in the current window for one key.

    A key is a hash of an (email, client address) pair or of an address alone, never the email
    itself. Kept in the database so every web process counts the same failures.
    """

    key = models.CharField(max_length=80, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(db_index=True)
