"""Sign-up forms in a real browser: the hosted page, and the snippet on another website.

terminflow's front serves ``/f/<id>`` on one loopback port; the snippet sits in a plain HTML
page served from another port, as it would on the business's own website, and posts to us.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings

from terminflow.forms import services, submissions
from terminflow.forms.models import Submission
from terminflow.workspaces.models import Workspace
from tests.fixtures.sandbox import ServerThread
from tests.forms.factories import CONSENT, make_form

from .browser import CHROMIUM, chromium_page, overflow, shot

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


@pytest.fixture
def other_site() -> Iterator[dict[str, object]]:
    """A website on another port that serves whatever HTML the test puts in ``html``."""
    state: dict[str, object] = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = str(state["html"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_the_hosted_page_on_a_phone_takes_a_sign_up_and_thanks_in_german(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace, name="Newsletter Praxis Seefeld")

    with chromium_page(viewport=(390, 844), touch=True) as page:
        page.goto(f"{terminflow_front.url}/f/{form.public_id}")  # type: ignore[attr-defined]
        assert page.get_by_role("heading", name="Newsletter Praxis Seefeld").is_visible()  # type: ignore[attr-defined]
        assert page.get_by_test_id("consent").inner_text() == CONSENT  # type: ignore[attr-defined]
        assert overflow(page) == 0

        # a wrong address is shown with its message, next to the field
        page.get_by_label("E-Mail").fill("lea@")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Anmelden").click()  # type: ignore[attr-defined]
        page.get_by_test_id("form-errors").wait_for()  # type: ignore[attr-defined]
        assert page.get_by_label("E-Mail").get_attribute("aria-invalid") == "true"  # type: ignore[attr-defined]
        shot(page, "60-form-hosted-error")
        assert Submission.objects.count() == 0

        # the corrected sign-up gets the thank-you message
        page.get_by_label("E-Mail").fill("lea.brunner@example.ch")  # type: ignore[attr-defined]
        page.get_by_label("Vorname").fill("Lea")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Anmelden").click()  # type: ignore[attr-defined]
        thanks = page.get_by_test_id("thanks")  # type: ignore[attr-defined]
        thanks.wait_for()
        assert thanks.inner_text().startswith("Vielen Dank! Wir haben Ihnen eine E-Mail geschickt")
        assert overflow(page) == 0
        shot(page, "61-form-hosted-thanks")

    [submission] = Submission.objects.all()
    assert (submission.email, submission.values["first_name"]) == ("lea.brunner@example.ch", "Lea")
    assert submissions.process_due() == 1


def test_the_snippet_on_another_website_posts_to_us_without_any_script(
    workspace: Workspace, terminflow_front: ServerThread, other_site: dict[str, object]
) -> None:
    form = make_form(workspace, success_message="Danke! Bitte schauen Sie in Ihr Postfach.")
    with override_settings(BASE_URL=terminflow_front.url):
        snippet = services.embed_snippet(form)
    other_site["html"] = (
        '<!doctype html><html lang="de"><head><meta charset="utf-8">'
        "<title>Praxis Seefeld</title></head><body><h1>Praxis Seefeld</h1>"
        f"{snippet}</body></html>"
    )

    with chromium_page() as page:
        page.goto(str(other_site["url"]))  # type: ignore[attr-defined]
        assert page.evaluate("document.scripts.length") == 0  # type: ignore[attr-defined]
        page.get_by_label("E-Mail").fill("bruno@example.ch")  # type: ignore[attr-defined]
        page.get_by_label("Vorname").fill("Bruno")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Anmelden").click()  # type: ignore[attr-defined]
        thanks = page.get_by_test_id("thanks")  # type: ignore[attr-defined]
        thanks.wait_for()
        assert thanks.inner_text() == "Danke! Bitte schauen Sie in Ihr Postfach."
        assert page.url == f"{terminflow_front.url}/f/{form.public_id}"  # type: ignore[attr-defined]
        shot(page, "62-form-embedded-thanks")

    [submission] = Submission.objects.all()
    assert (submission.email, submission.form_id) == ("bruno@example.ch", form.pk)
