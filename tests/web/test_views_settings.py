"""Settings → API info → eTermin: connecting accounts through the dialog, rotating, removing."""

from __future__ import annotations

from django.test import Client

from terminflow.etermin.models import EterminAccount
from terminflow.etermin.services import connect_account, web_push_url
from terminflow.workspaces.models import ApiToken, Plan

PUBLIC_KEY = "pub-praxis"
PRIVATE_KEY = "priv-praxis-secret"
HTMX = {"HX-Request": "true"}


def _form(private_key: str = PRIVATE_KEY) -> dict:
    return {"name": "Praxis Seefeld", "public_key": PUBLIC_KEY, "private_key": private_key}


def test_connecting_shows_the_web_push_url_and_etermins_menus(
    editor_client: Client, workspace, etermin_sandbox
) -> None:
    # given
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY)
    # when
    response = editor_client.post("/settings/api/etermin/accounts/new/", _form(), headers=HTMX)
    # then
    account = EterminAccount.objects.get()
    body = response.content.decode()
    assert response.status_code == 200
    assert (account.workspace_id, account.name) == (workspace.pk, "Praxis Seefeld")
    assert f'value="{web_push_url(account)}"' in body
    assert "API → API & Web Push" in body
    assert "Send Web Push to the following URL" in body
    assert PRIVATE_KEY not in body


def test_rejected_keys_show_in_the_dialog_and_store_nothing(
    editor_client: Client, etermin_sandbox
) -> None:
    # given
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY)
    # when
    response = editor_client.post(
        "/settings/api/etermin/accounts/new/", _form("wrong"), headers=HTMX
    )
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="dialog-error"' in body
    assert "eTermin hat die API-Schlüssel abgelehnt" in body
    assert EterminAccount.objects.count() == 0


def test_without_htmx_the_dialog_reopens_with_the_error(editor_client, etermin_sandbox) -> None:
    # given
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY)
    # when
    response = editor_client.post("/settings/api/etermin/accounts/new/", _form("wrong"))
    # then
    assert response.status_code == 422
    assert "data-open-on-load" in response.content.decode()
    assert EterminAccount.objects.count() == 0


def test_tab_says_when_the_plan_lacks_the_integration(editor_client, workspace) -> None:
    # given
    workspace.plan = Plan.objects.get(key="free")
    workspace.save()
    # when
    body = editor_client.get("/settings/api/etermin/").content.decode()
    # then
    assert 'data-testid="plan-missing"' in body
    assert "Das Abo Free enthält die eTermin-Integration nicht." in body
    assert "Konto hinzufügen" not in body


def test_rotating_gives_a_new_url(editor_client, workspace) -> None:
    # given
    account = connect_account(
        workspace, name="Praxis", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, verify=False
    )
    old_url = web_push_url(account)
    # when
    response = editor_client.post(f"/settings/api/etermin/accounts/{account.pk}/rotate/")
    # then
    account.refresh_from_db()
    assert response.status_code == 302
    assert web_push_url(account) != old_url
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert web_push_url(account) in page
    assert old_url not in page


def test_removing_an_account(editor_client, workspace) -> None:
    # given
    account = connect_account(
        workspace, name="Praxis", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, verify=False
    )
    # when
    response = editor_client.post(f"/settings/api/etermin/accounts/{account.pk}/delete/")
    # then
    assert response.status_code == 302
    assert EterminAccount.objects.count() == 0


def test_another_workspaces_account_cannot_be_removed(editor_client, other_workspace) -> None:
    # given
    foreign = connect_account(
        other_workspace, name="F", public_key="p", private_key="k", verify=False
    )
    # when
    editor_client.post(f"/settings/api/etermin/accounts/{foreign.pk}/delete/")
    # then
    assert EterminAccount.objects.filter(pk=foreign.pk).exists()


def test_viewer_does_not_see_the_web_push_url(viewer_client, workspace) -> None:
    # given
    account = connect_account(
        workspace, name="Praxis", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, verify=False
    )
    # when
    body = viewer_client.get("/settings/api/etermin/").content.decode()
    # then
    assert "Praxis" in body
    assert web_push_url(account) not in body


def test_only_admins_create_api_tokens(editor_client, admin_user, workspace) -> None:
    # when
    refused = editor_client.post("/settings/api/", {"name": "script"})
    from .conftest import logged_in

    accepted = logged_in(admin_user).post("/settings/api/", {"name": "script"})
    # then
    assert refused.status_code == 403
    assert accepted.status_code == 200
    token = ApiToken.objects.get()
    assert (token.workspace_id, token.name) == (workspace.pk, "script")
    assert token.prefix in accepted.content.decode()
