"""The real ``terminflow`` command, run as a newcomer runs it: every mistake is one line.

Each case starts the installed command in a subprocess and checks the exit code and that
stderr is exactly one line, never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TERMINFLOW = str(Path(sys.executable).with_name("terminflow"))


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    environment.update(env or {})
    return subprocess.run(
        [TERMINFLOW, *args], capture_output=True, text=True, env=environment, timeout=timeout
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> dict[str, str]:
    return {"TERMINFLOW_DATA_DIR": str(tmp_path / "data")}


def test_version_prints_the_package_version() -> None:
    result = run("--version")

    assert (result.returncode, result.stdout) == (0, "terminflow 0.1.0\n")


@pytest.mark.parametrize(
    ("env", "args", "status", "expected"),
    [
        (
            {"TERMINFLOW_DATABASE_URL": "mysql://db/terminflow"},
            ("migrate",),
            2,
            "terminflow: error: TERMINFLOW_DATABASE_URL: unsupported scheme 'mysql'; use "
            "sqlite:////absolute/path.sqlite3 or postgresql://user:pass@host:5432/db",
        ),
        (
            {"TERMINFLOW_DATABASE_URL": "sqlite:////nonexistent-terminflow/db.sqlite3"},
            ("migrate",),
            1,
            "terminflow: error: the folder /nonexistent-terminflow for the SQLite database does "
            "not exist; create it or fix TERMINFLOW_DATABASE_URL",
        ),
        (
            {"TERMINFLOW_LOG_LEVEL": "loud"},
            ("migrate",),
            2,
            "terminflow: error: TERMINFLOW_LOG_LEVEL='loud' is not a log level; use one of DEBUG, "
            "INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"TERMINFLOW_ETERMIN_TIMEOUT_SECONDS": "ten"},
            ("migrate",),
            2,
            "terminflow: error: TERMINFLOW_ETERMIN_TIMEOUT_SECONDS='ten' is not a positive number",
        ),
        (
            {"TERMINFLOW_WEB_PUSH_MAX_BYTES": "64k"},
            ("migrate",),
            2,
            "terminflow: error: TERMINFLOW_WEB_PUSH_MAX_BYTES='64k' is not a positive whole number",
        ),
        (
            {"TERMINFLOW_EMBEDDED_WORKER": "maybe"},
            ("migrate",),
            2,
            "terminflow: error: TERMINFLOW_EMBEDDED_WORKER='maybe' is not a yes/no value; use "
            "1/true/yes/on or 0/false/no/off",
        ),
        (
            {},
            ("serve", "--port", "70000"),
            2,
            "terminflow serve: error: argument --port: 70000 is out of range; use 1 to 65535, or "
            "0 for any free port",
        ),
        (
            {},
            ("serve", "--log-level", "loud"),
            2,
            "terminflow serve: error: argument --log-level: 'loud' is not a log level; use "
            "critical, error, warning, info, debug, trace",
        ),
        (
            {},
            ("sandbox", "--state", "/nonexistent-terminflow.json"),
            2,
            "terminflow: error: --state: the file /nonexistent-terminflow.json does not exist",
        ),
        (
            {},
            ("createadmin", "--email", "anna-at-example.ch", "--password", "x", "--workspace", "W"),
            2,
            "terminflow: error: --email: 'anna-at-example.ch' is not an email address: An email "
            "address must have an @-sign.",
        ),
    ],
)
def test_a_mistake_is_one_line_on_stderr_with_a_non_zero_exit(
    data_dir: dict[str, str], env: dict[str, str], args: tuple[str, ...], status: int, expected: str
) -> None:
    result = run(*args, env={**data_dir, **env})

    assert result.returncode == status
    assert one_line(result) == expected
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["0", "1", "true", "false", "yes", "no", "on", "off", "ON"])
def test_embedded_worker_accepts_every_yes_no_spelling(
    data_dir: dict[str, str], value: str
) -> None:
    result = run("--version", env={**data_dir, "TERMINFLOW_EMBEDDED_WORKER": value})
    check = subprocess.run(
        [sys.executable, "-c", "import terminflow.settings as s; print(s.EMBEDDED_WORKER)"],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            **data_dir,
            "TERMINFLOW_EMBEDDED_WORKER": value,
        },
    )

    assert result.returncode == 0
    assert check.stdout == f"{value.lower() in {'1', 'true', 'yes', 'on'}}\n"


def test_unreachable_postgresql_is_one_line(data_dir: dict[str, str]) -> None:
    result = run(
        "migrate",
        env={**data_dir, "TERMINFLOW_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"},
    )

    assert result.returncode == 1
    assert one_line(result).startswith("terminflow: error: cannot use the database (127.0.0.1): ")


def test_a_busy_port_is_one_line_and_no_running_banner(data_dir: dict[str, str]) -> None:
    # given something already listening on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        # when terminflow is started on it
        result = run("serve", "--port", port, env=data_dir)

    # then it says so in one line and never claimed to be running
    assert result.returncode == 1
    assert one_line(result) == (
        f"terminflow: error: cannot listen on 127.0.0.1:{port}: Address already in use; is "
        "terminflow (make run) already running? Stop it or choose another --port"
    )
    assert "is running" not in result.stdout


def test_the_worker_backs_off_while_the_database_is_unreachable(data_dir: dict[str, str]) -> None:
    # given a database nobody listens for
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(data_dir)
    env["TERMINFLOW_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/none"

    # when the worker has tried three times
    worker = subprocess.Popen(
        [TERMINFLOW, "worker"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    try:
        assert worker.stderr is not None
        while len(lines) < 3:
            line = worker.stderr.readline()
            assert line, "the worker ended early"
            lines.append(line.rstrip("\n"))
    finally:
        worker.terminate()
        out, rest = worker.communicate(timeout=10)

    # then each attempt was one line saying the pause (1 s, then doubling), no sweep started
    assert "Traceback" not in "\n".join(lines) + rest
    assert [line.rsplit("; ", 1)[1] for line in lines] == [
        "attempt 1, trying again in 1 s",
        "attempt 2, trying again in 2 s",
        "attempt 3, trying again in 4 s",
    ]
    assert all(line.startswith("cannot use the database (127.0.0.1): ") for line in lines)
    assert "worker running" not in out
