"""The UI in a real browser against the real server (``terminflow serve``) and the eTermin sandbox.

Screenshots of every page land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from terminflow.campaigns.models import Campaign, Run
from terminflow.contacts.fields import create_field
from terminflow.contacts.models import Contact, Field
from terminflow.contacts.notes import add_note
from terminflow.contacts.services import create_contact
from terminflow.etermin.models import EterminAccount
from terminflow.workspaces.models import Role

from .browser import CHROMIUM, chromium_page, log_in, open_settings, shot, watch_csp
from .conftest import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # CI installs chromium, so there a missing browser must fail, not pass by skipping.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]

PUBLIC_KEY = "pub-praxis-seefeld"
PRIVATE_KEY = "priv-praxis-seefeld-secret"


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls in these tests
    # are plain blocking reads of the test database, which is safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _wait_for(condition: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _drop(page, type_key: str, x: int, y: int) -> None:
    page.drag_and_drop(
        f'.tf-palette-item[data-type="{type_key}"]',
        '[data-testid="canvas"] .react-flow__pane',
        target_position={"x": x, "y": y},
    )


def _connect(page, source_id: str, target_id: str, handle: str = "") -> None:
    extra = f'[data-handleid="{handle}"]' if handle else ""
    source = page.locator(
        f'.react-flow__node[data-id="{source_id}"] .react-flow__handle.source{extra}'
    ).bounding_box()
    target = page.locator(
        f'.react-flow__node[data-id="{target_id}"] .react-flow__handle.target'
    ).bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=12)
    page.mouse.up()


def test_connect_etermin_build_campaign_book_and_see_results(
    workspace, etermin_sandbox, terminflow_server_factory
):
    # given an editor, the fields the booking fills, and an eTermin account in the sandbox
    editor = make_user("editor@praxis.example", workspace, Role.EDITOR)
    create_field(workspace, key="appointment_start", type="datetime", label="Terminbeginn")
    create_field(workspace, key="appointment_end", type="datetime", label="Terminende")
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY, calendars=[(211614, "Praxis Seefeld")])
    server = terminflow_server_factory()
    base = server.url

    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, base, editor.email, PASSWORD)
        shot(page, "01-overview")

        # when the editor connects the account in the dialog, first with a wrong key
        page.goto(base + "/settings/api/etermin/")
        shot(page, "02-settings-etermin-empty")
        page.get_by_role("button", name="Konto hinzufügen").click()
        dialog = page.locator("dialog#add-account")
        dialog.get_by_label("Kontoname").fill("Praxis Seefeld")
        dialog.get_by_label("Privater API-Schlüssel").fill("not-the-key")
        dialog.get_by_label("Öffentlicher API-Schlüssel").fill(PUBLIC_KEY)
        dialog.get_by_role("button", name="Schlüssel prüfen und speichern").click()
        error = dialog.locator('[data-testid="dialog-error"]')
        error.wait_for()
        shot(page, "03-settings-etermin-key-error")
        # then the key check's error shows in the dialog and nothing is stored
        assert EterminAccount.objects.count() == 0

        # when the right keys are given
        dialog.get_by_label("Kontoname").fill("Praxis Seefeld")
        dialog.get_by_label("Privater API-Schlüssel").fill(PRIVATE_KEY)
        dialog.get_by_label("Öffentlicher API-Schlüssel").fill(PUBLIC_KEY)
        dialog.get_by_role("button", name="Schlüssel prüfen und speichern").click()
        dialog.locator('[data-testid="connected"]').wait_for()
        shot(page, "04-settings-etermin-connected")
        # then the dialog shows the Web Push URL with eTermin's menu names
        web_push_url = dialog.locator("#new-webpush-url").input_value()
        assert web_push_url.startswith(base + "/hooks/etermin/")
        assert "API → API & Web Push" in dialog.inner_text()
        assert "Send Web Push to the following URL" in dialog.inner_text()
        dialog.get_by_role("button", name="Fertig").click()
        page.wait_for_load_state("load")
        shot(page, "05-settings-etermin-list")
        etermin_sandbox.configure_push(PUBLIC_KEY, web_push_url)

        # when the editor builds a campaign by dragging and double-clicking
        page.goto(base + "/campaigns/")
        page.get_by_placeholder("Name der neuen Kampagne").fill("Buchungsbestätigung")
        page.get_by_role("button", name="+ Neue Kampagne").click()
        page.locator(".tf-palette").wait_for()
        _drop(page, "etermin.appointment", 260, 60)
        _drop(page, "wait.duration", 260, 250)
        _drop(page, "contact.tag", 260, 440)
        page.locator('.react-flow__node[data-id="contact-3"]').wait_for()
        _connect(page, "etermin-1", "wait-2")
        _connect(page, "wait-2", "contact-3")
        assert page.locator(".react-flow__edge").count() == 2

        modal = page.locator(".tf-modal")
        open_settings(page, "etermin-1", modal.locator("#tf-et-calendar"), double_click=True)
        modal.locator('#tf-et-calendar option[value="211614"]').wait_for(state="attached")
        shot(page, "06-builder-etermin-dialog")
        assert modal.locator("#tf-et-calendar").input_value() == "all"
        modal.locator("#tf-et-start_field").select_option("appointment_start")
        modal.locator("#tf-et-end_field").select_option("appointment_end")
        modal.locator("input[name=save_notes]").check()
        modal.get_by_role("button", name="Übernehmen").click()

        open_settings(page, "wait-2", modal.locator("#tf-wait-amount"))
        modal.locator("#tf-wait-amount").fill("1")
        modal.locator("#tf-wait-unit").select_option("minutes")
        modal.get_by_role("button", name="Übernehmen").click()
        open_settings(page, "contact-3", modal.locator("#tf-cfg-add"))
        modal.locator("#tf-cfg-add").fill("gebucht")
        modal.get_by_role("button", name="Übernehmen").click()

        page.get_by_test_id("save").click()
        page.get_by_test_id("notice").filter(has_text="Gespeichert").wait_for()
        page.get_by_role("button", name="Aktivieren").click()
        page.get_by_test_id("campaign-status").filter(has_text="Aktiv").wait_for()
        shot(page, "07-builder-active")
        campaign = Campaign.objects.get(name="Buchungsbestätigung")
        assert campaign.status == "active"
        assert sorted(campaign.elements.values_list("type", flat=True)) == [
            "contact.tag",
            "etermin.appointment",
            "wait.duration",
        ]

        # when a customer books in eTermin
        start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=3)
        etermin_sandbox.book(
            PUBLIC_KEY,
            calendar_id=211614,
            start=start,
            end=start + timedelta(minutes=45),
            email="lea.meier@example.com",
            first_name="Lea",
            last_name="Meier",
            notes="Bitte Parkplatz reservieren",
        )
        contact = _wait_for(lambda: Contact.objects.filter(email="lea.meier@example.com").first())
        _wait_for(
            lambda: Run.objects.filter(contact=contact, element__type="wait.duration").exists()
        )

        # then the contact page shows the note, the fields and the run history
        page.goto(base + "/contacts/")
        shot(page, "08-contacts")
        page.get_by_role("link", name="lea.meier@example.com").click()
        page.get_by_test_id("contact-notes").filter(
            has_text="Bitte Parkplatz reservieren"
        ).wait_for()
        fields = page.get_by_test_id("contact-fields").inner_text()
        assert "Terminbeginn" in fields
        assert str(start.year) in fields
        history = page.get_by_test_id("run-history").inner_text()
        assert "eTermin-Termin" in history
        assert "Warten" in history
        assert page.get_by_test_id("email-status").inner_text() == "Bestätigt (Single-Opt-in)"
        shot(page, "09-contact-detail")

        # and the builder shows the element statistics on the nodes
        page.goto(base + f"/campaigns/{campaign.pk}/")
        trigger_stats = page.locator(
            '.react-flow__node[data-id="etermin-1"] [data-testid="node-stats"]'
        )
        trigger_stats.wait_for()
        assert "1" in trigger_stats.inner_text()
        wait_stats = page.locator('.react-flow__node[data-id="wait-2"] [data-testid="node-stats"]')
        assert "wartend" in wait_stats.inner_text()
        shot(page, "10-builder-stats")

        page.goto(base + f"/campaigns/{campaign.pk}/contacts/{contact.pk}/")
        shot(page, "11-campaign-contact-history")
        page.goto(base + "/inbox/")
        assert "Verarbeitet" in page.locator("table").inner_text()
        shot(page, "12-inbox")
        # and the Content-Security-Policy blocked nothing the builder, htmx or the dialogs use
        assert blocked == []


def test_every_page_renders_for_editor_and_viewer(workspace, terminflow_server_factory):
    # given a workspace with a little of everything
    editor = make_user("editor@praxis.example", workspace, Role.EDITOR)
    viewer = make_user("viewer@praxis.example", workspace, Role.VIEWER)
    create_field(workspace, key="birthday", type="date", label="Geburtstag")
    anna = create_contact(
        workspace,
        email="anna@example.com",
        first_name="Anna",
        last_name="Muster",
        fields={"birthday": "1990-04-01"},
        tags=["vip"],
    )
    add_note(anna, "Kommt immer pünktlich.", source="ui")
    server = terminflow_server_factory(embedded_worker=False)
    base = server.url
    pages = {
        "20-contacts-list": "/contacts/",
        "21-contact-new": "/contacts/new/",
        "22-contact-edit": f"/contacts/{anna.pk}/edit/",
        "23-contact-import": "/contacts/import/",
        "24-fields": "/fields/",
        "25-emails": "/emails/",
        "26-email-new": "/emails/new/",
        "27-campaigns": "/campaigns/",
        "28-outbox": "/outbox/",
        "29-settings-api": "/settings/api/",
        "29-settings-team": "/settings/team/",
        "30-preferences": "/preferences/",
    }
    with chromium_page() as page:
        blocked = watch_csp(page)
        page.goto(base + "/login/")
        shot(page, "00-login")
        log_in(page, base, editor.email, PASSWORD)
        for name, path in pages.items():
            response = page.goto(base + path)
            # then every page answers and shows its heading
            assert response.status == 200, path
            assert page.locator("h1").count() >= 1
            if path == "/emails/new/":
                page.get_by_test_id("preview-subject").wait_for()
            shot(page, name)

        # when the editor imports a CSV file
        page.goto(base + "/contacts/import/")
        csv_path = Path(server.data_dir) / "kontakte.csv"
        csv_path.write_text(
            "E-Mail;Vorname;Geburtstag\nmax@example.com;Max;1985-02-03\nkein-email;Fehler;\n"
        )
        page.set_input_files("input[type=file]", str(csv_path))
        page.get_by_role("button", name="Hochladen und Spalten zuordnen").click()
        page.locator('select[name="column_2"]').select_option("field:birthday")
        shot(page, "31-import-mapping")
        page.get_by_role("button", name="Import starten").click()
        page.get_by_test_id("rejected-rows").wait_for()
        shot(page, "32-import-done")
        assert Contact.objects.filter(email="max@example.com").exists()

        # when the editor switches to English
        page.goto(base + "/preferences/")
        page.select_option("select[name=language]", "en")
        page.get_by_role("button", name="Speichern").click()
        page.goto(base + "/contacts/")
        assert page.get_by_role("link", name="Contacts").count() == 1
        shot(page, "33-contacts-english")
        assert blocked == []

    with chromium_page() as page:
        log_in(page, base, viewer.email, PASSWORD)
        page.goto(base + f"/contacts/{anna.pk}/")
        # then the viewer sees the contact without buttons that change it
        assert page.get_by_role("link", name="Bearbeiten").count() == 0
        shot(page, "34-viewer-contact")


def test_a_destructive_form_asks_first_under_the_content_security_policy(
    workspace, terminflow_server_factory
):
    # given an editor and a field (its delete button asks through data-confirm, not inline JS)
    editor = make_user("editor@praxis.example", workspace, Role.EDITOR)
    create_field(workspace, key="birthday", type="date", label="Geburtstag")
    server = terminflow_server_factory(embedded_worker=False)
    questions: list[str] = []

    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, server.url, editor.email, PASSWORD)
        page.goto(server.url + "/fields/")
        delete = page.locator("tr", has_text="birthday").get_by_role("button", name="Löschen")

        # when the editor clicks delete and says no
        page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
        delete.click()
        page.wait_for_timeout(300)
        # then nothing is deleted
        assert Field.objects.filter(workspace=workspace, key="birthday").exists()

        # when the editor clicks delete again and says yes
        page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
        with page.expect_navigation():
            delete.click()

        # then the field is gone, the question was asked both times, and nothing was blocked
        assert not Field.objects.filter(workspace=workspace, key="birthday").exists()
        assert questions == ["Dieses Feld und seinen Wert bei allen Kontakten löschen?"] * 2
        assert blocked == []


def test_the_api_docs_work_without_any_other_host(workspace, terminflow_server_factory):
    # given the real server, and a browser that may reach nothing but it
    server = terminflow_server_factory(embedded_worker=False)
    elsewhere: list[str] = []

    with chromium_page() as page:
        blocked = watch_csp(page)

        def only_this_server(route) -> None:
            if route.request.url.startswith(server.url + "/"):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_server)

        # when the API docs are opened
        page.goto(server.url + "/api/v1/docs")

        # then Swagger UI renders the API from this server's files alone
        page.locator(".swagger-ui .info .title").get_by_text("terminflow API").wait_for()
        page.locator(".opblock-summary-path", has_text="/api/v1/contacts").first.wait_for()
        shot(page, "40-api-docs-offline")
        assert elsewhere == []
        assert blocked == []


def test_sync_now_shows_the_caught_up_booking_in_place(
    workspace, etermin_sandbox, terminflow_server_factory
):
    # given a connected account and a booking whose web push never arrived
    from terminflow.etermin.services import connect_account

    editor = make_user("editor@praxis.example", workspace, Role.EDITOR)
    etermin_sandbox.add_account(PUBLIC_KEY, PRIVATE_KEY, calendars=[(211614, "Praxis Seefeld")])
    account = connect_account(
        workspace, name="Praxis Seefeld", public_key=PUBLIC_KEY, private_key=PRIVATE_KEY
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    etermin_sandbox.book(
        PUBLIC_KEY,
        calendar_id=211614,
        start=start,
        end=start + timedelta(minutes=30),
        email="lea@example.ch",
        first_name="Lea",
        last_name="Brunner",
    )
    server = terminflow_server_factory()

    with chromium_page() as page:
        log_in(page, server.url, editor.email, PASSWORD)
        page.goto(server.url + "/settings/api/etermin/")
        assert "Noch nicht mit eTermin abgeglichen." in page.inner_text("body")
        # when the editor presses "sync now"
        page.get_by_role("button", name="Jetzt abgleichen").click()
        notice = page.locator('[data-testid="sync-notice"]')
        notice.wait_for()
        shot(page, "settings-etermin-synced")
        # then the result shows in place, without a page load, and the booking is in the inbox
        assert notice.inner_text() == (
            "Abgeglichen: 1 per Web Push verpasste Änderung wird jetzt verarbeitet."
        )
        assert page.url == server.url + "/settings/api/etermin/"
        result = page.locator(f'#sync-{account.pk} [data-testid="sync-result"]').inner_text()
        assert result.startswith("1 Termin geprüft; per Web Push verpasst und nachgeholt: 1 neu")
        page.goto(server.url + "/inbox/")
        assert page.locator('[data-testid="via-sync"]').count() == 1
