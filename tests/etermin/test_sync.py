"""Reconciliation against the eTermin sandbox over real HTTP: differences become sync rows."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from terminflow.etermin import sync
from terminflow.etermin.client import EterminAuthError, EterminClient, EterminRateLimited
from terminflow.etermin.models import Appointment, EterminAccount, WebPush
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account, update_account
from terminflow.kit import clock
from terminflow.workspaces.models import Plan

from .factories import etermin_element, make_campaign, tag_element

PUBLIC = "pk-sync"
PRIVATE = "sk-sync-secret"
CALENDAR = 211614


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(EterminClient, "BACKOFF_SECONDS", (0,))


@pytest.fixture
def account(workspace, etermin_sandbox) -> EterminAccount:
    etermin_sandbox.add_account(PUBLIC, PRIVATE, calendars=[(CALENDAR, "Praxis Seefeld")])
    connected = connect_account(
        workspace, name="Praxis", public_key=PUBLIC, private_key=PRIVATE, verify=False
    )
    make_campaign(
        workspace, [etermin_element(), tag_element("tag", "booked")], [("booking", "tag")]
    )
    return connected


def in_days(days: int, hour: int = 9) -> datetime:
    moment = clock.now() + timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def book(sandbox, days: int = 10, email: str = "lea@example.ch") -> str:
    start = in_days(days)
    return sandbox.book(
        PUBLIC,
        calendar_id=CALENDAR,
        start=start,
        end=start + timedelta(minutes=45),
        email=email,
        first_name="Lea",
        last_name="Brunner",
    )


def sync_rows() -> list[tuple[str, str, str]]:
    return list(
        WebPush.objects.filter(source="sync")
        .order_by("id")
        .values_list("command", "appointment_uid", "status")
    )


def test_a_booking_never_pushed_is_queued_once_and_processed_like_a_push(account, etermin_sandbox):
    # given a booking eTermin never pushed
    uid = book(etermin_sandbox)
    # when the account is synced
    counts = sync.sync_account(account)
    # then one CREATED row is queued, written like a JSON push
    assert counts.as_dict() == {"checked": 1, "created": 1, "modified": 0, "deleted": 0}
    [row] = WebPush.objects.all()
    assert (row.source, row.command, row.appointment_uid, row.status) == (
        "sync",
        "CREATED",
        uid,
        "pending",
    )
    body = json.loads(bytes(row.body))
    assert (body["email"], body["calendarID"], body["firstName"]) == (
        "lea@example.ch",
        "211614",
        "Lea",
    )
    # and processing takes it in like a push
    assert process_pending() == 1
    appointment = Appointment.objects.get(uid=uid)
    assert (appointment.start, appointment.taken_in) == (in_days(10), True)
    assert sync_rows() == [("CREATED", uid, "processed")]
    # and a second sync finds nothing to do
    assert sync.sync_account(account).as_dict() == {
        "checked": 1,
        "created": 0,
        "modified": 0,
        "deleted": 0,
    }
    assert WebPush.objects.count() == 1


def test_a_move_and_a_deletion_become_modified_and_deleted_rows(account, etermin_sandbox):
    # given two appointments the registry knows
    moved, cancelled = book(etermin_sandbox, 10), book(etermin_sandbox, 20, "beat@example.ch")
    sync.sync_account(account)
    process_pending()
    # when one is moved and the other cancelled in eTermin, with no push
    etermin_sandbox.reschedule(PUBLIC, moved, in_days(11), in_days(11) + timedelta(hours=1))
    etermin_sandbox.cancel(PUBLIC, cancelled)
    counts = sync.sync_account(account)
    # then
    assert counts.as_dict() == {"checked": 2, "created": 0, "modified": 1, "deleted": 1}
    assert [(c, u) for c, u, _ in sync_rows()[2:]] == [("MODIFIED", moved), ("DELETED", cancelled)]
    process_pending()
    assert Appointment.objects.get(uid=moved).start == in_days(11)
    assert Appointment.objects.get(uid=cancelled).status == "deleted"
    again = sync.sync_account(account)
    assert (again.created, again.modified, again.deleted) == (0, 0, 0)
    assert WebPush.objects.count() == 4


def test_bookings_made_before_the_account_was_connected_are_not_queued(account, etermin_sandbox):
    # given a booking older than the connection (by more than the grace)
    uid = book(etermin_sandbox)
    stored = etermin_sandbox.state.accounts[PUBLIC].appointments[uid]
    stored.created_at = account.created_at - sync.CONNECT_GRACE - timedelta(minutes=1)
    # when
    counts = sync.sync_account(account)
    # then nothing is queued
    assert (counts.checked, counts.created) == (1, 0)
    assert WebPush.objects.count() == 0


def test_an_appointment_with_a_pending_row_is_left_to_that_row(account, etermin_sandbox):
    uid = book(etermin_sandbox)
    sync.sync_account(account)
    # the first sync's row is not processed yet; a second sync must not add another
    counts = sync.sync_account(account)
    assert counts.created == 0
    assert [u for _, u, _ in sync_rows()] == [uid]


def test_a_deleted_appointment_is_never_revived(account, etermin_sandbox):
    uid = book(etermin_sandbox)
    sync.sync_account(account)
    process_pending()
    Appointment.objects.filter(uid=uid).update(status="deleted")
    counts = sync.sync_account(account)
    assert (counts.created, counts.modified, counts.deleted) == (0, 0, 0)
    assert WebPush.objects.count() == 1


def test_registry_appointments_etermin_no_longer_lists_are_asked_for_one_by_one(
    account, etermin_sandbox
):
    # given two known appointments: one moved beyond the window, one gone without a trace
    far, vanished = book(etermin_sandbox, 10), book(etermin_sandbox, 12, "beat@example.ch")
    sync.sync_account(account)
    process_pending()
    state = etermin_sandbox.state.accounts[PUBLIC]
    state.appointments[far].start = in_days(400)
    state.appointments[far].end = in_days(400) + timedelta(minutes=45)
    del state.appointments[vanished]
    calls_before = len(etermin_sandbox.calls())
    # when
    counts = sync.sync_account(account)
    # then each was looked up by id, and the differences are queued
    assert (counts.modified, counts.deleted) == (1, 1)
    lookups = [c["query"] for c in etermin_sandbox.calls()[calls_before:] if "id=" in c["query"]]
    assert lookups == [f"id={far}", f"id={vanished}"]
    assert [(c, u) for c, u, _ in sync_rows()[2:]] == [("MODIFIED", far), ("DELETED", vanished)]
    process_pending()
    assert Appointment.objects.get(uid=far).start == in_days(400)
    assert Appointment.objects.get(uid=vanished).status == "deleted"


def test_the_window_is_listed_in_pages_by_date_range(account, etermin_sandbox, settings):
    # given the default window, 2 days back and 180 ahead
    today = clock.now().astimezone(ZoneInfo("Europe/Zurich")).date()
    # when
    sync.sync_account(account)
    # then 6 listing calls of at most 31 days, contiguous, end exclusive; then the deletions
    calls = etermin_sandbox.calls()
    listing = [dict(parse_qsl(c["query"])) for c in calls if c["path"] == "/api/appointment"]
    assert listing[0]["start"] == str(today - timedelta(days=2))
    assert listing[-1]["end"] == str(today + timedelta(days=181))
    for before, after in itertools.pairwise(listing):
        assert before["end"] == after["start"]
    assert len(listing) == 6
    deleted = [dict(parse_qsl(c["query"])) for c in calls if c["path"] == "/api/appointmentdeleted"]
    assert deleted == [
        {"start": str(today - timedelta(days=2)), "end": str(today + timedelta(days=1))}
    ]
    assert EterminAccount.objects.get().sync_result == {
        "checked": 0,
        "created": 0,
        "modified": 0,
        "deleted": 0,
        "calls": 7,
    }


def test_a_running_sync_holds_the_account(account, etermin_sandbox):
    # given another worker holds the lease
    EterminAccount.objects.filter(pk=account.pk).update(
        sync_lease_until=clock.now() + timedelta(minutes=5)
    )
    book(etermin_sandbox)
    calls = len(etermin_sandbox.calls())
    # when
    with pytest.raises(sync.SyncRunning):
        sync.sync_account(account)
    # then eTermin was not asked and nothing was queued
    assert len(etermin_sandbox.calls()) == calls
    assert WebPush.objects.count() == 0


def test_a_lapsed_lease_is_taken_over(account, etermin_sandbox):
    EterminAccount.objects.filter(pk=account.pk).update(
        sync_lease_until=clock.now() - timedelta(seconds=1)
    )
    book(etermin_sandbox)
    assert sync.sync_account(account).created == 1
    assert EterminAccount.objects.get().sync_lease_until is None


def test_refused_keys_are_marked_and_not_retried_every_minute(account, etermin_sandbox):
    # given eTermin no longer accepts the keys
    etermin_sandbox.add_account(PUBLIC, "a-new-private-key")
    now = clock.now()
    # when
    with pytest.raises(EterminAuthError):
        sync.sync_account(account, now=now)
    # then the account says so, and the next try is hours away
    stored = EterminAccount.objects.get()
    assert (stored.sync_error_code, stored.sync_failures, stored.sync_lease_until) == (
        "auth",
        1,
        None,
    )
    assert stored.sync_next_at == now + sync.AUTH_RETRY
    calls = len(etermin_sandbox.calls())
    assert sync.sync_due(now=now + timedelta(minutes=1)) == 0
    assert sync.sync_due(now=now + timedelta(hours=1)) == 0
    assert len(etermin_sandbox.calls()) == calls
    # and new keys clear the mark and make the sync due at once
    etermin_sandbox.add_account(PUBLIC, PRIVATE)
    update_account(stored, private_key=PRIVATE, verify=False)
    stored = EterminAccount.objects.get()
    assert (stored.sync_error_code, stored.sync_error) == ("", "")
    assert sync.sync_due() == 1
    assert EterminAccount.objects.get().sync_error_code == ""


def test_429_backs_off_for_retry_after(account, etermin_sandbox):
    etermin_sandbox.fail_next(1, status=429, retry_after=3600)
    now = clock.now()
    with pytest.raises(EterminRateLimited):
        sync.sync_account(account, now=now)
    stored = EterminAccount.objects.get()
    assert stored.sync_error_code == "rate_limited"
    assert stored.sync_next_at == now + timedelta(seconds=3600)
    assert [c["status"] for c in etermin_sandbox.calls()] == [429]


def test_unreachable_etermin_backs_off_doubling(account, etermin_sandbox):
    etermin_sandbox.fail_next(6, status=503)
    now = clock.now()
    for failures, wait in ((1, 30), (2, 60)):
        with pytest.raises(sync.EterminUnavailable):
            sync.sync_account(account, now=now)
        stored = EterminAccount.objects.get()
        assert (stored.sync_error_code, stored.sync_failures) == ("unavailable", failures)
        assert stored.sync_next_at == now + timedelta(minutes=wait)
        account = stored
    assert len(etermin_sandbox.calls()) == 6
    assert WebPush.objects.count() == 0


def test_the_sweep_syncs_due_accounts_only(account, etermin_sandbox, settings):
    book(etermin_sandbox)
    now = clock.now()
    # not yet due: the first sync is one interval after connecting
    assert sync.sync_due(now=now) == 0
    assert WebPush.objects.count() == 0
    # due
    assert sync.sync_due(now=now + timedelta(minutes=16)) == 1
    assert EterminAccount.objects.get().sync_next_at == now + timedelta(minutes=31)
    assert sync.sync_due(now=now + timedelta(minutes=17)) == 0
    assert WebPush.objects.filter(source="sync").count() == 1
    # switched off
    settings.ETERMIN_SYNC_MINUTES = 0
    assert sync.sync_due(now=now + timedelta(days=1)) == 0


def test_the_sweep_skips_workspaces_whose_plan_lacks_etermin(account, etermin_sandbox, workspace):
    workspace.plan = Plan.objects.get(key="free")
    workspace.save()
    book(etermin_sandbox)
    later = clock.now() + timedelta(minutes=16)
    assert sync.sync_due(now=later) == 0
    assert [c for c in etermin_sandbox.calls() if c["method"] == "GET"] == []
    assert EterminAccount.objects.get().sync_next_at == later + timedelta(minutes=15)


# -- the API -----------------------------------------------------------------------------------


def test_api_sync_now_answers_the_counts(api, account, etermin_sandbox):
    uid = book(etermin_sandbox)
    response = api.post(f"/api/v1/etermin/accounts/{account.pk}/sync")
    assert (response.status_code, response.json()) == (
        200,
        {"checked": 1, "created": 1, "modified": 0, "deleted": 0},
    )
    items = api.get("/api/v1/inbox").json()["items"]
    assert [(i["source"], i["command"], i["appointment_uid"]) for i in items] == [
        ("sync", "CREATED", uid)
    ]
    shown = api.get(f"/api/v1/etermin/accounts/{account.pk}").json()["sync"]
    assert shown["result"] == {"checked": 1, "created": 1, "modified": 0, "deleted": 0, "calls": 7}
    assert shown["error_code"] == ""


def test_api_sync_while_running_is_409(api, account, etermin_sandbox):
    EterminAccount.objects.filter(pk=account.pk).update(
        sync_lease_until=clock.now() + timedelta(minutes=5)
    )
    response = api.post(f"/api/v1/etermin/accounts/{account.pk}/sync")
    assert response.status_code == 409
    assert response.json()["code"] == "sync_running"
    assert etermin_sandbox.calls() == []


def test_api_sync_with_refused_keys_is_422_and_marks_the_account(api, account, etermin_sandbox):
    etermin_sandbox.add_account(PUBLIC, "changed-in-etermin")
    response = api.post(f"/api/v1/etermin/accounts/{account.pk}/sync")
    assert (response.status_code, response.json()["code"]) == (422, "etermin_auth")
    assert api.get(f"/api/v1/etermin/accounts/{account.pk}").json()["sync"]["error_code"] == "auth"
    assert WebPush.objects.count() == 0


def test_api_sync_of_another_workspaces_account_is_404(api_for, account, etermin_sandbox):
    from tests.conftest import make_workspace

    other = api_for(make_workspace("Other"))
    response = other.post(f"/api/v1/etermin/accounts/{account.pk}/sync")
    assert response.status_code == 404
    assert etermin_sandbox.calls() == []
    assert EterminAccount.objects.get().sync_attempted_at is None


def test_a_sync_whose_lease_was_taken_over_queues_nothing(account, etermin_sandbox, monkeypatch):
    # given a sync that outlives its lease: another worker takes the account over meanwhile
    book(etermin_sandbox)
    fetch = sync._fetch

    def slow_fetch(account, now):
        listing = fetch(account, now)
        EterminAccount.objects.filter(pk=account.pk).update(
            sync_lease_until=now + timedelta(hours=1)
        )
        return listing

    monkeypatch.setattr(sync, "_fetch", slow_fetch)
    # when
    with pytest.raises(sync.SyncRunning):
        sync.sync_account(account)
    # then its rows were rolled back and the other worker's lease stands
    assert WebPush.objects.count() == 0
    stored = EterminAccount.objects.get()
    assert (stored.synced_at, stored.sync_result) == (None, {})


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_sync_one_account_at_once(workspace, etermin_sandbox):
    # given an account with a missed booking, and eTermin slow to answer the first call
    etermin_sandbox.add_account(PUBLIC, PRIVATE, calendars=[(CALENDAR, "Praxis Seefeld")])
    account = connect_account(
        workspace, name="Praxis", public_key=PUBLIC, private_key=PRIVATE, verify=False
    )
    book(etermin_sandbox)
    etermin_sandbox.fail_next(1, status=None, hang_seconds=1.5)
    outcome: dict[str, object] = {}

    def first_worker() -> None:
        try:
            outcome["first"] = sync.sync_account(EterminAccount.objects.get(pk=account.pk))
        finally:
            connection.close()

    # when one worker syncs and a second one tries while the first waits for eTermin
    thread = threading.Thread(target=first_worker)
    thread.start()
    deadline = time.monotonic() + 5
    while not EterminAccount.objects.filter(pk=account.pk, sync_lease_until__isnull=False).exists():
        assert time.monotonic() < deadline, "the first worker never took the lease"
        time.sleep(0.01)
    with pytest.raises(sync.SyncRunning):
        sync.sync_account(EterminAccount.objects.get(pk=account.pk))
    thread.join(10)

    # then only the first asked eTermin (one sync: 7 distinct calls), and queued the booking once
    asked = [(c["path"], c["query"]) for c in etermin_sandbox.calls() if c["method"] == "GET"]
    assert (len(asked), len(set(asked))) == (7, 7)
    assert outcome["first"].as_dict()["created"] == 1
    assert WebPush.objects.filter(source="sync").count() == 1
    assert EterminAccount.objects.get().sync_lease_until is None
