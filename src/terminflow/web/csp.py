"""Content-Security-Policy for every page Django serves (Django 5.2 has none built in).

Scripts run only from our own static files: no inline ``<script>``, no ``on…=`` attributes, no
``eval`` (pages use ``data-…`` attributes that ``web/app.js`` acts on). So even HTML that slips
past escaping cannot run script. Styles may be inline: pages, the email preview (a sandboxed
``srcdoc`` frame, which inherits this policy) and the builder set them, and a style cannot read
cookies or send a request to another host under ``connect-src 'self'``. Images may come from
any HTTPS host, because an email's preview shows the images its recipients will see.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get(
            "Content-Type", ""
        ).startswith("text/html"):
            response["Content-Security-Policy"] = POLICY
        return response
