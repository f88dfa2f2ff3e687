"""Shared fixtures: small factories for the objects every area needs.

Area-specific fixtures live in that area's own conftest (tests/etermin/conftest.py, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from terminflow.workspaces.models import Workspace
from terminflow.workspaces.services import get_or_create_workspace, issue_api_token

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.server",
    "tests.fixtures.smtp",
    "tests.fixtures.imap",
]


def make_workspace(name: str = "Praxis Seefeld", **kwargs: Any) -> Workspace:
    return get_or_create_workspace(name, **kwargs)


class ApiClient:
    """A Django test client that speaks JSON and sends a workspace API token.

    It asks for English unless told otherwise, so tests read the msgids; the German answers
    have their own tests (``ApiClient(workspace, language="de")``).
    """

    def __init__(self, workspace: Workspace, *, language: str = "en") -> None:
        self.workspace = workspace
        self.token = issue_api_token(workspace).token
        self._client = Client(
            HTTP_AUTHORIZATION=f"Bearer {self.token}", HTTP_ACCEPT_LANGUAGE=language
        )

    def _call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        fn = getattr(self._client, method)
        if body is None:
            return fn(path, **extra)
        return fn(path, data=body, content_type="application/json", **extra)

    def get(self, path: str, **extra: Any) -> Any:
        return self._call("get", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._call("post", path, body if body is not None else {}, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._call("put", path, body if body is not None else {}, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._call("patch", path, body if body is not None else {}, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._call("delete", path, **extra)


@pytest.fixture(scope="session", autouse=True)
def no_session_outlives_the_test_database(django_db_setup: None, django_db_blocker: Any) -> Any:
    """End every other session on the PostgreSQL test database before it is dropped.

    A connection left open by a thread or a child process of some test (the server fixture's
    worker was one) makes the drop fail, and the next run finds the database still there.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    from django.db import OperationalError

    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    except OperationalError:
        # The tests that stop the database server or point Django at another one (the worker
        # tests) can leave the connection naming a database that is not there; then no
        # session of ours is on the test database either, and there is nothing to end.
        connection.close()


@pytest.fixture(autouse=True)
def english_outside_requests() -> Any:
    """Code run outside a request reads the msgids; German is asked for explicitly."""
    with translation.override("en"):
        yield


@pytest.fixture
def workspace(db: None) -> Workspace:
    return make_workspace()


@pytest.fixture
def api(workspace: Workspace) -> ApiClient:
    return ApiClient(workspace)


@pytest.fixture
def api_for(db: None) -> Callable[[Workspace], ApiClient]:
    return ApiClient
