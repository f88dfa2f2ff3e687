"""Contact import benchmark: how long a large CSV import holds SQLite's write lock per step.

One command: ``.venv/bin/python bench/contact_import.py [--rows 20000]``. A subprocess:

1. migrates a fresh SQLite database (WAL, ``synchronous=FULL`` as in production), creates a
   workspace, and uploads a generated CSV of ``--rows`` contacts (email, names, phone, tags;
   with ``--fields`` also a birthday and a town, two contact fields of the workspace) through
   ``contact_import.start_import``, then maps its columns (``configure``);
2. imports it as the progress page does, one ``import_chunk`` call per request, until done;
3. meanwhile a probe thread, as the web push writer would, takes the write lock (``BEGIN
   IMMEDIATE`` on its own connection, asked every 0.5 ms as ``terminflow.kit.sqlite`` does)
   every 2 ms and notes how long it waited for it.

Printed: the upload's time, the steps' wall time (median, p99, max), the probe's waits
(median, p99, max: what a web push waited at worst), rows per second over the whole import.
Run it with ``PYTHONPATH=<other tree>/src`` to measure another version of the code.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_database, median, percentile, report, run_child, setup_django


def sample_csv(rows: int, *, fields: bool = False) -> bytes:
    lines = ["E-Mail;Vorname;Nachname;Telefon;Tags" + (";Geburtstag;Ort" if fields else "")]
    for i in range(rows):
        line = f"person{i:06d}@example.com;Anna;Muster {i};+41 44 000 {i % 100:02d} 00;neu"
        if fields:
            line += f";{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d};Zürich {i % 7}"
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


class Probe(threading.Thread):
    """Takes the write lock every 2 ms on its own connection; notes each wait."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        # As terminflow's SQLite backend waits for the lock (kit/sqlite): ask every 0.5 ms.
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                while True:
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        break
                    except sqlite3.OperationalError:
                        time.sleep(0.0005)
                self.waits.append(time.perf_counter() - started)
                conn.execute("ROLLBACK")
                self.stop.wait(0.002)
        finally:
            conn.close()


def child(rows: int, fields: bool) -> None:
    setup_django()
    from django.db import connection

    from terminflow.contacts import fields as contact_fields
    from terminflow.web import contact_import
    from terminflow.web.models import ImportStatus
    from terminflow.workspaces.services import get_or_create_workspace

    workspace = get_or_create_workspace("Praxis Seefeld")
    mapping = {"0": "email", "1": "first_name", "2": "last_name", "3": "phone", "4": "tags"}
    if fields:
        contact_fields.create_field(workspace, key="birthday", type="date", label="Geburtstag")
        contact_fields.create_field(workspace, key="town", type="text", label="Ort")
        mapping.update({"5": "field:birthday", "6": "field:town"})
    raw = sample_csv(rows, fields=fields)
    probe = Probe(str(connection.settings_dict["NAME"]))
    probe.start()
    started = time.perf_counter()
    item = contact_import.start_import(workspace, None, filename="kontakte.csv", raw=raw)
    upload_seconds = time.perf_counter() - started
    upload_waits = list(probe.waits)
    contact_import.configure(item, mapping=mapping, email_status="unknown", add_tags=[])
    # Each transaction of a step, where the code has them apart (one step was one before).
    transactions: list[float] = []
    inner = getattr(contact_import, "_import_some", None)
    if inner is not None:

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                transactions.append(time.perf_counter() - began)

        contact_import._import_some = timed  # type: ignore[attr-defined]
    steps: list[float] = []
    started = time.perf_counter()
    probe.waits.clear()
    while item.status != ImportStatus.DONE:
        step = time.perf_counter()
        item = contact_import.import_chunk(item.pk, workspace)
        steps.append(time.perf_counter() - step)
    total = time.perf_counter() - started
    probe.stop.set()
    probe.join()
    result: dict[str, Any] = {
        "rows": rows,
        "created": item.created_count,
        "upload_s": upload_seconds,
        "upload_wait_max_ms": max(upload_waits, default=0) * 1000,
        "steps": len(steps),
        "step_median_ms": median(steps) * 1000,
        "step_p99_ms": percentile(steps, 99) * 1000,
        "step_max_ms": max(steps) * 1000,
        "transactions": len(transactions) or len(steps),
        "tx_median_ms": median(transactions or steps) * 1000,
        "tx_p99_ms": percentile(transactions or steps, 99) * 1000,
        "tx_max_ms": max(transactions or steps) * 1000,
        "wait_median_ms": median(probe.waits) * 1000,
        "wait_p99_ms": percentile(probe.waits, 99) * 1000,
        "wait_max_ms": max(probe.waits, default=0) * 1000,
        "rows_per_s": rows / total,
    }
    report(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--fields", action="store_true", help="a date and a text field too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.fields)
        return
    with bench_database("sqlite", "tf_bench_import") as env:
        env["TERMINFLOW_SQLITE_SYNCHRONOUS"] = "FULL"
        extra = ["--fields"] if args.fields else []
        result = run_child(Path(__file__), ["--rows", str(args.rows), *extra], env)
    assert result["created"] == args.rows, f"{result['created']} of {args.rows} created"
    print(
        f"upload of {args.rows:,} rows: {result['upload_s']:.2f} s "
        f"(a writer waited up to {result['upload_wait_max_ms']:.0f} ms meanwhile)"
    )
    print(
        f"{result['steps']} steps: median {result['step_median_ms']:.0f} ms, "
        f"p99 {result['step_p99_ms']:.0f} ms, max {result['step_max_ms']:.0f} ms per step"
    )
    print(
        f"{result['transactions']} write transactions: median {result['tx_median_ms']:.1f} ms, "
        f"p99 {result['tx_p99_ms']:.1f} ms, max {result['tx_max_ms']:.1f} ms each"
    )
    print(
        f"another writer's wait for the lock during the import: median "
        f"{result['wait_median_ms']:.1f} ms, p99 {result['wait_p99_ms']:.1f} ms, "
        f"max {result['wait_max_ms']:.1f} ms"
    )
    print(f"{result['rows_per_s']:,.0f} rows/s over the whole import")


if __name__ == "__main__":
    main()
