"""eTermin accounts: connect, change, rotate the web push token, delete; the inbox's retry.

The only code that writes ``EterminAccount`` rows. The private key and the web push token are
kept encrypted (``kit.crypto``); the token is found by its hash, so rotating it makes the old
Web Push URL unknown at once. Keys are checked against eTermin *before* any transaction opens:
a slow eTermin must never hold the database's write lock, and a refused key must leave nothing
behind.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy, pgettext_lazy

from terminflow.kit import clock, crypto
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Feature, Workspace
from terminflow.workspaces.services import require_feature

from .client import Calendar, EterminClient, client_for
from .models import EterminAccount, WebPush, WebPushStatus
from .sync import first_sync_at

logger = logging.getLogger(__name__)

WEB_PUSH_PATH = "/hooks/etermin/"
# Column widths of EterminAccount; longer input is refused with a reason instead of a DB error.
MAX_NAME_LENGTH = 200
MAX_PUBLIC_KEY_LENGTH = 200
MAX_PRIVATE_KEY_LENGTH = 1000
# One retry is enough to ride out a blip while a person waits for the dialog to answer.
VERIFY_RETRIES = 1


def web_push_url(account: EterminAccount) -> str:
    """The URL to paste into eTermin's "Send Web Push to the following URL" field."""
    return settings.BASE_URL + WEB_PUSH_PATH + account.web_push_token


def accounts_of(workspace: Workspace) -> QuerySet[EterminAccount]:
    return EterminAccount.objects.filter(workspace=workspace).order_by("id")


def account_for_workspace(workspace: Workspace, account_id: int) -> EterminAccount:
    """The workspace's account with this id; another workspace's id is ``NotFound`` too."""
    account = EterminAccount.objects.filter(workspace=workspace, pk=account_id).first()
    if account is None:
        raise NotFound(
            gettext_lazy("No eTermin account %(account_id)s in this workspace."),
            account_id=account_id,
        )
    return account


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Unprocessable(
            gettext_lazy("Give the account a name, e.g. the practice it belongs to.")
        )
    if len(name) > MAX_NAME_LENGTH:
        raise Unprocessable(
            gettext_lazy("The account name is longer than %(MAX_NAME_LENGTH)s characters."),
            MAX_NAME_LENGTH=MAX_NAME_LENGTH,
        )
    return name


def _clean_key(value: str, *, label: Any, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise Unprocessable(
            gettext_lazy(
                "The %(label)s API key is missing; copy it from eTermin under API → API & Web Push."
            ),
            label=label,
        )
    if len(value) > limit:
        raise Unprocessable(
            gettext_lazy("The %(label)s API key is longer than %(limit)s characters."),
            label=label,
            limit=limit,
        )
    if not value.isascii() or not value.isprintable():
        raise Unprocessable(
            gettext_lazy(
                "The %(label)s API key contains characters eTermin keys never have; copy it again "
                "from eTermin."
            ),
            label=label,
        )
    return value


def _clean_timezone(name: str) -> str:
    name = (name or "").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(
            gettext_lazy("%(name)r is not a time zone; use an IANA name like Europe/Zurich."),
            name=name,
        ) from None
    return name


def _verify_keys(public_key: str, private_key: str) -> None:
    """Raises ``EterminAuthError`` / ``EterminUnavailable`` / ``EterminError`` (all 422)."""
    with EterminClient(public_key, private_key, retries=VERIFY_RETRIES) as client:
        client.calendars()


def _new_token() -> tuple[str, str, str]:
    token = crypto.new_token(32)
    return token, crypto.encrypt(token), crypto.token_hash(token)


def connect_account(
    workspace: Workspace,
    *,
    name: str,
    public_key: str,
    private_key: str,
    verify: bool = True,
    timezone: str | None = None,
) -> EterminAccount:
    """Connect an eTermin account to the workspace and give it a fresh Web Push URL.

    Requires the plan feature ``etermin``. With ``verify`` the keys are first tried against
    eTermin (listing calendars); a refusal or an unreachable eTermin raises a 422 error and
    nothing is stored. ``timezone`` defaults to the workspace's; it is the zone eTermin's local
    times are read in.
    """
    require_feature(workspace, Feature.ETERMIN)
    name = _clean_name(name)
    public_key = _clean_key(
        public_key, label=pgettext_lazy("api key", "public"), limit=MAX_PUBLIC_KEY_LENGTH
    )
    private_key = _clean_key(
        private_key, label=pgettext_lazy("api key", "private"), limit=MAX_PRIVATE_KEY_LENGTH
    )
    zone = _clean_timezone(timezone or workspace.timezone)
    if verify:
        _verify_keys(public_key, private_key)
    _, token_encrypted, token_hash = _new_token()
    with transaction.atomic():
        account = EterminAccount.objects.create(
            workspace=workspace,
            name=name,
            public_key=public_key,
            private_key_encrypted=crypto.encrypt(private_key),
            web_push_token_encrypted=token_encrypted,
            web_push_token_hash=token_hash,
            timezone=zone,
            sync_next_at=first_sync_at(clock.now()),
        )
    logger.info(
        "eTermin account %s connected to workspace %s (verified: %s)",
        account.pk,
        workspace.pk,
        verify,
    )
    return account


def rotate_web_push_token(account: EterminAccount) -> EterminAccount:
    """Give the account a new Web Push URL; the old one is unknown from this moment on."""
    _, token_encrypted, token_hash = _new_token()
    with transaction.atomic():
        account.web_push_token_encrypted = token_encrypted
        account.web_push_token_hash = token_hash
        account.save(
            update_fields=["web_push_token_encrypted", "web_push_token_hash", "updated_at"]
        )
    logger.info("eTermin account %s: web push token rotated", account.pk)
    return account


def update_account(
    account: EterminAccount,
    *,
    name: str | None = None,
    public_key: str | None = None,
    private_key: str | None = None,
    rotate_token: bool = False,
    verify: bool = True,
    timezone: str | None = None,
) -> EterminAccount:
    """Change name, keys or time zone, and optionally rotate the web push token.

    New keys are verified (with the other key as stored, unless both change) before anything
    is saved, like ``connect_account``. Requires the plan feature ``etermin``.
    """
    require_feature(account.workspace, Feature.ETERMIN)
    changed: list[str] = []
    if name is not None:
        account.name = _clean_name(name)
        changed.append("name")
    if timezone is not None:
        account.timezone = _clean_timezone(timezone)
        changed.append("timezone")
    new_public = (
        _clean_key(
            public_key, label=pgettext_lazy("api key", "public"), limit=MAX_PUBLIC_KEY_LENGTH
        )
        if public_key is not None
        else None
    )
    new_private = (
        _clean_key(
            private_key, label=pgettext_lazy("api key", "private"), limit=MAX_PRIVATE_KEY_LENGTH
        )
        if private_key is not None
        else None
    )
    if new_public is not None or new_private is not None:
        effective_public = new_public if new_public is not None else account.public_key
        effective_private = new_private if new_private is not None else str(account.private_key)
        if verify:
            _verify_keys(effective_public, effective_private)
        if new_public is not None:
            account.public_key = new_public
            changed.append("public_key")
        if new_private is not None:
            account.private_key_encrypted = crypto.encrypt(new_private)
            changed.append("private_key_encrypted")
        # New keys deserve a sync soon, whatever the old ones' last sync ran into.
        account.sync_error_code = ""
        account.sync_error = ""
        account.sync_failures = 0
        account.sync_next_at = clock.now()
        changed += ["sync_error_code", "sync_error", "sync_failures", "sync_next_at"]
    if rotate_token:
        _, token_encrypted, token_hash = _new_token()
        account.web_push_token_encrypted = token_encrypted
        account.web_push_token_hash = token_hash
        changed += ["web_push_token_encrypted", "web_push_token_hash"]
    if changed:
        with transaction.atomic():
            account.save(update_fields=[*changed, "updated_at"])
        # Field names only: what changed is worth a log line, the values never are.
        logger.info("eTermin account %s changed: %s", account.pk, ", ".join(changed))
    return account


def delete_account(account: EterminAccount) -> None:
    """Disconnect the account: its keys, Web Push URL, inbox rows and appointments go with it."""
    account_id, workspace_id = account.pk, account.workspace_id
    with transaction.atomic():
        account.delete()
    logger.info("eTermin account %s of workspace %s deleted", account_id, workspace_id)


def list_calendars(account: EterminAccount) -> list[Calendar]:
    """The account's calendars, fetched from eTermin now (raises the client's 422 errors)."""
    with client_for(account) as client:
        return client.calendars()


def inbox_entry(workspace: Workspace, push_id: int) -> WebPush:
    push = WebPush.objects.filter(workspace=workspace, pk=push_id).first()
    if push is None:
        raise NotFound(gettext_lazy("No web push %(push_id)s in this workspace."), push_id=push_id)
    return push


def retry_push(push: WebPush) -> WebPush:
    """Put a failed inbox row back in line, so the worker reads it again as soon as it can."""
    with transaction.atomic():
        if push.pruned_at is not None:
            raise Conflict(
                f"Web push {push.pk} is past the retention period: its body was deleted, "
                "so it cannot be read again."
            )
        updated = WebPush.objects.filter(pk=push.pk, status=WebPushStatus.FAILED).update(
            status=WebPushStatus.PENDING,
            reason="",
            processed_at=None,
            claimed_until=None,
            next_attempt_at=None,
            attempts=0,
        )
    if not updated:
        push.refresh_from_db()
        raise Conflict(
            gettext_lazy("Web push %(pk)s is %(status)s; only failed web pushes can be retried."),
            pk=push.pk,
            status=push.status,
        )
    push.refresh_from_db()
    logger.info("web push %s set back to pending", push.pk)
    return push


PRUNE_BATCH = 500


def prune_raw_bodies(*, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Empty the raw bodies of pushes older than the retention period; one batch per call.

    The parsed columns (command, appointment uid, status, reason, times) stay for the inbox
    and statistics. Pending rows keep their body until they are processed. Safe to run twice
    or from two workers: a row is pruned once, by whoever updates it first.
    """
    if settings.RETENTION_DAYS <= 0:
        return 0
    now = now or clock.now()
    cutoff = now - timedelta(days=settings.RETENTION_DAYS)
    prunable = WebPush.objects.filter(pruned_at__isnull=True, received_at__lt=cutoff).exclude(
        status=WebPushStatus.PENDING
    )
    with transaction.atomic():
        ids = list(prunable.order_by("received_at", "id").values_list("id", flat=True)[:batch])
        if not ids:
            return 0
        return prunable.filter(pk__in=ids).update(body=b"", pruned_at=now)
