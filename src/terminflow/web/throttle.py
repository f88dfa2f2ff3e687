"""The login rate limit as the login pages see it: who is asking, and what they are told.

The counting lives in ``workspaces.services`` (a database table, so every process counts the
same failures); ``/login/`` and ``/admin/login/`` share it.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

LOCKED_MESSAGE = _("Too many failed attempts. Please wait 15 minutes and try again.")


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"
