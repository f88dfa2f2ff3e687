"""API authentication: ``Authorization: Bearer <workspace API token>``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from terminflow.kit.errors import NotAuthenticated

from .models import Workspace
from .services import authenticate_token


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Workspace | None:
        try:
            return authenticate_token(token)
        except NotAuthenticated:
            return None


def current_workspace(request: Any) -> Workspace:
    workspace = getattr(request, "auth", None)
    if not isinstance(workspace, Workspace):
        raise NotAuthenticated("Send Authorization: Bearer <workspace API token>.")
    return workspace
