"""``/api/v1/docs`` works offline: Swagger UI comes from the package's own static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

REFERENCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
ANY_HOST = re.compile(r"(?:https?:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)


def test_the_docs_page_loads_swagger_ui_from_our_static_files(client: Client) -> None:
    # when the API docs are opened
    response = client.get("/api/v1/docs")
    html = response.content.decode()

    # then every file the page loads is one of ours, under /static/, and ships in the package
    assert response.status_code == 200
    references = REFERENCE.findall(html)
    assert sorted(references) == [
        "/static/ninja/favicon.png",
        "/static/ninja/favicon.svg",
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ]
    for reference in references:
        assert finders.find(reference.removeprefix("/static/")) is not None, reference
    # and no other host is named anywhere on it (no CDN, no validator badge)
    assert ANY_HOST.findall(html) == []
    assert '"validatorUrl": null' in html
    assert '"url": "/api/v1/openapi.json"' in html
