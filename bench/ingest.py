"""Ingest benchmark: durable web pushes per second against a bare Starlette endpoint.

One command: ``.venv/bin/python bench/ingest.py``. It

1. makes a fresh data folder, migrates a SQLite database there (``synchronous=FULL``, the
   server's setting) and creates a workspace and an eTermin account directly in it;
2. starts ``terminflow serve`` on it, and a bare Starlette app (same route, reads the body,
   stores nothing) under the same server software (uvicorn, one process, uvloop + httptools);
3. loads both, in turns, with the same pushes (every one a distinct appointment, so every one
   is a new row): ``wrk`` with a Lua script when installed, else a Python load generator;
   closed loop, bounded in time; prints requests/s, p50 and p99 for each and the ratio;
4. runs a paced, open-loop load at a fixed rate (default 1,000 req/s) against both and prints
   p99, latency counted from when each request was due (so a stall is not hidden);
5. checks that the inbox holds exactly the pushes answered 200 (the paced run waits for every
   answer; in the wrk run, requests still in flight when wrk stops may be stored unanswered).

The 2 cores are shared with whatever else runs, so each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUSH_TEMPLATE = {
    "command": "CREATED",
    "appointmentUID": "%s",
    "startDateTimeUTC": "2026-12-03T08:30:00Z",
    "endDateTimeUTC": "2026-12-03T09:15:00Z",
    "startDateTime": "2026-12-03T09:30:00",
    "endDateTime": "2026-12-03T10:15:00",
    "bookingDateUTC": "2026-11-27T14:02:11Z",
    "salutation": "Frau",
    "firstName": "Lea",
    "lastName": "Brunner",
    "email": "lea.brunner@example.ch",
    "phone": "+41 79 555 01 23",
    "street": "Seestrasse 4",
    "ZIP": "8002",
    "town": "Zürich",
    "birthday": "14.02.1988",
    "notes": "Bitte Parkplatz reservieren.\nDanke!",
    "calendarName": "Praxis Seefeld",
    "calendarID": "211614",
    "selectedAnswers": "Erstberatung (45 min)",
    "bookingLanguage": "DE",
    "newsletter": "1",
}
# One JSON body with a %s where the appointment UID goes (about 700 bytes, like eTermin's).
BODY_TEMPLATE = json.dumps(PUSH_TEMPLATE, ensure_ascii=False)


def body_for(uid: str) -> bytes:
    return (BODY_TEMPLATE % uid).encode("utf-8")


# -- the bare endpoint ---------------------------------------------------------------------------

BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route


    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})


    async def web_push(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("ok")


    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/hooks/etermin/{token}", web_push, methods=["POST"]),
        ]
    )
    """
)


# -- servers -------------------------------------------------------------------------------------


def serve_both(
    work: Path, tf_env: dict[str, str], base_env: dict[str, str]
) -> tuple[Server, Server]:
    """``terminflow serve`` and the bare app (``work/bare_app.py``), not started yet."""
    terminflow = Server(
        "terminflow",
        [
            *(sys.executable, "-m", "terminflow.cli", "serve", "--host", "127.0.0.1"),
            *("--port", "{port}", "--log-level", "warning"),
        ],
        tf_env,
        work / "terminflow.log",
    )
    # Same server software and settings as `terminflow serve`: uvicorn, one process, loop and
    # HTTP parser chosen the same way ("auto": uvloop and httptools), no access log.
    bare = Server(
        "bare",
        [
            *(sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1"),
            *("--port", "{port}", "--log-level", "warning", "--no-access-log"),
            *("--app-dir", str(work)),
        ],
        base_env,
        work / "bare.log",
    )
    return terminflow, bare


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not answer /healthz; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def prepare_terminflow(data_dir: Path, env: dict[str, str]) -> str:
    """Migrate a fresh database and create an account in it; returns its web push token."""
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", interactive=False, verbosity=0)
        from terminflow.workspaces.services import get_or_create_workspace
        from terminflow.etermin.services import connect_account
        account = connect_account(
            get_or_create_workspace("Bench"), name="Bench", public_key="pub",
            private_key="priv", verify=False,
        )
        print(account.web_push_token)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr.decode(errors="replace"))
    return result.stdout.decode().strip().splitlines()[-1]


def inbox_count(database: Path, prefix: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM etermin_inbox WHERE appointment_uid LIKE ?", (prefix + "%",)
        ).fetchone()
    return int(count)


def pending_count(database: Path) -> int:
    """Inbox rows the worker has yet to process (an indexed count: cheap to poll)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM etermin_inbox WHERE status = 'pending'"
        ).fetchone()
    return int(count)


def status_counts(database: Path, prefix: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT status, COUNT(*) FROM etermin_inbox WHERE appointment_uid LIKE ? "
            "GROUP BY status",
            (prefix + "%",),
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


@dataclass
class Drain:
    """The embedded worker after a load: what it had done by the load's end, and the rest."""

    backlog: int  # stored but not yet processed when the load stopped
    seconds: float  # until nothing was pending
    drained: bool

    @property
    def rate(self) -> float:
        return self.backlog / self.seconds if self.seconds > 0 else float("nan")


def drain(database: Path, *, timeout: float) -> Drain:
    """Wait until the worker has processed every stored push (or ``timeout`` passes)."""
    began = time.monotonic()
    backlog = pending_count(database)
    left = backlog
    while left and time.monotonic() - began < timeout:
        time.sleep(0.5)
        left = pending_count(database)
    return Drain(backlog, time.monotonic() - began, left == 0)


# -- load: wrk -----------------------------------------------------------------------------------

WRK_SCRIPT = """
local threads = {}
local counter = 0
oks = 0
others = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  template = args[2]
  headers = {["Content-Type"] = "application/json"}
end

function request()
  counter = counter + 1
  local body = string.format(template, prefix .. id .. "-" .. counter)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 200 then oks = oks + 1 else others = others + 1 end
end

function done(summary, latency, requests)
  local ok_total, other_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("oks")
    other_total = other_total + thread:get("others")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"oks": %d, "others": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    ok_total, other_total, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    oks: int
    others: int
    errors: int


def wrk_load(
    url: str, prefix: str, *, seconds: float, connections: int, script: Path
) -> LoadResult:
    # wrk passes arguments after "--" to init(); Lua's %s in the template takes the uid.
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        prefix,
        BODY_TEMPLATE.replace("%", "%%").replace("%%s", "%s"),
    ]
    output = subprocess.run(command, capture_output=True, check=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_RESULT "))
    data = json.loads(line.removeprefix("WRK_RESULT "))
    return LoadResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        oks=data["oks"],
        others=data["others"],
        errors=data["errors"],
    )


# -- load: Python (paced open loop; closed loop when wrk is missing) ------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a POST and reads the answer."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("ascii")
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


async def _paced(
    url: str, prefix: str, *, rate: float, seconds: float, connections: int
) -> LoadResult:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"oks": 0, "others": 0, "errors": 0}

    async def worker() -> None:
        conn = Connection(host, int(port), "/" + path)
        while True:
            job = await queue.get()
            if job is None:
                conn.close()
                return
            due, body = job
            try:
                status = await conn.post(body)
            except (OSError, asyncio.IncompleteReadError):
                counts["errors"] += 1
                conn.close()
                conn = Connection(host, int(port), "/" + path)
                continue
            # From when the request was due, not when it was sent: a queue behind a slow
            # answer counts against the server, as it would for eTermin.
            latencies.append(time.perf_counter() - due)
            counts["oks" if status == 200 else "others"] += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    bodies = [body_for(f"{prefix}{n}") for n in range(total)]
    start = time.perf_counter() + 0.05
    for n, body in enumerate(bodies):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, body))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        **counts,
    )


async def _closed(url: str, prefix: str, *, seconds: float, connections: int) -> LoadResult:
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    latencies: list[float] = []
    counts = {"oks": 0, "others": 0, "errors": 0}
    end = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        conn = Connection(host, int(port), "/" + path)
        sent = 0
        while time.perf_counter() < end:
            sent += 1
            began = time.perf_counter()
            try:
                status = await conn.post(body_for(f"{prefix}{n}-{sent}"))
            except (OSError, asyncio.IncompleteReadError):
                counts["errors"] += 1
                conn.close()
                conn = Connection(host, int(port), "/" + path)
                continue
            latencies.append(time.perf_counter() - began)
            counts["oks" if status == 200 else "others"] += 1
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return LoadResult(
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        **counts,
    )


def run_load(coro: object) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


# -- the benchmark -------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each load run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--connections",
        default="64,256",
        help="closed-loop runs: comma-separated numbers of concurrent connections",
    )
    parser.add_argument("--rate", type=float, default=1000, help="paced run: requests/s")
    parser.add_argument(
        "--embedded-worker",
        action="store_true",
        help="run terminflow's embedded worker (its child process) as `terminflow serve` does: "
        "it processes every push, and the benchmark checks that it did",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900,
        help="with --embedded-worker: seconds to wait after a load for the worker to process "
        "what it stored",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    concurrencies = [int(part) for part in args.connections.split(",") if part.strip()]

    use_wrk = shutil.which("wrk") is not None
    work = Path(tempfile.mkdtemp(prefix="terminflow-bench-"))
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
        "TERMINFLOW_ETERMIN_API_URL": "http://127.0.0.1:9/api",
        "TERMINFLOW_LOG_LEVEL": "WARNING",
    }
    print(f"data folder: {work}")
    print("preparing the database (migrate, one account) ...", flush=True)
    token = prepare_terminflow(data_dir, tf_env)
    (work / "bare_app.py").write_text(BARE_APP)
    script = work / "push.lua"
    script.write_text(WRK_SCRIPT)

    terminflow, bare = serve_both(work, tf_env, base_env)
    servers = {"bare": bare, "terminflow": terminflow}
    closed: dict[tuple[str, int], list[LoadResult]] = {
        (name, c): [] for name in servers for c in concurrencies
    }
    paced: dict[str, list[LoadResult]] = {name: [] for name in servers}
    stored: dict[str, int] = {}
    answered: dict[str, int] = {}
    drains: dict[str, Drain] = {}
    database = data_dir / "terminflow.sqlite3"

    def closed_load(url: str, prefix: str, seconds: float, connections: int) -> LoadResult:
        if use_wrk:
            return wrk_load(url, prefix, seconds=seconds, connections=connections, script=script)
        return run_load(_closed(url, prefix, seconds=seconds, connections=connections))

    def report(label: str, result: LoadResult) -> None:
        print(
            f"  {label:<34} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  (200: {result.oks}, other: {result.others}, "
            f"errors: {result.errors})",
            flush=True,
        )

    def wait_for_worker(prefix: str) -> None:
        # The embedded worker works off what a load left before the next load starts, so no
        # measurement (the bare endpoint's included) runs beside a backlog of another one.
        if not args.embedded_worker:
            return
        done = drains[prefix] = drain(database, timeout=args.drain_timeout)
        print(
            f"  {'':<34} worker: {done.backlog} left to process when the load stopped, "
            f"{'processed' if done.drained else 'NOT processed'} in {done.seconds:.1f} s "
            f"({done.rate:.0f}/s)",
            flush=True,
        )

    try:
        for server in servers.values():
            server.start()
        print(
            f"load generator: {'wrk (1 thread)' if use_wrk else 'Python (no wrk found)'} for "
            f"closed loops with {args.connections} connections; a paced Python generator at "
            f"{args.rate:.0f}/s; {args.seconds:.0f} s a run, {args.runs} runs; embedded worker "
            f"{'on' if args.embedded_worker else 'off'}",
            flush=True,
        )
        for name, server in servers.items():
            url = f"{server.url}/hooks/etermin/{token}"
            closed_load(url, f"warm-{name}-", 2, max(concurrencies))
        wait_for_worker("warm-terminflow-")
        for run in range(args.runs):
            # Turn by turn, so a disturbance from outside hits both servers alike.
            for connections in concurrencies:
                for name, server in servers.items():
                    url = f"{server.url}/hooks/etermin/{token}"
                    prefix = f"closed{connections}-{run}-{name}-"
                    result = closed_load(url, prefix, args.seconds, connections)
                    closed[(name, connections)].append(result)
                    if name == "terminflow":
                        stored[prefix] = inbox_count(database, prefix)
                        answered[prefix] = result.oks
                    report(f"run {run + 1} {name} closed, {connections} conn.:", result)
                    if name == "terminflow":
                        wait_for_worker(prefix)
            for name, server in servers.items():
                url = f"{server.url}/hooks/etermin/{token}"
                prefix = f"paced-{run}-{name}-"
                result = run_load(
                    _paced(url, prefix, rate=args.rate, seconds=args.seconds, connections=32)
                )
                paced[name].append(result)
                if name == "terminflow":
                    stored[prefix] = inbox_count(database, prefix)
                    answered[prefix] = result.oks
                report(f"run {run + 1} {name} paced at {args.rate:.0f}/s:", result)
                if name == "terminflow":
                    wait_for_worker(prefix)
    finally:
        for server in servers.values():
            server.stop()

    print(f"\nmedians of {args.runs} runs")
    print(f"  {'':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for connections in concurrencies:
        for name in servers:
            runs = closed[(name, connections)]
            print(
                f"  {name + f' closed, {connections} conn.':<30} "
                f"{median([r.rps for r in runs]):8.0f} {median([r.p50_ms for r in runs]):8.2f} "
                f"{median([r.p99_ms for r in runs]):8.2f}"
            )
        bare_rps = median([r.rps for r in closed[("bare", connections)]])
        tf_rps = median([r.rps for r in closed[("terminflow", connections)]])
        print(f"  {'ratio terminflow / bare':<30} {tf_rps / bare_rps:8.2f}   (target >= 0.50)")
    for name in servers:
        runs = paced[name]
        print(
            f"  {name + f' paced at {args.rate:.0f}/s':<30} "
            f"{median([r.rps for r in runs]):8.0f} {median([r.p50_ms for r in runs]):8.2f} "
            f"{median([r.p99_ms for r in runs]):8.2f}   (target p99 <= 25 ms)"
        )

    print("\ndurability check (inbox rows vs 200 answers, per run):")
    exact = True
    for prefix in stored:
        difference = stored[prefix] - answered[prefix]
        is_paced = prefix.startswith("paced")
        # Closed loop: wrk stops at its deadline without reading answers still in flight;
        # those pushes may be committed but unanswered, never the other way round.
        good = difference == 0 if is_paced else 0 <= difference <= max(concurrencies)
        exact = exact and good
        note = "" if difference == 0 else f"  ({difference} in flight when the load stopped)"
        print(f"  {prefix:<28} rows {stored[prefix]:7d}  200s {answered[prefix]:7d}{note}")
    print("  every 200 is a stored row: " + ("yes" if exact else "NO"))

    processed_all = True
    if args.embedded_worker:
        print("\nprocessing check (the embedded worker, per run: inbox rows by status):")
        for prefix in stored:
            counts = status_counts(database, prefix)
            # The bench's pushes are all readable bookings: each one must end processed (or
            # ignored, e.g. an appointment in the past), none left pending or failed.
            good = not counts.get("pending") and not counts.get("failed")
            # (Pushes in flight when wrk stopped were stored after the count above.)
            good = good and sum(counts.values()) >= stored[prefix]
            processed_all = processed_all and good
            shown = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
            print(f"  {prefix:<28} {shown}")
        print("  every stored push processed: " + ("yes" if processed_all else "NO"))
        print("\nthe embedded default, this run (medians):")
        for connections in concurrencies:
            bare_rps = median([r.rps for r in closed[("bare", connections)]])
            tf_rps = median([r.rps for r in closed[("terminflow", connections)]])
            rates = [d.rate for p, d in drains.items() if p.startswith(f"closed{connections}-")]
            print(
                f"  {connections} conn.: {tf_rps:.0f} / {bare_rps:.0f} req/s = "
                f"{tf_rps / bare_rps:.2f} x bare (target >= 0.50); backlog processed at "
                f"{median(rates):.0f}/s after the load"
            )
        runs = paced["terminflow"]
        backlog = [d.backlog for p, d in drains.items() if p.startswith("paced")]
        print(
            f"  paced at {args.rate:.0f}/s: p50 {median([r.p50_ms for r in runs]):.2f} ms, "
            f"p99 {median([r.p99_ms for r in runs]):.2f} ms (target <= 25 ms); left to process "
            f"when it stopped: {median(backlog):.0f} pushes"
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if exact and processed_all else 1


if __name__ == "__main__":
    sys.exit(main())
