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
