"""Scale-out benchmark: PostgreSQL, two web processes, 1, 2 and 4 worker processes in turn.

One command: ``.venv/bin/python bench/scaleout.py``. For each worker count it

1. makes a fresh PostgreSQL database (on the server at 127.0.0.1:5432), migrates it, starts two
   ``terminflow serve`` processes with ``TERMINFLOW_EMBEDDED_WORKER=0`` and an SMTP sink, and
   creates through the API an eTermin account and a campaign that tags the contact, waits (a
   wait whose time has passed: 0 minutes) and sends the double-opt-in email;
2. starts N ``terminflow worker`` processes, then posts ``--pushes`` pushes (each a new
   appointment of a new customer) round-robin to both web processes, as fast as they answer;
3. waits until every push is processed and every email has reached the sink, and reads the
   timings from the database.

It prints processed pushes/s and emails/min per worker count, the speed-up and efficiency
against one worker, and the queue lag (from a push being stored to it being processed), and it
checks that nothing was lost or duplicated: inbox rows = pushes answered 200 = enrollments =
emails sent = messages at the sink = distinct Message-IDs.

On 2 cores the load generator, the web processes, PostgreSQL and the workers share the CPU, so
expect the curve to flatten early; what must hold is that adding workers loses, duplicates and
slows nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cluster
from bench.common import bench_database, median


def post_all(urls: list[str], count: int, threads: int) -> tuple[int, float, float]:
    """Post ``count`` pushes; returns (answered 200, first send time, last answer time)."""
    numbers = iter(range(count))
    lock = threading.Lock()
    answered = 0
    last = 0.0

    def run() -> None:
        nonlocal answered, last
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                response = client.post(urls[n % len(urls)], content=cluster.push_body(f"s-{n}"))
                with lock:
                    if response.status_code == 200:
                        answered += 1
                    last = time.monotonic()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    first = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return answered, first, last


def lag_seconds(database_url: str) -> tuple[float, float, float]:
    """p50, p99 and max of processed_at - received_at over the inbox."""
    import psycopg

    sql = (
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY s), max(s) FROM ("
        "SELECT extract(epoch FROM processed_at - received_at) AS s FROM etermin_inbox) t"
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), float(row[2])


def cpu_by_role(processes: list[cluster.Process]) -> dict[str, float]:
    """CPU seconds used so far: web processes, workers, PostgreSQL, this process (load and
    sink), and the whole machine (every process, from /proc/stat)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with Path("/proc/stat").open() as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return {
        "web": sum(p.cpu_seconds() for p in processes if p.name.startswith("web")),
        "workers": sum(p.cpu_seconds() for p in processes if p.name.startswith("worker")),
        "postgres": cluster.postgres_cpu_seconds(),
        "bench": usage.ru_utime + usage.ru_stime,
        "machine": (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"),
    }


def one_round(workers: int, args: argparse.Namespace, logs: Path) -> dict[str, float]:
    sink = cluster.SmtpSinkProcess()
    processes: list[cluster.Process] = []
    with bench_database("postgresql", f"bench_scaleout_{workers}") as base_env:
        env = {
            **base_env,
            **cluster.environment(
                Path(base_env["TERMINFLOW_DATA_DIR"]),
                base_env["TERMINFLOW_DATABASE_URL"],
                sink.url,
            ),
        }
        database = env["TERMINFLOW_DATABASE_URL"]
        try:
            cluster.terminflow(env, "migrate")
            web_a, url_a = cluster.web(env, logs, f"web-a-{workers}")
            web_b, url_b = cluster.web(env, logs, f"web-b-{workers}")
            processes += [web_a, web_b]
            push_url = cluster.prepare(env, url_a)
            path = push_url[push_url.index("/hooks/") :]
            processes += [
                cluster.worker(env, logs, f"worker-{workers}-{n}") for n in range(workers)
            ]
            # The workers' start-up is not what we measure: four of them starting at once took
            # several CPU seconds each, on the cores that the burst of pushes then needed.
            cluster.wait_for_workers(database, workers)
            time.sleep(0.5)
            cpu_before = cpu_by_role(processes)
            answered, started, last_answer = post_all(
                [url_a + path, url_b + path], args.pushes, args.threads
            )
            processed_at = sent_at = None
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                counts = cluster.state(database)
                now = time.monotonic()
                if processed_at is None and counts["inbox_processed"] >= answered:
                    processed_at = now
                if sent_at is None and sink.received >= answered:
                    sent_at = now
                # An email at the sink may still be being marked sent (on a loaded machine
                # that took over half a second); the counts are compared once it is.
                marked = counts["outbox_sent"] >= answered
                if processed_at is not None and sent_at is not None and marked:
                    break
                time.sleep(0.05)
            cpu = {
                role: seconds - cpu_before[role] for role, seconds in cpu_by_role(processes).items()
            }
            time.sleep(0.5)  # a duplicate would arrive now
            counts = cluster.state(database)
            message_ids = sorted(m.strip("<>") for m in cluster.outbox_message_ids(database))
            at_sink = sorted(m.strip("<>") for m in sink.message_ids.elements())
            lag = lag_seconds(database)
        finally:
            for process in processes:
                process.stop()
            sink.close()
    if processed_at is None or sent_at is None:
        raise SystemExit(f"{workers} workers: not done within {args.timeout:.0f} s: {counts}")
    exact = (
        answered
        == counts["inbox"]
        == counts["inbox_processed"]
        == counts["enrollments"]
        == counts["outbox_sent"]
        == len(at_sink)
        == len(set(at_sink))
    ) and at_sink == message_ids
    if not exact:
        print(
            f"  {workers} worker(s), not exact: answered {answered}, {counts}, at the sink "
            f"{len(at_sink)} ({len(set(at_sink))} distinct Message-IDs), Message-IDs in the "
            f"outbox {'equal' if at_sink == message_ids else 'DIFFERENT'}",
            flush=True,
        )
    return {
        "answered": answered,
        "ingest_s": last_answer - started,
        "pushes_per_s": answered / (processed_at - started),
        "emails_per_min": 60 * answered / (sent_at - started),
        "lag_p50": lag[0],
        "lag_p99": lag[1],
        "lag_max": lag[2],
        "duplicates": len(at_sink) - len(set(at_sink)),
        "exact": 1.0 if exact else 0.0,
        **{f"cpu_{role}": seconds for role, seconds in cpu.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=1500, help="pushes per round")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="rounds per worker count (median)")
    parser.add_argument("--threads", type=int, default=8, help="load generator connections")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait per round")
    args = parser.parse_args()
    counts = [int(part) for part in args.workers.split(",") if part.strip()]
    logs = Path(tempfile.mkdtemp(prefix="terminflow-scaleout-logs-"))
    print(
        f"scale-out on PostgreSQL: 2 web processes, workers {counts}, {args.pushes} pushes a "
        f"round, {args.runs} run(s) each; campaign: tag → wait (0 min) → double-opt-in email; "
        f"process logs in {logs}",
        flush=True,
    )
    results: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    for run in range(args.runs):
        for n in counts:
            result = one_round(n, args, logs)
            results[n].append(result)
            print(
                f"  run {run + 1}, {n} worker(s): {result['pushes_per_s']:7.0f} pushes/s  "
                f"{result['emails_per_min']:8.0f} emails/min  lag p50 {result['lag_p50']:.2f} s "
                f"p99 {result['lag_p99']:.2f} s  (ingest took {result['ingest_s']:.1f} s, "
                f"exact: {'yes' if result['exact'] else 'NO'})",
                flush=True,
            )
            print(
                "    CPU seconds: "
                + ", ".join(
                    f"{role} {result[f'cpu_{role}']:.1f}"
                    for role in ("web", "workers", "postgres", "bench", "machine")
                ),
                flush=True,
            )

    def med(n: int, key: str) -> float:
        return median([r[key] for r in results[n]])

    base = med(counts[0], "pushes_per_s") / counts[0]
    print(f"\nmedians of {args.runs} run(s)")
    print(
        f"  {'workers':>7} {'pushes/s':>9} {'emails/min':>11} {'speed-up':>9} "
        f"{'efficiency':>10} {'lag p50 s':>10} {'lag p99 s':>10} {'lag max s':>10} "
        f"{'ingest s':>9} {'worker CPU s':>13} {'lost/dup':>9}"
    )
    exact = True
    for n in counts:
        rate = med(n, "pushes_per_s")
        speedup = rate / (base * counts[0]) if counts[0] == 1 else rate / base
        lost_dup = all(r["exact"] for r in results[n])
        exact = exact and lost_dup
        print(
            f"  {n:>7} {rate:9.0f} {med(n, 'emails_per_min'):11.0f} {speedup:8.2f}× "
            f"{speedup / n:10.2f} {med(n, 'lag_p50'):10.2f} {med(n, 'lag_p99'):10.2f} "
            f"{med(n, 'lag_max'):10.2f} {med(n, 'ingest_s'):9.1f} {med(n, 'cpu_workers'):13.1f} "
            f"{'0/0' if lost_dup else 'YES':>9}"
        )
    print(
        "  every push answered 200 stored, processed and emailed exactly once: "
        + ("yes" if exact else "NO")
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
