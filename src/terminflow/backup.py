"""``terminflow backup FILE`` and ``terminflow restore FILE``.

SQLite: the online backup API copies the database page by page in one read transaction, so the
copy is consistent while ``terminflow serve`` keeps writing (WAL readers never block writers),
and it holds everything committed before the copy began. Restore writes the copy back the same
way, under the write lock.

PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot) and ``pg_restore --clean``,
run as child processes with the connection in ``PG*`` variables, so the password never shows
in a process list.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from django.db import connection

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """Something an operator can fix; the message is one line."""


def backup(target: Path) -> str:
    """Write a backup of the configured database to ``target``; returns what was done."""
    if connection.vendor == "sqlite":
        return _sqlite_backup(target)
    if connection.vendor == "postgresql":
        return _pg_dump(target)
    raise BackupError(f"no backup for database vendor {connection.vendor}")


def restore(source: Path) -> str:
    """Replace the configured database's content with the backup in ``source``."""
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if connection.vendor == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a SQLite backup made by terminflow backup")
        return _sqlite_restore(source)
    if connection.vendor == "postgresql":
        if not head.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
        return _pg_restore(source)
    raise BackupError(f"no restore for database vendor {connection.vendor}")


# -- SQLite ------------------------------------------------------------------------------------


def _sqlite_backup(target: Path) -> str:
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    connection.ensure_connection()
    source: Any = connection.connection
    copy = sqlite3.connect(partial)
    try:
        # All pages in one step: one read transaction, so one consistent point in time.
        source.backup(copy, pages=-1)
    finally:
        copy.close()
    partial.rename(target)
    return f"SQLite backup written to {target} ({target.stat().st_size} bytes)"


def _sqlite_restore(source: Path) -> str:
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        names = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master")}
        if "django_migrations" not in names or "etermin_inbox" not in names:
            raise BackupError(f"{source} is a SQLite file but not a terminflow database")
        connection.ensure_connection()
        backup_db.backup(connection.connection, pages=-1)
    finally:
        backup_db.close()
    return f"SQLite database restored from {source}"


# -- PostgreSQL --------------------------------------------------------------------------------


def _pg_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    for variable, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools "
            "(Debian: apt install postgresql-client) matching the server's major version"
        )
    return path


def _run(command: list[str]) -> None:
    result = subprocess.run(command, env=_pg_env(), capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def _pg_dump(target: Path) -> str:
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    tool = _tool("pg_dump")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    _run([tool, "--format=custom", "--no-owner", "--no-privileges", "--file", str(partial)])
    partial.rename(target)
    return f"PostgreSQL backup (pg_dump, custom format) written to {target}"


def _pg_restore(source: Path) -> str:
    tool = _tool("pg_restore")
    connection.close()
    _run(
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--dbname",
            connection.settings_dict["NAME"],
            str(source),
        ]
    )
    return f"PostgreSQL database restored from {source} (pg_restore)"
