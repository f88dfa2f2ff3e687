"""Settings → API info → eTermin: connecting accounts through the dialog, rotating, removing."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client

from terminflow.etermin.models import EterminAccount, WebPush
from terminflow.etermin.services import connect_account, web_push_url
from terminflow.kit import clock
from terminflow.workspaces.models import ApiToken, Plan
from tests.web.conftest import logged_in

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


def test_api_tab_shows_the_bearer_header_literally(editor_client) -> None:
    # when
    html = editor_client.get("/settings/api/").content.decode()
    # then the placeholder is escaped text, not a swallowed <token> tag
    assert "<code>Authorization: Bearer &lt;token&gt;</code>" in html
    assert "<token>" not in html


def test_a_new_token_comes_with_its_ready_header(admin_user, workspace) -> None:
    # when
    from tests.web.conftest import logged_in

    response = logged_in(admin_user).post("/settings/api/", {"name": "script"})
    # then
    token = response.context["issued"]
    assert f'value="Authorization: Bearer {token}"' in response.content.decode()


# -- reconciliation with eTermin ---------------------------------------------------------------


def _connected(workspace, etermin_sandbox, private_key: str = PRIVATE_KEY) -> EterminAccount:
    etermin_sandbox.add_account(PUBLIC_KEY, private_key)
    return connect_account(
        workspace, name="Praxis", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, verify=False
    )


def _book(etermin_sandbox) -> str:
    start = clock.now().replace(microsecond=0) + timedelta(days=3)
    return etermin_sandbox.book(
        PUBLIC_KEY,
        calendar_id=211614,
        start=start,
        end=start + timedelta(minutes=30),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
    )


def test_sync_now_with_htmx_answers_the_accounts_sync_status(
    editor_client, workspace, etermin_sandbox
) -> None:
    # given an account with a booking eTermin never pushed
    account = _connected(workspace, etermin_sandbox)
    uid = _book(etermin_sandbox)
    # when "sync now" is pressed
    response = editor_client.post(
        f"/settings/api/etermin/accounts/{account.pk}/sync/", headers=HTMX
    )
    # then the fragment shows the result, in German, and the booking is queued
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="sync-{account.pk}"' in body
    assert "Abgeglichen: 1 per Web Push verpasste Änderung wird jetzt verarbeitet." in body
    assert (
        "1 Termin geprüft; per Web Push verpasst und nachgeholt: 1 neu, 0 verschoben, 0 gelöscht"
        in body
    )
    assert "<script" not in body and "onclick" not in body
    assert list(WebPush.objects.values_list("source", "appointment_uid")) == [("sync", uid)]
    # and the page shows the last sync
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert "Letzter Abgleich mit eTermin" in page
    assert 'data-testid="sync-now"' in page


def test_refused_keys_are_shown_with_a_clear_message(editor_client, workspace, etermin_sandbox):
    # given eTermin no longer accepts the stored keys
    account = _connected(workspace, etermin_sandbox, private_key="changed-in-etermin")
    # when
    response = editor_client.post(
        f"/settings/api/etermin/accounts/{account.pk}/sync/", headers=HTMX
    )
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert "eTermin akzeptiert die API-Schlüssel dieses Kontos nicht mehr." in body
    assert EterminAccount.objects.get().sync_error_code == "auth"
    assert WebPush.objects.count() == 0
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert 'data-testid="sync-error"' in page


def test_sync_now_without_htmx_redirects_with_a_message(editor_client, workspace, etermin_sandbox):
    account = _connected(workspace, etermin_sandbox)
    response = editor_client.post(f"/settings/api/etermin/accounts/{account.pk}/sync/")
    assert response.status_code == 302
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert "Abgeglichen: nichts wurde verpasst." in page


def test_viewer_cannot_sync(viewer_client, workspace, etermin_sandbox) -> None:
    account = _connected(workspace, etermin_sandbox)
    _book(etermin_sandbox)
    calls = len(etermin_sandbox.calls())
    response = viewer_client.post(f"/settings/api/etermin/accounts/{account.pk}/sync/")
    assert response.status_code == 403
    assert len(etermin_sandbox.calls()) == calls
    assert WebPush.objects.count() == 0
    assert (
        'data-testid="sync-now"' not in viewer_client.get("/settings/api/etermin/").content.decode()
    )


def test_another_workspaces_account_cannot_be_synced(
    editor_client, other_workspace, etermin_sandbox
):
    foreign = _connected(other_workspace, etermin_sandbox)
    response = editor_client.post(f"/settings/api/etermin/accounts/{foreign.pk}/sync/")
    assert response.status_code == 404
    assert etermin_sandbox.calls() == []
    assert EterminAccount.objects.get().sync_attempted_at is None


def test_new_keys_for_a_refused_account_are_checked_and_clear_the_mark(
    editor_client, workspace, etermin_sandbox
) -> None:
    # given an account whose keys eTermin stopped accepting (changed in eTermin)
    account = _connected(workspace, etermin_sandbox, private_key="changed-in-etermin")
    editor_client.post(f"/settings/api/etermin/accounts/{account.pk}/sync/", headers=HTMX)
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert 'data-testid="new-keys"' in page
    keys_url = f"/settings/api/etermin/accounts/{account.pk}/keys/"

    # when wrong keys are entered, then nothing changes
    editor_client.post(keys_url, {"public_key": PUBLIC_KEY, "private_key": "still-wrong"})
    stored = EterminAccount.objects.get()
    assert (str(stored.private_key), stored.sync_error_code) == (PRIVATE_KEY, "auth")

    # when the current keys are entered
    response = editor_client.post(
        keys_url, {"public_key": PUBLIC_KEY, "private_key": "changed-in-etermin"}
    )
    # then they are stored, the mark is gone and the sync is due now
    assert response.status_code == 302
    stored = EterminAccount.objects.get()
    assert (str(stored.private_key), stored.sync_error_code, stored.sync_failures) == (
        "changed-in-etermin",
        "",
        0,
    )
    assert stored.sync_next_at <= clock.now()
    page = editor_client.get("/settings/api/etermin/").content.decode()
    assert "eTermin akzeptiert die neuen Schlüssel von Praxis" in page
    assert 'data-testid="new-keys"' not in page


def test_email_tab_checks_the_sending_domain_in_plain_words(
    editor_client, settings, monkeypatch
) -> None:
    from terminflow.web.views import settings as settings_views

    settings.DEFAULT_FROM_EMAIL = "Praxis <praxis@praxis-seefeld.ch>"
    settings.DKIM_DOMAIN = ""
    records = {
        "praxis-seefeld.ch": ["v=spf1 include:spf.example-mail.ch ~all"],
        "_dmarc.praxis-seefeld.ch": ["v=DMARC1; p=reject"],
    }
    asked: list[str] = []

    def lookup(name: str) -> list[str]:
        asked.append(name)
        return records.get(name, [])

    monkeypatch.setattr(settings_views, "txt_lookup", lookup)

    before = editor_client.get("/settings/api/email/")
    after = editor_client.get("/settings/api/email/?check=1")

    assert before.status_code == after.status_code == 200
    assert before.context["findings"] is None
    assert [f.check for f in after.context["findings"]] == ["spf", "dkim", "dmarc"]
    assert [f.ok for f in after.context["findings"]] == [True, False, True]
    html = after.content.decode()
    assert "v=spf1 include:spf.example-mail.ch ~all" in html
    assert "terminflow signiert noch nicht mit DKIM." in html
    assert asked == ["praxis-seefeld.ch", "_dmarc.praxis-seefeld.ch"]


# -- Settings → Tracking ------------------------------------------------------------------------


def _tracking(workspace) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
    workspace.refresh_from_db()
    return workspace.track_opens, workspace.track_clicks


def test_admin_sees_both_switches_on_by_default_in_german(admin_user, workspace) -> None:
    # when an admin opens the tab
    body = logged_in(admin_user).get("/settings/tracking/").content.decode()

    # then both switches are there, on, with a save button and the rule in plain words
    assert 'name="track_opens" id="id_track_opens" checked' in body
    assert 'name="track_clicks" id="id_track_clicks" checked' in body
    assert "Öffnungen erfassen" in body and "Klicks erfassen" in body
    assert "Bestätigungs- und Abmeldelinks werden nie verändert" in body
    assert 'data-testid="tracking-save"' in body
    assert 'data-testid="tracking-read-only"' not in body


def test_an_english_admin_reads_the_tab_in_english(admin_user, workspace) -> None:
    admin_user.language = "en"
    admin_user.save()

    body = logged_in(admin_user).get("/settings/tracking/").content.decode()

    assert "Track opens" in body and "Track clicks" in body
    assert "Confirmation and unsubscribe links are never changed" in body


def test_admin_switches_opens_off_and_clicks_stay_on(
    admin_user, workspace, other_workspace
) -> None:
    # when an admin unticks opens
    client = logged_in(admin_user)
    response = client.post("/settings/tracking/", {"track_clicks": "on"})

    # then the workspace tracks clicks only, and another workspace is untouched
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/tracking/"
    assert _tracking(workspace) == (False, True)
    assert _tracking(other_workspace) == (True, True)
    page = client.get("/settings/tracking/").content.decode()
    assert "Tracking-Einstellungen gespeichert." in page
    assert 'name="track_opens" id="id_track_opens">' in page


def test_editors_and_viewers_see_the_switches_but_cannot_change_them(
    editor_client, viewer_client, workspace
) -> None:
    for client in (editor_client, viewer_client):
        # when they open the tab
        body = client.get("/settings/tracking/").content.decode()
        # then the switches are shown read-only
        assert 'data-testid="tracking-read-only"' in body
        assert "Nur Admins können das Tracking ändern." in body
        assert '<input type="checkbox" name="track_opens" disabled checked>' in body
        assert 'data-testid="tracking-save"' not in body
        # and a POST is refused and changes nothing
        assert client.post("/settings/tracking/", {}).status_code == 403
        assert _tracking(workspace) == (True, True)


# -- Settings → Data protection -----------------------------------------------------------------


def _retention(workspace) -> int:  # type: ignore[no-untyped-def]
    workspace.refresh_from_db()
    return workspace.submission_retention_days


def test_admin_sees_the_sign_up_retention_of_30_days_in_german(admin_user, workspace) -> None:
    body = logged_in(admin_user).get("/settings/privacy/").content.decode()

    assert 'name="submission_retention_days" id="id_submission_retention_days" min="0" ' in body
    assert 'max="3650" value="30"' in body
    assert "Anmeldungen so viele Tage nach ihrem Abschluss aufbewahren" in body
    assert "Bestätigungslinks laufen nach 7 Tagen ab." in body
    assert 'data-testid="privacy-save"' in body and 'data-testid="privacy-read-only"' not in body


def test_admin_sets_the_retention_and_another_workspace_keeps_its_own(
    admin_user, workspace, other_workspace
) -> None:
    client = logged_in(admin_user)

    response = client.post("/settings/privacy/", {"submission_retention_days": "90"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/privacy/"
    assert (_retention(workspace), _retention(other_workspace)) == (90, 30)
    page = client.get("/settings/privacy/").content.decode()
    assert "Datenschutz-Einstellungen gespeichert." in page and 'value="90"' in page
    assert client.post("/settings/privacy/", {"submission_retention_days": "0"}).status_code == 302
    assert _retention(workspace) == 0


def test_a_retention_out_of_range_is_refused_and_nothing_changes(admin_user, workspace) -> None:
    client = logged_in(admin_user)
    for value in ("-1", "3651", "zehn", ""):
        response = client.post("/settings/privacy/", {"submission_retention_days": value})
        assert response.status_code == 422, value
        assert 'data-testid="retention-error"' in response.content.decode()
        assert _retention(workspace) == 30


def test_editors_and_viewers_see_the_retention_but_cannot_change_it(
    editor_client, viewer_client, workspace
) -> None:
    for client in (editor_client, viewer_client):
        body = client.get("/settings/privacy/").content.decode()
        assert 'data-testid="privacy-read-only"' in body
        assert "Nur Admins können die Datenschutz-Einstellungen ändern." in body
        assert 'value="30" disabled' in body and 'data-testid="privacy-save"' not in body
        refused = client.post("/settings/privacy/", {"submission_retention_days": "1"})
        assert refused.status_code == 403
        assert _retention(workspace) == 30
