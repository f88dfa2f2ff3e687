"""Tracking benchmark: click redirects at a paced rate against a bare Starlette redirect.

One command: ``.venv/bin/python bench/tracking.py``. It

1. makes a fresh data folder, migrates a SQLite database there and queues ``--emails`` real
   marketing emails through the services (rendered, links rewritten, two tracked links each),
   marked sent an hour ago, so every click counts as a person's;
2. starts ``terminflow serve`` on it (embedded worker off unless ``--embedded-worker``) and a
   bare Starlette app under the same server software whose ``GET /t/c/{token}`` answers a
   fixed ``302`` and looks nothing up;
3. loads both, turn by turn, with paced open-loop GETs at ``--rate`` requests/s (default 500)
   for ``--seconds`` (default 10), cycling through the emails' click URLs with a browser's
   user agent; latency is counted from when each request was due, so a stall shows in p99;
4. prints p50 and p99 of each run and the medians, against the target p99 < 5 ms, and checks
   that every redirect terminflow answered was recorded (clicks counted in ``mail_engagement``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import percentile, run_load, serve_both

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 5.0
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

HEADERS = {
    "location": "https://praxis.example/angebot",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


async def click(request):
    return Response(b"", status_code=302, headers=HEADERS)


async def healthz(request):
    return Response(b"ok")


app = Starlette(routes=[Route("/t/c/{token}", click), Route("/healthz", healthz)])
"""


def prepare(env: dict[str, str], emails: int) -> list[str]:
    """Migrate, queue ``emails`` tracked marketing emails; returns their click paths."""
    script = textwrap.dedent(
        f"""
        import json, re
        from datetime import timedelta
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", interactive=False, verbosity=0)
        from terminflow.contacts.models import Contact
        from terminflow.kit import clock
        from terminflow.mail import services
        from terminflow.mail.models import Outbox
        from terminflow.workspaces.services import get_or_create_workspace

        workspace = get_or_create_workspace("Bench")
        template = services.create_template(workspace, services.TemplateData(
            name="Newsletter", subject="Neuigkeiten",
            body_html=(
                "<p>Hallo {{{{ contact.first_name }}}}</p>"
                '<p><a href="https://praxis.example/angebot">Angebot</a> '
                '<a href="https://praxis.example/termine">Termine</a></p>'
                '<p><a href="{{{{ links.unsubscribe }}}}">Abmelden</a></p>'
            ),
        ))
        Contact.objects.bulk_create([
            Contact(workspace=workspace, email=f"person{{i}}@example.com", first_name="Anna",
                    email_status="confirmed_doi")
            for i in range({emails})
        ])
        paths = []
        for contact in Contact.objects.filter(workspace=workspace).order_by("id"):
            row = services.queue_email(template, contact)
            paths += re.findall(r'href="[^"]*(/t/c/[\\w-]+)"', row.body_html)
        Outbox.objects.update(status="sent", sent_at=clock.now() - timedelta(hours=1))
        print(json.dumps(paths))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr.decode(errors="replace"))
    return list(json.loads(result.stdout.decode().strip().splitlines()[-1]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recorded_clicks(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (count,) = db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM mail_engagement WHERE kind = 'click'"
        ).fetchone()
    return int(count)


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a GET and reads the answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {USER_AGENT}\r\n\r\n".encode()
        )
        header = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return int(header[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    redirects: int
    others: int
    errors: int
    cpu_us: float = 0.0  # the server process's CPU time per request


async def paced(
    url: str, paths: list[str], *, rate: float, seconds: float, connections: int
) -> Result:
    host, _, port = url.removeprefix("http://").partition(":")
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"redirects": 0, "others": 0, "errors": 0}

    async def worker() -> None:
        conn = Connection(host, int(port))
        while True:
            job = await queue.get()
            if job is None:
                conn.close()
                return
            due, path = job
            try:
                status = await conn.get(path)
            except (OSError, asyncio.IncompleteReadError):
                counts["errors"] += 1
                conn.close()
                conn = Connection(host, int(port))
                continue
            latencies.append(time.perf_counter() - due)
            counts["redirects" if status == 302 else "others"] += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.05
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, paths[n % len(paths)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    latencies.sort()
    return Result(
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        **counts,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="requests/s")
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="runs per server (medians)")
    parser.add_argument("--emails", type=int, default=1000, help="outbox rows to click through")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--embedded-worker", action="store_true", help="run the worker too")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="terminflow-bench-tracking-"))
    data_dir = work / "data"
    data_dir.mkdir()
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    tf_env = {
        **base_env,
        "DJANGO_SETTINGS_MODULE": "terminflow.settings",
        "TERMINFLOW_DATA_DIR": str(data_dir),
        "TERMINFLOW_SECRET_KEY": "bench-secret-key",
        "TERMINFLOW_SQLITE_SYNCHRONOUS": "FULL",
        "TERMINFLOW_EMBEDDED_WORKER": "1" if args.embedded_worker else "0",
        "TERMINFLOW_LOG_LEVEL": "WARNING",
    }
    print(f"data folder: {work}")
    print(f"preparing the database (migrate, {args.emails} tracked emails) ...", flush=True)
    paths = prepare(tf_env, args.emails)
    (work / "bare_app.py").write_text(BARE_APP)
    terminflow, bare = serve_both(work, tf_env, base_env)
    servers = {"bare": bare, "terminflow": terminflow}
    results: dict[str, list[Result]] = {name: [] for name in servers}
    database = data_dir / "terminflow.sqlite3"
    try:
        for server in servers.values():
            server.start()
        print(
            f"{len(paths)} click URLs; paced at {args.rate:.0f}/s for {args.seconds:.0f} s, "
            f"{args.connections} connections, {args.runs} runs per server, turn by turn; "
            f"embedded worker {'on' if args.embedded_worker else 'off'}",
            flush=True,
        )
        warm_redirects = 0
        for name, server in servers.items():  # warm-up: connections, caches, first batches
            warm = run_load(paced(server.url, paths, rate=args.rate, seconds=2, connections=8))
            if name == "terminflow":
                warm_redirects = warm.redirects
        for run in range(args.runs):
            for name, server in servers.items():
                assert server.process is not None
                cpu_before = cpu_seconds(server.process.pid)
                result = run_load(
                    paced(
                        server.url,
                        paths,
                        rate=args.rate,
                        seconds=args.seconds,
                        connections=args.connections,
                    )
                )
                time.sleep(0.5)  # the writer's last batch counts too
                cpu = cpu_seconds(server.process.pid) - cpu_before
                result.cpu_us = cpu / max(1, result.redirects) * 1e6
                results[name].append(result)
                print(
                    f"  run {run + 1} {name:<10} p50 {result.p50_ms:6.2f} ms  "
                    f"p99 {result.p99_ms:6.2f} ms  CPU {result.cpu_us:5.0f} µs/request  "
                    f"(302: {result.redirects}, other: {result.others}, "
                    f"errors: {result.errors})",
                    flush=True,
                )
        time.sleep(1)  # the writer commits what the last requests left
    finally:
        for server in servers.values():
            server.stop()

    answered = sum(r.redirects for r in results["terminflow"]) + warm_redirects
    stored = recorded_clicks(database)
    print(f"\nmedians of {args.runs} runs at {args.rate:.0f} requests/s")
    medians = {}
    for name, runs in results.items():
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        cpu = statistics.median(r.cpu_us for r in runs)
        medians[name] = (p50, p99, cpu)
        print(f"  {name:<10} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  CPU {cpu:5.0f} µs/request")
    (b50, b99, bcpu), (t50, t99, tcpu) = medians["bare"], medians["terminflow"]
    verdict = "meets" if t99 < TARGET_P99_MS else "misses"
    print(
        f"  terminflow / bare: p50 {t50 / b50:.2f}×, p99 {t99 / b99:.2f}×, CPU per request "
        f"{tcpu / bcpu:.2f}×; terminflow p99 {verdict} the target of < {TARGET_P99_MS:.0f} ms"
    )
    print(f"  clicks recorded: {stored} of {answered} redirects answered (warm-up included)")
    return 0 if stored == answered else 1


if __name__ == "__main__":
    raise SystemExit(main())
