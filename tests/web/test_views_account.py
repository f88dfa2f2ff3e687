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


def test_overview_counts_failed_emails_and_pushes_of_the_last_seven_days(
    editor_client, workspace, other_workspace
) -> None:
    # given two failed emails (one 3 days old, one 9 days old), a sent one, and failed pushes
    from datetime import timedelta

    from terminflow.contacts.services import create_contact
    from terminflow.etermin.services import connect_account
    from terminflow.kit import clock
    from tests.etermin.factories import push_body, store_push

    from .factories import make_email, queued

    now = clock.now()
    template = make_email(workspace)
    anna = create_contact(workspace, email="anna@example.com", first_name="Anna")
    queued(template, anna, at=now - timedelta(days=3), failed_because="SMTP 550 mailbox unknown")
    old = create_contact(workspace, email="alt@example.com")
    queued(template, old, at=now - timedelta(days=9), failed_because="zu alt")
    queued(template, create_contact(workspace, email="ok@example.com"), at=now)
    foreign = make_email(other_workspace)
    queued(
        foreign, create_contact(other_workspace, email="x@example.com"), at=now, failed_because="x"
    )
    account = connect_account(
        workspace, name="Seefeld", public_key="p", private_key="k", verify=False
    )
    push = store_push(account, push_body("CREATED", "u-1"))
    type(push).objects.filter(pk=push.pk).update(status="failed", reason="Kalender unbekannt")
    # when
    response = editor_client.get("/")
    html = response.content.decode()
    # then
    assert (
        response.context["counts"]["emails_failed"],
        response.context["counts"]["pushes_failed"],
    ) == (1, 1)
    assert "Fehlgeschlagene E-Mails, letzte 7 Tage" in html
    assert 'href="/outbox/?status=failed&amp;days=7"' in html
    assert 'href="/inbox/?status=failed&amp;days=7"' in html
    assert "SMTP 550 mailbox unknown" in html
    assert "Kalender unbekannt" in html
    assert "zu alt" not in html


def test_overview_without_failures_shows_no_failure_lists(editor_client) -> None:
    # when
    response = editor_client.get("/")
    # then
    html = response.content.decode()
    assert (
        response.context["counts"]["emails_failed"],
        response.context["counts"]["pushes_failed"],
    ) == (0, 0)
    assert 'data-testid="failed-emails-list"' not in html
    assert 'data-testid="failed-pushes-list"' not in html


def test_navigation_has_a_menu_button_and_no_inline_script(editor_client) -> None:
    # when
    html = editor_client.get("/").content.decode()
    # then
    assert 'data-nav-toggle aria-controls="sidebar" aria-expanded="false"' in html
    assert "Menü" in html
    assert "onsubmit=" not in html and "onclick=" not in html and "<script>" not in html
