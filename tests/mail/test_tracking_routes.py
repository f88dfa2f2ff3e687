"""The tracking endpoints over real HTTP, on ``terminflow serve`` against the test's database.

Recording happens after the answer, on the server's writer thread, so tests wait for the rows.
Where a test shows that nothing was recorded, it then sends one hit that must be recorded: the
writer takes hits in order, so once that one is in, every hit before it has been handled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection

from terminflow.contacts.models import Contact
from terminflow.kit import clock
from terminflow.mail import services, tracking
from terminflow.mail.models import Engagement, Outbox
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace
from tests.fixtures.server import TerminflowServer

from .conftest import make_contact, make_email

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.terminflow_server(embedded_worker=False),
]

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
HTML = (
    "<html><body><p>Hallo {{ contact.first_name }}</p>"
    '<p><a href="https://praxis.example/angebot?x=1&y=2">Angebot</a></p>'
    '<p><a href="https://praxis.example/über-uns">Über uns</a></p>'
    '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p></body></html>'
)
GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def sent_email(
    workspace: Workspace, email: str = "anna@example.com", *, ago: timedelta = timedelta(minutes=5)
) -> Outbox:
    """A tracked marketing email that went out ``ago``."""
    contact = make_contact(workspace, email=email)
    template = make_email(workspace, "marketing", body_html=HTML)
    row = services.queue_email(template, contact)
    Outbox.objects.filter(pk=row.pk).update(status="sent", sent_at=clock.now() - ago)
    row.refresh_from_db()
    return row


def click_paths(row: Outbox) -> list[str]:
    return re.findall(r'href="[^"]*(/t/c/[\w-]+)"', row.body_html)


def open_path(row: Outbox) -> str:
    found = re.search(r'src="[^"]*(/t/o/[\w-]+)"', row.body_html)
    assert found is not None
    return found.group(1)


def get(server: TerminflowServer, path: str, *, agent: str = BROWSER, **kw: Any) -> httpx.Response:
    return httpx.request(
        kw.pop("method", "GET"), server.url + path, headers={"User-Agent": agent}, timeout=10, **kw
    )


def recorded(row: Outbox) -> dict[str, tuple[int, int, bool, bool]]:
    """kind -> (count, bot_count, first_at set, last_at set)."""
    return {
        e.kind: (e.count, e.bot_count, e.first_at is not None, e.last_at is not None)
        for e in Engagement.objects.filter(outbox=row)
    }


def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the server did not record the hit in time")
        time.sleep(0.02)


def flush_writer(server: TerminflowServer, workspace: Workspace) -> None:
    """One human open that must be recorded: every hit sent before it has been handled."""
    sentinel = sent_email(workspace, f"sentinel{time.monotonic_ns()}@example.com")
    assert get(server, open_path(sentinel)).status_code == 200
    wait_for(lambda: recorded(sentinel).get("open", (0,))[0] == 1)


def test_a_click_redirects_to_the_original_address_and_records_click_and_open(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given an email sent five minutes ago
    row = sent_email(workspace)
    first, second = click_paths(row)
    assert row.links == [
        "https://praxis.example/angebot?x=1&y=2",
        "https://praxis.example/über-uns",
    ]

    # when the person clicks the first link
    response = get(terminflow_server, first)

    # then they are sent to its address, and nothing about them is kept in the browser
    assert response.status_code == 302
    assert response.headers["location"] == "https://praxis.example/angebot?x=1&y=2"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert response.content == b""
    # and one click is recorded, and the open it implies
    wait_for(lambda: recorded(row).get("open", (0,))[0] == 1)
    wait_for(lambda: "click" in recorded(row))
    click = Engagement.objects.get(outbox=row, kind="click")
    assert (click.workspace_id, click.contact_id, click.template_id) == (
        workspace.pk,
        row.contact_id,
        row.template_id,
    )
    assert (click.count, click.bot_count, click.first_at == click.last_at) == (1, 0, True)
    first_at = click.first_at

    # when they click the other link, which has a non-ASCII address
    response = get(terminflow_server, second)

    # then the address is percent-encoded, the count grows, first_at stays, the open stays one
    assert response.headers["location"] == "https://praxis.example/%C3%BCber-uns"
    wait_for(lambda: recorded(row)["click"][0] == 2)
    click.refresh_from_db()
    assert click.first_at == first_at
    assert click.last_at is not None and first_at is not None and click.last_at > first_at
    assert recorded(row) == {"click": (2, 0, True, True), "open": (1, 0, True, True)}


def test_the_pixel_is_a_transparent_gif_that_counts_opens(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given an email sent five minutes ago
    row = sent_email(workspace)

    # when the mail client loads the pixel twice
    first = get(terminflow_server, open_path(row))
    wait_for(lambda: recorded(row).get("open", (0,))[0] == 1)
    first_at = Engagement.objects.get(outbox=row).first_at
    second = get(terminflow_server, open_path(row))

    # then it gets the 1x1 transparent GIF, uncached, without a cookie
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in response.headers
        assert response.content == GIF_1X1
    # and the open counts twice, first_at from the first time; no click
    wait_for(lambda: recorded(row)["open"][0] == 2)
    assert Engagement.objects.get(outbox=row).first_at == first_at
    assert recorded(row) == {"open": (2, 0, True, True)}


def test_tampered_unsigned_unknown_and_out_of_range_tokens_get_404_and_record_nothing(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given an email with two tracked links
    row = sent_email(workspace)
    token = click_paths(row)[0].rsplit("/", 1)[1]
    tampered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    open_token = open_path(row).rsplit("/", 1)[1]
    erased = sent_email(workspace, "erased@example.com")
    erased_path = click_paths(erased)[0]
    Contact.objects.filter(pk=erased.contact_id).delete()  # its outbox row goes with it

    paths = [
        f"/t/c/{tampered}",
        "/t/c/" + "A" * 40,  # unsigned
        "/t/c/not-a-token",
        f"/t/c/{tracking.click_token(row.public_id, 2)}",  # signed, but the email has 2 links
        f"/t/c/{tracking.click_token(row.public_id, 65535)}",
        erased_path,  # signed, its row is gone
        f"/t/c/{open_token}",  # an open token is no click token
        # (a token that happens to end in "AA" gets "BA": the same would still be valid)
        f"/t/o/{open_token[:-2]}{'AA' if not open_token.endswith('AA') else 'BA'}",
        f"/t/o/{token}",
        "/t/o/",
    ]

    # when each is requested
    responses = {path: get(terminflow_server, path) for path in paths}

    # then each is 404, without a redirect or a cookie, and nothing is recorded
    for path, response in responses.items():
        assert response.status_code == 404, path
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers
    flush_writer(terminflow_server, workspace)
    assert Engagement.objects.filter(outbox__in=[row.pk, erased.pk]).count() == 0


def test_other_methods_do_not_reach_the_tracking_endpoints(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    row = sent_email(workspace)

    response = get(terminflow_server, click_paths(row)[0], method="POST")

    # (Django, mounted behind, answers what the hot routes do not take)
    assert response.status_code == 404
    assert "location" not in response.headers
    flush_writer(terminflow_server, workspace)
    assert recorded(row) == {}


@pytest.mark.parametrize(
    ("how", "agent", "ago"),
    [
        ("HEAD", BROWSER, timedelta(minutes=5)),
        ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", timedelta(minutes=5)),
        ("GET", "", timedelta(minutes=5)),
        ("GET", BROWSER, timedelta(seconds=0)),  # within seconds of sending: a scanner
    ],
)
def test_scanners_are_counted_as_bots_only(
    workspace: Workspace,
    terminflow_server: TerminflowServer,
    how: str,
    agent: str,
    ago: timedelta,
) -> None:
    # given an email sent `ago`
    row = sent_email(workspace, ago=ago)

    # when a scanner follows its link and loads its pixel
    click = get(terminflow_server, click_paths(row)[0], method=how, agent=agent)
    pixel = get(terminflow_server, open_path(row), method=how, agent=agent)

    # then it gets the same answers a person would (HEAD without a body)
    assert click.status_code == 302
    assert click.headers["location"] == "https://praxis.example/angebot?x=1&y=2"
    assert (pixel.status_code, pixel.headers["content-length"]) == (200, str(len(GIF_1X1)))
    assert pixel.content == (b"" if how == "HEAD" else GIF_1X1)
    # and both count as bots only: no open or click, no times, no implied open
    wait_for(lambda: len(recorded(row)) == 2)
    assert recorded(row) == {"click": (0, 1, False, False), "open": (0, 1, False, False)}


def test_a_scanner_before_the_person_leaves_the_persons_first_time_theirs(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given a scanner followed the link already
    row = sent_email(workspace)
    get(terminflow_server, click_paths(row)[0], method="HEAD")
    wait_for(lambda: "click" in recorded(row))

    # when the person clicks
    get(terminflow_server, click_paths(row)[0])

    # then the row counts one click by a person and one by a bot, with the person's times
    wait_for(lambda: recorded(row)["click"][0] == 1)
    assert recorded(row) == {"click": (1, 1, True, True), "open": (1, 0, True, True)}


def test_with_the_switches_off_after_sending_links_still_work_and_nothing_is_recorded(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given an email sent with tracking on, then tracking switched off
    row = sent_email(workspace)
    Workspace.objects.filter(pk=workspace.pk).update(track_opens=False, track_clicks=False)

    # when the person opens it and clicks
    pixel = get(terminflow_server, open_path(row))
    click = get(terminflow_server, click_paths(row)[0])

    # then both still answer, and nothing is recorded
    assert (pixel.status_code, click.status_code) == (200, 302)
    assert click.headers["location"] == "https://praxis.example/angebot?x=1&y=2"
    other = make_workspace("Zahnarzt Oerlikon")
    flush_writer(terminflow_server, other)
    assert recorded(row) == {}


def test_a_click_with_opens_off_records_the_click_and_no_open(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    row = sent_email(workspace)
    Workspace.objects.filter(pk=workspace.pk).update(track_opens=False)

    get(terminflow_server, click_paths(row)[0])

    wait_for(lambda: "click" in recorded(row))
    flush_writer(terminflow_server, make_workspace("Zahnarzt Oerlikon"))
    assert recorded(row) == {"click": (1, 0, True, True)}


def _failing_trigger(install: bool) -> None:
    table = Engagement._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            if install:
                cursor.execute(
                    f"CREATE TRIGGER tracking_test_fail BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'recording refused'); END"
                )
            else:
                cursor.execute("DROP TRIGGER tracking_test_fail")
        elif install:
            cursor.execute(
                "CREATE FUNCTION tracking_test_fail() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'recording refused'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER tracking_test_fail BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tracking_test_fail()"
            )
        else:
            cursor.execute(f"DROP TRIGGER tracking_test_fail ON {table}")
            cursor.execute("DROP FUNCTION tracking_test_fail()")


def test_an_error_in_recording_never_breaks_the_redirect(
    workspace: Workspace, terminflow_server: TerminflowServer
) -> None:
    # given the database refuses every new engagement row
    row = sent_email(workspace)
    _failing_trigger(install=True)
    try:
        # when the person clicks and opens
        click = get(terminflow_server, click_paths(row)[0])
        pixel = get(terminflow_server, open_path(row))
        # (the writer tries, fails and logs it, once per hit)
        wait_for(lambda: terminflow_server.log_tail(400).count("committing an item failed") >= 2)
    finally:
        _failing_trigger(install=False)

    # then they still get where they wanted, and nothing was stored
    assert click.status_code == 302
    assert click.headers["location"] == "https://praxis.example/angebot?x=1&y=2"
    assert pixel.status_code == 200
    assert recorded(row) == {}
    # and the server records the next hits as before
    get(terminflow_server, open_path(row))
    wait_for(lambda: recorded(row).get("open", (0,))[0] == 1)
