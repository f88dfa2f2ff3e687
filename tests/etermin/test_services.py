"""Account services: connect, verify against the eTermin sandbox, rotate, update, delete."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import connection

from terminflow.etermin import services
from terminflow.etermin.client import Calendar, EterminAuthError, EterminUnavailable
from terminflow.etermin.models import EterminAccount, WebPush, WebPushStatus
from terminflow.kit import clock, crypto
from terminflow.kit.errors import Conflict, NotFound, PlanRequired, Unprocessable
from tests.conftest import make_workspace

PUBLIC = "pub-seefeld"
PRIVATE = "priv-seefeld-0123456789"


def connect(workspace, **overrides):
    values = {"name": "Seefeld", "public_key": PUBLIC, "private_key": PRIVATE, "verify": False}
    values.update(overrides)
    return services.connect_account(workspace, **values)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def raw_account_row(account_id: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {EterminAccount._meta.db_table} WHERE id = %s",
            [account_id],
        )
        return cursor.fetchone()


def test_connect_verified_against_sandbox(workspace, etermin_sandbox):
    # given an eTermin account the sandbox knows
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    account = connect(workspace, verify=True)
    # then it is stored, with the key encrypted and a fresh token
    stored = EterminAccount.objects.get()
    assert stored.pk == account.pk
    assert (stored.workspace_id, stored.name, stored.public_key) == (
        workspace.pk,
        "Seefeld",
        PUBLIC,
    )
    assert str(stored.private_key) == PRIVATE
    assert stored.timezone == "Europe/Zurich"
    assert stored.web_push_token_hash == crypto.token_hash(stored.web_push_token)
    assert len(stored.web_push_token) >= 43
    # and eTermin was asked exactly once, for the calendars
    calls = etermin_sandbox.calls(PUBLIC)
    assert [(c["method"], c["path"]) for c in calls] == [("GET", "/api/calendar")]


def test_web_push_url_is_base_url_plus_token(workspace, settings):
    # given
    settings.BASE_URL = "https://terminflow.example.ch"
    account = connect(workspace)
    # when / then
    assert services.web_push_url(account) == (
        "https://terminflow.example.ch/hooks/etermin/" + account.web_push_token
    )


def test_keys_and_token_are_never_in_a_column_in_clear(workspace):
    # when
    account = connect(workspace)
    # then no column of the raw row holds the private key or the token
    row = raw_account_row(account.pk)
    assert all(PRIVATE not in str(value) for value in row)
    assert all(account.web_push_token not in str(value) for value in row)


def test_private_key_never_logged(workspace, caplog, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    caplog.set_level(logging.DEBUG)
    # when connecting, changing the key, and failing with a wrong key
    account = connect(workspace, verify=True)
    services.update_account(account, private_key=PRIVATE + "-x", verify=False)
    with pytest.raises(EterminAuthError):
        connect(workspace, private_key="priv-wrong-secret", verify=True)
    # then
    assert PRIVATE not in caplog.text
    assert "priv-wrong-secret" not in caplog.text
    assert "eTermin account" in caplog.text


def test_wrong_keys_store_nothing(workspace, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    with pytest.raises(EterminAuthError) as caught:
        connect(workspace, private_key="wrong", verify=True)
    # then
    assert caught.value.status == 422
    assert caught.value.code == "etermin_auth"
    assert EterminAccount.objects.count() == 0


def test_unreachable_etermin_stores_nothing(workspace, settings):
    # given nothing listens on eTermin's port
    settings.ETERMIN_API_URL = closed_port_url()
    # when
    with pytest.raises(EterminUnavailable) as caught:
        connect(workspace, verify=True)
    # then
    assert caught.value.code == "etermin_unavailable"
    assert EterminAccount.objects.count() == 0


def test_plan_without_etermin_stores_nothing(db, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    free = make_workspace("Kiosk", plan_key="free")
    # when
    with pytest.raises(PlanRequired):
        connect(free, verify=True)
    # then neither stored nor asked eTermin
    assert EterminAccount.objects.count() == 0
    assert etermin_sandbox.calls() == []


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"name": "  "}, "Give the account a name, e.g. the practice it belongs to."),
        (
            {"public_key": ""},
            "The public API key is missing; copy it from eTermin under API → API & Web Push.",
        ),
        (
            {"private_key": " "},
            "The private API key is missing; copy it from eTermin under API → API & Web Push.",
        ),
        (
            {"private_key": "schlüssel"},
            "The private API key contains characters eTermin keys never have; "
            "copy it again from eTermin.",
        ),
        ({"name": "x" * 201}, "The account name is longer than 200 characters."),
        ({"public_key": "k" * 201}, "The public API key is longer than 200 characters."),
        (
            {"timezone": "Europe/Atlantis"},
            "'Europe/Atlantis' is not a time zone; use an IANA name like Europe/Zurich.",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(workspace, overrides, detail):
    # when
    with pytest.raises(Unprocessable) as caught:
        connect(workspace, **overrides)
    # then
    assert caught.value.detail == detail
    assert EterminAccount.objects.count() == 0


def test_keys_are_stripped_and_timezone_defaults_to_workspace(db):
    # given
    workspace = make_workspace("Studio Berlin", timezone="Europe/Berlin")
    # when
    account = connect(workspace, public_key=f" {PUBLIC}\n", private_key=f"\t{PRIVATE} ")
    # then
    account.refresh_from_db()
    assert (account.public_key, str(account.private_key)) == (PUBLIC, PRIVATE)
    assert account.timezone == "Europe/Berlin"


def test_several_accounts_per_workspace_with_own_urls(workspace):
    # when
    first = connect(workspace, name="Seefeld")
    second = connect(workspace, name="Altstadt", public_key="pub-altstadt")
    # then
    assert [a.name for a in services.accounts_of(workspace)] == ["Seefeld", "Altstadt"]
    assert services.web_push_url(first) != services.web_push_url(second)


def test_rotation_gives_new_url_and_old_token_matches_nothing(workspace):
    # given
    account = connect(workspace)
    old_token, old_url = account.web_push_token, services.web_push_url(account)
    # when
    services.rotate_web_push_token(account)
    # then
    account.refresh_from_db()
    assert services.web_push_url(account) != old_url
    assert account.web_push_token != old_token
    assert account.web_push_token_hash == crypto.token_hash(account.web_push_token)
    assert not EterminAccount.objects.filter(
        web_push_token_hash=crypto.token_hash(old_token)
    ).exists()


def test_update_new_private_key_is_verified_with_stored_public_key(workspace, etermin_sandbox):
    # given an account connected with old keys; eTermin now has a new private key
    account = connect(workspace, private_key="priv-old")
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    services.update_account(account, private_key=PRIVATE)
    # then
    account.refresh_from_db()
    assert str(account.private_key) == PRIVATE
    assert account.public_key == PUBLIC


def test_update_with_wrong_key_changes_nothing(workspace, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    account = connect(workspace)
    token = account.web_push_token
    # when
    with pytest.raises(EterminAuthError):
        services.update_account(
            account, name="Neu", private_key="wrong", rotate_token=True, verify=True
        )
    # then
    stored = EterminAccount.objects.get(pk=account.pk)
    assert (stored.name, str(stored.private_key), stored.web_push_token) == (
        "Seefeld",
        PRIVATE,
        token,
    )


def test_update_name_and_timezone_without_asking_etermin(workspace, etermin_sandbox):
    # given
    account = connect(workspace)
    # when
    services.update_account(account, name=" Praxis Neu ", timezone="Europe/Vienna")
    # then
    account.refresh_from_db()
    assert (account.name, account.timezone) == ("Praxis Neu", "Europe/Vienna")
    assert etermin_sandbox.calls() == []


def test_account_for_workspace_isolates_workspaces(workspace):
    # given
    other = make_workspace("Andere Praxis")
    foreign = connect(other)
    own = connect(workspace)
    # when / then
    assert services.account_for_workspace(workspace, own.pk) == own
    with pytest.raises(NotFound) as caught:
        services.account_for_workspace(workspace, foreign.pk)
    assert caught.value.detail == f"No eTermin account {foreign.pk} in this workspace."


def test_list_calendars_from_etermin(workspace, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE, calendars=[(211614, "Praxis 1"), (7, "Praxis 2")])
    account = connect(workspace)
    # when
    calendars = services.list_calendars(account)
    # then
    assert sorted(calendars, key=lambda c: c.id) == [
        Calendar(id=7, name="Praxis 2"),
        Calendar(id=211614, name="Praxis 1"),
    ]


def test_delete_takes_the_inbox_with_it(workspace):
    # given
    account = connect(workspace)
    keep = connect(workspace, name="Altstadt")
    for owner in (account, keep):
        WebPush.objects.create(
            account=owner, workspace=workspace, received_at=clock.now(), body=b"{}"
        )
    # when
    services.delete_account(account)
    # then
    assert list(EterminAccount.objects.values_list("name", flat=True)) == ["Altstadt"]
    assert list(WebPush.objects.values_list("account_id", flat=True)) == [keep.pk]


def test_retry_sets_failed_push_back_to_pending(workspace):
    # given
    account = connect(workspace)
    push = WebPush.objects.create(
        account=account,
        workspace=workspace,
        received_at=clock.now(),
        body=b"{}",
        status=WebPushStatus.FAILED,
        reason="no usable email address",
        processed_at=clock.now(),
        attempts=4,
    )
    # when
    services.retry_push(push)
    # then
    push.refresh_from_db()
    assert (push.status, push.reason, push.processed_at, push.attempts) == (
        "pending",
        "",
        None,
        0,
    )


@pytest.mark.parametrize("status", ["pending", "processed", "ignored"])
def test_retry_refuses_rows_that_did_not_fail(workspace, status):
    # given
    account = connect(workspace)
    push = WebPush.objects.create(
        account=account, workspace=workspace, received_at=clock.now(), body=b"{}", status=status
    )
    # when
    with pytest.raises(Conflict) as caught:
        services.retry_push(push)
    # then
    assert caught.value.detail == (
        f"Web push {push.pk} is {status}; only failed web pushes can be retried."
    )
    push.refresh_from_db()
    assert push.status == status
