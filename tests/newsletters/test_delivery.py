"""A newsletter to 1,000 contacts over real HTTP, a real worker process and a real SMTP server.

The worker (``terminflow worker``) is killed with SIGKILL in the middle of the send and a new
one started: every ``confirmed_doi`` member receives exactly one email, nobody else any.

Before the kill the SMTP server is stopped for a moment. That keeps the kill out of the
outbox's documented crash window (an email the server accepted whose "sent" the killed worker
had not yet written goes out again with the same Message-ID, see ``mail/sending.py``), which
is not what this test is about: it is about the newsletter job, which at that moment is still
rendering and queueing emails (the 750 emails need more than one outbox window).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from terminflow.contacts.models import Contact, ContactTag, Tag
from terminflow.mail.models import Outbox
from terminflow.newsletters.models import Newsletter, Recipient
from terminflow.workspaces.services import issue_api_token
from tests.fixtures.smtp import SmtpServer
from tests.mail.conftest import make_email
from tests.newsletters.factories import OTHER_STATUSES
from tests.segments.factories import make_segment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTACTS = 1000


def make_many_readers(workspace: Any, count: int) -> set[str]:
    """``count`` tagged contacts in bulk, 3 of 4 confirmed_doi; returns the confirmed addresses."""
    tag = Tag.objects.create(workspace=workspace, name="Newsletter")
    people = Contact.objects.bulk_create(
        Contact(
            workspace=workspace,
            email=f"reader{n:04d}@example.ch",
            first_name=f"Leser {n}",
            email_status=OTHER_STATUSES[(n // 4) % 4] if n % 4 == 3 else "confirmed_doi",
        )
        for n in range(count)
    )
    ContactTag.objects.bulk_create(ContactTag(contact=c, tag=tag) for c in people)
    return {c.email for c in people if c.email_status == "confirmed_doi"}


class WorkerProcess:
    """``terminflow worker`` in its own process group, so SIGKILL takes all of it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "terminflow.cli", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def wait_for(check: Any, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_killed_worker_is_replaced_and_every_member_gets_one_email(
    workspace, terminflow_server_factory, smtp_server: SmtpServer, workers, tmp_path
):
    # given 1,000 contacts in a segment (750 confirmed_doi), a server and a worker
    confirmed = make_many_readers(workspace, CONTACTS)
    segment = make_segment(workspace, {"type": "tags", "match": "any", "tags": ["Newsletter"]})
    email = make_email(workspace, "marketing", name="Frühling")
    token = issue_api_token(workspace).token
    server = terminflow_server_factory(
        embedded_worker=False, env={"TERMINFLOW_SMTP_URL": smtp_server.url}
    )
    env = {
        **server.environment(),
        "TERMINFLOW_SMTP_URL": smtp_server.url,
        # A killed worker's claimed emails are taken over after this.
        "TERMINFLOW_SEND_LEASE_SECONDS": "5",
        "TERMINFLOW_WORKER_LEASE_SECONDS": "5",
    }
    workers.append(WorkerProcess(env, tmp_path / "worker-1.log"))
    api = httpx.Client(
        base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {token}"}, timeout=30
    )

    # when the newsletter is created and sent over HTTP
    created = api.post(
        "/newsletters",
        json={"name": "Frühlingsnews", "email_id": email.pk, "segment_id": segment.pk},
    )
    assert created.status_code == 201, created.text
    newsletter_id = created.json()["id"]
    assert api.post(f"/newsletters/{newsletter_id}/send").json()["state"] == "sending"
    assert api.get(f"/segments/{segment.pk}").json()["count"] == CONTACTS

    # and the worker is killed in the middle of it, and another one started
    wait_for(lambda: len(smtp_server.messages) >= 150)
    smtp_server.stop()
    time.sleep(1)
    workers[0].kill()
    at_kill = len(smtp_server.messages)
    smtp_server.start()
    workers.append(WorkerProcess(env, tmp_path / "worker-2.log"))
    wait_for(lambda: api.get(f"/newsletters/{newsletter_id}").json()["state"] == "sent")
    time.sleep(1)  # anything sent twice would arrive now

    # then the kill landed in the middle
    assert 150 <= at_kill < len(confirmed)
    # and every confirmed member received exactly one email, nobody else any
    received = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    assert set(received) == confirmed
    assert set(received.values()) == {1}
    message_ids = sorted(m.message["Message-ID"] for m in smtp_server.messages)
    assert message_ids == sorted(
        Outbox.objects.filter(recipient__newsletter_id=newsletter_id).values_list(
            "message_id", flat=True
        )
    )
    assert len(set(message_ids)) == len(confirmed)
    # and the list and the statistics say the same
    assert Recipient.objects.filter(newsletter_id=newsletter_id).count() == CONTACTS
    stats = api.get(f"/newsletters/{newsletter_id}/stats").json()
    assert (stats["sent"], stats["delivered"]) == (len(confirmed), len(confirmed))
    assert sum(s["count"] for s in stats["skipped"]) == CONTACTS - len(confirmed)
    assert Newsletter.objects.get(pk=newsletter_id).state == "sent"
