"""The admin: outbox readable (not editable), templates checked like through the API."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.mail import services
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db


def test_outbox_is_listed_with_status_and_reason(admin_client: Any, workspace: Workspace) -> None:
    services.queue_email(make_email(workspace, "marketing"), make_contact(workspace))

    response = admin_client.get("/admin/mail/outbox/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "anna@example.com" in body
    assert "not sent: no SMTP server configured" in body


def test_template_with_a_syntax_error_is_refused(admin_client: Any, workspace: Workspace) -> None:
    response = admin_client.post(
        "/admin/mail/emailtemplate/add/",
        {
            "workspace": workspace.pk,
            "name": "Kaputt",
            "kind": "marketing",
            "subject": "Hallo {{ contact.first_name }",
            "body_html": "<p>x</p>",
            "body_text": "",
        },
    )

    assert response.status_code == 200
    assert "unerwartetes &#x27;}&#x27; (Zeile 1)" in response.content.decode()
    assert EmailTemplate.objects.count() == 0


def test_bounce_kept_for_review_is_readable_in_the_admin(admin_client: Any) -> None:
    from terminflow.mail import bounces

    kept = bounces.record(b"From: someone@example.net\r\nSubject: Ferien\r\n\r\nBin weg.\r\n")
    assert kept is not None

    listing = admin_client.get("/admin/mail/bouncemessage/?status__exact=review")
    detail = admin_client.get(f"/admin/mail/bouncemessage/{kept.pk}/change/")

    assert listing.status_code == 200
    assert "not a delivery status notification or ARF report" in listing.content.decode()
    assert detail.status_code == 200
    assert "Bin weg." in detail.content.decode()
