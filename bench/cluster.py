"""A scaled-out terminflow on one machine, for ``bench/scaleout.py`` and the fault test.

Its own PostgreSQL cluster (``initdb`` + ``pg_ctl`` on a free port, so it can be stopped and
restarted without touching the shared server), web processes (``terminflow serve`` with
``TERMINFLOW_EMBEDDED_WORKER=0``), ``terminflow worker`` processes, an SMTP sink that counts
every message and its Message-ID, and the campaign both use: an eTermin trigger that tags the
contact, waits (until a year before the appointment: already past, so 0 minutes) and sends the
double-opt-in email.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "scaleout-secret-key-not-for-production"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PgCluster:
    """A throwaway PostgreSQL cluster; runs as the ``postgres`` user when we are root."""

    def __init__(self, root: Path) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin = binaries
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> PgCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"),
        )
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options),
            *("-w", "-t", "60", "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: like a crash (recovery on next start)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class SmtpSink:
    """An SMTP server that accepts everything and counts messages by Message-ID."""

    def __init__(self, log: Path | None = None) -> None:
        from aiosmtpd.controller import Controller

        sink = self
        # With ``log`` each message also appends "Message-ID<TAB>" to it (``SmtpSinkProcess``).
        self._log = log.open("a", buffering=1) if log is not None else None
        self.message_ids: collections.Counter[str] = collections.Counter()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                found = _MESSAGE_ID.search(envelope.original_content or envelope.content)
                message_id = found.group(1).decode() if found else ""
                with sink._lock:
                    sink.message_ids[message_id] += 1
                    if sink._log is not None:
                        sink._log.write(message_id + "\t\n")
                    sink.last_at = time.monotonic()
                    if sink.first_at is None:
                        sink.first_at = sink.last_at
                return "250 OK"

        class OnFreePort(Controller):
            def _trigger_server(self) -> None:
                if self.port == 0 and self.server is not None:
                    self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        self._controller = OnFreePort(Handler(), hostname="127.0.0.1", port=0)
        self._controller.start()
        self.url = f"smtp://127.0.0.1:{self._controller.port}?starttls=off&pool=4"

    @property
    def received(self) -> int:
        with self._lock:
            return sum(self.message_ids.values())

    def reset(self) -> None:
        with self._lock:
            self.message_ids.clear()
            self.first_at = self.last_at = None

    def close(self) -> None:
        self._controller.stop()


def serve_sink(log: str) -> None:
    """The SMTP sink of ``SmtpSinkProcess``: prints its URL, then logs each message until its
    standard input ends (the bench closed it, or died: the sink never outlives it)."""
    sink = SmtpSink(log=Path(log))
    print(sink.url, flush=True)
    sys.stdin.read()
    sink.close()


class SmtpSinkProcess:
    """``SmtpSink`` in a process of its own, so that taking in the emails does not share a GIL
    with the load generator (it slowed the generator's requests while emails arrived)."""

    def __init__(self) -> None:
        import tempfile

        self._log = Path(tempfile.mkstemp(prefix="terminflow-sink-")[1])
        code = (
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from bench.cluster import serve_sink; serve_sink(sys.argv[1])"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(self._log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().decode().strip()
        if not self.url:
            self.close()
            raise RuntimeError("the SMTP sink process did not start")

    @property
    def message_ids(self) -> collections.Counter[str]:
        # A line still being written has no tab yet: it counts at the next look.
        lines = self._log.read_text().splitlines()
        return collections.Counter(line[:-1] for line in lines if line.endswith("\t"))

    @property
    def received(self) -> int:
        return sum(self.message_ids.values())

    def close(self) -> None:
        self._process.kill()
        self._process.wait(10)
        self._log.unlink(missing_ok=True)


def environment(data_dir: Path, database_url: str, smtp_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="terminflow.settings",
        TERMINFLOW_DATA_DIR=str(data_dir),
        TERMINFLOW_DATABASE_URL=database_url,
        TERMINFLOW_SECRET_KEY=SECRET_KEY,
        TERMINFLOW_SMTP_URL=smtp_url,
        TERMINFLOW_EMBEDDED_WORKER="0",
        TERMINFLOW_ETERMIN_API_URL="http://127.0.0.1:9/api",
        TERMINFLOW_FAST_PASSWORD_HASHER="1",
        TERMINFLOW_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(
            [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            + [str(ROOT / "src")]
        ),
    )
    env.update(extra)
    return env


def terminflow(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "terminflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"terminflow {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


class Process:
    """A ``terminflow serve`` or ``terminflow worker`` in its own process group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "terminflow.cli", *self.args],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the live processes of its process group."""
        if self.popen is None:
            return 0.0
        return sum(cpu for group, _comm, cpu in process_table() if group == self.popen.pid)

    def kill(self) -> None:
        """SIGKILL: no shutdown, whatever it held in memory or in flight is gone."""
        if self.running:
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def process_table() -> list[tuple[int, str, float]]:
    """(process group, command name, CPU seconds) of every process this user can read."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the fields follow it.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table.append((int(fields[2]), comm, (int(fields[11]) + int(fields[12])) / ticks))
    return table


def postgres_cpu_seconds() -> float:
    """CPU time used so far by the live PostgreSQL server processes (backends come and go)."""
    return sum(cpu for _group, comm, cpu in process_table() if comm.startswith("postgres"))


def web(env: dict[str, str], log_dir: Path, name: str = "web") -> tuple[Process, str]:
    port = free_port()
    process = Process(
        name,
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env,
        log_dir / f"{name}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(f"{name} exited at start:\n{process.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not start:\n{process.log.read_text()[-3000:]}")


def worker(env: dict[str, str], log_dir: Path, name: str = "worker") -> Process:
    return Process(name, ["worker"], env, log_dir / f"{name}.log").start()


def prepare(env: dict[str, str], web_url: str) -> str:
    """Migrate, make a workspace and its campaign through the API; returns the Web Push URL."""
    terminflow(env, "migrate")
    terminflow(
        env,
        *("createadmin", "--email", "ops@example.ch", "--password", "scaleout-pass"),
        *("--workspace", "Scaleout"),
    )
    api_token = terminflow(env, "apitoken", "--workspace", "Scaleout").strip()
    headers = {"authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=web_url + "/api/v1", headers=headers, timeout=30) as api:

        def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            if response.status_code >= 300:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
            return dict(response.json())

        account = call(
            "/etermin/accounts",
            {"name": "Praxis", "public_key": "pub", "private_key": "priv", "verify": False},
        )
        call("/fields", {"key": "termin", "label": "Termin", "type": "datetime"})
        email = call(
            "/emails",
            {
                "name": "Bestätigung",
                "subject": "Ihr Termin",
                "body_html": '<p>Bitte bestätigen: <a href="{{ links.confirm }}">hier</a></p>',
                "kind": "doi",
            },
        )
        call(
            "/campaigns",
            {
                "name": "Buchungen",
                "status": "active",
                "elements": [
                    {
                        "id": "booking",
                        "type": "etermin.appointment",
                        "config": {"calendar": "all", "event": "created", "start_field": "termin"},
                    },
                    {"id": "tag", "type": "contact.tag", "config": {"add": ["gebucht"]}},
                    {
                        "id": "wait",
                        "type": "wait.until_field",
                        "config": {"field": "termin", "offset_minutes": -525_600},
                    },
                    {"id": "email", "type": "email.doi", "config": {"email_id": email["id"]}},
                ],
                "edges": [
                    {"source": "booking", "target": "tag"},
                    {"source": "tag", "target": "wait"},
                    {"source": "wait", "target": "email"},
                ],
            },
        )
    return str(account["web_push_url"])


def push_body(uid: str) -> bytes:
    """A CREATED push for a new appointment of a new customer (one contact, one email each)."""
    return json.dumps(
        {
            "command": "CREATED",
            "appointmentUID": uid,
            "startDateTimeUTC": "2026-12-03T08:30:00Z",
            "endDateTimeUTC": "2026-12-03T09:15:00Z",
            "firstName": "Lea",
            "lastName": "Brunner",
            "email": f"{uid}@example.ch",
            "calendarName": "Praxis Seefeld",
            "calendarID": "211614",
        }
    ).encode()


def wait_for_workers(database_url: str, count: int, timeout: float = 120) -> None:
    """Wait until ``count`` workers have written their heartbeat: each has finished starting
    (importing Django and the apps takes a few CPU seconds) and its sweeps are turning."""
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM web_workerheartbeat").fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} workers did not start within {timeout:.0f} s")


def state(database_url: str) -> dict[str, int]:
    """Counts that say where every push is, read straight from the database."""
    import psycopg

    queries = {
        "inbox": "SELECT count(*) FROM etermin_inbox",
        "inbox_uids": "SELECT count(DISTINCT appointment_uid) FROM etermin_inbox",
        "inbox_pending": "SELECT count(*) FROM etermin_inbox WHERE status = 'pending'",
        "inbox_processed": "SELECT count(*) FROM etermin_inbox WHERE status = 'processed'",
        "enrollments": "SELECT count(*) FROM campaigns_enrollment",
        "runs_pending": "SELECT count(*) FROM campaigns_run WHERE status = 'pending'",
        "runs_claimed": "SELECT count(*) FROM campaigns_run WHERE status = 'pending' "
        "AND claimed_until IS NOT NULL",
        "runs_completed": "SELECT count(*) FROM campaigns_run WHERE status = 'completed'",
        "outbox": "SELECT count(*) FROM mail_outbox",
        "outbox_sent": "SELECT count(*) FROM mail_outbox WHERE status = 'sent'",
        "outbox_queued": "SELECT count(*) FROM mail_outbox WHERE status = 'queued'",
    }
    with psycopg.connect(database_url) as conn:
        return {name: int(conn.execute(sql).fetchone()[0]) for name, sql in queries.items()}  # type: ignore[index]


def inbox_uids(database_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return {row[0] for row in conn.execute("SELECT appointment_uid FROM etermin_inbox")}


def outbox_message_ids(database_url: str) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT message_id FROM mail_outbox")]
