"""Email results benchmark: how long an email's stats and the overview's figures take.

One command: ``.venv/bin/python bench/stats.py [--count 50000] [--repeat 7] [--backend sqlite]``.

A subprocess migrates a fresh database (SQLite, or a dedicated PostgreSQL database), then
writes one workspace with ``--count`` contacts, each sent one marketing email of one template
in the last 30 days (three consent events each, as a double opt-in leaves them); 30 % opened
it, 10 % clicked, 5 % only by a mail scanner, 1 % bounced, 0.5 % unsubscribed through it. A
second template's emails (the same number) sit in the same tables. It then times, alternating,
``--repeat`` times:

- **baseline**: the cheapest read of the same rows, ``COUNT(DISTINCT contact)`` over the
  template's sent emails;
- **email stats**: ``mail.stats.email_stats`` (the six figures in one query);
- **overview**: ``web.overview.figures`` (30 days of bookings and emails, the DOI rate);

and prints the medians and their ratios to the baseline, after checking the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import analyze, bench_database, report, run_child, setup_django


def write_data(count: int) -> tuple[Any, list[Any], Any]:
    """The workspace, its two templates and "now", with the data the docstring describes."""
    from datetime import timedelta

    from django.db import transaction

    from terminflow.contacts.models import ConsentEvent, Contact
    from terminflow.kit import clock
    from terminflow.mail.models import BounceMessage, EmailTemplate, Engagement, Outbox
    from terminflow.workspaces.services import get_or_create_workspace

    now = clock.now()
    workspace = get_or_create_workspace("Bench")
    templates = [
        EmailTemplate.objects.create(
            workspace=workspace, name=f"News {n}", subject="Hallo", body_html="<p>Hallo</p>"
        )
        for n in range(2)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    workspace=workspace, email=f"p{i:07d}@example.com", email_status="confirmed_doi"
                )
                for i in range(count)
            ],
            batch_size=5000,
        )
        events = []
        for c in contacts:
            for kind in ("soi", "doi_requested", "doi_confirmed"):
                events.append(
                    ConsentEvent(
                        workspace=workspace, contact=c, kind=kind, occurred_at=now, details={}
                    )
                )
        ConsentEvent.objects.bulk_create(events, batch_size=5000)
        rows = []
        for template in templates:
            for i, c in enumerate(contacts):
                at = now - timedelta(minutes=(i * 37) % (29 * 24 * 60))
                rows.append(
                    Outbox(
                        workspace=workspace,
                        contact=c,
                        template=template,
                        message_id=f"<{uuid.uuid4()}@bench>",
                        kind="marketing",
                        to_email=c.email,
                        from_email="praxis@example.com",
                        status="sent",
                        created_at=at,
                        sent_at=at,
                    )
                )
        rows = Outbox.objects.bulk_create(rows, batch_size=5000)
        engagements, bounces, unsubscribes = [], [], []
        for i, row in enumerate(rows):

            def add(row: Any, kind: str, human: bool) -> None:
                engagements.append(
                    Engagement(
                        workspace=workspace,
                        outbox=row,
                        template_id=row.template_id,
                        contact_id=row.contact_id,
                        kind=kind,
                        first_at=row.sent_at if human else None,
                        last_at=row.sent_at,
                        count=1 if human else 0,
                        bot_count=0 if human else 1,
                    )
                )

            if i % 10 < 3:
                add(row, "open", True)
            if i % 10 == 0:
                add(row, "click", True)
            if i % 20 == 5:
                add(row, "click", False)
            if i % 100 == 7:
                bounces.append(
                    BounceMessage(
                        workspace=workspace,
                        outbox=row,
                        sha256=f"{i:064d}",
                        received_at=now,
                        kind="hard",
                        status="applied",
                    )
                )
            if i % 200 == 9:
                unsubscribes.append(
                    ConsentEvent(
                        workspace=workspace,
                        contact_id=row.contact_id,
                        kind="unsubscribed",
                        occurred_at=now,
                        details={"channel": "link", "message_id": row.message_id},
                    )
                )
        Engagement.objects.bulk_create(engagements, batch_size=5000)
        BounceMessage.objects.bulk_create(bounces, batch_size=5000)
        ConsentEvent.objects.bulk_create(unsubscribes, batch_size=5000)
    analyze()
    print(f"data written in {time.perf_counter() - started:.1f} s", flush=True)
    return workspace, templates, now


def child(count: int, repeat: int, explain: bool) -> None:
    setup_django()
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from terminflow.mail import stats
    from terminflow.mail.models import Outbox
    from terminflow.web import overview

    workspace, templates, now = write_data(count)
    template = templates[0]
    if explain:
        for name, fn in (
            ("email stats", lambda: stats.email_stats(template)),
            ("overview", lambda: overview.figures(workspace, now)),
        ):
            with CaptureQueriesContext(connection) as queries:
                fn()
            for query in queries.captured_queries:
                with connection.cursor() as cursor:
                    prefix = (
                        "EXPLAIN QUERY PLAN "
                        if connection.vendor == "sqlite"
                        else "EXPLAIN ANALYZE "
                    )
                    cursor.execute(prefix + query["sql"])
                    plan = cursor.fetchall()
                print(f"-- {name} ({float(query['time']) * 1000:.0f} ms): {query['sql'][:300]}")
                for line in plan:
                    print("   ", line[-1])

    def baseline() -> Any:
        return Outbox.objects.filter(template=template, status="sent").aggregate(
            n=Count("contact_id", distinct=True)
        )["n"]

    def email_stats() -> Any:
        return stats.email_stats(template)

    def figures() -> Any:
        return overview.figures(workspace, now)

    found = email_stats()
    expected = {
        "sent": count,
        "bounced": len(range(7, count, 100)),
        "opened": len([i for i in range(count) if i % 10 < 3]),
        "clicked": len(range(0, count, 10)),
        "unsubscribed": len(range(9, count, 200)),
    }
    assert all(found[k] == v for k, v in expected.items()), (found, expected)
    assert sum(figures()["emails"]["sent"]) == 2 * count
    times: dict[str, list[float]] = {"baseline": [], "email stats": [], "overview": []}
    for _ in range(repeat):
        for name, fn in (
            ("baseline", baseline),
            ("email stats", email_stats),
            ("overview", figures),
        ):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    report({name: values for name, values in times.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--explain", action="store_true", help="print the queries' plans")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.count, args.repeat, args.explain)
        return
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        print(f"{backend}: {args.count} contacts, 2 x {args.count} sent emails", flush=True)
        with bench_database(backend, "terminflow_bench_stats") as env:
            result = run_child(
                Path(__file__),
                ["--count", str(args.count), "--repeat", str(args.repeat)]
                + (["--explain"] if args.explain else []),
                env,
            )
        base = statistics.median(result["baseline"])
        for name, values in result.items():
            mid = statistics.median(values)
            print(
                f"  {name:12s} median {mid * 1000:8.1f} ms  max {max(values) * 1000:8.1f} ms"
                f"  ratio to baseline {mid / base:5.1f}"
            )


if __name__ == "__main__":
    main()
