"""Reconciliation: what eTermin's API says against what the registry knows; no missed booking.

A web push that never arrives (our server down, a network error, eTermin's own hiccup) would be
lost for good. So every connected account is compared with eTermin periodically: its
appointments in a window (``ETERMIN_SYNC_DAYS_BACK`` days back to ``ETERMIN_SYNC_DAYS_AHEAD``
ahead, listed by date range in pages of ``PAGE_DAYS``) and the appointments deleted since the
last sync (``GET /appointmentdeleted``). Each difference becomes an inbox row with
``source = "sync"``, written in the shape of a JSON web push, so it goes through exactly the same
processing as a push; no difference, no row. What counts as a difference:

- an appointment eTermin lists that the registry does not know, booked after the account was
  connected: a booking never pushed (CREATED);
- one whose start, end or calendar differ from the registry's: a move (MODIFIED);
- one eTermin lists as deleted, or no longer has at all, that the registry holds as active: a
  deletion (DELETED).

Appointments with an inbox row still pending are left alone (that row is about to change the
registry); a push and a sync row for the same change end in one effect because processing is
idempotent (one contact per email, one pass per element and rotation).

The API calls run with no transaction open; ``sync_lease_until`` is a per-account lease, so two
workers never sync one account at once, and the sync's rows and outcome are written in one short
transaction at the end. Failures back off: keys eTermin refuses are retried only every
``AUTH_RETRY``, a 429 waits at least its ``Retry-After``, anything else doubles the interval.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from terminflow.kit import clock
from terminflow.kit.errors import Conflict
from terminflow.kit.metrics import ETERMIN_SYNC
from terminflow.workspaces.models import Feature

from .client import (
    EterminAuthError,
    EterminClient,
    EterminError,
    EterminRateLimited,
    EterminUnavailable,
    appointment_uid,
    client_for,
)
from .models import (
    Appointment,
    AppointmentStatus,
    EterminAccount,
    SyncError,
    WebPush,
    WebPushSource,
    WebPushStatus,
)
from .pushes import AppointmentEvent, UnreadablePush, parse_push

log = logging.getLogger("terminflow.etermin.sync")

# One listing call covers this many days: bounds each answer (a busy calendar has a few dozen
# appointments a day) while a 182-day window still takes only 6 calls.
PAGE_DAYS = 31
# Long enough for every call of a sync to use all its tries and time out; a crashed worker's
# lease lapses after it.
LEASE = timedelta(minutes=10)
# Keys eTermin refuses rarely start working by themselves: ask again a few times a day, and
# at once when the keys are changed or someone presses "sync now".
AUTH_RETRY = timedelta(hours=6)
MAX_BACKOFF = timedelta(hours=6)
# Registry appointments missing from the listing are asked for one by one; at most this many
# per sync, the rest next time.
MAX_SINGLE_LOOKUPS = 50
# A booking made this shortly before the account was connected still counts as missed: the
# clocks of eTermin and of this server need not agree to the second.
CONNECT_GRACE = timedelta(minutes=5)
ADDITIONAL_FIELDS = 17


class SyncRunning(Conflict):
    code = "sync_running"


@dataclass
class SyncCounts:
    checked: int = 0
    created: int = 0
    modified: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "created": self.created,
            "modified": self.modified,
            "deleted": self.deleted,
        }


@dataclass
class Listing:
    """What eTermin said, read before any transaction opens."""

    active: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Registry appointments looked up one by one: the row, or None when eTermin has none.
    single: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    calls: int = 0


def interval() -> timedelta | None:
    minutes = settings.ETERMIN_SYNC_MINUTES
    return timedelta(minutes=minutes) if minutes > 0 else None


def first_sync_at(now: datetime) -> datetime | None:
    """When a newly connected account is first synced: one interval after connecting."""
    every = interval()
    return now + every if every else None


def window(account: EterminAccount, now: datetime) -> tuple[date, date]:
    """The first and last day (both included, in the account's zone) a sync lists."""
    today = now.astimezone(ZoneInfo(account.timezone)).date()
    return (
        today - timedelta(days=settings.ETERMIN_SYNC_DAYS_BACK),
        today + timedelta(days=settings.ETERMIN_SYNC_DAYS_AHEAD),
    )


# -- entry points ------------------------------------------------------------------------------


def sync_due(*, now: datetime | None = None) -> int:
    """The worker's sweep: sync the account whose sync is due longest; 1 if one was synced."""
    if interval() is None:
        return 0
    now = now or clock.now()
    due = (
        EterminAccount.objects.filter(Q(sync_next_at__isnull=True) | Q(sync_next_at__lte=now))
        .filter(Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lte=now))
        .select_related("workspace__plan")
        .order_by("sync_next_at", "id")
    )
    for account in due[:20]:
        if not account.workspace.has_feature(Feature.ETERMIN):
            # The plan lost the feature: look again an interval later, without calling eTermin.
            EterminAccount.objects.filter(pk=account.pk).update(
                sync_next_at=now + (interval() or LEASE)
            )
            continue
        try:
            sync_account(account, now=now)
        except SyncRunning:
            continue  # another worker took it a moment ago
        except EterminError:
            pass  # recorded on the account; the sweep goes on with the next one
        return 1
    return 0


def sync_account(account: EterminAccount, *, now: datetime | None = None) -> SyncCounts:
    """Reconcile one account now; raises ``SyncRunning`` (409) while another sync of it runs.

    eTermin's errors are recorded on the account (shown in Settings → eTermin) and raised.
    """
    now = now or clock.now()
    lease = _claim(account, now)
    try:
        listing = _fetch(account, now)
    except EterminError as exc:
        _record_failure(account, lease, exc, now)
        raise
    except BaseException:
        _release(account, lease)
        raise
    return _apply(account, lease, listing, now)


# -- the lease ---------------------------------------------------------------------------------


def _claim(account: EterminAccount, now: datetime) -> datetime:
    lease = now + LEASE
    with transaction.atomic():
        claimed = (
            EterminAccount.objects.filter(pk=account.pk)
            .filter(Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lte=now))
            .update(sync_lease_until=lease, sync_attempted_at=now)
        )
    if not claimed:
        raise SyncRunning("A sync of this eTermin account is running; try again in a moment.")
    account.sync_lease_until, account.sync_attempted_at = lease, now
    return lease


def _release(account: EterminAccount, lease: datetime) -> None:
    with transaction.atomic():
        EterminAccount.objects.filter(pk=account.pk, sync_lease_until=lease).update(
            sync_lease_until=None
        )
    account.sync_lease_until = None


def _record_failure(
    account: EterminAccount, lease: datetime, exc: EterminError, now: datetime
) -> None:
    failures = account.sync_failures + 1
    every = interval() or timedelta(minutes=15)
    if isinstance(exc, EterminAuthError):
        code, wait = SyncError.AUTH, AUTH_RETRY
    elif isinstance(exc, EterminRateLimited):
        code, wait = SyncError.RATE_LIMITED, max(timedelta(seconds=exc.retry_after), every)
    elif isinstance(exc, EterminUnavailable):
        code, wait = SyncError.UNAVAILABLE, min(every * 2 ** min(failures, 10), MAX_BACKOFF)
    else:
        code, wait = SyncError.ERROR, min(every * 2 ** min(failures, 10), MAX_BACKOFF)
    next_at = now + wait
    values: dict[str, Any] = {
        "sync_error_code": code.value,
        "sync_error": exc.detail[:1000],
        "sync_failures": failures,
        "sync_next_at": next_at,
        "sync_lease_until": None,
    }
    with transaction.atomic():
        kept = EterminAccount.objects.filter(pk=account.pk, sync_lease_until=lease).update(**values)
        if not kept:
            # The lease lapsed and another worker took the account over: its sync counts,
            # this one's rows roll back.
            raise SyncRunning("The sync took longer than its lease; another sync took over.")
    for name, value in values.items():
        setattr(account, name, value)
    ETERMIN_SYNC.labels("failed").inc()
    log.warning(
        "eTermin sync of account %s failed (%s): %s; next try at %s",
        account.pk,
        code.value,
        exc.detail,
        next_at.isoformat(),
    )


# -- asking eTermin ------------------------------------------------------------------------------


def _pages(first: date, last: date) -> Iterable[tuple[date, date]]:
    day = first
    while day <= last:
        end = min(day + timedelta(days=PAGE_DAYS - 1), last)
        yield day, end
        day = end + timedelta(days=1)


def _fetch(account: EterminAccount, now: datetime) -> Listing:
    listing = Listing()
    first, last = window(account, now)
    zone = ZoneInfo(account.timezone)
    today = now.astimezone(zone).date()
    # A day's overlap with the last sync: eTermin filters deletions by day, not by moment.
    deleted_from = (
        account.synced_at.astimezone(zone).date() - timedelta(days=1)
        if account.synced_at is not None
        else first
    )
    # After a long outage, deletions older than the window's span concern no appointment left
    # in it; the cap bounds the calls.
    deleted_from = max(deleted_from, first - timedelta(days=settings.ETERMIN_SYNC_DAYS_AHEAD))
    with client_for(account) as client:
        for start, end in _pages(first, last):
            listing.calls += 1
            for row in client.appointments(start, end):
                uid = appointment_uid(row)
                if uid:
                    listing.active[uid] = row
        for start, end in _pages(min(deleted_from, today), today):
            listing.calls += 1
            for row in client.deleted_appointments(start, end):
                uid = appointment_uid(row)
                if uid and uid not in listing.active:
                    listing.deleted[uid] = row
        _look_up_strays(account, client, listing, first, last)
    return listing


def _look_up_strays(
    account: EterminAccount, client: EterminClient, listing: Listing, first: date, last: date
) -> None:
    """Active registry appointments in the window that eTermin listed neither way."""
    zone = ZoneInfo(account.timezone)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    known = (
        Appointment.objects.filter(
            account=account, status=AppointmentStatus.ACTIVE, start__gte=start, start__lt=end
        )
        .order_by("start")
        .values_list("uid", flat=True)
    )
    strays = [uid for uid in known if uid not in listing.active and uid not in listing.deleted]
    for uid in strays[:MAX_SINGLE_LOOKUPS]:
        listing.calls += 1
        listing.single[uid] = client.appointment(uid)


# -- comparing and queueing --------------------------------------------------------------------


def push_fields(command: str, uid: str, row: dict[str, Any]) -> dict[str, str]:
    """An API row (lower-cased keys) written as the JSON web push eTermin would have sent."""

    def text(*keys: str) -> str:
        for key in keys:
            value = row.get(key)
            if value is not None and value != "":
                return str(value)
        return ""

    newsletter = row.get("newsletter")
    fields = {
        "command": command,
        "appointmentUID": uid,
        "startDateTimeUTC": text("startdatetimeutc"),
        "endDateTimeUTC": text("enddatetimeutc"),
        "startDateTime": text("startdatetime"),
        "endDateTime": text("enddatetime"),
        "bookingDate": text("creationdate"),
        "salutation": text("salutation"),
        "firstName": text("firstname"),
        "lastName": text("lastname"),
        "phone": text("phone"),
        "street": text("street"),
        "ZIP": text("zip"),
        "town": text("town", "city"),
        "birthday": text("birthday"),
        "notes": text("notes"),
        "email": text("email"),
        "calendarName": text("calendarname"),
        "calendarID": text("calendarid"),
        "selectedAnswers": text("selectedanswers", "servicestext"),
        "bookingLanguage": text("bookinglanguage"),
        # Unknown stays empty, so processing asks eTermin's contact when an element needs it.
        "newsletter": ""
        if newsletter is None or newsletter == ""
        else ("1" if str(newsletter).lower() in {"1", "true"} else "0"),
    }
    for index in range(1, ADDITIONAL_FIELDS + 1):
        fields[f"additional{index}"] = text(f"additional{index}")
    return fields


def _registry_fields(command: str, appointment: Appointment) -> dict[str, str]:
    """A DELETED push for a registry appointment eTermin no longer has at all."""
    fields = {"command": command, "appointmentUID": appointment.uid}
    if appointment.start is not None:
        fields["startDateTimeUTC"] = appointment.start.isoformat()
    if appointment.end is not None:
        fields["endDateTimeUTC"] = appointment.end.isoformat()
    fields["calendarID"] = appointment.calendar_id
    fields["calendarName"] = appointment.calendar_name
    return fields


@dataclass
class _Difference:
    command: str
    uid: str
    fields: dict[str, str]


def _read(fields: dict[str, str], account: EterminAccount) -> AppointmentEvent | None:
    try:
        return parse_push(_body(fields), "application/json", timezone=account.timezone)
    except UnreadablePush as exc:
        log.warning("eTermin sync of account %s: an appointment cannot be read: %s", account, exc)
        return None


def _body(fields: dict[str, str]) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def _moved(event: AppointmentEvent, appointment: Appointment) -> bool:
    if event.start is not None and event.start != appointment.start:
        return True
    if event.end is not None and event.end != appointment.end:
        return True
    return event.calendar_id is not None and str(event.calendar_id) != appointment.calendar_id


def _api_moment(row: dict[str, Any], utc_key: str, local_key: str, zone: ZoneInfo) -> Any:
    """A start or end from an API row as aware UTC; None when absent or unreadable."""
    for key, default_zone in ((utc_key, UTC), (local_key, zone)):
        text = str(row.get(key) or "").strip()
        if not text:
            continue
        try:
            moment = datetime.fromisoformat(text.removesuffix("Z").removesuffix("z"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=default_zone)
        return moment.astimezone(UTC)
    return None


def _unchanged(row: dict[str, Any], appointment: Appointment, zone: ZoneInfo) -> bool:
    """True when the row surely has the registry's slot; False when unsure or moved."""
    start = _api_moment(row, "startdatetimeutc", "startdatetime", zone)
    end = _api_moment(row, "enddatetimeutc", "enddatetime", zone)
    calendar = str(row.get("calendarid") or "").strip()
    return (
        start is not None
        and end is not None
        and start == appointment.start
        and end == appointment.end
        and (not calendar or calendar == appointment.calendar_id)
    )


def _differences(account: EterminAccount, listing: Listing) -> tuple[list[_Difference], int]:
    """What to queue, and how many appointments were compared; reads, never writes."""
    uids = set(listing.active) | set(listing.deleted) | set(listing.single)
    registry = {
        a.uid: a for a in Appointment.objects.filter(account=account, uid__in=uids).iterator()
    }
    pending = set(
        WebPush.objects.filter(
            account=account, status=WebPushStatus.PENDING, appointment_uid__in=uids
        ).values_list("appointment_uid", flat=True)
    )
    found: list[_Difference] = []
    rows = {**listing.active, **{u: r for u, r in listing.single.items() if r is not None}}
    zone = ZoneInfo(account.timezone)
    for uid, row in rows.items():
        if uid in pending:
            continue
        known = registry.get(uid)
        if known is not None and known.status == AppointmentStatus.DELETED:
            continue  # nothing revives a deleted appointment
        if known is not None and _unchanged(row, known, zone):
            # The usual case every few minutes: a quick look, without reading the whole row.
            continue
        command = "CREATED" if known is None else "MODIFIED"
        fields = push_fields(command, uid, row)
        event = _read(fields, account)
        if event is None:
            continue
        if known is None:
            # Bookings made before the account was connected were never ours to react to.
            if event.booked_at is not None and event.booked_at < account.created_at - CONNECT_GRACE:
                continue
        elif not _moved(event, known):
            continue
        found.append(_Difference(command, uid, fields))
    gone = {**listing.deleted, **{u: {} for u, r in listing.single.items() if r is None}}
    for uid, row in gone.items():
        known = registry.get(uid)
        if uid in pending or known is None or known.status != AppointmentStatus.ACTIVE:
            continue
        fields = push_fields("DELETED", uid, row) if row else _registry_fields("DELETED", known)
        found.append(_Difference("DELETED", uid, fields))
    return found, len(uids)


def _apply(account: EterminAccount, lease: datetime, listing: Listing, now: datetime) -> SyncCounts:
    """Queue the differences and record the sync, in one transaction."""
    with transaction.atomic():
        differences, checked = _differences(account, listing)
        rows = []
        for difference in differences:
            body = _body(difference.fields)
            rows.append(
                WebPush(
                    account=account,
                    workspace_id=account.workspace_id,
                    received_at=now,
                    content_type="application/json",
                    body=body,
                    body_sha256=hashlib.sha256(body).hexdigest(),
                    command=difference.command,
                    appointment_uid=difference.uid,
                    source=WebPushSource.SYNC,
                )
            )
        WebPush.objects.bulk_create(rows)
        counts = SyncCounts(checked=checked)
        for difference in differences:
            attr = difference.command.lower()
            setattr(counts, attr, getattr(counts, attr) + 1)
        every = interval()
        values: dict[str, Any] = {
            "synced_at": now,
            "sync_result": {**counts.as_dict(), "calls": listing.calls},
            "sync_error_code": "",
            "sync_error": "",
            "sync_failures": 0,
            "sync_next_at": now + every if every else None,
            "sync_lease_until": None,
        }
        kept = EterminAccount.objects.filter(pk=account.pk, sync_lease_until=lease).update(**values)
        if not kept:
            # The lease lapsed and another worker took the account over: its sync counts,
            # this one's rows roll back.
            raise SyncRunning("The sync took longer than its lease; another sync took over.")
    for name, value in values.items():
        setattr(account, name, value)
    for result, count in counts.as_dict().items():
        ETERMIN_SYNC.labels(result).inc(count)
    log.info(
        "eTermin sync of account %s: %s in %d calls",
        account.pk,
        counts.as_dict(),
        listing.calls,
    )
    return counts
