"""The newsletters pages: the wizard's steps, sending or scheduling, progress, results, roles."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from terminflow.newsletters.models import Newsletter
from tests.conftest import make_workspace
from tests.mail.conftest import make_email
from tests.newsletters.factories import make_newsletter, make_one_of_each_status, make_readers

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(workspace: Any) -> dict[str, Any]:
    return {
        "email": make_email(workspace, "marketing", name="Frühling"),
        "doi": make_email(workspace, "doi", name="Bestätigung"),
        "segment": make_readers(workspace, 8),
    }


def wizard(setup: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Frühlingsnews",
        "email_id": setup["email"].pk,
        "segment_id": setup["segment"].pk,
        "when": "now",
        **extra,
    }


def test_the_wizard_offers_marketing_emails_and_counts_the_segment(editor_client, setup):
    page = editor_client.get("/newsletters/new/").content.decode()
    assert "Frühling" in page and "Bestätigung" not in page
    audience = editor_client.get(
        f"/newsletters/audience/?segment_id={setup['segment'].pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "8 Kontakte sind im Segment; 6 per Double-Opt-in bestätigte erhalten ihn." in audience


def test_sending_now_from_the_wizard_starts_it(editor_client, setup):
    response = editor_client.post("/newsletters/new/", wizard(setup))
    newsletter = Newsletter.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/newsletters/{newsletter.pk}/"
    assert newsletter.state == "sending"
    page = editor_client.get(f"/newsletters/{newsletter.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page  # polls while sending
    assert "Wird gesendet" in page


def test_later_is_a_wall_time_in_the_workspace_zone(editor_client, setup):
    editor_client.post("/newsletters/new/", wizard(setup, when="later", send_at="2030-06-01T09:00"))
    newsletter = Newsletter.objects.get()
    assert newsletter.state == "scheduled"
    assert newsletter.send_at == datetime(2030, 6, 1, 7, 0, tzinfo=UTC)


def test_a_missing_time_or_email_is_refused_and_nothing_is_stored(editor_client, setup):
    no_time = editor_client.post("/newsletters/new/", wizard(setup, when="later", send_at=""))
    assert no_time.status_code == 422
    assert "Sendezeitpunkt" in no_time.content.decode()
    no_email = editor_client.post("/newsletters/new/", wizard(setup, email_id=""))
    assert no_email.status_code == 422
    assert not Newsletter.objects.exists()


def test_a_test_email_goes_to_my_own_address(editor_client, setup, smtp):
    response = editor_client.post(
        "/newsletters/test/",
        {"email_id": setup["email"].pk, "segment_id": setup["segment"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert "Die Test-E-Mail wurde an editor@praxis.example gesendet" in response.content.decode()
    [message] = smtp.messages
    assert message.rcpt_tos == ["editor@praxis.example"]
    assert message.message["Subject"].startswith("[Test] ")
    assert not Newsletter.objects.exists()


def test_the_results_after_sending(editor_client, workspace, setup, smtp):
    from terminflow.mail.sending import send_due
    from terminflow.newsletters import sending, services

    newsletter = make_newsletter(workspace, setup["segment"], email=setup["email"])
    services.send(newsletter)
    for _ in range(10):
        sending.sweep()
        send_due()
    page = editor_client.get(f"/newsletters/{newsletter.pk}/").content.decode()
    assert "Gesendet" in page and 'hx-trigger="every 2s"' not in page
    assert skipped_items(page) == [
        "1 × nicht per Double-Opt-in bestätigt (nur einfach bestätigt)",
        "1 × nicht per Double-Opt-in bestätigt (Status unbekannt)",
    ]


def skipped_items(page: str) -> list[str]:
    found = re.search(r'<ul data-testid="nl-skipped">(.*?)</ul>', page, re.DOTALL)
    assert found is not None
    return re.findall(r"<li>(.*?)</li>", found.group(1))


def test_the_skipped_are_named_by_their_email_status_in_words_never_as_codes(
    editor_client, workspace, smtp
):
    # given a segment with one contact of each email status
    from terminflow.mail.sending import send_due
    from terminflow.newsletters import sending, services

    newsletter = make_newsletter(workspace, make_one_of_each_status(workspace))
    services.send(newsletter)
    for _ in range(10):
        sending.sweep()
        send_due()

    # when the results page is opened (German)
    page = editor_client.get(f"/newsletters/{newsletter.pk}/").content.decode()

    # then every status but confirmed_doi is skipped, each in German words
    assert skipped_items(page) == [
        "1 × nicht per Double-Opt-in bestätigt (gesperrt)",
        "1 × nicht per Double-Opt-in bestätigt (vorübergehend gesperrt)",
        "1 × nicht per Double-Opt-in bestätigt (per Import bestätigt)",
        "1 × nicht per Double-Opt-in bestätigt (von Hand bestätigt)",
        "1 × nicht per Double-Opt-in bestätigt (nur einfach bestätigt)",
        "1 × nicht per Double-Opt-in bestätigt (hat eine E-Mail als Spam gemeldet)",
        "1 × nicht per Double-Opt-in bestätigt (Status unbekannt)",
        "1 × nicht per Double-Opt-in bestätigt (abgemeldet)",
    ]
    assert [m.rcpt_tos for m in smtp.messages] == [["confirmed_doi@example.ch"]]


def test_a_viewer_cannot_send_or_cancel(viewer_client, workspace, setup):
    assert viewer_client.post("/newsletters/new/", wizard(setup)).status_code == 403
    newsletter = make_newsletter(workspace, setup["segment"], email=setup["email"])
    assert viewer_client.post(f"/newsletters/{newsletter.pk}/cancel/").status_code == 403
    assert Newsletter.objects.get().state == "draft"
    assert viewer_client.get(f"/newsletters/{newsletter.pk}/").status_code == 200


def test_another_workspaces_newsletter_is_not_found(editor_client):
    other = make_workspace("Zahnarzt Oerlikon")
    theirs = make_newsletter(other, make_readers(other, 1))
    for path in ("/", "/progress/"):
        assert editor_client.get(f"/newsletters/{theirs.pk}{path}").status_code == 404
    assert editor_client.post(f"/newsletters/{theirs.pk}/cancel/").status_code == 404
    assert Newsletter.objects.get().state == "draft"
