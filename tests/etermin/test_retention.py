"""Retention: raw push bodies are emptied after TERMINFLOW_RETENTION_DAYS; parsed facts stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from terminflow.etermin import tasks
from terminflow.etermin.models import WebPush
from terminflow.etermin.services import prune_raw_bodies, retry_push
from terminflow.kit.errors import Conflict
from terminflow.workspaces.models import Workspace

from .factories import make_account, push_body, store_push

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def aged(account, uid: str, *, days: float, status: str) -> WebPush:
    push = store_push(account, push_body("CREATED", uid))
    WebPush.objects.filter(pk=push.pk).update(received_at=NOW - timedelta(days=days), status=status)
    return WebPush.objects.get(pk=push.pk)


def bodies() -> dict[str, tuple[bool, str | None, str, object]]:
    """uid → (body kept, command, status, pruned_at)."""
    return {
        p.appointment_uid: (bytes(p.body) != b"", p.command, p.status, p.pruned_at)
        for p in WebPush.objects.all()
    }


@override_settings(RETENTION_DAYS=90)
def test_sweep_empties_old_bodies_and_keeps_the_parsed_facts(workspace: Workspace) -> None:
    # given pushes on both sides of the 90 days, in every status
    account = make_account(workspace)
    aged(account, "old-processed", days=91, status="processed")
    aged(account, "old-failed", days=90.01, status="failed")
    aged(account, "old-pending", days=120, status="pending")
    aged(account, "recent", days=89.9, status="processed")

    # when the sweep runs
    pruned = prune_raw_bodies(now=NOW)

    # then only the old, finished bodies are gone; what was read from them stays
    assert pruned == 2
    assert bodies() == {
        "old-processed": (False, "CREATED", "processed", NOW),
        "old-failed": (False, "CREATED", "failed", NOW),
        "old-pending": (True, "CREATED", "pending", None),
        "recent": (True, "CREATED", "processed", None),
    }
    # and a second run changes nothing
    assert prune_raw_bodies(now=NOW + timedelta(minutes=1)) == 0
    assert bodies()["old-processed"] == (False, "CREATED", "processed", NOW)


@override_settings(RETENTION_DAYS=90)
def test_sweep_works_in_batches_until_done(workspace: Workspace) -> None:
    account = make_account(workspace)
    for n in range(5):
        aged(account, f"old-{n}", days=100 + n, status="processed")

    rounds = [prune_raw_bodies(now=NOW, batch=2) for _ in range(4)]

    assert rounds == [2, 2, 1, 0]
    assert WebPush.objects.filter(pruned_at__isnull=True).count() == 0


@override_settings(RETENTION_DAYS=0)
def test_zero_days_keeps_every_body(workspace: Workspace) -> None:
    account = make_account(workspace)
    aged(account, "ancient", days=3000, status="processed")

    assert prune_raw_bodies(now=NOW) == 0
    assert bodies()["ancient"] == (True, "CREATED", "processed", None)


@override_settings(RETENTION_DAYS=90)
def test_pruned_failed_push_cannot_be_retried(workspace: Workspace) -> None:
    account = make_account(workspace)
    push = aged(account, "old-failed", days=91, status="failed")
    prune_raw_bodies(now=NOW)
    push.refresh_from_db()

    with pytest.raises(Conflict, match="retention period"):
        retry_push(push)

    assert WebPush.objects.get(pk=push.pk).status == "failed"


@override_settings(RETENTION_DAYS=90)
def test_worker_sweep_prunes(workspace: Workspace) -> None:
    account = make_account(workspace)
    aged(account, "old", days=3650, status="ignored")

    assert tasks.prune_bodies() == 1
    assert "etermin-retention" in [s.name for s in tasks.SWEEPS]
    assert bodies()["old"][0] is False
