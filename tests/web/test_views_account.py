"""Logging in and out, the login rate limit, preferences."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from terminflow.web import throttle

from .conftest import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def test_login_with_email_in_any_case_opens_the_overview(client: Client, editor) -> None:
    # when
    response = client.post("/login/", {"email": "Editor@Praxis.Example", "password": PASSWORD})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_follows_a_local_next_but_never_a_foreign_one(client: Client, editor) -> None:
    # when
    local = client.post(
        "/login/", {"email": editor.email, "password": PASSWORD, "next": "/campaigns/"}
    )
    client.logout()
    foreign = client.post(
        "/login/", {"email": editor.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    # then
    assert local["Location"] == "/campaigns/"
    assert foreign["Location"] == "/"


def test_wrong_password_is_refused_with_a_message(client: Client, editor) -> None:
    # when
    response = client.post("/login/", {"email": editor.email, "password": "wrong"})
    # then
    assert response.status_code == 400
    assert "E-Mail oder Passwort ist falsch." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logins_are_rate_limited_even_with_the_right_password(client: Client, editor) -> None:
    # given as many failures as allowed
    for _ in range(throttle.MAX_FAILURES):
        client.post("/login/", {"email": editor.email, "password": "wrong"})
    # when
    response = client.post("/login/", {"email": editor.email, "password": PASSWORD})
    # then
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_logout_needs_post_and_ends_the_session(editor_client: Client) -> None:
    # when
    get = editor_client.get("/logout/")
    post = editor_client.post("/logout/")
    # then
    assert get.status_code == 405
    assert post.status_code == 302
    assert editor_client.get("/contacts/").status_code == 302


def test_preferences_store_language_and_time_zone(editor, editor_client: Client) -> None:
    # when
    response = editor_client.post("/preferences/", {"language": "en", "timezone": "Europe/Berlin"})
    # then
    assert response.status_code == 302
    editor.refresh_from_db()
    assert (editor.language, editor.timezone) == ("en", "Europe/Berlin")
    assert response.cookies["django_language"].value == "en"


def test_preferences_refuse_an_unknown_time_zone(editor, editor_client: Client) -> None:
    # when
    response = editor_client.post("/preferences/", {"language": "", "timezone": "Mars/Olympus"})
    # then
    assert response.status_code == 200
    editor.refresh_from_db()
    assert editor.timezone == ""
