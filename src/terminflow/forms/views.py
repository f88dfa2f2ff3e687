"""The public sign-up page ``/f/<public_id>``: the form (GET) and the sign-up (POST).

The POST is exempt from CSRF on purpose: the embeddable snippet is a plain HTML form on the
business's own website, so the post comes from another origin and carries no token of ours. A
forged post can do no more than a person typing the address into the form: it stores a
sign-up and at most sends the double opt-in email to that address, rate-limited per client and
per address. It changes nobody's status, logs nobody in and answers the same for every
address. The only thing that subscribes someone is the POST on the confirmation link in their
own mailbox. No CORS headers are needed either: a form post is a navigation, not a script's
request, and the page answers with HTML (or JSON to clients that ask only for JSON).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.request import RawPostDataException
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from terminflow.contacts.models import Field

from . import services, submissions
from .models import Form


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _fields(
    form: Form,
    definitions: dict[str, Field],
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What the template needs to draw each input, with what was typed and what was wrong."""
    typed, errors = typed or {}, errors or {}
    shown = []
    for item in form.fields:
        key = item["key"]
        definition = definitions.get(key)
        if key not in services.BUILT_IN_FIELDS and definition is None:
            continue  # deleted since the form was saved
        kind = "email" if key == "email" else services.input_type(definition)
        shown.append(
            {
                "key": key,
                "name": submissions.input_name(key),
                "label": item["label"],
                "required": item["required"],
                "type": kind,
                "options": list(definition.options) if definition is not None else [],
                "value": typed.get(submissions.input_name(key), ""),
                "error": errors.get(key, ""),
                "autocomplete": {
                    "email": "email",
                    "first_name": "given-name",
                    "last_name": "family-name",
                }.get(key, "off"),
            }
        )
    return shown


def _page(
    request: HttpRequest,
    form: Form | None,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    language = form.workspace.language if form is not None else settings.LANGUAGE_CODE
    with translation.override(language):
        response = render(
            request,
            f"forms/{template}",
            {"form": form, "language": language, **context},
            status=status,
        )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response["Content-Security-Policy"] = _policy(form)
    return response


def _policy(form: Form | None) -> str:
    """No script at all; the form may post here, and be sent on to its redirect URL.

    Browsers check ``form-action`` on the redirect after a post too, so the redirect's origin
    must be named or the thank-you page of the business's website would be blocked.
    """
    targets = ["'self'"]
    if form is not None and form.redirect_url:
        parts = urlsplit(form.redirect_url)
        targets.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            "img-src 'self'",
            f"form-action {' '.join(targets)}",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _not_available(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        with translation.override(settings.LANGUAGE_CODE):
            detail = gettext("This form is not available.")
        return JsonResponse({"detail": detail, "code": "not_found"}, status=404)
    return _page(request, None, "unavailable.html", status=404)


def _json(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code, **extra}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    if length > settings.FORM_MAX_BYTES:
        return True
    try:
        return len(request.body) > settings.FORM_MAX_BYTES
    except (RequestDataTooBig, RawPostDataException):
        return True


def _success(request: HttpRequest, form: Form) -> HttpResponse:
    with translation.override(form.workspace.language):
        message = form.success_message or gettext(
            "Thank you! We have sent you an email: please confirm your address with the link in it."
        )
    if _wants_json(request):
        return _json(200, "received", message, redirect_url=form.redirect_url or None)
    if form.redirect_url:
        response = HttpResponseRedirect(form.redirect_url, status=303)
        response["Cache-Control"] = "no-store"
        return response
    return _page(request, form, "thanks.html", message=message)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def page(request: HttpRequest, public_id: str) -> HttpResponse:
    form = services.public_form(public_id)
    if form is None:
        return _not_available(request)
    definitions = submissions.definitions_for(form)
    if request.method != "POST":
        return _page(request, form, "page.html", fields=_fields(form, definitions))
    language = form.workspace.language
    if _too_large(request):
        with translation.override(language):
            detail = gettext("The form data is too large.")
        if _wants_json(request):
            return _json(413, "too_large", detail)
        return _page(request, form, "problem.html", status=413, message=detail)
    with translation.override(language):
        result = submissions.submit(
            form,
            request.POST,
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        if result.outcome == "limited":
            detail = gettext("Too many sign-ups in a short time. Please try again in an hour.")
            if _wants_json(request):
                return _json(429, "rate_limited", detail)
            response = _page(request, form, "problem.html", status=429, message=detail)
            response["Retry-After"] = "3600"
            return response
        if result.outcome == "invalid":
            assert result.reading is not None
            errors = result.reading.errors
            if _wants_json(request):
                return _json(
                    422,
                    "invalid",
                    " ".join(errors.values()),
                    errors=[{"field": key, "message": text} for key, text in errors.items()],
                )
            return _page(
                request,
                form,
                "page.html",
                status=422,
                fields=_fields(form, definitions, result.reading.typed, errors),
                errors=errors,
            )
    return _success(request, form)
