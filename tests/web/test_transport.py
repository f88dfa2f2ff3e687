"""Transport over real HTTP: behind a TLS-terminating proxy, cookies are Secure and HSTS is sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from terminflow.web.csp import POLICY

pytestmark = pytest.mark.django_db(transaction=True)


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(terminflow_server_factory):
    # given the real server for an https:// address, told which header its proxy sets for TLS
    server = terminflow_server_factory(
        embedded_worker=False,
        env={
            "TERMINFLOW_BASE_URL": "https://termine.praxis.example",
            "TERMINFLOW_PROXY_SSL_HEADER": "X-Forwarded-Ssl: on",
        },
    )

    # when the login page is fetched through the proxy (which says: this came over TLS)
    proxied = httpx.get(server.url + "/login/", headers={"X-Forwarded-Ssl": "on"})

    # then the browser is told to stay on TLS, and the CSRF cookie only travels over TLS
    assert proxied.status_code == 200
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"
    assert proxied.headers["content-security-policy"] == POLICY
    assert _cookie(proxied, "csrftoken")["secure"] is True


def test_without_tls_no_hsts_and_cookies_work_over_plain_http(terminflow_server_factory):
    # given the real server at its default plain-http address
    server = terminflow_server_factory(embedded_worker=False)

    # when the login page is fetched, even with a header a proxy would set
    response = httpx.get(server.url + "/login/", headers={"X-Forwarded-Ssl": "on"})

    # then there is no HSTS, the cookie is not limited to TLS, and the page has its policy
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers
    assert response.headers["content-security-policy"] == POLICY
    assert _cookie(response, "csrftoken")["secure"] is False


def _cookie(response: httpx.Response, name: str) -> dict[str, Any]:
    for header in response.headers.get_list("set-cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name:
            attributes = [part.strip().lower() for part in rest.split(";")[1:]]
            return {"secure": "secure" in attributes, "attributes": attributes}
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")
