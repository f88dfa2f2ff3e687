"""Scaled out on PostgreSQL, faults during a burst lose and duplicate nothing.

Two web processes and two workers on a PostgreSQL cluster of the test's own (so it can be
restarted), a campaign that tags, waits and emails. During a burst of pushes: ``kill -9`` one
worker, then one web process, then PostgreSQL goes down hard and comes back. Afterwards every
push answered 200 is in the inbox once, processed once, emailed exactly once (counted at the
SMTP sink and by Message-ID), and no run or email is left claimed.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection

from bench import cluster

pytestmark = pytest.mark.slow

AFTER_RESTART = 100
KILL_WORKER_AT, KILL_WEB_AT, RESTART_DB_AT = 100, 200, 300


@pytest.fixture
def pg_cluster() -> Iterator[cluster.PgCluster]:
    if connection.vendor != "postgresql":
        pytest.skip("the fault test scales out on PostgreSQL; SQLite is one process")
    if cluster.postgres_bin() is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) are needed: apt install postgresql"
        )
    pg = cluster.PgCluster(Path(tempfile.mkdtemp(prefix="tf-faults-pg-")))
    pg.init().start()
    try:
        yield pg
    finally:
        pg.destroy()


class Load:
    """Threads posting distinct pushes round-robin to the web processes; keeps the 200s."""

    def __init__(self, urls: list[str], threads: int = 4) -> None:
        self.urls = urls
        self.answered: set[str] = set()
        self.refused = 0
        self._numbers = itertools.count()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._post, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def _post(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                n = next(self._numbers)
                uid = f"fault-{n}"
                try:
                    response = client.post(self.urls[n % 2], content=cluster.push_body(uid))
                except httpx.HTTPError:
                    ok = False
                else:
                    ok = response.status_code == 200
                with self._lock:
                    if ok:
                        self.answered.add(uid)
                    else:
                        self.refused += 1
                # Paced a little, so the faults land in the middle of the burst.
                time.sleep(0.005)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while len(self.answered) < count and time.monotonic() < deadline:
            time.sleep(0.01)


def test_kill_a_worker_a_web_process_and_restart_postgresql_during_a_burst(
    pg_cluster: cluster.PgCluster, tmp_path: Path
) -> None:
    # given two web processes and two workers on the cluster, an SMTP sink and the campaign
    database = pg_cluster.create_database("terminflow")
    sink = cluster.SmtpSink()
    env = cluster.environment(
        tmp_path,
        database,
        sink.url,
        # Short leases, so the killed worker's claims lapse within the test.
        TERMINFLOW_WORKER_LEASE_SECONDS="3",
        TERMINFLOW_SEND_LEASE_SECONDS="10",
    )
    cluster.terminflow(env, "migrate")
    processes: list[cluster.Process] = []
    try:
        web_a, url_a = cluster.web(env, tmp_path, "web-a")
        web_b, url_b = cluster.web(env, tmp_path, "web-b")
        processes += [web_a, web_b]
        push_url = cluster.prepare(env, url_a)
        path = push_url[push_url.index("/hooks/") :]
        workers = [cluster.worker(env, tmp_path, f"worker-{n}") for n in (1, 2)]
        processes += workers

        # when a burst arrives and the faults happen in the middle of it
        with Load([url_a + path, url_b + path]) as load:
            load.wait_for(KILL_WORKER_AT)
            workers[0].kill()
            load.wait_for(KILL_WEB_AT)
            web_a.kill()
            load.wait_for(RESTART_DB_AT)
            pg_cluster.stop("immediate")
            down = httpx.get(url_b + "/readyz", timeout=10)
            pg_cluster.start()
            # and the burst goes on after PostgreSQL is back
            load.wait_for(len(load.answered) + AFTER_RESTART)
        answered = set(load.answered)

        # then, once the surviving worker is done
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = cluster.state(database)
            settled = counts["inbox_pending"] == 0 and counts["runs_pending"] == 0
            # Sent means marked sent: an email at the sink may still be being marked (a loaded
            # machine took over a second for that), and "not queued" includes "sending".
            sent = counts["outbox_sent"] == counts["outbox"] and sink.received >= counts["outbox"]
            if settled and sent:
                break
            time.sleep(0.2)
        time.sleep(1)  # anything sent twice would arrive now
        counts = cluster.state(database)
        stored = cluster.inbox_uids(database)
        message_ids = sorted(m.strip("<>") for m in cluster.outbox_message_ids(database))
        at_sink = sorted(m.strip("<>") for m in sink.message_ids.elements())
        print(
            f"\nfault test: answered {len(answered)}, refused {load.refused}, "
            f"stored {counts['inbox']}, processed {counts['inbox_processed']}, "
            f"enrollments {counts['enrollments']}, emails sent {counts['outbox_sent']}, "
            f"at the sink {len(at_sink)} ({len(set(at_sink))} distinct Message-IDs)"
        )
    finally:
        for process in processes:
            process.stop()
        sink.close()

    # while PostgreSQL was down, the surviving web process said it was not ready
    assert down.status_code == 503
    assert down.json()["reasons"][0].startswith("database: ")
    # every push answered 200 is stored, once
    assert len(answered) >= RESTART_DB_AT + AFTER_RESTART
    assert answered <= stored
    assert counts["inbox"] == counts["inbox_uids"] == len(stored)
    # each stored push was processed once: one enrollment, one email, sent
    assert counts["inbox_processed"] == counts["inbox"]
    assert counts["enrollments"] == counts["inbox"]
    assert counts["outbox"] == counts["outbox_sent"] == counts["inbox"]
    # each email reached the sink exactly once
    assert at_sink == message_ids
    # nothing is left claimed or pending
    assert (counts["runs_pending"], counts["runs_claimed"], counts["outbox_queued"]) == (0, 0, 0)
    # and the killed processes are really gone
    assert not workers[0].running and not web_a.running
