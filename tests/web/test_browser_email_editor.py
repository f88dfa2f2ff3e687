"""The visual email editor in Chromium against the real server and a real SMTP server.

An editor builds an email from blocks, puts placeholders in from the menu (never typed), uploads
an image, saves, previews it for a contact and sends a test that arrives at aiosmtpd.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image as Pillow

from terminflow.contacts.services import create_contact
from terminflow.mail.models import EmailTemplate, Image, Outbox
from terminflow.workspaces.models import Role

from .browser import CHROMIUM, chromium_page, log_in, shot, watch_csp
from .conftest import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _wait_for_mail(smtp_server, count: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(smtp_server.messages) >= count:
            return smtp_server.messages[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} emails, got {len(smtp_server.messages)}")


def test_build_save_preview_and_send_a_test(
    workspace, smtp_server, terminflow_server_factory, tmp_path
):
    # given an editor, a contact, and the server with an SMTP server
    editor = make_user("lea@praxis.example", workspace, Role.EDITOR)
    create_contact(workspace, email="zoe@example.ch", first_name="Zoë", email_status="unknown")
    server = terminflow_server_factory(
        embedded_worker=False, env={"TERMINFLOW_SMTP_URL": smtp_server.url}
    )
    base = server.url
    logo = tmp_path / "logo.png"
    picture = io.BytesIO()
    Pillow.new("RGB", (320, 120), (15, 118, 110)).save(picture, "PNG")
    logo.write_bytes(picture.getvalue())

    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, base, editor.email, PASSWORD)

        # when the editor starts a visual email from the list
        page.goto(base + "/emails/")
        page.get_by_role("link", name="+ Neue E-Mail (visueller Editor)").click()
        page.locator(".ee").wait_for()
        page.get_by_label("Name der E-Mail").fill("Willkommen")
        # and replaces the starter blocks with their own
        for _ in range(3):
            page.get_by_role("button", name="Block löschen").first.click()
        assert page.locator(".ee-block").count() == 0
        add = page.locator('[aria-label="Block hinzufügen"]')
        add.locator('[data-type="heading"]').click()
        heading = page.locator('[data-block-type="heading"]')
        heading.get_by_test_id("heading-text").fill("Guten Tag ")
        heading.get_by_test_id("placeholder-menu").select_option(label="Vorname")
        add.locator('[data-type="text"]').click()
        text = page.locator('[data-block-type="text"]')
        text.get_by_test_id("rich-text").click()
        page.keyboard.type("Willkommen bei ")
        text.get_by_test_id("placeholder-menu").select_option(label="Name des Arbeitsbereichs")
        add.locator('[data-type="image"]').click()
        image = page.locator('[data-block-type="image"]')
        image.get_by_test_id("image-upload").set_input_files(str(logo))
        image.locator(".ee-thumb").wait_for()
        image.get_by_label("Alternativtext").fill("Logo der Praxis")
        add.locator('[data-type="button"]').click()
        button = page.locator('[data-block-type="button"]')
        button.get_by_test_id("button-text").fill("Abmelden")
        button.get_by_label("Linkziel").first.select_option(label="Abmeldelink")
        # the new block can be moved up with the keyboard-reachable buttons
        button.get_by_role("button", name="Nach oben").click()
        assert page.locator(".ee-block").nth(2).get_attribute("data-block-type") == "button"
        shot(page, "40-email-editor-built")

        # and saves
        page.get_by_test_id("save").click()
        page.get_by_test_id("save-status").filter(has_text="Gespeichert.").wait_for()

        # then the email is stored with its design, placeholders put in from the menu
        email = EmailTemplate.objects.get(name="Willkommen")
        blocks = email.design["blocks"]
        assert [b["type"] for b in blocks] == ["heading", "text", "button", "image"]
        assert blocks[0]["text"] == "Guten Tag {{ contact.first_name }}"
        assert "Willkommen bei {{ workspace.name }}" in blocks[1]["html"]
        assert blocks[2]["href"] == "{{ links.unsubscribe }}"
        uploaded = Image.objects.get(workspace=workspace)
        assert blocks[3]["src"] == f"{base}/media/{uploaded.path}"
        assert blocks[3]["alt"] == "Logo der Praxis"
        assert page.url == f"{base}/emails/{email.pk}/"
        served = httpx.get(blocks[3]["src"])
        assert (served.status_code, served.headers["content-type"]) == (200, "image/png")

        # when the editor previews it for the contact
        page.get_by_test_id("show-preview").click()
        frame = page.frame_locator('[data-testid="preview-frame"]')
        frame.locator("h1").filter(has_text="Guten Tag Zoë").wait_for()
        assert frame.locator('img[alt="Logo der Praxis"]').count() == 1
        assert "Willkommen bei Praxis Seefeld" in page.get_by_test_id("preview-text").text_content()
        shot(page, "41-email-editor-preview")

        # and sends a test to themself
        assert page.get_by_label("An", exact=True).input_value() == "lea@praxis.example"
        page.get_by_test_id("send-test").click()
        page.get_by_test_id("test-sent").wait_for()
        shot(page, "42-email-editor-test-sent")

        # then it arrives, with the contact's data, and no outbox row exists
        received = _wait_for_mail(smtp_server, 1)
        assert received.rcpt_tos == ["lea@praxis.example"]
        assert received.message["Subject"].startswith("[Test] ")
        html = received.part("text/html")
        assert "Guten Tag Zoë</h1>" in html
        assert f'src="{base}/media/{uploaded.path}"' in html
        assert Outbox.objects.count() == 0

        # and reopening the email shows the visual editor with the saved blocks
        page.reload()
        page.locator(".ee-block").first.wait_for()
        assert page.locator(".ee-block").count() == 4
        assert blocked == []
