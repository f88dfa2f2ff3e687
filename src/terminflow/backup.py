"""``terminflow backup FILE`` and ``terminflow restore FILE``.

SQLite: the online backup API copies the database page by page in one read transaction, so the
copy is consistent while ``terminflow serve`` keeps writing (WAL readers never block writers),
and it holds everything committed before the copy began. Restore writes the copy back the same
way, under the write lock.

PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot) and ``pg_restore --clean``,
run as child processes with the connection in ``PG*`` variables, so the password never shows
in a process list.

The images of emails are files in the data folder (``mail.images``), and emails refer to them by
URL: a backup without them restores emails with broken pictures. They go into the backup too:
on SQLite as a table of the copy (the backup stays a database one can open), on PostgreSQL in a
tar file beside the dump. Image files are never changed or reused once written, so copying them
after the database snapshot gives every image the snapshot refers to. A backup from before
images were kept in it restores as it did.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from django.db import connection

from terminflow.mail import images

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
# In a SQLite backup: the image files, taken out again (and the table dropped) on restore.
MEDIA_TABLE = "terminflow_backup_media"
# In a PostgreSQL backup (a tar file): the dump, and the images under ``media/``.
DUMP_MEMBER = "database.dump"
MEDIA_PREFIX = "media/"


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
    if connection.vendor == "postgresql" and tarfile.is_tarfile(source):
        return _pg_restore_with_media(source)
    if connection.vendor == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a SQLite backup made by terminflow backup")
        return _sqlite_restore(source)
    if connection.vendor == "postgresql":
        if not head.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} is not a pg_dump custom-format backup")
        return _pg_restore(source)
    raise BackupError(f"no restore for database vendor {connection.vendor}")


# -- images ------------------------------------------------------------------------------------


def _media_files() -> Iterator[tuple[str, Path]]:
    """(``<workspace id>/<name>.<ext>``, file) for every image file in the data folder."""
    root = images.media_root()
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            relative = f"{folder.name}/{file.name}"
            if images.file_for(relative) is not None and file.is_file():
                yield relative, file


def _put_media(files: Iterable[tuple[str, bytes | IO[bytes] | None]]) -> int:
    """Write restored image files; a name that is not an image path is skipped, never followed."""
    written = 0
    for relative, data in files:
        found = images.file_for(relative)
        if found is None or data is None:
            continue
        target = found[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                shutil.copyfileobj(data, handle)
        partial.replace(target)
        written += 1
    return written


def _images(count: int) -> str:
    return f"{count} image" + ("" if count == 1 else "s")


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
        copy.execute(f"CREATE TABLE {MEDIA_TABLE} (path TEXT PRIMARY KEY, data BLOB NOT NULL)")
        count = 0
        for relative, file in _media_files():
            copy.execute(f"INSERT INTO {MEDIA_TABLE} VALUES (?, ?)", (relative, file.read_bytes()))
            count += 1
        copy.commit()
    finally:
        copy.close()
    partial.rename(target)
    size = target.stat().st_size
    return f"SQLite backup written to {target} ({size} bytes, {_images(count)})"


def _sqlite_restore(source: Path) -> str:
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        names = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master")}
        if "django_migrations" not in names or "etermin_inbox" not in names:
            raise BackupError(f"{source} is a SQLite file but not a terminflow database")
        count = 0
        if MEDIA_TABLE in names:
            count = _put_media(backup_db.execute(f"SELECT path, data FROM {MEDIA_TABLE}"))
        connection.ensure_connection()
        backup_db.backup(connection.connection, pages=-1)
        connection.connection.execute(f"DROP TABLE IF EXISTS {MEDIA_TABLE}")
        connection.connection.commit()
    finally:
        backup_db.close()
    return f"SQLite database restored from {source} ({_images(count)})"


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
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / DUMP_MEMBER
        _run([tool, "--format=custom", "--no-owner", "--no-privileges", "--file", str(dump)])
        count = 0
        with tarfile.open(partial, "w") as archive:
            archive.add(dump, arcname=DUMP_MEMBER)
            for relative, file in _media_files():
                archive.add(file, arcname=MEDIA_PREFIX + relative)
                count += 1
    partial.rename(target)
    return (
        f"PostgreSQL backup (pg_dump, custom format, and {_images(count)}, in a tar file) "
        f"written to {target}"
    )


def _pg_restore_with_media(source: Path) -> str:
    with tarfile.open(source) as archive, tempfile.TemporaryDirectory() as folder:
        member = next((m for m in archive.getmembers() if m.name == DUMP_MEMBER), None)
        extracted = archive.extractfile(member) if member is not None and member.isfile() else None
        if extracted is None:
            raise BackupError(f"{source} is a tar file but not a backup made by terminflow backup")
        dump = Path(folder) / DUMP_MEMBER
        with dump.open("wb") as handle:
            shutil.copyfileobj(extracted, handle)
        with dump.open("rb") as handle:
            if not handle.read(len(PG_DUMP_MAGIC)).startswith(PG_DUMP_MAGIC):
                raise BackupError(f"{source} holds no pg_dump custom-format backup")
        # Read, never extracted: a member's name is checked as an image path, so nothing can
        # be written outside the media folder whatever the archive says. Each file is copied
        # in chunks, never read whole into memory.
        count = _put_media(
            (m.name.removeprefix(MEDIA_PREFIX), archive.extractfile(m))
            for m in archive.getmembers()
            if m.isfile() and m.name.startswith(MEDIA_PREFIX)
        )
        _pg_restore(dump)
    return f"PostgreSQL database restored from {source} (pg_restore), {_images(count)}"


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
