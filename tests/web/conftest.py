"""Fixtures for the pages: users with a role in a workspace, and clients logged in as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from terminflow.workspaces.models import Membership, Role, User, Workspace
from tests.conftest import make_workspace

PASSWORD = "correct horse battery staple"


def make_user(email: str, workspace: Workspace | None = None, role: str = Role.EDITOR) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD)
    if workspace is not None:
        Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def logged_in(user: User, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def editor(workspace: Workspace) -> User:
    return make_user("editor@praxis.example", workspace, Role.EDITOR)


@pytest.fixture
def viewer(workspace: Workspace) -> User:
    return make_user("viewer@praxis.example", workspace, Role.VIEWER)


@pytest.fixture
def admin_user(workspace: Workspace) -> User:
    return make_user("admin@praxis.example", workspace, Role.ADMIN)


@pytest.fixture
def editor_client(editor: User) -> Client:
    return logged_in(editor)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return logged_in(viewer)


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return make_workspace("Zahnarzt Oerlikon")


@pytest.fixture
def user_factory(db: None) -> Callable[..., User]:
    return make_user
