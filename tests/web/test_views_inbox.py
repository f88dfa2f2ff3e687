"""Inbox (retry failed web pushes) and outbox pages."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from terminflow.etermin.models import WebPush
from terminflow.etermin.services import connect_account


def _push(account, *, status: str, reason: str = "", uid: str = "u-1") -> WebPush:
    body = b'{"command":"CREATED","appointmentUID":"%s"}' % uid.encode()
    return WebPush.objects.create(
        account=account,
        workspace=account.workspace,
        received_at=datetime(2026, 5, 10, 8, 0, tzinfo=UTC),
        content_type="application/json",
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        command="CREATED",
        appointment_uid=uid,
        status=status,
        reason=reason,
    )


def _account(workspace):
    return connect_account(workspace, name="Seefeld", public_key="p", private_key="k", verify=False)


def test_inbox_lists_pushes_with_status_and_reason(editor_client, workspace) -> None:
    # given
    account = _account(workspace)
    _push(account, status="ignored", reason="no active element matched", uid="u-1")
    _push(account, status="failed", reason="eTermin calendar lookup failed", uid="u-2")
    # when
    everything = editor_client.get("/inbox/")
    failed = editor_client.get("/inbox/?status=failed")
    # then
    assert [p.appointment_uid for p in everything.context["pushes"]] == ["u-2", "u-1"]
    assert "no active element matched" in everything.content.decode()
    assert [p.appointment_uid for p in failed.context["pushes"]] == ["u-2"]


def test_inbox_marks_rows_the_sync_found(editor_client, workspace) -> None:
    # given one row from a push and one from the sync
    account = _account(workspace)
    _push(account, status="processed", uid="u-push")
    found = _push(account, status="processed", uid="u-sync")
    WebPush.objects.filter(pk=found.pk).update(source="sync")
    # when
    body = editor_client.get("/inbox/").content.decode()
    # then only the sync's row carries the German mark
    assert body.count('data-testid="via-sync"') == 1
    assert "per Abgleich" in body


def test_retry_puts_a_failed_push_back_in_line(editor_client, workspace) -> None:
    # given
    push = _push(_account(workspace), status="failed", reason="boom")
    # when
    response = editor_client.post(f"/inbox/{push.pk}/retry/")
    # then
    push.refresh_from_db()
    assert response.status_code == 302
    assert (push.status, push.reason) == ("pending", "")


def test_retry_of_a_processed_push_changes_nothing(editor_client, workspace) -> None:
    # given
    push = _push(_account(workspace), status="processed")
    # when
    editor_client.post(f"/inbox/{push.pk}/retry/")
    # then
    push.refresh_from_db()
    assert push.status == "processed"


def test_retry_all_failed(editor_client, workspace, other_workspace) -> None:
    # given
    account = _account(workspace)
    failed = [_push(account, status="failed", uid=f"u-{n}") for n in range(3)]
    foreign = _push(_account(other_workspace), status="failed", uid="f-1")
    # when
    editor_client.post("/inbox/retry-failed/")
    # then
    assert (
        sorted(
            WebPush.objects.filter(pk__in=[p.pk for p in failed]).values_list("status", flat=True)
        )
        == ["pending"] * 3
    )
    foreign.refresh_from_db()
    assert foreign.status == "failed"


def test_viewer_cannot_retry(viewer_client, workspace) -> None:
    # given
    push = _push(_account(workspace), status="failed")
    # when
    response = viewer_client.post(f"/inbox/{push.pk}/retry/")
    # then
    push.refresh_from_db()
    assert response.status_code == 403
    assert push.status == "failed"


def test_outbox_page_says_when_smtp_is_missing(editor_client) -> None:
    # when
    body = editor_client.get("/outbox/").content.decode()
    # then
    assert "Kein SMTP-Server eingerichtet" in body


def test_inbox_rows_show_customer_and_calendar_and_the_single_account_once(
    editor_client, workspace
) -> None:
    # given one account and a booking push
    from tests.etermin.factories import push_body, store_push

    account = _account(workspace)
    store_push(account, push_body("CREATED", "u-9", calendar_name="Praxis Seefeld"))
    # when
    response = editor_client.get("/inbox/")
    html = response.content.decode()
    # then the row names the customer, the email and the calendar; the account shows once
    row = response.context["rows"][0][1]
    assert (row.first_name, row.last_name, row.email, row.calendar_name) == (
        "Lea",
        "Brunner",
        "lea.brunner@example.ch",
        "Praxis Seefeld",
    )
    assert "<strong>Lea Brunner</strong>" in html
    assert html.count(">Seefeld<") == 1
    assert html.count("Web Push</strong> ist die Nachricht") == 1
    assert ">Erstellt<" in html


def test_inbox_offers_an_account_filter_when_several_are_connected(
    editor_client, workspace
) -> None:
    # given
    from tests.etermin.factories import push_body, store_push

    first = _account(workspace)
    second = connect_account(
        workspace, name="Oerlikon", public_key="p2", private_key="k2", verify=False
    )
    store_push(first, push_body("CREATED", "a-1"))
    store_push(second, push_body("CREATED", "b-1"))
    # when
    response = editor_client.get(f"/inbox/?account={second.pk}")
    # then
    assert [p.appointment_uid for p in response.context["pushes"]] == ["b-1"]
    assert '<select id="account" name="account"' in response.content.decode()


def test_outbox_shows_each_rendered_email_escaped_in_a_sandboxed_frame(
    editor_client, workspace, other_workspace
) -> None:
    # given an email in the outbox whose HTML carries a script
    from terminflow.contacts.services import create_contact
    from terminflow.kit import clock

    from .factories import make_email, queued

    anna = create_contact(workspace, email="anna@example.com", first_name="Anna")
    row = queued(make_email(workspace), anna, at=clock.now())
    foreign = queued(
        make_email(other_workspace),
        create_contact(other_workspace, email="x@example.com"),
        at=clock.now(),
    )
    # when
    listing = editor_client.get("/outbox/").content.decode()
    fragment = editor_client.get(f"/outbox/{row.pk}/", HTTP_HX_REQUEST="true").content.decode()
    page = editor_client.get(f"/outbox/{row.pk}/")
    other = editor_client.get(f"/outbox/{foreign.pk}/")
    # then the list links each row, and the email shows subject, sandboxed HTML and text
    assert f'hx-get="/outbox/{row.pk}/"' in listing
    assert "Ihr Termin, Anna" in fragment
    assert 'sandbox=""' in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "<script>alert(1)</script>" not in fragment
    assert "Hallo Anna, bis bald." in fragment
    assert "<html" not in fragment
    assert page.status_code == 200 and "E-Mail im Postausgang" in page.content.decode()
    assert other.status_code == 404


def test_outbox_days_filter_keeps_only_recent_rows(editor_client, workspace) -> None:
    # given
    from datetime import timedelta

    from terminflow.contacts.services import create_contact
    from terminflow.kit import clock

    from .factories import make_email, queued

    template = make_email(workspace)
    recent = queued(
        template,
        create_contact(workspace, email="a@example.com"),
        at=clock.now(),
        failed_because="x",
    )
    queued(
        template,
        create_contact(workspace, email="b@example.com"),
        at=clock.now() - timedelta(days=8),
        failed_because="y",
    )
    # when
    response = editor_client.get("/outbox/?status=failed&days=7")
    # then
    assert [e.pk for e in response.context["emails"]] == [recent.pk]
    assert "Nur die letzten 7 Tage." in response.content.decode()
