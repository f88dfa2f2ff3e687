"""The pages behind email links: GET shows a button and changes nothing; POST acts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from terminflow.contacts import signals
from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.kit import clock
from terminflow.mail import links, services
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db


def link_path(row: Outbox, purpose: links.Purpose) -> str:
    return links.url(purpose, row.public_id).removeprefix("http://testserver")


def doi_row(workspace: Workspace, status: str = "confirmed_soi") -> Outbox:
    contact = make_contact(workspace, status=status)
    return services.queue_email(make_email(workspace, "doi"), contact)


def marketing_row(workspace: Workspace) -> Outbox:
    return services.queue_email(make_email(workspace, "marketing"), make_contact(workspace))


def ledger(contact_id: int) -> list[str]:
    return list(
        ConsentEvent.objects.filter(contact_id=contact_id)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_confirm_get_shows_a_button_and_changes_nothing(workspace: Workspace) -> None:
    row = doi_row(workspace)
    before = ledger(row.contact_id)

    response = Client().get(link_path(row, links.Purpose.CONFIRM))

    assert response.status_code == 200
    body = response.content.decode()
    assert '<form method="post">' in body
    assert (
        "Bitte bestätigen Sie, dass Praxis Seefeld E-Mails an anna@example.com senden darf." in body
    )
    assert "Ja, Adresse bestätigen" in body
    assert response["Referrer-Policy"] == "no-referrer"
    assert Contact.objects.get(pk=row.contact_id).email_status == "confirmed_soi"
    assert ledger(row.contact_id) == before


def test_confirm_post_confirms_records_ip_and_agent_and_fires_the_signal(
    workspace: Workspace,
) -> None:
    row = doi_row(workspace)
    fired: list[int] = []

    def receiver(sender: Any, contact: Contact, **kwargs: Any) -> None:
        fired.append(contact.pk)

    signals.doi_confirmed.connect(receiver)
    try:
        response = Client(HTTP_USER_AGENT="Mozilla/5.0 Test").post(
            link_path(row, links.Purpose.CONFIRM), REMOTE_ADDR="203.0.113.7"
        )
    finally:
        signals.doi_confirmed.disconnect(receiver)

    assert response.status_code == 200
    assert Contact.objects.get(pk=row.contact_id).email_status == "confirmed_doi"
    assert fired == [row.contact_id]
    event = ConsentEvent.objects.get(contact_id=row.contact_id, kind="doi_confirmed")
    assert (event.ip, event.user_agent, event.source) == (
        "203.0.113.7",
        "Mozilla/5.0 Test",
        "double opt-in link",
    )
    assert event.details["message_id"] == row.message_id
    assert event.details["consent_text_version"] == f"email {row.template_id} v1"


def test_confirming_twice_records_it_once(workspace: Workspace) -> None:
    row = doi_row(workspace)
    client = Client()

    client.post(link_path(row, links.Purpose.CONFIRM))
    second = client.post(link_path(row, links.Purpose.CONFIRM))

    assert second.status_code == 200
    assert ledger(row.contact_id).count("doi_confirmed") == 1


def test_expired_confirmation_link_changes_nothing(workspace: Workspace, settings: Any) -> None:
    row = doi_row(workspace)
    path = link_path(row, links.Purpose.CONFIRM)

    with time_machine.travel(clock.now() + timedelta(days=7, minutes=1)):
        response = Client().post(path)

    assert response.status_code == 410
    assert "Dieser Link ist abgelaufen." in response.content.decode()
    assert Contact.objects.get(pk=row.contact_id).email_status == "confirmed_soi"


def test_tampered_or_cross_purpose_tokens_are_refused(workspace: Workspace) -> None:
    row = doi_row(workspace)
    unsubscribe_token = links.make_token(links.Purpose.UNSUBSCRIBE, row.public_id)
    client = Client()

    tampered = client.post(link_path(row, links.Purpose.CONFIRM)[:-3] + "xx/")
    crossed = client.post(f"/mail/confirm/{unsubscribe_token}/")

    assert (tampered.status_code, crossed.status_code) == (404, 404)
    assert Contact.objects.get(pk=row.contact_id).email_status == "confirmed_soi"


def test_link_sent_before_unsubscribing_no_longer_confirms(workspace: Workspace) -> None:
    row = doi_row(workspace)
    Client().post(link_path(row, links.Purpose.UNSUBSCRIBE))

    response = Client().post(link_path(row, links.Purpose.CONFIRM))

    assert response.status_code == 403
    assert Contact.objects.get(pk=row.contact_id).email_status == "unsubscribed"


def test_unsubscribe_get_changes_nothing(workspace: Workspace) -> None:
    row = marketing_row(workspace)

    response = Client().get(link_path(row, links.Purpose.UNSUBSCRIBE))

    assert response.status_code == 200
    assert '<form method="post">' in response.content.decode()
    assert Contact.objects.get(pk=row.contact_id).email_status == "confirmed_doi"


def test_one_click_post_unsubscribes_and_cancels_queued_marketing(workspace: Workspace) -> None:
    row = marketing_row(workspace)
    later = services.queue_email(make_email(workspace, "marketing", name="later"), row.contact)

    response = Client().post(
        link_path(row, links.Purpose.UNSUBSCRIBE), {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    assert Contact.objects.get(pk=row.contact_id).email_status == "unsubscribed"
    event = ConsentEvent.objects.get(contact_id=row.contact_id, kind="unsubscribed")
    assert (event.source, event.details["channel"]) == ("unsubscribe (one-click)", "one-click")
    assert set(Outbox.objects.values_list("id", "status")) == {
        (row.pk, "cancelled"),
        (later.pk, "cancelled"),
    }


def test_page_button_unsubscribes_with_channel_link(workspace: Workspace) -> None:
    row = marketing_row(workspace)

    Client().post(link_path(row, links.Purpose.UNSUBSCRIBE))

    event = ConsentEvent.objects.get(contact_id=row.contact_id, kind="unsubscribed")
    assert event.details["channel"] == "link"


def test_preview_links_change_nothing(workspace: Workspace) -> None:
    marketing_row(workspace)

    response = Client().post("/mail/unsubscribe/preview/")

    assert response.status_code == 200
    assert Contact.objects.get().email_status == "confirmed_doi"


def test_webview_shows_the_sent_body_sandboxed(workspace: Workspace) -> None:
    row = marketing_row(workspace)

    response = Client().get(link_path(row, links.Purpose.WEBVIEW))

    assert response.status_code == 200
    assert response.content.decode() == row.body_html
    assert response["Content-Security-Policy"] == "sandbox; script-src 'none'"


def test_pages_speak_the_workspace_language(workspace: Workspace) -> None:
    workspace.locale = "en"
    workspace.save()
    row = marketing_row(workspace)

    body = Client().get(link_path(row, links.Purpose.UNSUBSCRIBE)).content.decode()

    assert "Stop emails from Praxis Seefeld to anna@example.com?" in body
