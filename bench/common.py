"""Shared pieces of the processing and timer benchmarks.

Each benchmark configuration (backend and data size) runs in its own subprocess, because Django
reads its settings once per process. The parent prepares a data folder (and, for PostgreSQL, a
dedicated database), starts the child with the ``TERMINFLOW_*`` variables set, and reads the
child's figures from the last line it prints (one JSON object).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
RESULT_MARK = "BENCH-RESULT "
BACKENDS = ("sqlite", "postgresql")


# -- the parent side ---------------------------------------------------------------------------


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def bench_database(backend: str, name: str) -> Iterator[dict[str, str]]:
    """A fresh data folder (and PostgreSQL database); yields the child's environment."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"terminflow-bench-{name}-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        TERMINFLOW_DATA_DIR=str(data_dir),
        TERMINFLOW_SECRET_KEY="bench-secret-key-not-for-production",
        TERMINFLOW_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="terminflow.settings",
        # A PYTHONPATH given from outside comes first, to measure another source tree.
        PYTHONPATH=os.pathsep.join(
            [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            + [str(ROOT / "src"), str(ROOT)]
        ),
    )
    if backend == "postgresql":
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{name}"')
        env["TERMINFLOW_DATABASE_URL"] = f"{PG_SERVER}/{name}"
    try:
        yield env
    finally:
        if backend == "postgresql":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


def run_child(script: Path, args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``script --child ARGS`` and return the JSON object it printed last."""
    process = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    result = None
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
        else:
            print("    " + line, flush=True)
    if process.returncode != 0 or result is None:
        raise SystemExit(f"{script.name} {' '.join(args)} failed (exit {process.returncode})")
    return result


# -- the child side ----------------------------------------------------------------------------


def setup_django() -> None:
    """Set Django up from the environment the parent gave and migrate the fresh database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def report(result: dict[str, Any]) -> None:
    print(RESULT_MARK + json.dumps(result), flush=True)


def is_sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert raw rows fast: ``COPY`` on PostgreSQL, chunked ``executemany`` on SQLite.

    Values go in as the driver sends them; JSON columns take a JSON string. Call it inside a
    transaction. Returns how many rows went in.
    """
    from django.db import connection

    count = 0
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        names = ", ".join(f'"{column}"' for column in columns)
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    connection.ensure_connection()
    raw = connection.connection
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == 20_000:
            raw.executemany(sql, chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        raw.executemany(sql, chunk)
        count += len(chunk)
    return count


def analyze() -> None:
    """Planner statistics as production has them after a bulk load.

    PostgreSQL: fresh, as autovacuum gathers them. SQLite: none, as production never runs
    ANALYZE; statistics taken now would also go stale for the tables the benchmark fills
    later (an empty ``campaigns_run`` in them turns a by-contact lookup into a scan of every
    run of the workspace).
    """
    from django.db import connection

    if connection.vendor == "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def table_name(model: Any) -> str:
    return str(model._meta.db_table)


def column(model: Any, field: str) -> str:
    return str(model._meta.get_field(field).column)


# -- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0 ≤ pct ≤ 100); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt_count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)
