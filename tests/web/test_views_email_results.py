"""The results panel on an email's page: its figures in unique contacts, with rates."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from terminflow.mail import sending
from terminflow.mail import services as mail
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from tests.fixtures.smtp import SmtpServer
from tests.mail.conftest import make_contact
from tests.mail.factories import bounce, engagement

from .factories import make_email

pytestmark = pytest.mark.django_db


def shown(html: str) -> dict[str, str]:
    """Each result's number and rate as the page shows them, e.g. {"opened": "2 67 %"}."""
    found = {}
    for key, body in re.findall(r'data-testid="result-(\w+)">(.*?)</div>', html, re.S):
        found[key] = " ".join(re.sub(r"<[^>]+>", " ", body.split("<dd>")[1]).split())
    return found


def test_the_email_page_shows_its_results_with_rates(
    editor_client: Client, workspace: Workspace, smtp: SmtpServer
) -> None:
    # given: four contacts got the email; one bounced, two opened (one also clicked), a bot
    # clicked for the fourth
    template = make_email(workspace)
    for n in range(4):
        mail.queue_email(template, make_contact(workspace, email=f"p{n}@example.com"))
    sending.send_due()
    rows = list(Outbox.objects.filter(template=template).order_by("to_email"))
    bounce(rows[0], "hard")
    engagement(rows[1], "open")
    engagement(rows[2], "click")
    engagement(rows[3], "click", count=0, bot_count=3)
    # when
    html = editor_client.get(f"/emails/{template.pk}/").content.decode()
    # then
    assert "Ergebnisse" in html
    assert shown(html) == {
        "sent": "4",
        "delivered": "3 75 %",
        "bounced": "1 25 %",
        "opened": "2 67 %",
        "clicked": "1 33 %",
        "unsubscribed": "0 0 %",
    }


def test_an_email_nobody_got_shows_zeros_without_rates(viewer_client: Client, workspace) -> None:
    # given
    template = make_email(workspace)
    # when
    html = viewer_client.get(f"/emails/{template.pk}/").content.decode()
    # then
    assert shown(html) == {
        "sent": "0",
        "delivered": "0",
        "bounced": "0",
        "opened": "0",
        "clicked": "0",
        "unsubscribed": "0",
    }


def test_a_new_email_has_no_results_panel(editor_client: Client) -> None:
    html = editor_client.get("/emails/new/").content.decode()

    assert 'data-testid="email-results"' not in html


def test_a_designed_email_shows_its_results_above_the_visual_editor(
    editor_client: Client, workspace: Workspace, smtp: SmtpServer
) -> None:
    # given an email made in the visual editor, sent to two contacts, one of whom clicked
    design = {"version": 1, "blocks": [{"type": "text", "html": "<p>Hallo</p>"}]}
    template = mail.create_template(
        workspace,
        mail.TemplateData(name="Gestaltet", subject="Hallo", body_html="", design=design),
    )
    for n in range(2):
        mail.queue_email(template, make_contact(workspace, email=f"d{n}@example.com"))
    sending.send_due()
    engagement(Outbox.objects.filter(template=template).order_by("to_email").first(), "click")
    # when
    html = editor_client.get(f"/emails/{template.pk}/").content.decode()
    # then the page is the visual editor, with the results above it
    assert 'id="email-editor-root"' in html
    assert shown(html)["sent"] == "2"
    assert shown(html)["opened"] == "1 50 %"
    assert shown(html)["clicked"] == "1 50 %"
