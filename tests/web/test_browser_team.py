"""Settings → Team in a real browser against the real server, with the email through real SMTP.

An admin invites a colleague as editor; the invitation reaches an aiosmtpd server; the colleague
sets a password through the link, edits contacts but not the team; the admin demotes her to
viewer and her next write is refused; the admin removes her and her session stops working.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from terminflow.contacts.models import Contact
from terminflow.workspaces.models import Membership, Role, TeamEvent, User

from .browser import CHROMIUM, chromium_browser, log_in, shot
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

LEA_PASSWORD = "Sommer im Seefeld 2026!"


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain
    # blocking reads of the test database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _wait_for_mail(smtp_server, count: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(smtp_server.messages) >= count:
            return smtp_server.messages[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} emails, got {len(smtp_server.messages)}")


def test_invite_join_edit_demote_remove(workspace, smtp_server, terminflow_server_factory):
    # given a workspace with one admin, and the server sending through a real SMTP server
    admin = make_user("admin@praxis.example", workspace, Role.ADMIN)
    server = terminflow_server_factory(
        embedded_worker=False, env={"TERMINFLOW_SMTP_URL": smtp_server.url}
    )
    base = server.url

    with chromium_browser() as new_page:
        admin_page = new_page()
        log_in(admin_page, base, admin.email, PASSWORD)

        # when the admin invites a colleague as editor
        admin_page.goto(base + "/settings/team/")
        shot(admin_page, "40-team-admin-empty")
        form = admin_page.get_by_test_id("invite-form")
        form.get_by_label("E-Mail").fill("lea.meier@praxis.example")
        form.get_by_label("Rolle").select_option("editor")
        form.get_by_role("button", name="Einladen").click()
        admin_page.get_by_text(
            "Die Einladung an lea.meier@praxis.example ist unterwegs."
        ).wait_for()
        shot(admin_page, "41-team-invited")

        # then the invitation email arrives, in German, with the link to this server
        received = _wait_for_mail(smtp_server, 1)
        assert received.rcpt_tos == ["lea.meier@praxis.example"]
        assert received.message["Subject"] == "Einladung zu Praxis Seefeld bei terminflow"
        text = received.part("text/plain")
        link = next(word for word in text.split() if word.startswith(base + "/invitations/"))
        assert "als Bearbeiter" in text

        # when the colleague opens the link and sets her name and password
        lea_page = new_page()
        lea_page.goto(link)
        shot(lea_page, "42-invitation-new-account")
        lea_page.get_by_label("Vorname").fill("Lea")
        lea_page.get_by_label("Nachname").fill("Meier")
        # first a password the validators refuse
        lea_page.get_by_label("Passwort", exact=True).fill("12345678")
        lea_page.get_by_label("Passwort wiederholen").fill("12345678")
        lea_page.get_by_role("button", name="Konto erstellen und beitreten").click()
        lea_page.get_by_text("Dieses Passwort ist zu üblich.").wait_for()
        shot(lea_page, "43-invitation-weak-password")
        assert not User.objects.filter(email="lea.meier@praxis.example").exists()
        lea_page.get_by_label("Passwort", exact=True).fill(LEA_PASSWORD)
        lea_page.get_by_label("Passwort wiederholen").fill(LEA_PASSWORD)
        lea_page.get_by_role("button", name="Konto erstellen und beitreten").click()

        # then she is logged in to the workspace as editor
        lea_page.wait_for_url(base + "/")
        lea_page.get_by_text("Willkommen bei Praxis Seefeld.").wait_for()
        lea = User.objects.get(email="lea.meier@praxis.example")
        assert Membership.objects.get(user=lea, workspace=workspace).role == "editor"

        # when she adds a contact
        lea_page.goto(base + "/contacts/new/")
        lea_page.get_by_label("E-Mail", exact=True).fill("anna@example.com")
        lea_page.get_by_role("button", name="Speichern").click()
        lea_page.get_by_text("anna@example.com").first.wait_for()
        # then it is stored
        assert Contact.objects.filter(workspace=workspace, email="anna@example.com").exists()

        # and the team page is read-only for her; the server refuses a forged change too
        lea_page.goto(base + "/settings/team/")
        lea_page.get_by_test_id("team-read-only").wait_for()
        assert lea_page.get_by_test_id("invite-form").count() == 0
        shot(lea_page, "44-team-editor-read-only")
        csrf = next(c["value"] for c in lea_page.context.cookies() if c["name"] == "csrftoken")
        forged = lea_page.request.post(
            base + "/settings/team/invite/",
            form={"csrfmiddlewaretoken": csrf, "email": "eve@example.com", "role": "admin"},
        )
        assert forged.status == 403
        assert not workspace.invitations.filter(email="eve@example.com").exists()

        # when she opens the form for a second contact, and meanwhile the admin demotes her
        lea_page.goto(base + "/contacts/new/")
        lea_page.get_by_label("E-Mail", exact=True).fill("ben@example.com")
        admin_page.goto(base + "/settings/team/")
        row = admin_page.locator('tr[data-member="lea.meier@praxis.example"]')
        row.get_by_test_id("role-select").select_option("viewer")
        row.get_by_role("button", name="Rolle ändern").click()
        admin_page.get_by_text("lea.meier@praxis.example ist jetzt Betrachter.").wait_for()
        shot(admin_page, "45-team-demoted")

        # then her next write is refused
        with lea_page.expect_response(lambda r: r.url == base + "/contacts/new/") as answer:
            lea_page.get_by_role("button", name="Speichern").click()
        assert answer.value.status == 403
        shot(lea_page, "46-viewer-write-refused")
        assert not Contact.objects.filter(email="ben@example.com").exists()
        # but she can still read
        assert lea_page.goto(base + "/contacts/").status == 200

        # when the admin removes her
        admin_page.goto(base + "/settings/team/")
        admin_page.once("dialog", lambda dialog: dialog.accept())
        admin_page.locator('tr[data-member="lea.meier@praxis.example"]').get_by_role(
            "button", name="Entfernen"
        ).click()
        admin_page.get_by_text(
            "lea.meier@praxis.example wurde aus dem Arbeitsbereich entfernt."
        ).wait_for()
        shot(admin_page, "47-team-removed")

        # then her session no longer reaches the workspace
        assert lea_page.goto(base + "/contacts/").status == 403
        assert lea_page.goto(base + "/api/v1/contacts").status == 401
        shot(lea_page, "48-removed-session")
        assert not Membership.objects.filter(user=lea, workspace=workspace).exists()

        # and the change log on the page says who did what
        log = admin_page.get_by_test_id("team-log").inner_text()
        assert "hat lea.meier@praxis.example als Bearbeiter eingeladen" in log
        assert "ist als Bearbeiter beigetreten" in log
        assert "hat die Rolle von lea.meier@praxis.example von Bearbeiter zu Betrachter" in log
        assert "hat lea.meier@praxis.example (Betrachter) entfernt" in log
    assert list(TeamEvent.objects.order_by("id").values_list("kind", "actor_label")) == [
        ("invited", "admin@praxis.example"),
        ("joined", "lea.meier@praxis.example"),
        ("role_changed", "admin@praxis.example"),
        ("removed", "admin@praxis.example"),
    ]
