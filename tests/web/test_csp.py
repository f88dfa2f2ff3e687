"""Content-Security-Policy: every page carries it, and no page needs what it forbids.

The policy allows scripts only from our own static files. A page with an inline ``<script>`` or
an ``on…=`` attribute would break under it in the browser (``-m browser`` drives the builder and
the dialogs under the policy); here every page is checked for them directly.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from terminflow.etermin.services import connect_account
from terminflow.web.csp import POLICY

from .test_views_pages import filled, pages  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

# A <script> that runs code written in the page: no src, and not a JSON data block.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE
)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_the_policy_lets_scripts_come_only_from_this_server() -> None:
    policy = directives(POLICY)

    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]


def test_every_page_carries_the_policy_and_runs_no_inline_script(
    editor_client: Client,
    filled: dict,  # noqa: F811
    workspace,
) -> None:
    # given a workspace with something on every page, an eTermin account included
    connect_account(workspace, name="Praxis", public_key="pub", private_key="priv", verify=False)

    for path in [*pages(filled), "/api/v1/docs"]:
        # when an editor opens the page
        response = editor_client.get(path)
        html = response.content.decode()

        # then it carries the policy, and nothing on it needs inline script
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == POLICY, path
        assert INLINE_SCRIPT.findall(html) == [], path
        assert INLINE_HANDLER.findall(html) == [], path
        assert JAVASCRIPT_URL.findall(html) == [], path


def test_the_login_page_and_the_admin_carry_the_policy(client: Client) -> None:
    for path in ["/login/", "/admin/login/"]:
        response = client.get(path)

        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == POLICY, path
        assert INLINE_SCRIPT.findall(response.content.decode()) == [], path


def test_json_answers_carry_no_policy(api) -> None:
    response = api.get("/api/v1/contacts")

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


def test_a_destructive_form_asks_through_data_confirm(editor_client: Client, filled) -> None:  # noqa: F811
    response = editor_client.get(f"/contacts/{filled['contact'].pk}/")

    assert (
        'data-confirm="Diesen Kontakt mit Verlauf und Einwilligungsprotokoll löschen?"'
    ) in response.content.decode()
