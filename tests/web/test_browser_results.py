"""Results in a real browser: the overview's charts drawn by uPlot under the CSP, an email
element's results in the builder, and a condition choosing its email element."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from terminflow.campaigns import engine
from terminflow.campaigns.models import Campaign
from terminflow.kit import clock
from terminflow.mail import sending
from terminflow.mail import services as mail
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Role, Workspace
from tests.campaigns.factories import edge, element, make_campaign, node
from tests.etermin.factories import make_account, push_body, store_push
from tests.fixtures.smtp import SmtpServer
from tests.mail.conftest import make_contact
from tests.mail.factories import engagement

from .browser import CHROMIUM, chromium_page, log_in, open_settings, shot, watch_csp
from .conftest import PASSWORD, make_user
from .factories import make_email

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
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain
    # blocking reads and writes of the test database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _sent_and_opened(workspace: Workspace, count: int, opened: int) -> None:
    template = make_email(workspace, name="News")
    for n in range(count):
        mail.queue_email(template, make_contact(workspace, email=f"p{n}@example.com"))
    sending.send_due()
    for row in Outbox.objects.filter(template=template, status="sent")[:opened]:
        engagement(row, "open")


def test_the_overview_draws_both_charts_with_their_tables(
    workspace: Workspace, smtp: SmtpServer, terminflow_server_factory: Any
) -> None:
    # given: emails sent and opened today, and two bookings
    viewer = make_user("viewer@praxis.example", workspace, Role.VIEWER)
    _sent_and_opened(workspace, count=3, opened=2)
    account = make_account(workspace)
    for uid in ("a-1", "a-2"):
        store_push(account, push_body("CREATED", uid))
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, server.url, viewer.email, PASSWORD)
        # when
        page.goto(server.url + "/")
        # then uPlot drew a canvas into each chart, and the CSP blocked nothing
        for name in ("bookings", "emails"):
            host = page.locator(f'[data-chart="{name}"][data-drawn="true"]')
            host.wait_for()
            canvas = host.locator("canvas")
            assert canvas.count() == 1
            box = canvas.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
        totals = page.get_by_test_id("chart-emails").locator(".chart-totals").inner_text()
        assert totals == "Gesendet: 3 · Geöffnet: 2 · Angeklickt: 0"
        bookings = page.get_by_test_id("chart-bookings").locator(".chart-totals").inner_text()
        assert bookings.startswith("Erstellt: 2")
        # the legend shows the day under the cursor
        page.locator('[data-chart="emails"] .u-over').hover()
        assert page.locator('[data-chart="emails"] .u-legend').count() == 1
        shot(page, "80-overview-charts")
        # and the email's page shows its results
        page.goto(server.url + f"/emails/{Outbox.objects.first().template_id}/")
        sent = page.get_by_test_id("result-opened").inner_text()
        assert " ".join(sent.split()) == "Geöffnet 2 67 %"
        shot(page, "83-email-results")
        assert blocked == []


def test_the_builder_shows_email_results_and_a_condition_picks_its_email_element(
    workspace: Workspace, smtp: SmtpServer, terminflow_server_factory: Any
) -> None:
    # given: a campaign sent its email to two contacts; one opened it
    editor = make_user("editor@praxis.example", workspace, Role.EDITOR)
    template = make_email(workspace, name="News")
    campaign = make_campaign(
        workspace,
        [
            {**element("start", "contact.tag_added", tag="kunde"), "position": {"x": 0, "y": 0}},
            {**element("mail", "email.send", email_id=template.pk), "position": {"x": 0, "y": 180}},
            {**element("wait", "wait.duration", minutes=1440), "position": {"x": 0, "y": 400}},
            {
                "id": "asked",
                "type": "condition.email_opened",
                "config": {"element_id": "mail"},
                "position": {"x": 0, "y": 600},
            },
        ],
        [edge("start", "mail"), edge("mail", "wait"), edge("wait", "asked")],
    )
    for address in ("anna@example.com", "ben@example.com"):
        with transaction.atomic():
            engine.enter(node(campaign, "start"), make_contact(workspace, email=address))
    while engine.advance_due(now=clock.now()):
        pass
    sending.send_due()
    engagement(Outbox.objects.filter(run__campaign=campaign).order_by("id").first(), "open")
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page() as page:
        blocked = watch_csp(page)
        log_in(page, server.url, editor.email, PASSWORD)
        # when
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        results = page.locator('.react-flow__node[data-id="mail"] [data-testid="node-results"]')
        results.wait_for()
        # then the email element shows what became of its emails
        assert " ".join(results.inner_text().split()) == (
            "2 gesendet 1 geöffnet (50 %) 0 angeklickt (0 %)"
        )
        shot(page, "82-builder-email-results")
        condition = page.locator('.react-flow__node[data-id="asked"]')
        assert "E-Mail geöffnet?" in condition.inner_text()
        assert "E-Mail senden «News»" in condition.inner_text()
        # when the condition's settings open, the choice is the graph's email elements
        modal = page.locator(".tf-modal")
        open_settings(page, "asked", modal.locator("#tf-cfg-element_id"))
        assert modal.locator("#tf-cfg-element_id option").all_inner_texts() == [
            "Auswählen…",
            "E-Mail senden «News»",
        ]
        assert modal.locator("#tf-cfg-element_id").input_value() == "mail"
        shot(page, "81-builder-condition-email-element")
        modal.get_by_role("button", name="Abbrechen").click()
        modal.wait_for(state="detached")
        # and the email element's settings list its results
        open_settings(page, "mail", modal.get_by_test_id("dialog-results"))
        assert "Zugestellt" in modal.get_by_test_id("dialog-results").inner_text()
        modal.get_by_role("button", name="Abbrechen").click()
        assert blocked == []
    assert Campaign.objects.get(pk=campaign.pk).elements.get(key="asked").config == {
        "element_id": "mail"
    }
