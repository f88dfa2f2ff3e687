"""The newsletter wizard and the segment editor (with a group) in Chromium: choose, count, test,
send, watch.

The server runs without its worker; the test moves the newsletter forward with the same
sweeps the worker runs, so the progress page is seen polling and then showing the results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from terminflow.mail.sending import send_due
from terminflow.newsletters import sending
from terminflow.newsletters.models import Newsletter
from terminflow.segments.models import Segment
from terminflow.workspaces.models import Role
from tests.fixtures.smtp import SmtpServer
from tests.mail.conftest import make_email
from tests.newsletters.factories import make_readers

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


def test_the_wizard_sends_a_newsletter_and_shows_progress_then_results(
    workspace: Any, terminflow_server_factory: Any, smtp_server: SmtpServer, settings: Any
):
    # given an editor, a marketing email and a segment of 8 contacts (6 confirmed)
    editor = make_user("praxis@seefeld.example", workspace, Role.EDITOR)
    make_email(workspace, "marketing", name="Frühlingsangebot")
    segment = make_readers(workspace, 8)
    server = terminflow_server_factory(
        embedded_worker=False, env={"TERMINFLOW_SMTP_URL": smtp_server.url}
    )
    settings.SMTP_URL = smtp_server.url
    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, server.url, editor.email, PASSWORD)
        page.goto(server.url + "/newsletters/")
        page.get_by_test_id("newsletter-new").click()
        # htmx is a deferred script: a step chosen before it ran would load no count.
        page.wait_for_url("**/newsletters/new/", wait_until="load")
        # when the steps are filled in
        page.get_by_test_id("nl-name").fill("Frühlingsnews")
        page.get_by_test_id("nl-email").select_option(label="Frühlingsangebot")
        page.get_by_test_id("nl-segment").select_option(label=segment.name)
        # then the segment's count shows
        audience = page.get_by_test_id("nl-audience")
        audience.get_by_text("8 Kontakte sind im Segment").wait_for()
        assert "6 per Double-Opt-in bestätigte erhalten ihn" in audience.inner_text()
        # when a test email is sent to me
        page.get_by_test_id("nl-test").click()
        result = page.get_by_test_id("nl-test-result")
        result.wait_for()
        assert "Die Test-E-Mail wurde an praxis@seefeld.example gesendet" in result.inner_text()
        assert [m.rcpt_tos for m in smtp_server.messages] == [["praxis@seefeld.example"]]
        shot(page, "newsletter-wizard")
        # and it is sent now
        page.get_by_test_id("nl-now").check()
        page.get_by_test_id("nl-submit").click()
        page.get_by_test_id("nl-progress").wait_for()
        newsletter = Newsletter.objects.get()
        assert page.get_by_test_id("nl-state").inner_text() == "Wird gesendet"
        # then while the worker sends, the page follows by itself
        for _ in range(20):
            sending.sweep()
            send_due()
        page.locator('[data-testid="nl-progress"][data-state="sent"]').wait_for(timeout=20_000)
        assert page.get_by_test_id("nl-state").inner_text() == "Gesendet"
        stats = page.get_by_test_id("nl-stats").inner_text()
        assert "GESENDET\t6" in stats.upper() and "ZUGESTELLT\t6" in stats.upper()
        assert page.get_by_test_id("nl-skipped").inner_text().split("\n") == [
            "1 × nicht per Double-Opt-in bestätigt (nur einfach bestätigt)",
            "1 × nicht per Double-Opt-in bestätigt (Status unbekannt)",
        ]
        shot(page, "newsletter-results")
        assert blocked == []
    newsletter.refresh_from_db()
    assert newsletter.state == "sent"
    assert len(smtp_server.messages) == 1 + 6


def test_the_segment_editor_counts_live_with_a_group_and_saves(
    workspace: Any, terminflow_server_factory: Any
):
    editor = make_user("praxis@seefeld.example", workspace, Role.EDITOR)
    make_readers(workspace, 8)
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, server.url, editor.email, PASSWORD)
        page.goto(server.url + "/segments/new/")
        page.get_by_test_id("segment-name").fill("Bestätigte")
        # when a status condition is added and confirmed_doi ticked
        page.get_by_test_id("segment-add").click()
        row = page.get_by_test_id("segment-row")
        row.wait_for()
        row.locator('input[value="confirmed_doi"]').check()
        # then the count follows
        page.locator('[data-testid="segment-count"]', has_text="6").wait_for()
        assert page.get_by_test_id("segment-member").count() == 6
        # when a tag condition is added
        page.get_by_test_id("segment-add").click()
        second = page.get_by_test_id("segment-row").nth(1)
        second.get_by_test_id("row-kind").select_option("tags")
        second.get_by_test_id("row-tags").wait_for()
        second.get_by_test_id("row-tags").select_option(["Newsletter"])
        page.locator('[data-testid="segment-count"]', has_text="6").wait_for()
        # when a group is added and its first condition asks for single opt-in
        page.get_by_test_id("segment-add-group").click()
        group = page.get_by_test_id("segment-group")
        group.get_by_test_id("segment-row").wait_for()
        assert group.get_by_test_id("group-match").input_value() == "all"
        group.get_by_test_id("segment-row").locator('input[value="confirmed_soi"]').check()
        # then nobody is both confirmed by double and only by single opt-in
        page.locator('[data-testid="segment-count"]', has_text="0").wait_for()
        # when the group gets a second condition and needs only one of its two
        group.get_by_test_id("group-add").click()
        group.get_by_test_id("segment-row").nth(1).wait_for()
        group.get_by_test_id("segment-row").nth(1).locator('input[value="confirmed_doi"]').check()
        # (the attribute, not the state: it is there once the rows came back from the server)
        page.locator('input[name="c2.1-statuses"][value="confirmed_doi"][checked]').wait_for()
        group.get_by_test_id("group-match").select_option("any")
        page.locator('[data-testid="segment-count"]', has_text="6").wait_for()
        # when the first condition (double opt-in only) is removed
        page.get_by_test_id("segment-row").first.get_by_test_id("row-remove").click()
        # then the group decides: Newsletter and (single or double opt-in)
        page.locator('[data-testid="segment-count"]', has_text="7").wait_for()
        assert page.get_by_test_id("segment-member").count() == 7
        shot(page, "segment-editor")
        page.get_by_test_id("segment-save").click()
        page.locator(".message").first.wait_for()
        # and the saved page shows the group as rows again
        assert page.get_by_test_id("segment-group").get_by_test_id("segment-row").count() == 2
        assert page.get_by_test_id("segment-group").get_by_test_id("group-match").input_value() == (
            "any"
        )
        assert blocked == []
    segment = Segment.objects.get(name="Bestätigte")
    assert segment.definition == {
        "match": "all",
        "conditions": [
            {"type": "tags", "match": "any", "tags": ["Newsletter"]},
            {
                "type": "group",
                "match": "any",
                "conditions": [
                    {"type": "email_status", "statuses": ["confirmed_soi"]},
                    {"type": "email_status", "statuses": ["confirmed_doi"]},
                ],
            },
        ],
    }
