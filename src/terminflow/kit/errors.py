"""Typed errors for expected failures; each carries the HTTP status and a stable code.

The API turns any ``TerminflowError`` into ``{"detail": ..., "code": ...}`` with its status, so
services raise these and never build HTTP responses themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TerminflowError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}

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
