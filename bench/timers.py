"""Timer benchmark: waits that come due among a million waiting ones.

One command: ``.venv/bin/python bench/timers.py [--quick] [--backend sqlite|postgresql]``
(default: both backends; ``--quick`` uses 100 thousand waiting runs instead of 1 million).
For each backend a subprocess:

1. migrates a fresh database (SQLite file with WAL and ``synchronous=FULL`` as in production, or
   a dedicated PostgreSQL database dropped afterwards) and activates a campaign
   ``contact.tag_added`` → ``wait.duration`` (60 min) → ``contact.tag`` (a reminder flow);
2. baseline: bulk-inserts 1 thousand waiting runs (pending ``wait.duration`` runs due in 1 to
   30 days, each with its enrollment: 1,000 contacts, rotation 0), ANALYZE (PostgreSQL only);
   then inserts ``--due`` waits of other contacts that come due spread over ``--spread``
   seconds, starting 2 s later, and runs a real worker (``terminflow.worker.Worker`` with the
   campaigns sweep) until every one has fired and its tag action has run; then the same number
   again, all due at once, for the throughput of one worker (fires per second);
3. large: bulk-inserts waiting runs up to 1 million (the same 1,000 contacts in rotations
   1..999), ANALYZE (PostgreSQL), and repeats step 2 with new contacts.

Figures per phase: lateness of each fired wait, p50 / p99 / max, both ``finished_at - due_at``
(the run's record; ``finished_at`` is the sweep's "now") and done - due_at, where done is the
end of the sweep call that fired it (its batches have committed by then: an upper bound of when
the fire became visible); the sweep's cost per fired wait (its busy time / waits fired; each
fire also runs the tag action behind it) and the median cost of an idle sweep (one that found
nothing due: the pure cost of looking). Then the large/baseline ratios (1.0 = flat).

Target: every wait fires within 1 s of its due time; the per-fire cost does not grow with the
number waiting. The 2 cores are shared: compare ratios and medians, not single figures.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BACKENDS,
    analyze,
    bench_database,
    bulk_insert,
    fmt_count,
    median,
    percentile,
    report,
    run_child,
    setup_django,
    table_name,
)

CONTACTS_WAITING = 1_000
LATENESS_TARGET_S = 1.0


# -- the child ----------------------------------------------------------------------------------


class Ids:
    """Explicit primary keys for raw inserts, past any row there (sequences follow after)."""

    def take(self, table: str, count: int) -> range:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f'SELECT max(id) FROM "{table}"')
            start = (cursor.fetchone()[0] or 0) + 1
        return range(start, start + count)


def insert_contacts(workspace_id: int, ids: Ids, count: int, prefix: str) -> range:
    from terminflow.contacts.models import Contact
    from terminflow.kit import clock

    now = clock.now()
    table = table_name(Contact)
    pks = ids.take(table, count)
    bulk_insert(
        table,
        [
            "id",
            "workspace_id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "email_status",
            "fields",
            "block_count",
            "created_at",
            "updated_at",
        ],
        (
            (
                *(pk, workspace_id, f"{prefix}{pk}@example.com", "Lea", "Brunner", ""),
                *("confirmed_doi", "{}", 0, now, now),
            )
            for pk in pks
        ),
    )
    return pks


def insert_waits(
    campaign: Any, wait: Any, ids: Ids, contacts: range, rotations: range, due: list[Any]
) -> int:
    """One active enrollment and one pending ``wait.duration`` run per (contact, rotation)."""
    from terminflow.campaigns.models import Enrollment, Run
    from terminflow.kit import clock

    now = clock.now()
    count = len(contacts) * len(rotations)
    assert len(due) == count
    enrollment_ids = ids.take(table_name(Enrollment), count)
    run_ids = ids.take(table_name(Run), count)
    pairs = [(contact, rotation) for rotation in rotations for contact in contacts]
    bulk_insert(
        table_name(Enrollment),
        [
            *("id", "workspace_id", "campaign_id", "contact_id", "rotation", "status"),
            *("context", "created_at"),
        ],
        (
            (pk, campaign.workspace_id, campaign.id, contact, rotation, "active", "{}", now)
            for pk, (contact, rotation) in zip(enrollment_ids, pairs, strict=True)
        ),
    )
    bulk_insert(
        table_name(Run),
        [
            *("id", "workspace_id", "campaign_id", "enrollment_id", "element_id", "contact_id"),
            *("rotation", "status", "due_at", "wait_until", "branch", "reason", "attempts"),
            "created_at",
        ],
        (
            (
                *(run_id, campaign.workspace_id, campaign.id, enrollment_id, wait.id, contact),
                *(rotation, "pending", due_at, due_at, "", "", 0, now),
            )
            for run_id, enrollment_id, (contact, rotation), due_at in zip(
                run_ids, enrollment_ids, pairs, due, strict=True
            )
        ),
    )
    return count


def fix_sequences() -> None:
    """Move PostgreSQL's id sequences past the explicit ids (SQLite does it by itself)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in ("contacts_contact", "campaigns_enrollment", "campaigns_run"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )


def far_future(rng: random.Random, count: int) -> list[Any]:
    from datetime import timedelta

    from terminflow.kit import clock

    now = clock.now()
    return [now + timedelta(seconds=rng.uniform(86_400, 30 * 86_400)) for _ in range(count)]


class TimedSweep:
    """The campaigns sweep as the worker calls it, timed call by call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, int, float, Any]] = []  # (now, moved, seconds, done)
        self.lock = threading.Lock()

    def __call__(self) -> int:
        from terminflow.campaigns import engine
        from terminflow.kit import clock

        now = clock.now()
        started = time.perf_counter()
        moved = engine.advance_due(now=now)
        elapsed = time.perf_counter() - started
        with self.lock:
            self.calls.append((now, moved, elapsed, clock.now()))
        return moved


def fire_phase(
    campaign: Any, wait: Any, tag: Any, ids: Ids, due_count: int, spread: float, seed: int
) -> dict[str, Any]:
    from datetime import timedelta

    from django.db import transaction

    from terminflow.campaigns import tasks
    from terminflow.campaigns.models import Run, RunStatus
    from terminflow.kit import clock
    from terminflow.kit.sweep import Sweep
    from terminflow.worker import Worker

    rng = random.Random(seed)
    with transaction.atomic():
        contacts = insert_contacts(campaign.workspace_id, ids, due_count, "due")
        start = clock.now() + timedelta(seconds=2)
        due = sorted(start + timedelta(seconds=rng.uniform(0, spread)) for _ in contacts)
        insert_waits(campaign, wait, ids, contacts, range(1), due)
    fix_sequences()

    sweep = TimedSweep()
    idle_seconds = next(s.idle_seconds for s in tasks.SWEEPS if s.name == "runs")
    worker = Worker([Sweep("runs", sweep, idle_seconds=idle_seconds)])
    worker.start()
    fired = Run.objects.filter(element=wait, contact_id__in=contacts, status=RunStatus.COMPLETED)
    deadline = time.monotonic() + spread + 120
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            pending_tags = Run.objects.filter(
                element=tag, contact_id__in=contacts, status=RunStatus.PENDING
            ).exists()
            if clock.now() > due[-1] and fired.count() == due_count and not pending_tags:
                break
        # A few idle sweeps after the last fire: the pure cost of looking among those waiting.
        time.sleep(5 * idle_seconds + 0.5)
    finally:
        worker.stop()

    done_at = {now: done for now, moved, _, done in sweep.calls if moved}
    rows = list(fired.values_list("due_at", "finished_at"))
    lateness = [(finished - due_at).total_seconds() for due_at, finished in rows]
    done = [(done_at.get(finished, finished) - due_at).total_seconds() for due_at, finished in rows]
    busy = [(moved, seconds) for _, moved, seconds, _ in sweep.calls if moved]
    idle = [seconds for _, moved, seconds, _ in sweep.calls if not moved]
    tags_done = Run.objects.filter(
        element=tag, contact_id__in=contacts, status=RunStatus.COMPLETED
    ).count()
    problems = []
    if len(rows) != due_count:
        problems.append(f"{len(rows)} of {due_count} waits fired")
    if tags_done != due_count:
        problems.append(f"{tags_done} of {due_count} tag actions ran after the waits")
    early = [x for x in lateness if x < 0]
    if early:
        problems.append(f"{len(early)} waits fired before their due time")
    busy_seconds = sum(seconds for _, seconds in busy)
    return {
        "fired": len(rows),
        "late_p50": percentile(lateness, 50),
        "late_p99": percentile(lateness, 99),
        "late_max": max(lateness, default=float("nan")),
        "done_p50": percentile(done, 50),
        "done_p99": percentile(done, 99),
        "done_max": max(done, default=float("nan")),
        "ms_per_fire": 1000 * busy_seconds / max(1, len(rows)),
        # Waits fired per second from the first due time to the end of the last fire.
        "fires_per_s": len(rows)
        / max(1e-9, (max(done_at.values()) - min(due)).total_seconds() if done_at else 0),
        "ms_per_run": 1000 * busy_seconds / max(1, sum(moved for moved, _ in busy)),
        "idle_sweep_ms": 1000 * median(idle),
        "idle_sweeps": len(idle),
        "problems": problems,
    }


def child(large: int, due_count: int, spread: float, seed: int) -> None:
    setup_django()
    from django.db import transaction

    from terminflow.campaigns.models import Run, RunStatus
    from terminflow.workspaces.services import get_or_create_workspace
    from tests.etermin.factories import make_campaign

    workspace = get_or_create_workspace("Bench Praxis")
    campaign = make_campaign(
        workspace,
        [
            {"id": "start", "type": "contact.tag_added", "config": {"tag": "start"}},
            {"id": "wait", "type": "wait.duration", "config": {"minutes": 60}},
            {"id": "remind", "type": "contact.tag", "config": {"add": ["reminded"]}},
        ],
        [("start", "wait"), ("wait", "remind")],
        name="Reminder",
    )
    wait = campaign.elements.get(key="wait")
    tag = campaign.elements.get(key="remind")
    ids = Ids()
    rng = random.Random(seed)
    waiting_contacts = range(0)
    phases = {}
    for name, total in (("baseline", CONTACTS_WAITING), ("large", large)):
        started = time.perf_counter()
        with transaction.atomic():
            if not waiting_contacts:
                waiting_contacts = insert_contacts(workspace.id, ids, CONTACTS_WAITING, "waiting")
                rotations = range(0, 1)
            else:
                rotations = range(1, total // CONTACTS_WAITING)
            count = len(waiting_contacts) * len(rotations)
            insert_waits(campaign, wait, ids, waiting_contacts, rotations, far_future(rng, count))
        fix_sequences()
        analyze()
        waiting = Run.objects.filter(element=wait, status=RunStatus.PENDING).count()
        load_s = time.perf_counter() - started
        print(f"{name}: {waiting} waiting runs (loaded in {load_s:.1f} s)", flush=True)
        result = fire_phase(campaign, wait, tag, ids, due_count, spread, seed + len(phases))
        result["waiting"] = waiting
        result["load_s"] = load_s
        # The same number due all at once: how many fires a second one worker manages.
        burst = fire_phase(campaign, wait, tag, ids, due_count, 0.0, seed + len(phases))
        result["burst_fires_per_s"] = burst["fires_per_s"]
        result["problems"] += [f"burst: {p}" for p in burst["problems"]]
        phases[name] = result
        print(
            f"{name}: {result['fired']} fired; late p50 {result['late_p50']:.3f} s, "
            f"p99 {result['late_p99']:.3f} s, max {result['late_max']:.3f} s; "
            f"{result['ms_per_fire']:.2f} ms/fire, idle sweep {result['idle_sweep_ms']:.2f} ms; "
            f"all due at once: {result['burst_fires_per_s']:.0f} fires/s",
            flush=True,
        )
    report(phases)


# -- the parent ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M waiting")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="default: both")
    parser.add_argument("--waiting", type=int, help="waiting runs in the large phase")
    parser.add_argument("--due", type=int, default=2000, help="waits coming due per phase")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds they come due over")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--child", nargs=1, metavar="WAITING", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.due, args.spread, args.seed)
        return 0

    large = args.waiting or (100_000 if args.quick else 1_000_000)
    backends = args.backend or list(BACKENDS)
    figures = {}
    failed = False
    for backend in backends:
        print(f"== {backend}", flush=True)
        with bench_database(backend, "terminflow_bench_timers") as env:
            figures[backend] = run_child(
                Path(__file__),
                [
                    str(large),
                    "--due",
                    str(args.due),
                    "--spread",
                    str(args.spread),
                    "--seed",
                    str(args.seed),
                ],
                env,
            )
        for phase in figures[backend].values():
            for problem in phase["problems"]:
                failed = True
                print(f"   WRONG: {problem}", flush=True)

    print()
    print(f"timers: {args.due} waits coming due over {args.spread:g} s per phase, one worker")
    print(
        f"{'backend':<11}{'waiting':>9}{'late p50':>10}{'p99':>8}{'max':>8}"
        f"{'done p99':>10}{'max':>8}{'ms/fire':>9}{'idle sweep ms':>15}{'burst fires/s':>15}"
    )
    for backend, phases in figures.items():
        for phase in phases.values():
            print(
                f"{backend:<11}{fmt_count(phase['waiting']):>9}{phase['late_p50']:>10.3f}"
                f"{phase['late_p99']:>8.3f}{phase['late_max']:>8.3f}"
                f"{phase['done_p99']:>10.3f}{phase['done_max']:>8.3f}"
                f"{phase['ms_per_fire']:>9.2f}{phase['idle_sweep_ms']:>15.2f}"
                f"{phase['burst_fires_per_s']:>15.0f}"
            )
    for backend, phases in figures.items():
        base, big = phases["baseline"], phases["large"]
        on_time = max(base["late_max"], big["late_max"]) <= LATENESS_TARGET_S
        print(
            f"{backend}: cost per fire {fmt_count(big['waiting'])}/{fmt_count(base['waiting'])} = "
            f"{big['ms_per_fire'] / base['ms_per_fire']:.2f}, idle sweep "
            f"{big['idle_sweep_ms'] / base['idle_sweep_ms']:.2f}; every wait within "
            f"{LATENESS_TARGET_S:g} s: {'yes' if on_time else 'NO'}"
        )
    print("correctness:", "FAILED" if failed else "every check passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
