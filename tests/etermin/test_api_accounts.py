"""``/api/v1/etermin/accounts``: connect, read, change, rotate, delete, calendars."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from terminflow.etermin import services
from terminflow.etermin.client import AUTH_HINT
from terminflow.etermin.models import EterminAccount
from terminflow.kit import crypto
from terminflow.workspaces.models import Plan, Role
from tests.conftest import make_workspace
from tests.web.conftest import logged_in, make_user

PUBLIC = "pub-seefeld"
PRIVATE = "priv-seefeld-0123456789"
BASE = "/api/v1/etermin/accounts"


def body(**overrides):
    values = {"name": "Seefeld", "public_key": PUBLIC, "private_key": PRIVATE}
    values.update(overrides)
    return values


def connected(workspace, **overrides):
    values = {"name": "Seefeld", "public_key": PUBLIC, "private_key": PRIVATE, "verify": False}
    values.update(overrides)
    return services.connect_account(workspace, **values)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def assert_no_secret(response, *secrets: str) -> None:
    text = response.content.decode()
    for secret in secrets:
        assert secret not in text
    assert "private_key" not in text


# -- connect ---------------------------------------------------------------------------------


def test_connect_verified_returns_account_and_web_push_url(api, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    response = api.post(BASE, body())
    # then
    assert response.status_code == 201, response.content
    account = EterminAccount.objects.get()
    data = response.json()
    assert data == {
        "id": account.pk,
        "name": "Seefeld",
        "public_key": PUBLIC,
        "web_push_url": "http://testserver/hooks/etermin/" + account.web_push_token,
        "timezone": "Europe/Zurich",
        "created_at": data["created_at"],
        "sync": {
            "synced_at": None,
            "next_at": data["sync"]["next_at"],
            "result": {},
            "error_code": "",
            "error": "",
        },
    }
    assert data["created_at"].endswith(("Z", "+00:00"))
    # the first sync is one interval (15 minutes by default) after connecting
    assert abs(account.sync_next_at - account.created_at - timedelta(minutes=15)) < timedelta(
        seconds=5
    )
    assert_no_secret(response, PRIVATE)


def test_connect_with_wrong_key_is_422_and_stores_nothing(api, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    response = api.post(BASE, body(private_key="wrong-key"))
    # then
    assert response.status_code == 422
    assert response.json() == {"detail": AUTH_HINT, "code": "etermin_auth"}
    assert EterminAccount.objects.count() == 0


def test_connect_with_unknown_public_key_is_422(api, etermin_sandbox):
    # given the sandbox knows no such account
    # when
    response = api.post(BASE, body(public_key="pub-nobody"))
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "etermin_auth"
    assert EterminAccount.objects.count() == 0


def test_connect_with_etermin_unreachable_is_422_and_stores_nothing(api, settings):
    # given nothing listens where eTermin should be
    settings.ETERMIN_API_URL = closed_port_url()
    # when
    response = api.post(BASE, body())
    # then
    assert response.status_code == 422
    data = response.json()
    assert data["code"] == "etermin_unavailable"
    assert data["detail"].startswith("eTermin could not be reached (connection failed")
    assert data["detail"].endswith("try again later or save with verify: false")
    assert EterminAccount.objects.count() == 0


def test_connect_with_etermin_failing_is_422(api, etermin_sandbox):
    # given eTermin answers 500 to every try
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    etermin_sandbox.fail_next(5, status=500)
    # when
    response = api.post(BASE, body())
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "etermin_unavailable"
    assert EterminAccount.objects.count() == 0


def test_connect_without_verify_does_not_ask_etermin(api, etermin_sandbox):
    # when
    response = api.post(BASE, body(verify=False, timezone="Europe/Berlin"))
    # then
    assert response.status_code == 201
    assert response.json()["timezone"] == "Europe/Berlin"
    assert EterminAccount.objects.count() == 1
    assert etermin_sandbox.calls() == []


def test_connect_on_plan_without_etermin_is_403_and_stores_nothing(db, api_for, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    api = api_for(make_workspace("Kiosk", plan_key="free"))
    # when
    response = api.post(BASE, body())
    # then
    assert response.status_code == 403
    data = response.json()
    assert data["code"] == "plan_required"
    assert data["detail"].startswith("The Free plan does not include the eTermin integration")
    assert EterminAccount.objects.count() == 0
    assert etermin_sandbox.calls() == []


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (body(name=""), "Give the account a name, e.g. the practice it belongs to."),
        (body(timezone="Mars/Olympus"), "'Mars/Olympus' is not a time zone"),
    ],
)
def test_connect_bad_input_is_422(api, payload, detail):
    # when
    response = api.post(BASE, {**payload, "verify": False})
    # then
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    assert EterminAccount.objects.count() == 0


def test_connect_missing_field_is_422_not_500(api):
    # when
    response = api.post(BASE, {"name": "Seefeld", "public_key": PUBLIC})
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert response.json()["detail"] == "Private API key: required."
    assert EterminAccount.objects.count() == 0


def test_connect_malformed_json_is_4xx(api):
    # when
    response = api._client.post(BASE, data="{nope", content_type="application/json")
    # then
    assert 400 <= response.status_code < 500
    assert EterminAccount.objects.count() == 0


# -- read ------------------------------------------------------------------------------------


def test_list_shows_own_accounts_only_without_private_key(api):
    # given
    first = connected(api.workspace, name="Seefeld")
    second = connected(api.workspace, name="Altstadt", public_key="pub-altstadt")
    connected(make_workspace("Andere Praxis"), name="Fremd")
    # when
    response = api.get(BASE)
    # then
    assert response.status_code == 200
    assert [(a["id"], a["name"], a["web_push_url"]) for a in response.json()] == [
        (first.pk, "Seefeld", services.web_push_url(first)),
        (second.pk, "Altstadt", services.web_push_url(second)),
    ]
    assert_no_secret(response, PRIVATE)


def test_get_one_account(api):
    # given
    account = connected(api.workspace)
    # when
    response = api.get(f"{BASE}/{account.pk}")
    # then
    assert response.status_code == 200
    assert response.json()["web_push_url"] == services.web_push_url(account)
    assert_no_secret(response, PRIVATE)


@pytest.mark.parametrize(
    ("role", "sees_url"), [(Role.VIEWER, False), (Role.EDITOR, True), (Role.ADMIN, True)]
)
def test_web_push_url_only_for_editors_and_admins(workspace, role, sees_url):
    # given
    account = connected(workspace)
    client = logged_in(make_user(f"{role}@praxis.example", workspace, role))
    url = services.web_push_url(account)
    # when
    listing = client.get(BASE)
    one = client.get(f"{BASE}/{account.pk}")
    # then
    assert (listing.status_code, one.status_code) == (200, 200)
    assert [a["web_push_url"] for a in listing.json()] == [url if sees_url else None]
    assert one.json()["web_push_url"] == (url if sees_url else None)
    assert one.json()["name"] == "Seefeld"
    if not sees_url:
        for response in (listing, one):
            assert_no_secret(response, PRIVATE, account.web_push_token)


def test_a_token_acts_as_admin_and_gets_the_web_push_url(api):
    # given a token, which only admins can issue
    account = connected(api.workspace)
    # when
    response = api.get(f"{BASE}/{account.pk}")
    # then
    assert response.json()["web_push_url"] == services.web_push_url(account)


def test_viewer_cannot_rotate_or_connect_to_learn_a_url(workspace):
    # given
    account = connected(workspace)
    before = account.web_push_token_hash
    client = logged_in(make_user("viewer@praxis.example", workspace, Role.VIEWER))
    # when
    rotate = client.patch(
        f"{BASE}/{account.pk}", {"rotate_web_push_token": True}, content_type="application/json"
    )
    connect = client.post(BASE, body(verify=False), content_type="application/json")
    # then
    assert (rotate.status_code, connect.status_code) == (403, 403)
    assert "web_push_url" not in rotate.content.decode() + connect.content.decode()
    assert list(EterminAccount.objects.values_list("web_push_token_hash", flat=True)) == [before]


def test_settings_page_gives_viewers_no_web_push_url(workspace):
    # given
    account = connected(workspace)
    viewer = logged_in(make_user("viewer@praxis.example", workspace, Role.VIEWER))
    editor = logged_in(make_user("editor@praxis.example", workspace, Role.EDITOR))
    # when
    seen_by_viewer = viewer.get("/settings/api/etermin/").content.decode()
    seen_by_editor = editor.get("/settings/api/etermin/").content.decode()
    # then
    assert account.web_push_token not in seen_by_viewer
    assert "Seefeld" in seen_by_viewer
    assert services.web_push_url(account) in seen_by_editor


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"name": "Mine now"}),
        ("delete", "", None),
        ("get", "/calendars", None),
    ],
)
def test_other_workspace_account_is_404(api, method, suffix, payload):
    # given
    foreign = connected(make_workspace("Andere Praxis"), name="Fremd")
    # when
    call = getattr(api, method)
    response = (
        call(f"{BASE}/{foreign.pk}{suffix}", payload)
        if payload
        else call(f"{BASE}/{foreign.pk}{suffix}")
    )
    # then
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No eTermin account {foreign.pk} in this workspace.",
        "code": "not_found",
    }
    foreign.refresh_from_db()
    assert foreign.name == "Fremd"


def test_unknown_account_is_404(api):
    # when
    response = api.get(f"{BASE}/999999")
    # then
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("get", "/{id}", None),
        ("patch", "/{id}", {"rotate_web_push_token": True}),
        ("get", "/{id}/calendars", None),
    ],
)
def test_plan_without_etermin_is_403(db, api_for, etermin_sandbox, method, suffix, payload):
    # given an account connected before the workspace moved to the free plan
    workspace = make_workspace("Kiosk")
    account = connected(workspace)
    token_hash = account.web_push_token_hash
    workspace.plan = Plan.objects.get(key="free")
    workspace.save()
    api = api_for(workspace)
    # when
    path = BASE + suffix.format(id=account.pk)
    call = getattr(api, method)
    response = call(path, payload) if payload else call(path)
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "plan_required"
    assert EterminAccount.objects.get().web_push_token_hash == token_hash
    assert etermin_sandbox.calls() == []


def test_delete_works_on_plan_without_etermin(db, api_for):
    # given
    workspace = make_workspace("Kiosk")
    account = connected(workspace)
    workspace.plan = Plan.objects.get(key="free")
    workspace.save()
    # when
    response = api_for(workspace).delete(f"{BASE}/{account.pk}")
    # then
    assert response.status_code == 204
    assert EterminAccount.objects.count() == 0


def test_without_token_is_401(client, db):
    # when
    response = client.get(BASE)
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# -- change ----------------------------------------------------------------------------------


def test_patch_rotate_gives_new_url_and_old_token_matches_nothing(api):
    # given
    account = connected(api.workspace)
    old_token, old_url = account.web_push_token, services.web_push_url(account)
    # when
    response = api.patch(f"{BASE}/{account.pk}", {"rotate_web_push_token": True})
    # then
    assert response.status_code == 200
    account.refresh_from_db()
    assert response.json()["web_push_url"] == services.web_push_url(account)
    assert response.json()["web_push_url"] != old_url
    assert not EterminAccount.objects.filter(
        web_push_token_hash=crypto.token_hash(old_token)
    ).exists()


def test_patch_name_keeps_url(api):
    # given
    account = connected(api.workspace)
    url = services.web_push_url(account)
    # when
    response = api.patch(f"{BASE}/{account.pk}", {"name": "Praxis am See"})
    # then
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["web_push_url"]) == ("Praxis am See", url)


def test_patch_private_key_verified_and_never_returned(api, etermin_sandbox):
    # given
    account = connected(api.workspace, private_key="priv-old")
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    # when
    response = api.patch(f"{BASE}/{account.pk}", {"private_key": PRIVATE})
    # then
    assert response.status_code == 200
    assert_no_secret(response, PRIVATE, "priv-old")
    account.refresh_from_db()
    assert str(account.private_key) == PRIVATE


def test_patch_wrong_key_is_422_and_changes_nothing(api, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    account = connected(api.workspace)
    # when
    response = api.patch(
        f"{BASE}/{account.pk}",
        {"private_key": "wrong", "name": "Neu", "rotate_web_push_token": True},
    )
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "etermin_auth"
    stored = EterminAccount.objects.get(pk=account.pk)
    assert (stored.name, str(stored.private_key)) == ("Seefeld", PRIVATE)
    assert stored.web_push_token_hash == account.web_push_token_hash


def test_delete_account(api):
    # given
    account = connected(api.workspace)
    # when
    response = api.delete(f"{BASE}/{account.pk}")
    # then
    assert response.status_code == 204
    assert EterminAccount.objects.count() == 0
    assert api.get(f"{BASE}/{account.pk}").status_code == 404


# -- calendars -------------------------------------------------------------------------------


def test_calendars_from_etermin(api, etermin_sandbox):
    # given
    etermin_sandbox.add_account(PUBLIC, PRIVATE, calendars=[(211614, "Praxis 1")])
    account = connected(api.workspace)
    # when
    response = api.get(f"{BASE}/{account.pk}/calendars")
    # then
    assert response.status_code == 200
    assert response.json() == [{"id": 211614, "name": "Praxis 1"}]


def test_calendars_with_keys_revoked_in_etermin_is_422(api, etermin_sandbox):
    # given an account whose keys eTermin no longer accepts
    etermin_sandbox.add_account(PUBLIC, "priv-new")
    account = connected(api.workspace)
    # when
    response = api.get(f"{BASE}/{account.pk}/calendars")
    # then
    assert response.status_code == 422
    assert response.json() == {"detail": AUTH_HINT, "code": "etermin_auth"}


def test_calendars_with_etermin_unreachable_is_422(api, settings):
    # given
    account = connected(api.workspace)
    settings.ETERMIN_API_URL = closed_port_url()
    # when
    response = api.get(f"{BASE}/{account.pk}/calendars")
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "etermin_unavailable"


def test_openapi_documents_the_account_routes(api):
    # when
    schema = json.loads(api.get("/api/v1/openapi.json").content)
    # then
    assert {"get", "post"} <= set(schema["paths"][BASE])
    assert {"get", "patch", "delete"} <= set(schema["paths"][BASE + "/{account_id}"])
