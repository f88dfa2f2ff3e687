"""Reconciliation benchmark: one sync of an account with many upcoming appointments.

One command: ``.venv/bin/python bench/sync.py [--appointments 1000] [--backend sqlite]``.

1. The eTermin sandbox runs in its own process (``terminflow sandbox``) with one account and
   ``--appointments`` bookings spread over the next 180 days, made through its control API
   with no Web Push configured: every one of them is a push that never arrived.
2. A subprocess migrates a fresh database, connects the account (as if before the bookings)
   and measures, ``--repeat`` times each, alternating:
   - **baseline**: the same eTermin calls a sync makes (the window's pages and the deleted
     listing), with the same client, doing nothing with the answers;
   - **first sync**: every booking is missing from the registry, so each becomes a queued
     inbox row (``created`` = all of them); the rows are deleted again after each run;
   - **steady sync**: the registry knows every appointment (the queued rows were processed
     once): nothing to queue, the usual case every 15 minutes.
   The sandbox counts the API calls each sync made.

Printed: calls per sync, medians in milliseconds, and each as a ratio to the baseline (the time
of the HTTP calls alone). Compare ratios, not absolute times: 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, bench_database, report, run_child, setup_django

PUBLIC = "bench-public"
PRIVATE = "bench-private"
CALENDAR = 211614


# -- the sandbox ------------------------------------------------------------------------------


def start_sandbox(state_file: Path) -> tuple[subprocess.Popen[str], str]:
    state_file.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "public_key": PUBLIC,
                        "private_key": PRIVATE,
                        "calendars": [{"id": CALENDAR, "name": "Praxis Seefeld"}],
                    }
                ]
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "terminflow.cli",
            "sandbox",
            "--port",
            "0",
            "--state",
            str(state_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    url = banner.split(" at ", 1)[1].split("/api", 1)[0]
    return process, url


def book_many(url: str, count: int) -> None:
    today = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    with httpx.Client(base_url=url, timeout=30) as http:
        for i in range(count):
            start = today + timedelta(days=1 + i % 178, minutes=30 * (i // 178 % 18))
            response = http.post(
                f"/_sandbox/accounts/{PUBLIC}/bookings",
                json={
                    "calendar_id": CALENDAR,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                    "email": f"person{i}@example.ch",
                    "first_name": "Person",
                    "last_name": str(i),
                    "newsletter": i % 2 == 0,
                },
            )
            response.raise_for_status()


def api_calls(url: str) -> int:
    return len(httpx.get(f"{url}/_sandbox/calls", timeout=30).json())


# -- the child --------------------------------------------------------------------------------


def child(url: str, repeat: int) -> None:
    setup_django()
    from terminflow.etermin import sync
    from terminflow.etermin.client import client_for
    from terminflow.etermin.models import EterminAccount, WebPush
    from terminflow.etermin.processing import process_pending
    from terminflow.etermin.services import connect_account
    from terminflow.workspaces.services import get_or_create_workspace

    workspace = get_or_create_workspace("Bench")
    account = connect_account(
        workspace, name="Praxis", public_key=PUBLIC, private_key=PRIVATE, verify=False
    )
    # Connected before the bookings were made, so every booking counts as missed.
    EterminAccount.objects.filter(pk=account.pk).update(
        created_at=datetime.now(UTC) - timedelta(days=1)
    )

    def fresh() -> Any:
        return EterminAccount.objects.get(pk=account.pk)

    def baseline() -> float:
        first, last = sync.window(fresh(), datetime.now(UTC))
        started = time.perf_counter()
        with client_for(fresh()) as client:
            for start, end in sync._pages(first, last):
                client.appointments(start, end)
            client.deleted_appointments(first, last)
        return time.perf_counter() - started

    def timed_sync() -> tuple[float, dict[str, int], int]:
        before = api_calls(url)
        started = time.perf_counter()
        counts = sync.sync_account(fresh())
        elapsed = time.perf_counter() - started
        return elapsed, counts.as_dict(), api_calls(url) - before

    base: list[float] = []
    first_runs: list[float] = []
    steady_runs: list[float] = []
    first_counts: dict[str, int] = {}
    steady_counts: dict[str, int] = {}
    first_calls = steady_calls = 0
    for _ in range(repeat):
        base.append(baseline())
        elapsed, first_counts, first_calls = timed_sync()
        first_runs.append(elapsed)
        WebPush.objects.all().delete()
        EterminAccount.objects.filter(pk=account.pk).update(synced_at=None)
    # The registry learns every appointment once; from then on a sync finds nothing new.
    sync.sync_account(fresh())
    while process_pending(limit=500):
        pass
    queued = WebPush.objects.count()
    for _ in range(repeat):
        base.append(baseline())
        elapsed, steady_counts, steady_calls = timed_sync()
        steady_runs.append(elapsed)
    report(
        {
            "baseline": statistics.median(base),
            "first": statistics.median(first_runs),
            "steady": statistics.median(steady_runs),
            "first_counts": first_counts,
            "steady_counts": steady_counts,
            "first_calls": first_calls,
            "steady_calls": steady_calls,
            "queued_once": queued,
        }
    )


# -- the parent --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=1_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; medians printed")
    parser.add_argument("--child", nargs=2, metavar=("URL", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return

    with bench_database(args.backend, "tf_bench_sync") as env:
        state_file = Path(env["TERMINFLOW_DATA_DIR"]) / "sandbox.json"
        sandbox, url = start_sandbox(state_file)
        try:
            started = time.perf_counter()
            book_many(url, args.appointments)
            print(
                f"sandbox: {args.appointments} appointments booked in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            env["TERMINFLOW_ETERMIN_API_URL"] = f"{url}/api"
            result = run_child(Path(__file__), [url, str(args.repeat)], env)
        finally:
            sandbox.terminate()
            sandbox.wait(10)
    ms = {key: result[key] * 1000 for key in ("baseline", "first", "steady")}
    print(f"baseline (the sync's eTermin calls alone): {ms['baseline']:.0f} ms (median)")
    print(
        f"first sync ({args.backend}, {args.appointments} appointments all missed): "
        f"{result['first_calls']} API calls, {ms['first']:.0f} ms, "
        f"{ms['first'] / ms['baseline']:.2f}× the baseline; {result['first_counts']}"
    )
    print(
        f"steady sync (registry up to date): {result['steady_calls']} API calls, "
        f"{ms['steady']:.0f} ms, {ms['steady'] / ms['baseline']:.2f}× the baseline; "
        f"{result['steady_counts']}"
    )


if __name__ == "__main__":
    main()
