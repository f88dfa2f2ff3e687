"""Logging in and out, the login rate limit, preferences."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from terminflow.workspaces.models import LoginThrottle
from terminflow.workspaces.services import (
    MAX_LOGIN_FAILURES_PER_ADDRESS,
    MAX_LOGIN_FAILURES_PER_PAIR,
)

from .conftest import PASSWORD, make_user


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
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR):
        client.post("/login/", {"email": editor.email, "password": "wrong"})
    # when
    response = client.post("/login/", {"email": editor.email, "password": PASSWORD})
    # then
    assert response.status_code == 429
    assert "Zu viele Fehlversuche." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_stranger_cannot_lock_the_user_out_from_their_own_address(editor) -> None:
    # given a stranger failing as often as allowed with the user's email
    stranger = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR + 5):
        stranger.post("/login/", {"email": editor.email, "password": "wrong"})
    # when the user logs in from their own address
    user = Client(REMOTE_ADDR="198.51.100.4")
    response = user.post("/login/", {"email": editor.email, "password": PASSWORD})
    # then
    assert response.status_code == 302
    assert user.get("/").status_code == 200
    assert stranger.post("/login/", {"email": editor.email, "password": PASSWORD}).status_code == (
        429
    )


def test_one_address_spraying_many_emails_is_paused(workspace) -> None:
    # given a user, and one address failing for many different emails
    real = make_user("real@praxis.example", workspace)
    sprayer = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(MAX_LOGIN_FAILURES_PER_ADDRESS):
        sprayer.post("/login/", {"email": f"guess{n}@praxis.example", "password": "wrong"})
    # when
    response = sprayer.post("/login/", {"email": real.email, "password": PASSWORD})
    elsewhere = Client(REMOTE_ADDR="198.51.100.4").post(
        "/login/", {"email": real.email, "password": PASSWORD}
    )
    # then
    assert response.status_code == 429
    assert "_auth_user_id" not in sprayer.session
    assert elsewhere.status_code == 302


def test_a_good_login_forgets_the_pairs_failures(client: Client, editor) -> None:
    # given
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR - 1):
        client.post("/login/", {"email": editor.email, "password": "wrong"})
    client.post("/login/", {"email": editor.email, "password": PASSWORD})
    client.logout()
    # when as many failures again as allowed minus one
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR - 1):
        client.post("/login/", {"email": editor.email, "password": "wrong"})
    response = client.post("/login/", {"email": editor.email, "password": PASSWORD})
    # then
    assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
@pytest.mark.terminflow_server(embedded_worker=False)
def test_failures_in_another_process_count_here(terminflow_server, workspace) -> None:
    # given a user, and failures sent to a separate server process
    user = make_user("editor@praxis.example", workspace)
    with httpx.Client(base_url=terminflow_server.url) as remote:
        csrf = remote.get("/login/").cookies["csrftoken"]
        statuses = [
            remote.post(
                "/login/",
                data={"email": user.email, "password": "wrong", "csrfmiddlewaretoken": csrf},
            ).status_code
            for _ in range(MAX_LOGIN_FAILURES_PER_PAIR)
        ]
    # when the right password reaches this process from the same address
    client = Client(REMOTE_ADDR="127.0.0.1")
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    # then
    assert statuses == [400] * MAX_LOGIN_FAILURES_PER_PAIR
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert sorted(LoginThrottle.objects.values_list("failures", flat=True)) == [
        MAX_LOGIN_FAILURES_PER_PAIR,
        MAX_LOGIN_FAILURES_PER_PAIR,
    ]


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
