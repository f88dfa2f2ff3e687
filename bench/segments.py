"""Segment count benchmark: a realistic segment's live count against a plain count of contacts.

One command: ``.venv/bin/python bench/segments.py`` (``--contacts 1000000``,
``--backends sqlite,postgresql``, ``--runs 5``).
Per backend a subprocess:

1. migrates a fresh database, creates a workspace with the fields ``birthday`` (date) and
   ``termin`` (date, the next appointment), the tags ``Newsletter`` (40 % of contacts),
   ``Yoga`` (10 %) and ``VIP`` (2 %), and fills in ``--contacts`` contacts with one
   ``INSERT … SELECT`` each for contacts and tag links (a recursive CTE on SQLite,
   ``generate_series`` on PostgreSQL): statuses 55 % confirmed_doi, 20 % confirmed_soi,
   10 % unknown, 10 % unsubscribed, 5 % blocked; birthdays spread over every day of 50 years;
   the next appointment within a year before or after today. The typed copy of the field
   values (``contacts.FieldValue``, which the services keep as they write) is computed from
   the JSON in bulk SQL too (``contacts.field_values.rebuild``). Then ``VACUUM ANALYZE`` on
   PostgreSQL: what autovacuum does after a bulk load, done before the timing rather than at
   some minute during it (its VACUUM sets the visibility map, which lets index-only scans
   skip the table: the baseline's plan changes with it); SQLite gets none, as production never
   runs ``ANALYZE`` there.
2. times, turn by turn, ``--runs`` times each (after one warm-up each):
   - the baseline, ``SELECT count(*) FROM contacts_contact`` (every contact);
   - for reference, not the target, the count of the workspace's contacts as the contact
     list would ask it (``WHERE workspace_id = ?``: the same number here);
   - the segment's count as the API computes it (``segments.services.count``: the definition
     compiled and counted in one query; on SQLite after the capped counts that choose the
     driving condition), for the realistic segment "confirmed_doi, tag Newsletter, birthday
     this month", and two more for comparison: "confirmed_doi, tag Newsletter, appointment in
     the next 7 days" and "tag VIP".

Printed: the median of each, and each one's median / baseline median (target ≤ 3 for the
segments).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BACKENDS, bench_database, fmt_count, median, report, run_child, setup_django

SEGMENTS: dict[str, list[dict[str, Any]]] = {
    "doi + Newsletter + birthday this month": [
        {"type": "email_status", "statuses": ["confirmed_doi"]},
        {"type": "tags", "match": "any", "tags": ["Newsletter"]},
        {"type": "field", "field": "birthday", "op": "this_month"},
    ],
    "doi + Newsletter + termin in next 7 days": [
        {"type": "email_status", "statuses": ["confirmed_doi"]},
        {"type": "tags", "match": "any", "tags": ["Newsletter"]},
        {"type": "field", "field": "termin", "op": "next_days", "days": 7},
    ],
    "tag VIP": [{"type": "tags", "match": "any", "tags": ["VIP"]}],
}
BASELINE = "count(*) of all contacts"
WORKSPACE = "the workspace's contacts (for reference)"


# -- the child ---------------------------------------------------------------------------------


def _fill(contacts: int) -> float:
    """Contacts and tag links in bulk SQL; returns the seconds it took."""
    from django.db import connection, transaction

    from terminflow.contacts import field_values
    from terminflow.contacts import fields as contact_fields
    from terminflow.contacts.models import Contact, ContactTag, Tag
    from terminflow.workspaces.services import get_or_create_workspace

    started = time.perf_counter()
    workspace = get_or_create_workspace("Bench Praxis")
    contact_fields.create_field(workspace, key="birthday", type="date", label="Geburtstag")
    contact_fields.create_field(workspace, key="termin", type="date", label="Termin")
    tags = {
        name: Tag.objects.create(workspace=workspace, name=name).pk
        for name in ("Newsletter", "Yoga", "VIP")
    }
    contact_table, link_table = Contact._meta.db_table, ContactTag._meta.db_table
    status = (
        "CASE WHEN i %% 20 < 11 THEN 'confirmed_doi' WHEN i %% 20 < 15 THEN 'confirmed_soi' "
        "WHEN i %% 20 < 17 THEN 'unknown' WHEN i %% 20 < 19 THEN 'unsubscribed' ELSE 'blocked' END"
    )
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
        source = "n"
        fields = (
            "json_object('birthday', date('1950-01-01', '+' || (i * 7919 %% 18262) || ' days'), "
            "'termin', date('now', printf('%%+d days', i * 104729 %% 731 - 365)))"
        )
        now = "datetime('now')"
    else:
        numbers = ""
        source = "generate_series(1, %s::bigint) AS n(i)"
        fields = (
            "jsonb_build_object('birthday', to_char(DATE '1950-01-01' + (i * 7919 %% 18262)::int, "
            "'YYYY-MM-DD'), 'termin', to_char(CURRENT_DATE + (i * 104729 %% 731 - 365)::int, "
            "'YYYY-MM-DD'))"
        )
        now = "now()"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"{numbers}INSERT INTO {contact_table} (workspace_id, email, first_name, last_name, "
            f"phone, email_status, fields, block_count, created_at, updated_at) "
            f"SELECT %s, 'person' || i || '@example.com', 'Anna', 'Muster', '', {status}, "
            f"{fields}, 0, {now}, {now} FROM {source}",
            [contacts, workspace.pk] if sqlite else [workspace.pk, contacts],
        )
        cursor.execute(f"SELECT min(id) FROM {contact_table}")
        first = cursor.fetchone()[0] - 1
        # Which contacts carry which tag: 40 %, 10 %% and 2 %, spread over all contacts.
        for name, keep in (
            ("Newsletter", "i %% 5 < 2"),
            ("Yoga", "i %% 10 = 3"),
            ("VIP", "i %% 50 = 7"),
        ):
            cursor.execute(
                f"{numbers}INSERT INTO {link_table} (contact_id, tag_id, created_at) "
                f"SELECT i + %s, %s, {now} FROM {source} WHERE {keep}",
                [contacts, first, tags[name]] if sqlite else [first, tags[name], contacts],
            )
        field_values.rebuild(workspace.pk)
    if not sqlite:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def _time(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def child(contacts: int, runs: int) -> None:
    setup_django()
    from django.db import connection

    from terminflow.contacts.models import Contact
    from terminflow.segments import services
    from terminflow.workspaces.models import Workspace

    fill_seconds = _fill(contacts)
    workspace = Workspace.objects.get(name="Bench Praxis")
    segments = {
        label: services.create_segment(workspace, name=label, definition={"conditions": rules})
        for label, rules in SEGMENTS.items()
    }

    def baseline() -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {Contact._meta.db_table}")
            return int(cursor.fetchone()[0])

    calls: dict[str, Any] = {
        BASELINE: baseline,
        WORKSPACE: lambda: Contact.objects.filter(workspace=workspace).count(),
    }
    for label, segment in segments.items():
        calls[label] = lambda segment=segment: services.count(segment)
    times: dict[str, list[float]] = {label: [] for label in calls}
    counts: dict[str, int] = {}
    for call in calls.values():
        _time(call)  # warm-up: caches, plans
    for _ in range(runs):
        for label, call in calls.items():
            seconds, counts[label] = _time(call)
            times[label].append(seconds)
    report(
        {
            "fill_seconds": fill_seconds,
            "medians": {label: median(values) for label, values in times.items()},
            "counts": counts,
        }
    )


# -- the parent --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        child(int(rest[0]), int(rest[1]))
        return
    for backend in args.backends.split(","):
        name = f"bench_segments_{backend}"
        with bench_database(backend, name) as env:
            print(f"{backend}, {fmt_count(args.contacts)} contacts:", flush=True)
            result = run_child(Path(__file__), [str(args.contacts), str(args.runs)], env)
        base = result["medians"][BASELINE]
        print(f"  filled in {result['fill_seconds']:.1f} s")
        print(f"  {BASELINE:<44} {base * 1000:8.1f} ms  ({result['counts'][BASELINE]:,} rows)")
        for label in (WORKSPACE, *SEGMENTS):
            seconds = result["medians"][label]
            what = "rows" if label == WORKSPACE else "members"
            print(
                f"  {label:<44} {seconds * 1000:8.1f} ms  ({result['counts'][label]:,} {what})"
                f"  {seconds / base:5.1f} × baseline"
            )


if __name__ == "__main__":
    main()
