"""The public JSON API v1 (django-ninja): routers of each domain app under ``/api/v1``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError

from terminflow.campaigns.api import router as campaigns_router
from terminflow.contacts.api import fields_router, tags_router
from terminflow.contacts.api import router as contacts_router
from terminflow.etermin.api import inbox_router
from terminflow.etermin.api import router as etermin_router
from terminflow.forms.api import router as forms_router
from terminflow.kit.errors import TerminflowError
from terminflow.kit.input_errors import sentence
from terminflow.mail.api import images_router, outbox_router
from terminflow.mail.api import router as emails_router
from terminflow.newsletters.api import router as newsletters_router
from terminflow.segments.api import router as segments_router
from terminflow.workspaces.api import (
    ApiTokenAuth,
    SessionAuth,
    invitations_router,
    members_router,
)

api = NinjaAPI(
    title="terminflow API",
    version="1",
    urls_namespace="api-v1",
    auth=[ApiTokenAuth(), SessionAuth()],
    docs_url="/docs",
    # Served from ninja's own static files ("ninja" in INSTALLED_APPS), so the docs work offline;
    # no validator badge, which Swagger UI would fetch from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)

api.add_router("/contacts", contacts_router)
api.add_router("/fields", fields_router)
api.add_router("/tags", tags_router)
api.add_router("/etermin", etermin_router)
api.add_router("/inbox", inbox_router)
api.add_router("/emails", emails_router)
api.add_router("/outbox", outbox_router)
api.add_router("/images", images_router)
api.add_router("/forms", forms_router)
api.add_router("/members", members_router)
api.add_router("/invitations", invitations_router)
api.add_router("/segments", segments_router)
api.add_router("/newsletters", newsletters_router)
api.add_router("", campaigns_router)  # /campaigns… and /elements


@api.exception_handler(TerminflowError)
def _terminflow_error(request: HttpRequest, exc: TerminflowError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    body = {
        "detail": _("Send Authorization: Bearer <workspace API token>."),
        "code": "not_authenticated",
    }
    return api.create_response(request, body, status=401)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = [sentence(error) for error in exc.errors]
    body = {
        "detail": " ".join(problems) or _("Invalid input."),
        "code": "invalid",
        # Only plain parts: pydantic's ``ctx`` can hold exception objects that JSON cannot carry.
        "errors": [
            {"loc": list(e.get("loc", ())), "msg": sentence(e), "type": e.get("type")}
            for e in exc.errors
        ],
    }
    return api.create_response(request, body, status=422)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Only ninja raises these (unreadable JSON, an unsupported method); its texts are English.
    detail = _("The request could not be read.") if exc.status_code < 500 else str(exc)
    return api.create_response(
        request, {"detail": detail, "code": "http_error"}, status=exc.status_code
    )
