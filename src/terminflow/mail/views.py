"""The pages behind the links in emails.

GET only shows a page with a button; only POST changes anything, because mail scanners and
link previews fetch every URL in an email. The signed token in the URL is what authorises the
POST (the contact has no session here), so these views are exempt from CSRF: a forged request
would need the token, and whoever has the token may use it anyway.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from terminflow.kit.errors import TerminflowError

from . import links, services

PREVIEW_TOKEN = "preview"  # noqa: S105 - a placeholder, not a secret


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _language(locale: str | None) -> str:
    return (locale or "de").split("-")[0].lower()


def _page(
    request: HttpRequest,
    template: str,
    *,
    locale: str | None,
    status: int = 200,
    **context: object,
) -> HttpResponse:
    with translation.override(_language(locale)):
        response = render(request, f"mail/{template}", context, status=status)
    # Tokens are in the URL: keep them out of Referer headers and shared caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _problem(request: HttpRequest, exc: TerminflowError) -> HttpResponse:
    return _page(
        request,
        "problem.html",
        locale=None,
        status=exc.status,
        expired=isinstance(exc, links.LinkExpired),
        refused=isinstance(exc, services.ConfirmationRefused),
    )


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    if token == PREVIEW_TOKEN:
        return _page(request, "confirm.html", locale=None, preview=True, workspace_name="")
    try:
        row = services.outbox_for_link(links.Purpose.CONFIRM, token)
        if request.method != "POST":
            return _page(
                request,
                "confirm.html",
                locale=row.workspace.locale,
                workspace_name=row.workspace.name,
                email=row.to_email,
            )
        services.confirm_doi(
            token,
            ip=_client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except TerminflowError as exc:
        return _problem(request, exc)
    return _page(
        request, "confirmed.html", locale=row.workspace.locale, workspace_name=row.workspace.name
    )


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if token == PREVIEW_TOKEN:
        return _page(request, "unsubscribe.html", locale=None, preview=True, workspace_name="")
    try:
        row = services.outbox_for_link(links.Purpose.UNSUBSCRIBE, token)
        if request.method != "POST":
            return _page(
                request,
                "unsubscribe.html",
                locale=row.workspace.locale,
                workspace_name=row.workspace.name,
                email=row.to_email,
            )
        # RFC 8058: the mailbox provider's button POSTs exactly this form field.
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        services.unsubscribe(
            token,
            channel="one-click" if one_click else "link",
            ip=_client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except TerminflowError as exc:
        return _problem(request, exc)
    return _page(
        request,
        "unsubscribed.html",
        locale=row.workspace.locale,
        workspace_name=row.workspace.name,
    )


@require_http_methods(["GET", "HEAD"])
def webview(request: HttpRequest, token: str) -> HttpResponse:
    if token == PREVIEW_TOKEN:
        return _page(request, "problem.html", locale=None, status=404, expired=False)
    try:
        row = services.webview(token)
    except TerminflowError as exc:
        return _problem(request, exc)
    response = HttpResponse(row.body_html, content_type="text/html; charset=utf-8")
    # The body is ours, but it shows as a document of its own: no scripts, no framing.
    response["Content-Security-Policy"] = "sandbox; script-src 'none'"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
