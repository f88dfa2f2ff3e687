"""Operator admin for eTermin: pages render, secrets stay hidden, bodies show as text."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from terminflow.etermin import services
from terminflow.etermin.models import Appointment, WebPush
from terminflow.kit import clock
from terminflow.workspaces.models import User

PRIVATE = "priv-very-secret-123"


@pytest.fixture
def operator(db) -> Client:
    user = User.objects.create_user(email="op@example.ch", password="pw")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def account(workspace):
    return services.connect_account(
        workspace, name="Seefeld", public_key="pub-seefeld", private_key=PRIVATE, verify=False
    )


def stored_push(account, body: bytes, status: str = "failed") -> WebPush:
    return WebPush.objects.create(
        account=account,
        workspace=account.workspace,
        received_at=clock.now(),
        content_type="application/x-www-form-urlencoded",
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        status=status,
        reason="The push has no appointmentUID.",
    )


def test_account_pages_show_no_key_and_no_web_push_url(operator, account):
    # when
    listing = operator.get("/admin/etermin/eterminaccount/")
    detail = operator.get(f"/admin/etermin/eterminaccount/{account.pk}/change/")
    # then
    assert (listing.status_code, detail.status_code) == (200, 200)
    for page in (listing, detail):
        text = page.content.decode()
        assert PRIVATE not in text
        assert account.web_push_token not in text
        assert account.private_key_encrypted not in text
    assert "pub-seefeld" in detail.content.decode()


def test_accounts_cannot_be_added_in_admin(operator, account):
    # when
    response = operator.get("/admin/etermin/eterminaccount/add/")
    # then
    assert response.status_code == 403


def test_inbox_shows_body_as_text_and_is_read_only(operator, account):
    # given a latin-1 body with markup in it
    push = stored_push(account, "command=CREATED&firstName=Jürg<b>".encode("latin-1"))
    # when
    detail = operator.get(f"/admin/etermin/webpush/{push.pk}/change/")
    changed = operator.post(f"/admin/etermin/webpush/{push.pk}/change/", {"status": "processed"})
    # then
    assert detail.status_code == 200
    assert "command=CREATED&amp;firstName=Jürg&lt;b&gt;" in detail.content.decode()
    assert changed.status_code == 403
    push.refresh_from_db()
    assert push.status == "failed"


def test_inbox_retry_action_sets_failed_rows_pending(operator, account):
    # given
    failed = stored_push(account, b"command=CREATED")
    processed = stored_push(account, b"command=CREATED", status="processed")
    # when
    response = operator.post(
        "/admin/etermin/webpush/",
        {"action": "retry_failed", "_selected_action": [failed.pk, processed.pk]},
    )
    # then
    assert response.status_code == 302
    failed.refresh_from_db()
    processed.refresh_from_db()
    assert (failed.status, processed.status) == ("pending", "processed")


def test_appointment_pages_render(operator, account):
    # given
    appointment = Appointment.objects.create(
        workspace=account.workspace, account=account, uid="u-1", calendar_name="Praxis 1"
    )
    # when
    listing = operator.get("/admin/etermin/appointment/", {"q": "u-1"})
    detail = operator.get(f"/admin/etermin/appointment/{appointment.pk}/change/")
    # then
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert "Praxis 1" in listing.content.decode()
