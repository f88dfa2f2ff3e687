"""Retention: rendered email bodies are emptied after TERMINFLOW_RETENTION_DAYS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings

from terminflow.mail import links, services, tasks
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace

from .conftest import make_contact, make_email

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def aged(workspace: Workspace, email: str, *, days: float, status: str) -> Outbox:
    row = services.queue_email(make_email(workspace, "marketing"), make_contact(workspace, email))
    Outbox.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(days=days), status=status)
    return Outbox.objects.get(pk=row.pk)


def kept() -> dict[str, tuple[bool, bool, str, str]]:
    """to → (html kept, text kept, subject, status)."""
    return {
        r.to_email: (r.body_html != "", r.body_text != "", r.subject, r.status)
        for r in Outbox.objects.all()
    }


@override_settings(RETENTION_DAYS=90)
def test_sweep_empties_old_sent_bodies_and_keeps_subject_and_status(workspace) -> None:
    # given emails on both sides of the 90 days
    aged(workspace, "sent@example.com", days=91, status="sent")
    aged(workspace, "cancelled@example.com", days=95, status="cancelled")
    aged(workspace, "queued@example.com", days=200, status="queued")
    aged(workspace, "recent@example.com", days=89, status="sent")

    # when the sweep runs twice
    first = services.prune_rendered_bodies(now=NOW)
    second = services.prune_rendered_bodies(now=NOW)

    # then old finished emails lost their bodies only, once
    assert (first, second) == (2, 0)
    assert kept() == {
        "sent@example.com": (False, False, "Hallo Anna", "sent"),
        "cancelled@example.com": (False, False, "Hallo Anna", "cancelled"),
        "queued@example.com": (True, True, "Hallo Anna", "queued"),
        "recent@example.com": (True, True, "Hallo Anna", "sent"),
    }
    assert Outbox.objects.get(to_email="sent@example.com").pruned_at == NOW


@override_settings(RETENTION_DAYS=90)
def test_webview_of_a_pruned_email_is_gone(workspace) -> None:
    row = aged(workspace, "sent@example.com", days=91, status="sent")
    services.prune_rendered_bodies(now=NOW)

    response = Client().get(links.url(links.Purpose.WEBVIEW, row.public_id))

    assert response.status_code == 404
    assert b"Hallo Anna, Neuigkeiten" not in response.content


@override_settings(RETENTION_DAYS=90)
def test_worker_sweep_prunes_in_batches(workspace) -> None:
    for n in range(3):
        aged(workspace, f"a{n}@example.com", days=400, status="sent")

    rounds = [services.prune_rendered_bodies(now=NOW, batch=2) for _ in range(3)]

    assert rounds == [2, 1, 0]
    assert "mail.retention" in [s.name for s in tasks.SWEEPS]
    assert tasks.prune_bodies() == 0
