"""Open and click tracking: tokens, rewriting an email when it is queued, and the bot rule."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from terminflow.mail import links, services, tracking
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace

from .conftest import make_contact, make_email

PUBLIC_ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
BASE = "http://testserver"
SENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari"


@pytest.fixture(autouse=True)
def base_url(settings):  # type: ignore[no-untyped-def]
    settings.BASE_URL = BASE
    settings.SECRET_KEY = "tracking-test-key-" + "x" * 40


# -- tokens ------------------------------------------------------------------------------------


def test_click_token_is_40_url_safe_characters_and_reads_back() -> None:
    token = tracking.click_token(PUBLIC_ID, 7)

    assert len(token) == 40
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert tracking.read_click_token(token) == (PUBLIC_ID, 7)


def test_open_token_is_38_characters_and_reads_back() -> None:
    token = tracking.open_token(PUBLIC_ID)

    assert len(token) == 38
    assert tracking.read_open_token(token) == PUBLIC_ID


def test_a_token_holds_the_row_index_and_signature_only() -> None:
    # nothing about the contact: 16 bytes of the row's public id, 2 of the index, 12 of MAC
    raw = base64.urlsafe_b64decode(tracking.click_token(PUBLIC_ID, 258) + "==")

    assert raw[:16] == PUBLIC_ID.bytes
    assert raw[16:18] == b"\x01\x02"
    assert len(raw) == 30


def test_every_changed_character_of_a_token_is_refused() -> None:
    token = tracking.click_token(PUBLIC_ID, 0)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    accepted = []
    for position in range(len(token)):
        for replacement in alphabet:
            if replacement == token[position]:
                continue
            forged = token[:position] + replacement + token[position + 1 :]
            # The last character carries 2 unused bits: those variants decode to the same bytes.
            if tracking.read_click_token(forged) is not None:
                accepted.append(forged)

    raw = base64.urlsafe_b64decode(token + "==")
    assert all(base64.urlsafe_b64decode(f + "==") == raw for f in accepted)


def test_a_forged_index_with_a_copied_signature_is_refused() -> None:
    raw = bytearray(base64.urlsafe_b64decode(tracking.click_token(PUBLIC_ID, 0) + "=="))
    raw[17] = 1  # index 0 -> 1, signature kept
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    assert tracking.read_click_token(forged) is None


@pytest.mark.parametrize(
    "token",
    ["", "x", "A" * 40, "A" * 39, "A" * 41, "é" * 40, "!" * 40, "A" * 38, "====" * 10],
)
def test_malformed_click_tokens_are_refused(token: str) -> None:
    assert tracking.read_click_token(token) is None


def test_an_open_token_is_no_click_token_and_back() -> None:
    open_token = tracking.open_token(PUBLIC_ID)
    # the same bytes signed for the other purpose: the length differs, and so does the key
    payload = PUBLIC_ID.bytes + b"\x00\x00"
    click_mac_with_open_key = tracking._mac("open", payload)
    as_click = base64.urlsafe_b64encode(payload + click_mac_with_open_key).rstrip(b"=").decode()

    assert tracking.read_click_token(open_token) is None
    assert tracking.read_open_token(tracking.click_token(PUBLIC_ID, 0)) is None
    assert tracking.read_click_token(as_click) is None


def test_tokens_signed_with_another_secret_key_are_refused(settings) -> None:  # type: ignore[no-untyped-def]
    click, opened = tracking.click_token(PUBLIC_ID, 0), tracking.open_token(PUBLIC_ID)

    settings.SECRET_KEY = "another-installation-" + "y" * 40

    assert tracking.read_click_token(click) is None
    assert tracking.read_open_token(opened) is None


# -- rewriting ---------------------------------------------------------------------------------


def click(index: int) -> str:
    return f"{BASE}/t/c/{tracking.click_token(PUBLIC_ID, index)}"


def pixel() -> str:
    return f'<img src="{BASE}/t/o/{tracking.open_token(PUBLIC_ID)}" width="1" height="1" alt="">'


def test_http_links_are_rewritten_in_order_and_the_pixel_goes_before_body_end() -> None:
    html = (
        "<html><body>"
        '<p><a href="https://praxis.example/termine?a=1&amp;b=2">Termine</a></p>'
        "<p><A class='button' HREF='http://praxis.example/'>Start</A></p>"
        "<p><a title=x href=https://praxis.example/team>Team</a></p>"
        "</body></html>"
    )

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=True)

    assert targets == [
        "https://praxis.example/termine?a=1&b=2",
        "http://praxis.example/",
        "https://praxis.example/team",
    ]
    assert body == (
        "<html><body>"
        f'<p><a href="{click(0)}">Termine</a></p>'
        f"<p><A class='button' HREF=\"{click(1)}\">Start</A></p>"
        f'<p><a title=x href="{click(2)}">Team</a></p>'
        f"{pixel()}</body></html>"
    )


def test_the_same_target_twice_shares_one_entry() -> None:
    html = '<a href="https://praxis.example/">a</a><a href="https://praxis.example/">b</a>'

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=False)

    assert targets == ["https://praxis.example/"]
    assert body == f'<a href="{click(0)}">a</a><a href="{click(0)}">b</a>'


def test_signed_links_mailto_tel_anchors_and_other_schemes_stay_as_they_are() -> None:
    unsubscribe = links.url(links.Purpose.UNSUBSCRIBE, PUBLIC_ID)
    confirm = links.url(links.Purpose.CONFIRM, PUBLIC_ID)
    webview = links.url(links.Purpose.WEBVIEW, PUBLIC_ID)
    html = (
        f'<a href="{unsubscribe}">Abmelden</a>'
        f'<a href="{confirm}">Bestätigen</a>'
        f'<a href="{webview}">Im Browser</a>'
        '<a href="mailto:praxis@example.ch">Mail</a>'
        '<a href="tel:+41440000000">Anrufen</a>'
        '<a href="#oben">Oben</a>'
        '<a href="javascript:alert(1)">x</a>'
        '<a href="//praxis.example/">ohne Schema</a>'
        f'<a href="{BASE}/t/c/{tracking.click_token(PUBLIC_ID, 5)}">schon verfolgt</a>'
        '<a name="anker">kein Link</a>'
    )

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=False)

    assert (body, targets) == (html, [])


def test_tabs_and_newlines_in_a_url_are_dropped_and_control_characters_keep_it_untouched() -> None:
    html = (
        '<a href="https://praxis.exa&#10;mple/\tx">a</a><a href="https://praxis.example/\x01">b</a>'
    )

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=False)

    assert targets == ["https://praxis.example/x"]
    assert body == f'<a href="{click(0)}">a</a><a href="https://praxis.example/\x01">b</a>'


def test_links_beyond_the_cap_stay_untracked() -> None:
    html = "".join(
        f'<a href="https://praxis.example/{i}">{i}</a>'
        for i in range(tracking.MAX_TRACKED_LINKS + 2)
    )

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=False)

    assert len(targets) == tracking.MAX_TRACKED_LINKS
    assert targets[-1] == f"https://praxis.example/{tracking.MAX_TRACKED_LINKS - 1}"
    assert body.endswith(
        f'<a href="https://praxis.example/{tracking.MAX_TRACKED_LINKS}">'
        f"{tracking.MAX_TRACKED_LINKS}</a>"
        f'<a href="https://praxis.example/{tracking.MAX_TRACKED_LINKS + 1}">'
        f"{tracking.MAX_TRACKED_LINKS + 1}</a>"
    )


def test_without_a_body_tag_the_pixel_goes_at_the_end_and_only_opens_leave_links() -> None:
    html = '<p><a href="https://praxis.example/">Start</a></p>'

    body, targets = tracking.track(html, PUBLIC_ID, clicks=False, opens=True)

    assert (body, targets) == (html + pixel(), [])


def test_unclosed_tags_cost_linear_time() -> None:
    # given a body of 100,000 unclosed "<a " and no ">" anywhere
    html = "<a x" * 100_000

    body, targets = tracking.track(html, PUBLIC_ID, clicks=True, opens=False)

    assert (body, targets) == (html, [])


# -- rewriting when an email is queued ---------------------------------------------------------

NEWS_HTML = (
    "<html><body><p>Hallo {{ contact.first_name }}</p>"
    '<p><a href="https://praxis.example/angebot?x=1&y=2">Angebot</a> '
    '<a href="mailto:praxis@example.ch">Mail</a></p>'
    '<p><a href="{{ links.unsubscribe }}">Abmelden</a> '
    '<a href="{{ links.webview }}">Im Browser</a></p></body></html>'
)


def signed_link(row: Outbox, purpose: links.Purpose, page: str) -> str:
    """The row's own signed link (its timestamp is the second it was rendered)."""
    found = re.search(rf'"({BASE}/mail/{page}/([^"/]+)/)"', row.body_html)
    assert found is not None, row.body_html
    assert links.read_token(purpose, found.group(2)) == row.public_id
    return found.group(1)


def expected_untracked(row: Outbox) -> str:
    unsubscribe = signed_link(row, links.Purpose.UNSUBSCRIBE, "unsubscribe")
    webview = signed_link(row, links.Purpose.WEBVIEW, "view")
    return (
        "<html><body><p>Hallo Anna</p>"
        '<p><a href="https://praxis.example/angebot?x=1&y=2">Angebot</a> '
        '<a href="mailto:praxis@example.ch">Mail</a></p>'
        f'<p><a href="{unsubscribe}">Abmelden</a> '
        f'<a href="{webview}">Im Browser</a></p></body></html>'
    )


@pytest.mark.django_db
def test_a_queued_marketing_email_has_tracked_links_and_the_pixel(workspace: Workspace) -> None:
    contact = make_contact(workspace)
    template = make_email(workspace, "marketing", body_html=NEWS_HTML)

    row = services.queue_email(template, contact)

    stored = Outbox.objects.get(pk=row.pk)
    token = tracking.click_token(stored.public_id, 0)
    untracked = expected_untracked(stored)
    assert stored.links == ["https://praxis.example/angebot?x=1&y=2"]
    assert stored.body_html == untracked.replace(
        "https://praxis.example/angebot?x=1&y=2", f"{BASE}/t/c/{token}"
    ).replace(
        "</body>",
        f'<img src="{BASE}/t/o/{tracking.open_token(stored.public_id)}" width="1" height="1" '
        'alt=""></body>',
    )
    # the text part keeps the original addresses
    assert "Angebot (https://praxis.example/angebot?x=1&y=2)" in stored.body_text
    assert "/t/" not in stored.body_text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("opens", "clicks"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_each_switch_adds_exactly_its_part(workspace: Workspace, opens: bool, clicks: bool) -> None:
    workspace.track_opens, workspace.track_clicks = opens, clicks
    workspace.save()
    contact = make_contact(workspace)
    template = make_email(workspace, "marketing", body_html=NEWS_HTML)

    row = services.queue_email(template, contact)

    stored = Outbox.objects.get(pk=row.pk)
    untracked = expected_untracked(stored)
    expected_body, expected_links = tracking.track(
        untracked, stored.public_id, clicks=clicks, opens=opens
    )
    assert (stored.body_html, stored.links) == (expected_body, expected_links)
    assert ("/t/o/" in stored.body_html, "/t/c/" in stored.body_html) == (opens, clicks)
    if not (opens or clicks):
        # both off: byte for byte the untracked email
        assert stored.body_html == untracked
        assert stored.links == []


@pytest.mark.django_db
def test_double_opt_in_emails_are_never_tracked(workspace: Workspace) -> None:
    contact = make_contact(workspace, status="confirmed_soi")
    template = make_email(
        workspace,
        "doi",
        body_html=(
            '<p><a href="{{ links.confirm }}">Bestätigen</a> '
            '<a href="https://praxis.example/datenschutz">Datenschutz</a></p>'
        ),
    )

    row = services.queue_email(template, contact)

    stored = Outbox.objects.get(pk=row.pk)
    confirm = signed_link(stored, links.Purpose.CONFIRM, "confirm")
    assert stored.body_html == (
        f'<p><a href="{confirm}">Bestätigen</a> '
        '<a href="https://praxis.example/datenschutz">Datenschutz</a></p>'
    )
    assert stored.links == []


@pytest.mark.django_db
def test_the_unsubscribe_footer_is_left_alone(workspace: Workspace) -> None:
    contact = make_contact(workspace)
    template = make_email(
        workspace, "marketing", body_html='<p><a href="https://praxis.example/">x</a></p>'
    )

    row = services.queue_email(template, contact)

    unsubscribe = row.headers["List-Unsubscribe"][1:-1]
    assert f'<a href="{unsubscribe}">Hier abmelden</a>' in row.body_html
    assert row.links == ["https://praxis.example/"]


@pytest.mark.django_db
def test_a_preview_is_never_tracked(workspace: Workspace) -> None:
    contact = make_contact(workspace)
    template = make_email(workspace, "marketing", body_html=NEWS_HTML)

    preview = services.preview(template, contact)

    assert "https://praxis.example/angebot?x=1&y=2" in preview["body_html"]
    assert "/t/" not in preview["body_html"]
    assert Outbox.objects.count() == 0


# -- the bot rule ------------------------------------------------------------------------------


def hit(**changes: object) -> bool:
    values: dict[str, object] = {
        "method": "GET",
        "user_agent": BROWSER,
        "sent_at": SENT,
        "now": SENT + timedelta(minutes=5),
        "window_seconds": 10.0,
    }
    values.update(changes)
    return tracking.is_bot(**values)  # type: ignore[arg-type]


def test_a_browser_minutes_after_sending_is_a_person() -> None:
    assert hit() is False


def test_a_head_request_is_a_bot() -> None:
    assert hit(method="HEAD") is True


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "   ",
        "Mozilla/5.0 (compatible; Barracuda Sentinel)",
        "Mimecast URL Protect",
        "Mozilla/5.0 (compatible; Googlebot/2.1)",
        "python-requests/2.32",
        "python-httpx/0.27.0",
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36",
        "facebookexternalhit/1.1",
    ],
)
def test_scanner_user_agents_are_bots(agent: str) -> None:
    assert hit(user_agent=agent) is True


def test_image_proxies_of_mail_clients_count_as_people() -> None:
    # Gmail fetches images through its proxy when the person opens the email
    agent = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )

    assert hit(user_agent=agent) is False


def test_hits_within_the_window_after_sending_are_bots_and_after_it_people() -> None:
    assert hit(now=SENT) is True
    assert hit(now=SENT + timedelta(seconds=9.9)) is True
    assert hit(now=SENT + timedelta(seconds=10)) is False


def test_window_zero_turns_the_time_rule_off() -> None:
    assert hit(now=SENT, window_seconds=0) is False


def test_a_hit_on_an_email_not_marked_sent_is_a_bot() -> None:
    # the sender records sent_at after the SMTP server took the message; a gateway can be faster
    assert hit(sent_at=None) is True
    assert hit(sent_at=None, window_seconds=0) is True
