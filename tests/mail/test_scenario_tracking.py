"""Open and click tracking end to end: a campaign's email over SMTP, opened and clicked over HTTP.

Real HTTP and a real SMTP server: the campaign's steps and the sender run in this process, the
email goes to aiosmtpd on 127.0.0.1, and the pixel and the link are fetched from terminflow's
front, which redirects to a landing page served by another local server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from terminflow.campaigns import engine
from terminflow.contacts import tags as contact_tags
from terminflow.kit import clock
from terminflow.mail import sending
from terminflow.mail import services as mail
from terminflow.mail.models import Engagement, Outbox
from terminflow.workspaces.models import Workspace
from terminflow.workspaces.services import issue_api_token
from tests.campaigns.factories import make_campaign
from tests.fixtures.sandbox import ServerThread
from tests.fixtures.smtp import SmtpServer

from .conftest import make_contact, make_email

BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def landing() -> ServerThread:
    """The practice's website, where the email's link points."""

    async def offer(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"Herbstangebot ({request.query_params.get('quelle')})")

    server = ServerThread(Starlette(routes=[Route("/angebot", offer)]))
    server.start()
    yield server
    server.stop()


def work(now=None) -> None:  # type: ignore[no-untyped-def]
    while engine.advance_due(now=now):
        pass
    while sending.send_due(now=now):
        pass


def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not recorded in time"
        time.sleep(0.02)


def engagements() -> dict[str, tuple[int, int]]:
    return {e.kind: (e.count, e.bot_count) for e in Engagement.objects.all()}


@pytest.mark.django_db(transaction=True)
def test_a_campaign_email_is_opened_and_clicked_and_both_are_recorded_once(
    workspace: Workspace,
    terminflow_front: ServerThread,
    landing: ServerThread,
    smtp: SmtpServer,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    # given terminflow reachable at its front, and a campaign that sends a newsletter on a tag
    settings.BASE_URL = terminflow_front.url
    offer = f"{landing.url}/angebot?quelle=newsletter"
    news = make_email(
        workspace,
        "marketing",
        subject="Herbstangebot",
        body_html=(
            "<html><body><p>Hallo {{ contact.first_name }}</p>"
            f'<p><a href="{offer}">Zum Angebot</a></p>'
            '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p></body></html>'
        ),
    )
    make_campaign(
        workspace,
        [
            {"id": "tag", "type": "contact.tag_added", "config": {"tag": "news"}, "position": {}},
            {"id": "mail", "type": "email.send", "config": {"email_id": news.pk}, "position": {}},
        ],
        [{"source": "tag", "target": "mail", "branch": "next"}],
        name="Newsletter",
    )
    contact = make_contact(workspace, email="lea@example.ch", first_name="Lea")

    # when the contact is tagged and the worker's steps run
    contact_tags.add_tags(contact, ["news"])
    work()

    # then the received email has its link rewritten and the open pixel
    [received] = smtp.messages
    html = received.part("text/html")
    row = Outbox.objects.get(contact=contact)
    assert row.status == "sent"
    assert row.links == [offer]
    click = re.findall(rf'href="({re.escape(terminflow_front.url)}/t/c/[\w-]{{40}})"', html)
    pixel = re.findall(
        rf'<img src="({re.escape(terminflow_front.url)}/t/o/[\w-]{{38}})" width="1" height="1" '
        r'alt="">\s*</body>',
        html,
    )
    assert len(click) == 1 and len(pixel) == 1
    assert offer not in html
    assert "/mail/unsubscribe/" in html  # left as it is
    # and the text part keeps the original address
    assert f"Zum Angebot ({offer})" in received.part("text/plain")

    # when a mail security gateway follows the link at delivery
    scanned = httpx.get(click[0], headers={"User-Agent": BROWSER}, timeout=10)
    assert scanned.status_code == 302
    wait_for(lambda: engagements() == {"click": (0, 1)})

    # and a minute later (the email was delivered a minute ago) the person opens it and clicks
    assert row.sent_at is not None
    Outbox.objects.filter(pk=row.pk).update(sent_at=row.sent_at - timedelta(minutes=1))
    image = httpx.get(pixel[0], headers={"User-Agent": BROWSER}, timeout=10)
    wait_for(lambda: engagements().get("open") == (1, 0))
    page = httpx.get(click[0], headers={"User-Agent": BROWSER}, follow_redirects=True, timeout=10)

    # then the image is the pixel, and the link lands on the original address
    assert (image.status_code, image.headers["content-type"]) == (200, "image/gif")
    assert [r.status_code for r in page.history] == [302]
    assert str(page.url) == offer
    assert page.text == "Herbstangebot (newsletter)"
    # and the email shows one open and one click by the person, the scanner's apart
    wait_for(lambda: engagements().get("click") == (1, 1))
    assert engagements() == {"open": (1, 0), "click": (1, 1)}
    rows = Engagement.objects.filter(outbox=row)
    assert {(e.workspace_id, e.contact_id, e.template_id) for e in rows} == {
        (workspace.pk, contact.pk, news.pk)
    }
    assert all(e.first_at is not None and e.first_at >= row.sent_at for e in rows)


@pytest.mark.django_db(transaction=True)
def test_an_email_built_in_the_editor_is_clicked_the_stats_say_so_and_the_click_condition_says_yes(
    workspace: Workspace,
    terminflow_front: ServerThread,
    landing: ServerThread,
    smtp: SmtpServer,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    # given an email made of blocks in the visual editor, with a button to the offer
    settings.BASE_URL = terminflow_front.url
    offer = f"{landing.url}/angebot?quelle=editor"
    design = {
        "version": 1,
        "blocks": [
            {"type": "heading", "text": "Herbstangebot"},
            {"type": "text", "html": "<p>Hallo {{ contact.first_name }}</p>"},
            {"type": "button", "text": "Zum Angebot", "href": offer},
        ],
    }
    news = mail.create_template(
        workspace,
        mail.TemplateData(name="Herbst", subject="Herbstangebot", body_html="", design=design),
    )
    # and a campaign: tagged → the email → a day's wait → clicked? yes: tag "interessiert"
    element = lambda id, type, config: {"id": id, "type": type, "config": config, "position": {}}  # noqa: E731
    make_campaign(
        workspace,
        [
            element("tag", "contact.tag_added", {"tag": "news"}),
            element("mail", "email.send", {"email_id": news.pk}),
            element("wait", "wait.duration", {"minutes": 1440}),
            element("clicked", "condition.email_clicked", {"element_id": "mail"}),
            element("yes", "contact.tag", {"add": ["interessiert"]}),
            element("no", "contact.tag", {"add": ["nicht-geklickt"]}),
        ],
        [
            {"source": "tag", "target": "mail", "branch": "next"},
            {"source": "mail", "target": "wait", "branch": "next"},
            {"source": "wait", "target": "clicked", "branch": "next"},
            {"source": "clicked", "target": "yes", "branch": "yes"},
            {"source": "clicked", "target": "no", "branch": "no"},
        ],
        name="Herbst",
    )
    contact = make_contact(workspace, email="lea@example.ch", first_name="Lea")

    # when the contact is tagged and the email goes out
    contact_tags.add_tags(contact, ["news"])
    work()

    # then the received email is the editor's, with the button rewritten and the pixel
    [received] = smtp.messages
    html = received.part("text/html")
    assert "Hallo Lea" in html
    assert offer not in html
    [click] = re.findall(rf'href="({re.escape(terminflow_front.url)}/t/c/[\w-]{{40}})"', html)
    [pixel] = re.findall(rf'src="({re.escape(terminflow_front.url)}/t/o/[\w-]{{38}})"', html)

    # when, a minute after delivery, Lea opens the email and follows the button
    row = Outbox.objects.get(contact=contact)
    assert row.sent_at is not None
    Outbox.objects.filter(pk=row.pk).update(sent_at=row.sent_at - timedelta(minutes=1))
    assert httpx.get(pixel, headers={"User-Agent": BROWSER}, timeout=10).status_code == 200
    page = httpx.get(click, headers={"User-Agent": BROWSER}, follow_redirects=True, timeout=10)
    wait_for(lambda: engagements() == {"open": (1, 0), "click": (1, 0)})

    # then she lands on the offer, and the email's stats over the API say so
    assert str(page.url) == offer
    assert page.text == "Herbstangebot (editor)"
    token = issue_api_token(workspace).token
    stats = httpx.get(
        f"{terminflow_front.url}/api/v1/emails/{news.pk}/stats",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert stats.status_code == 200
    assert stats.json() == {
        "sent": 1,
        "delivered": 1,
        "bounced": 0,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 0,
    }

    # when the day's wait is over, the condition on the click takes the yes branch
    work(now=clock.now() + timedelta(days=1, minutes=1))
    contact.refresh_from_db()
    assert sorted(contact_tags.tag_names(contact)) == ["interessiert", "news"]
