"""Processing benchmark: web pushes per second from the inbox to an enrolled contact.

One command: ``.venv/bin/python bench/process.py [--quick]``. For each configuration (SQLite
and PostgreSQL, each with 1 thousand and with 1 million existing contacts; ``--quick`` uses
100 thousand instead of 1 million) a subprocess:

1. migrates a fresh database (SQLite: a file in a temp folder, WAL, ``synchronous=FULL`` as in
   production; PostgreSQL: a dedicated database on 127.0.0.1 that is dropped afterwards) and
   bulk-inserts the existing contacts (``executemany`` / ``COPY``), then ANALYZE (PostgreSQL);
2. creates a workspace, an eTermin account, a datetime field and an active campaign:
   ``etermin.appointment`` (created, start field mapped, notes saved) → ``contact.tag``;
3. per round, stores ``--pushes`` pending inbox rows with eTermin-like JSON bodies, every one a
   new appointment: half for existing contacts (each a different one), half for new addresses;
4. times one worker: ``process_pending`` in a loop in one process, as the worker's inbox sweep
   calls it, until the inbox is empty; per batch it notes the time and the rows handled;
5. checks the outcome: every row ``processed``, one enrollment per contact, one pending run of
   the tag element per enrollment, one appointment per push.

Each round activates a new campaign (the previous one is paused), so the contacts of earlier
rounds can enter again and every round measures the same work (the workspace grows by the
round's new contacts, 1k → 3k by the third round). Figures per configuration, medians of the
rounds: pushes/s over the round's wall time, per-push cost (median of per-batch cost), the
same in this process's CPU time (steadier on a shared machine; SQLite's work counts, the
PostgreSQL server's does not), queries per push; then the ratio 1M/1k per backend (flatness:
1.0 is flat). ``--profile PATH`` writes a cProfile of each configuration's last round.

The 2 cores are shared with whatever else runs: compare medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import sys
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
    report,
    run_child,
    setup_django,
    table_name,
)

TARGET_PUSHES_PER_SECOND = 1_000


# -- the child: one configuration ---------------------------------------------------------------


def existing_email(i: int) -> str:
    return f"contact{i:07d}@example.com"


def insert_contacts(workspace_id: int, count: int) -> float:
    from django.db import transaction

    from terminflow.contacts.models import Contact
    from terminflow.kit import clock

    started = time.perf_counter()
    now = clock.now()
    columns = [
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
    ]
    statuses = ("confirmed_doi", "confirmed_soi", "unsubscribed", "unknown")
    rows = (
        (
            workspace_id,
            existing_email(i),
            f"Vorname{i}",
            f"Nachname{i}",
            f"+4179{i:07d}",
            statuses[i % len(statuses)],
            f'{{"kundennummer": "K{i}"}}',
            0,
            now,
            now,
        )
        for i in range(count)
    )
    with transaction.atomic():
        bulk_insert(table_name(Contact), columns, rows)
    analyze()
    return time.perf_counter() - started


def make_campaign(workspace: Any, round_no: int) -> Any:
    from tests.etermin.factories import etermin_element, make_campaign, tag_element

    return make_campaign(
        workspace,
        [
            etermin_element(start_field="appointment_start", save_notes=True),
            tag_element("tag", f"booked-{round_no}"),
        ],
        [("booking", "tag")],
        name=f"Booking flow {round_no}",
    )


def store_pushes(account: Any, emails: list[str], round_no: int) -> list[int]:
    import hashlib
    import uuid
    from datetime import UTC, datetime, timedelta

    from terminflow.etermin.models import WebPush
    from terminflow.kit import clock
    from tests.etermin.factories import push_body

    received = clock.now()
    base = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    rows = []
    for n, email in enumerate(emails):
        uid = str(uuid.uuid4())
        start = base + timedelta(minutes=15 * (n % 2000), days=round_no)
        body = push_body(
            "CREATED",
            uid,
            start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end=(start + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            email=email,
            notes="Bitte Parkplatz reservieren.\\nDanke!",
            startDateTime=start.strftime("%Y-%m-%dT%H:%M:%S"),
            bookingDateUTC=received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            salutation="Frau",
            street="Seestrasse 4",
            ZIP="8002",
            town="Zürich",
            birthday="14.02.1988",
            bookingLanguage="DE",
        )
        rows.append(
            WebPush(
                account=account,
                workspace_id=account.workspace_id,
                received_at=received,
                content_type="application/json",
                body=body,
                body_sha256=hashlib.sha256(body).hexdigest(),
                command="CREATED",
                appointment_uid=uid,
            )
        )
    WebPush.objects.bulk_create(rows, batch_size=500)
    assert all(row.pk for row in rows)
    return [row.pk for row in rows]


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def run_round(account: Any, emails: list[str]) -> dict[str, Any]:
    from django.db import connection

    from terminflow.etermin.processing import process_pending

    counter = QueryCounter()
    batches: list[tuple[int, float, float]] = []
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        while True:
            batch_started = time.perf_counter()
            cpu_started = time.process_time()
            handled = process_pending()
            elapsed = time.perf_counter() - batch_started
            cpu = time.process_time() - cpu_started
            if not handled:
                break
            batches.append((handled, elapsed, cpu))
        wall = time.perf_counter() - started
    handled_total = sum(handled for handled, _, _ in batches)
    return {
        "pushes": handled_total,
        "wall_s": wall,
        "pushes_per_s": handled_total / wall,
        "per_push_ms": median([1000 * elapsed / handled for handled, elapsed, _ in batches]),
        # This process's CPU only (SQLite works in it; PostgreSQL's server does not count).
        "cpu_per_push_ms": median([1000 * cpu / handled for handled, _, cpu in batches]),
        "queries_per_push": counter.count / max(1, handled_total),
        "batches": len(batches),
    }


def check_round(campaign: Any, emails: list[str], push_ids: set[int]) -> list[str]:
    """Every row processed, one enrollment per contact, one pending tag run per enrollment."""
    from django.db.models import Count

    from terminflow.campaigns.models import Enrollment, Run, RunStatus
    from terminflow.contacts.models import Contact
    from terminflow.etermin.models import Appointment, WebPush, WebPushStatus

    problems = []
    statuses = dict(
        WebPush.objects.filter(id__in=push_ids).values_list("status").annotate(n=Count("id"))
    )
    if statuses != {WebPushStatus.PROCESSED: len(emails)}:
        reasons = list(
            WebPush.objects.filter(id__in=push_ids)
            .exclude(status=WebPushStatus.PROCESSED)
            .values_list("reason", flat=True)[:3]
        )
        problems.append(f"inbox statuses {statuses}, expected all processed; e.g. {reasons}")
    enrollments = Enrollment.objects.filter(campaign=campaign)
    if enrollments.count() != len(emails):
        problems.append(f"{enrollments.count()} enrollments for {len(emails)} pushes")
    per_contact = enrollments.values("contact_id").annotate(n=Count("id")).filter(n__gt=1)
    if per_contact.exists():
        problems.append("a contact has more than one enrollment")
    enrolled_emails = set(
        Contact.objects.filter(enrollments__campaign=campaign).values_list("email", flat=True)
    )
    if enrolled_emails != set(emails):
        problems.append(f"{len(set(emails) - enrolled_emails)} pushed contacts are not enrolled")
    tag = campaign.elements.get(key="tag")
    pending = Run.objects.filter(element=tag, status=RunStatus.PENDING)
    if pending.count() != len(emails) or pending.values("enrollment_id").distinct().count() != len(
        emails
    ):
        problems.append(f"{pending.count()} pending tag runs for {len(emails)} enrollments")
    if Appointment.objects.filter(last_push_id__in=push_ids).count() != len(push_ids):
        problems.append("not one appointment per push")
    return problems


def child(existing: int, pushes: int, rounds: int, seed: int, profile: str | None) -> None:
    import random

    setup_django()
    from terminflow.campaigns.services import pause_campaign
    from terminflow.contacts.models import Contact
    from terminflow.etermin.services import connect_account
    from terminflow.workspaces.services import get_or_create_workspace
    from tests.etermin.factories import make_field

    workspace = get_or_create_workspace("Bench Praxis")
    load_s = insert_contacts(workspace.id, existing)
    account = connect_account(
        workspace, name="Praxis", public_key="pub-bench", private_key="priv-bench", verify=False
    )
    make_field(workspace, "appointment_start", "datetime")

    rng = random.Random(seed)
    per_existing = min(pushes // 2, existing)
    results = []
    problems: list[str] = []
    campaign = None
    for round_no in range(rounds):
        if campaign is not None:
            pause_campaign(campaign)
        campaign = make_campaign(workspace, round_no)
        emails = [existing_email(i) for i in rng.sample(range(existing), per_existing)]
        emails += [f"neu{round_no}-{n}@example.org" for n in range(pushes - per_existing)]
        rng.shuffle(emails)
        push_ids = set(store_pushes(account, emails, round_no))
        if profile and round_no == rounds - 1:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(run_round, account, emails)
            profiler.dump_stats(profile)
        else:
            result = run_round(account, emails)
        problems += [f"round {round_no}: {p}" for p in check_round(campaign, emails, push_ids)]
        results.append(result)
        print(
            f"round {round_no}: {result['pushes']} pushes in {result['wall_s']:.2f} s = "
            f"{result['pushes_per_s']:.0f}/s, {result['per_push_ms']:.2f} ms/push "
            f"({result['cpu_per_push_ms']:.2f} ms CPU), "
            f"{result['queries_per_push']:.1f} queries/push",
            flush=True,
        )
    report(
        {
            "existing": existing,
            "contacts_after": Contact.objects.filter(workspace=workspace).count(),
            "load_s": load_s,
            "rounds": results,
            "pushes_per_s": median([r["pushes_per_s"] for r in results]),
            "per_push_ms": median([r["per_push_ms"] for r in results]),
            "cpu_per_push_ms": median([r["cpu_per_push_ms"] for r in results]),
            "queries_per_push": median([r["queries_per_push"] for r in results]),
            "problems": problems,
        }
    )


# -- the parent ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M contacts")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="default: both")
    parser.add_argument("--pushes", type=int, default=2000, help="inbox rows per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration")
    parser.add_argument("--large", type=int, help="contacts in the large configuration")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the last round of each configuration"
    )
    parser.add_argument("--child", nargs=1, metavar="EXISTING", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.pushes, args.rounds, args.seed, args.profile)
        return 0

    large = args.large or (100_000 if args.quick else 1_000_000)
    sizes = (1_000, large)
    backends = args.backend or list(BACKENDS)
    figures: dict[tuple[str, int], dict[str, Any]] = {}
    failed = False
    for backend in backends:
        for size in sizes:
            print(f"== {backend}, {fmt_count(size)} existing contacts", flush=True)
            with bench_database(backend, "terminflow_bench_process") as env:
                result = run_child(
                    Path(__file__),
                    [
                        str(size),
                        "--pushes",
                        str(args.pushes),
                        "--rounds",
                        str(args.rounds),
                        "--seed",
                        str(args.seed),
                        *(
                            ["--profile", f"{args.profile}.{backend}.{size}"]
                            if args.profile
                            else []
                        ),
                    ],
                    env,
                )
            figures[(backend, size)] = result
            print(f"   loaded {fmt_count(size)} contacts in {result['load_s']:.1f} s", flush=True)
            for problem in result["problems"]:
                failed = True
                print(f"   WRONG: {problem}", flush=True)

    print()
    print(f"processing: {args.pushes} pushes per round, {args.rounds} rounds, one worker")
    print(
        f"{'backend':<11}{'contacts':>9}{'pushes/s':>10}{'ms/push':>9}{'CPU ms/push':>13}"
        f"{'queries/push':>14}"
    )
    for (backend, size), result in figures.items():
        print(
            f"{backend:<11}{fmt_count(size):>9}{result['pushes_per_s']:>10.0f}"
            f"{result['per_push_ms']:>9.2f}{result['cpu_per_push_ms']:>13.2f}"
            f"{result['queries_per_push']:>14.1f}"
        )
    for backend in backends:
        small, big = figures[(backend, sizes[0])], figures[(backend, sizes[1])]
        slowest = min(small["pushes_per_s"], big["pushes_per_s"])
        print(
            f"{backend}: per-push cost {fmt_count(sizes[1])}/{fmt_count(sizes[0])} = "
            f"{big['per_push_ms'] / small['per_push_ms']:.2f} "
            f"(pushes/s {small['pushes_per_s']:.0f} → {big['pushes_per_s']:.0f}); "
            f"target ≥ {TARGET_PUSHES_PER_SECOND}/s: "
            f"{'met' if slowest >= TARGET_PUSHES_PER_SECOND else 'NOT met'}"
        )
    print("correctness:", "FAILED" if failed else "every check passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
