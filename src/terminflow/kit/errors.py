"""Typed errors for expected failures; each carries the HTTP status and a stable code.

The API turns any ``TerminflowError`` into ``{"detail": ..., "code": ...}`` with its status, so
services raise these and never build HTTP responses themselves. ``detail`` is translated when it
is read, not when the error is raised: pass a ``gettext_lazy`` message and its ``%(name)s``
parameters, and the response speaks the request's language while the stored or logged
``english`` stays the msgid.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils import translation
from django.utils.functional import Promise


class TerminflowError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str | Promise,
        *,
        extra: dict[str, Any] | None = None,
        code: str | None = None,
        **params: Any,
    ) -> None:
        self._detail = detail
        self.params = params
        self.extra = extra or {}
        if code is not None:
            # A more precise stable code than the class's, e.g. "etermin_key_invalid".
            self.code = code  # type: ignore[misc]
        super().__init__(self.english)

    @property
    def detail(self) -> str:
        """The message in the active language, parameters filled in."""
        # ``%`` before ``str``: a lazy plural picks its form from the parameters.
        return str(self._detail % self.params) if self.params else str(self._detail)

    @property
    def english(self) -> str:
        """The message untranslated (the msgid): for logs and stored reasons."""
        with translation.override(None):
            return self.detail

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class BadRequest(TerminflowError):
    status = 400
    code = "bad_request"


class NotAuthenticated(TerminflowError):
    status = 401
    code = "not_authenticated"


class Forbidden(TerminflowError):
    status = 403
    code = "forbidden"


class NotFound(TerminflowError):
    status = 404
    code = "not_found"


class Conflict(TerminflowError):
    status = 409
    code = "conflict"


class Unprocessable(TerminflowError):
    status = 422
    code = "invalid"


class PlanRequired(TerminflowError):
    status = 403
    code = "plan_required"
