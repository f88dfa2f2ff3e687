"""``terminflow backup`` and ``terminflow restore``: a consistent copy taken while serving."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.etermin.test_ingest import make_account, push_body
from tests.fixtures.server import TerminflowServer, database_url

pytestmark = pytest.mark.django_db(transaction=True)


def terminflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "terminflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A TERMINFLOW_DATABASE_URL for an empty database of the same kind as the test's."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    import psycopg

    name = connection.settings_dict["NAME"] + "_restored"
    admin_url = database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield database_url().rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def inbox_uids(url: str) -> set[str]:
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return {row[0] for row in db.execute("SELECT appointment_uid FROM etermin_inbox")}
    import psycopg

    with psycopg.connect(url) as db:
        return {row[0] for row in db.execute("SELECT appointment_uid FROM etermin_inbox")}


class Burst:
    """Threads posting distinct pushes until stopped; remembers when each 200 came back."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.answered: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _post(self, n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                uid = f"burst-{n}-{i}"
                if client.post(self.url, content=push_body(uid)).status_code == 200:
                    self.answered.append((time.monotonic(), uid))
                i += 1

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.answered) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.mark.terminflow_server(embedded_worker=False)
def test_a_backup_during_a_push_burst_restores_every_push_answered_before_it(
    terminflow_server: Any, tmp_path: Path, fresh_database: str
) -> None:
    # given the server taking a burst of pushes
    account = make_account()
    env = terminflow_server.environment()
    file = tmp_path / "terminflow.backup"
    with Burst(f"{terminflow_server.url}/hooks/etermin/{account.web_push_token}") as burst:
        burst.wait_for(100)
        # when a backup is taken in the middle of it
        started = time.monotonic()
        before = {uid for at, uid in list(burst.answered) if at < started}
        made = terminflow(env, "backup", str(file))
        burst.wait_for(len(burst.answered) + 50)
    answered = {uid for _, uid in burst.answered}
    assert made.returncode == 0, made.stderr
    assert str(file) in made.stdout

    # and restored into an empty database
    restored_env = {**env, "TERMINFLOW_DATABASE_URL": fresh_database}
    put_back = terminflow(restored_env, "restore", str(file))
    assert put_back.returncode == 0, put_back.stderr

    # then it holds every push answered before the backup started, and none never answered
    restored = inbox_uids(fresh_database)
    assert len(before) >= 100
    assert before <= restored
    assert restored <= answered | {uid for uid in restored if uid.startswith("burst-")}
    assert len(restored) < len(answered)  # the burst went on after the backup

    # and terminflow runs on it: it serves, and its worker processes what was restored
    data_dir = tmp_path / "restored-data"
    data_dir.mkdir()
    server = TerminflowServer(
        data_dir, embedded_worker=True, env={"TERMINFLOW_DATABASE_URL": fresh_database}
    ).start()
    try:
        response = httpx.post(
            f"{server.url}/hooks/etermin/{account.web_push_token}",
            content=push_body("after-restore"),
            timeout=10,
        )
        assert (response.status_code, response.text) == (200, "ok")
    finally:
        server.stop()
    assert inbox_uids(fresh_database) == restored | {"after-restore"}


def test_a_backup_is_not_written_over_an_existing_file(tmp_path: Path) -> None:
    env = TerminflowServer(tmp_path).environment()
    file = tmp_path / "exists.backup"
    file.write_bytes(b"keep me")

    result = terminflow(env, "backup", str(file))

    assert result.returncode == 2
    assert result.stderr == f"terminflow backup: {file} exists; choose a new file name\n"
    assert file.read_bytes() == b"keep me"


def test_restore_refuses_a_file_that_is_no_backup(tmp_path: Path) -> None:
    env = TerminflowServer(tmp_path).environment()
    file = tmp_path / "notes.txt"
    file.write_text("not a database")

    result = terminflow(env, "restore", str(file))

    assert result.returncode == 2
    kind = (
        "a SQLite backup made by terminflow backup"
        if connection.vendor == "sqlite"
        else ("a pg_dump custom-format backup")
    )
    assert result.stderr == f"terminflow restore: {file} is not {kind}\n"


def test_backup_on_postgresql_without_pg_dump_says_so_in_one_line(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL only")
    env = {**TerminflowServer(tmp_path).environment(), "PATH": str(tmp_path)}
    result = terminflow(env, "backup", str(tmp_path / "x.backup"))

    assert result.returncode == 2
    assert result.stderr == (
        "terminflow backup: pg_dump not found: install the PostgreSQL client tools "
        "(Debian: apt install postgresql-client) matching the server's major version\n"
    )
    assert not (tmp_path / "x.backup").exists()


def elsewhere(env: dict[str, str], database_url: str, data_dir: Path) -> dict[str, str]:
    """``env`` pointed at another database and data folder (a restore onto a new machine)."""
    return {**env, "TERMINFLOW_DATABASE_URL": database_url, "TERMINFLOW_DATA_DIR": str(data_dir)}


def _image_file(data_dir: Path, relative: str, colour: str) -> bytes:
    from PIL import Image as Pillow

    target = data_dir / "media" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    Pillow.new("RGB", (3, 2), colour).save(target, "PNG")
    return target.read_bytes()


def test_the_images_of_emails_are_backed_up_and_restored(
    tmp_path: Path, fresh_database: str
) -> None:
    # given two workspaces' image files in the data folder, and a stray file beside them
    source_dir, restored_dir = tmp_path / "data", tmp_path / "restored-data"
    env = TerminflowServer(source_dir).environment()
    red = _image_file(source_dir, "7/Ab3-_x.png", "red")
    blue = _image_file(source_dir, "12/zZ9.png", "blue")
    (source_dir / "media" / "notes.txt").write_text("not an image")
    file = tmp_path / "terminflow.backup"

    # when a backup is taken and restored into an empty database with an empty data folder
    made = terminflow(env, "backup", str(file))
    put_back = terminflow(elsewhere(env, fresh_database, restored_dir), "restore", str(file))

    # then both images are back, byte for byte, and nothing else
    assert made.returncode == 0, made.stderr
    assert "2 images" in made.stdout
    assert put_back.returncode == 0, put_back.stderr
    assert "2 images" in put_back.stdout
    media = restored_dir / "media"
    assert sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) == [
        "12/zZ9.png",
        "7/Ab3-_x.png",
    ]
    assert (media / "7/Ab3-_x.png").read_bytes() == red
    assert (media / "12/zZ9.png").read_bytes() == blue
    # and the restored database keeps no trace of how they travelled
    if fresh_database.startswith("sqlite:"):
        with sqlite3.connect(fresh_database.removeprefix("sqlite://")) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "terminflow_backup_media" not in tables
        assert "etermin_inbox" in tables


def test_a_backup_cannot_write_outside_the_media_folder(
    tmp_path: Path, fresh_database: str
) -> None:
    # given a backup altered to carry files with paths that leave the media folder
    source_dir, restored_dir = tmp_path / "data", tmp_path / "restored-data"
    env = TerminflowServer(source_dir).environment()
    _image_file(source_dir, "1/good.png", "green")
    file = tmp_path / "terminflow.backup"
    assert terminflow(env, "backup", str(file)).returncode == 0
    absolute = str(tmp_path / "absolute-escaped.png")
    evil = ["../../escaped.png", "1/../../escaped.png", absolute, "1/x.sh"]
    if connection.vendor == "sqlite":
        with sqlite3.connect(file) as db:
            db.executemany(
                "INSERT INTO terminflow_backup_media VALUES (?, ?)", [(p, b"evil") for p in evil]
            )
    else:
        import io
        import tarfile

        with tarfile.open(file, "a") as archive:
            for path in evil:
                info = tarfile.TarInfo("media/" + path)
                info.size = 4
                archive.addfile(info, io.BytesIO(b"evil"))

    # when it is restored
    put_back = terminflow(elsewhere(env, fresh_database, restored_dir), "restore", str(file))

    # then only the real image is written, nowhere else
    assert put_back.returncode == 0, put_back.stderr
    assert "1 image" in put_back.stdout
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in written if "escaped" in p or p.endswith(".sh")] == []
    assert (restored_dir / "media" / "1" / "good.png").is_file()
    assert not Path(absolute).exists()
