"""eTermin API: accounts and calendars (``/api/v1/etermin``) and the inbox (``/api/v1/inbox``).

Every lookup goes through the request's workspace, so another workspace's id is a plain 404.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy, pgettext_lazy
from ninja import Query, Router, Status

from terminflow.kit import reasons
from terminflow.kit.errors import Unprocessable
from terminflow.workspaces.api import current_workspace, may_see_secrets
from terminflow.workspaces.models import Feature
from terminflow.workspaces.services import require_feature

from . import services, sync
from .models import EterminAccount, WebPush
from .pushes import UnreadablePush, parse_push
from .schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    CalendarOut,
    InboxEntryDetailOut,
    InboxEntryOut,
    InboxPage,
    InboxStatus,
    SyncOut,
)

router = Router(tags=["eTermin"])
inbox_router = Router(tags=["Inbox"])

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

ERRORS = {400: dict, 403: dict, 404: dict, 409: dict, 422: dict}


def _account_out(account: EterminAccount, request: HttpRequest) -> dict[str, Any]:
    # Whoever holds the Web Push URL can post bookings into the workspace: viewers get null.
    return {
        "id": account.pk,
        "name": account.name,
        "public_key": account.public_key,
        "web_push_url": services.web_push_url(account) if may_see_secrets(request) else None,
        "timezone": account.timezone,
        "created_at": account.created_at,
        "sync": {
            "synced_at": account.synced_at,
            "next_at": account.sync_next_at,
            "result": account.sync_result or {},
            "error_code": account.sync_error_code,
            "error": account.sync_error,
        },
    }


# -- accounts --------------------------------------------------------------------------------


@router.get("/accounts", response={200: list[AccountOut], **ERRORS}, summary="List accounts")
def list_accounts(request: HttpRequest) -> list[dict[str, Any]]:
    """The workspace's connected eTermin accounts, oldest first.

    `web_push_url` is null for viewers: the URL lets anyone post bookings into the workspace.
    """
    workspace = current_workspace(request)
    require_feature(workspace, Feature.ETERMIN)
    return [_account_out(account, request) for account in services.accounts_of(workspace)]


@router.post("/accounts", response={201: AccountOut, **ERRORS}, summary="Connect an account")
def connect_account(request: HttpRequest, data: AccountIn) -> Status[dict[str, Any]]:
    """Connect an eTermin account and get its Web Push URL to paste into eTermin.

    The keys are checked against eTermin first (unless `verify` is false): wrong keys give 422
    `etermin_auth`, an unreachable eTermin 422 `etermin_unavailable`; nothing is stored then.
    The private key is never returned.
    """
    account = services.connect_account(
        current_workspace(request),
        name=data.name,
        public_key=data.public_key,
        private_key=data.private_key,
        verify=data.verify,
        timezone=data.timezone,
    )
    return Status(201, _account_out(account, request))


@router.get("/accounts/{account_id}", response={200: AccountOut, **ERRORS}, summary="One account")
def get_account(request: HttpRequest, account_id: int) -> dict[str, Any]:
    workspace = current_workspace(request)
    require_feature(workspace, Feature.ETERMIN)
    return _account_out(services.account_for_workspace(workspace, account_id), request)


@router.patch(
    "/accounts/{account_id}", response={200: AccountOut, **ERRORS}, summary="Change an account"
)
def update_account(request: HttpRequest, account_id: int, data: AccountPatch) -> dict[str, Any]:
    """Rename, change keys or time zone, or rotate the Web Push URL (`rotate_web_push_token`).

    After a rotation the old URL answers 404; paste the new one into eTermin.
    """
    account = services.account_for_workspace(current_workspace(request), account_id)
    account = services.update_account(
        account,
        name=data.name,
        public_key=data.public_key,
        private_key=data.private_key,
        timezone=data.timezone,
        rotate_token=data.rotate_web_push_token,
        verify=data.verify,
    )
    return _account_out(account, request)


@router.delete(
    "/accounts/{account_id}", response={204: None, **ERRORS}, summary="Disconnect an account"
)
def delete_account(request: HttpRequest, account_id: int) -> Status[None]:
    """Delete the account with its keys, inbox and appointments.

    Allowed on any plan, so a workspace moved to a plan without eTermin can still remove its keys.
    """
    services.delete_account(services.account_for_workspace(current_workspace(request), account_id))
    return Status(204, None)


@router.get(
    "/accounts/{account_id}/calendars",
    response={200: list[CalendarOut], **ERRORS},
    summary="The account's calendars",
)
def list_calendars(request: HttpRequest, account_id: int) -> list[dict[str, Any]]:
    """The account's calendars, read from the eTermin API now.

    eTermin refusing the keys gives 422 `etermin_auth`; eTermin unreachable 422
    `etermin_unavailable`.
    """
    workspace = current_workspace(request)
    require_feature(workspace, Feature.ETERMIN)
    account = services.account_for_workspace(workspace, account_id)
    return [{"id": c.id, "name": c.name} for c in services.list_calendars(account)]


@router.post(
    "/accounts/{account_id}/sync",
    response={200: SyncOut, **ERRORS},
    summary="Reconcile with eTermin now",
)
def sync_account(request: HttpRequest, account_id: int) -> dict[str, int]:
    """Compare the account's appointments in eTermin with what terminflow knows, now.

    Each difference (a booking, move or deletion no web push told us about) is queued in the
    inbox with `source: "sync"` and processed like a push; the answer counts them. A sync of the
    account already running gives 409 `sync_running`; eTermin refusing the keys 422
    `etermin_auth`, a rate limit 422 `etermin_rate_limited`, eTermin unreachable 422
    `etermin_unavailable`.
    """
    workspace = current_workspace(request)
    require_feature(workspace, Feature.ETERMIN)
    account = services.account_for_workspace(workspace, account_id)
    return sync.sync_account(account).as_dict()


# -- inbox -----------------------------------------------------------------------------------

INBOX_LIST_DESCRIPTION = f"""
Stored web pushes, newest first.

**Paging.** A page holds up to `limit` entries (default {DEFAULT_PAGE_SIZE}, at most
{MAX_PAGE_SIZE}). When more entries exist, `next_cursor` is set: send it back unchanged as
`cursor` (with the same filters) to get the next, older page. On the last page `next_cursor` is
null. The cursor is opaque (today it holds the id of the last entry returned), so a page never
repeats or skips an entry, even while new pushes arrive.

`command` and `appointment_uid` are null when the body could not be read.
"""


# eTermin's commands and the inbox states as people read them ("Erstellt", not CREATED).
COMMAND_LABELS = {
    "CREATED": pgettext_lazy("etermin event", "Created"),
    "MODIFIED": pgettext_lazy("etermin event", "Changed"),
    "DELETED": pgettext_lazy("etermin event", "Deleted"),
}
STATUS_LABELS = {
    "pending": pgettext_lazy("inbox", "Pending"),
    "processed": pgettext_lazy("inbox", "Processed"),
    "ignored": pgettext_lazy("inbox", "Ignored"),
    "failed": pgettext_lazy("inbox", "Failed"),
}


def _inbox_out(push: WebPush) -> dict[str, Any]:
    return {
        "id": push.pk,
        "account_id": push.account_id,
        "command": push.command,
        "appointment_uid": push.appointment_uid,
        "command_label": str(COMMAND_LABELS.get(push.command or "", "")),
        "status": push.status,
        "status_label": str(STATUS_LABELS.get(push.status, push.status)),
        "reason": reasons.translate(push.reason),
        "reason_code": reasons.describe(push.reason)[0],
        "received_at": push.received_at,
        "processed_at": push.processed_at,
        "source": push.source,
    }


def _cursor_id(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise Unprocessable(
            gettext_lazy("cursor: use the next_cursor of the previous page as it was given."),
            extra={"field": "cursor"},
        )
    return int(cursor)


@inbox_router.get(
    "",
    response={200: InboxPage, **ERRORS},
    summary="List web pushes",
    description=INBOX_LIST_DESCRIPTION,
)
def list_inbox(
    request: HttpRequest,
    status: Query[InboxStatus | None] = None,
    account_id: Query[int | None] = None,
    limit: Query[int] = DEFAULT_PAGE_SIZE,
    cursor: Query[str | None] = None,
) -> dict[str, Any]:
    workspace = current_workspace(request)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Unprocessable(
            gettext_lazy("limit: use a number from 1 to %(MAX_PAGE_SIZE)s."),
            MAX_PAGE_SIZE=MAX_PAGE_SIZE,
            extra={"field": "limit"},
        )
    before = _cursor_id(cursor)
    rows = WebPush.objects.filter(workspace=workspace)
    if account_id is not None:
        rows = rows.filter(account=services.account_for_workspace(workspace, account_id))
    if status is not None:
        rows = rows.filter(status=status)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    # Only the listed columns: bodies can be kilobytes each and are shown one at a time.
    page = list(
        rows.order_by("-pk").only(
            "id",
            "account_id",
            "command",
            "appointment_uid",
            "status",
            "reason",
            "received_at",
            "processed_at",
            "source",
        )[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [_inbox_out(push) for push in page],
        "next_cursor": str(page[-1].pk) if more else None,
    }


def _body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


@inbox_router.get(
    "/{push_id}", response={200: InboxEntryDetailOut, **ERRORS}, summary="One web push"
)
def get_inbox_entry(request: HttpRequest, push_id: int) -> dict[str, Any]:
    """One stored web push with its raw body and how it reads today (`event` or `parse_error`)."""
    push = services.inbox_entry(current_workspace(request), push_id)
    body = bytes(push.body)
    event: dict[str, Any] | None = None
    parse_error: str | None = None
    try:
        event = dataclasses.asdict(
            parse_push(body, push.content_type, timezone=push.account.timezone)
        )
    except UnreadablePush as exc:
        parse_error = exc.reason
    return {
        **_inbox_out(push),
        "content_type": push.content_type,
        "body": _body_text(body),
        "attempts": push.attempts,
        "next_attempt_at": push.next_attempt_at,
        "event": event,
        "parse_error": parse_error,
    }


@inbox_router.post(
    "/{push_id}/retry", response={200: InboxEntryOut, **ERRORS}, summary="Retry a failed web push"
)
def retry_inbox_entry(request: HttpRequest, push_id: int) -> dict[str, Any]:
    """Set a failed web push back to pending so the worker processes it again.

    Any other status gives 409 `conflict`.
    """
    push = services.inbox_entry(current_workspace(request), push_id)
    return _inbox_out(services.retry_push(push))
