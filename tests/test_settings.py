"""settings.py: what a deployment's TERMINFLOW_* variables turn into, and the data folder's modes.

Settings are read once per process, so each case starts a fresh Python with its own environment.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPORT = textwrap.dedent(
    """
    import json, os
    os.environ["DJANGO_SETTINGS_MODULE"] = "terminflow.settings"
    import django
    django.setup()
    from django.conf import settings
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
        cursor.execute("INSERT INTO probe VALUES (1)")
    # While the connection is open: SQLite removes -wal and -shm when the last one closes.
    files = {
        p.name: oct(p.stat().st_mode & 0o777) for p in settings.DATA_DIR.iterdir()
    }
    names = [
        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER", "FORWARDED_ALLOW_IPS",
        "HEADER_TIMEOUT_SECONDS", "BODY_TIMEOUT_SECONDS", "WEB_PUSH_BODY_TIMEOUT_SECONDS",
        "KEEP_ALIVE_SECONDS",
    ]
    print(json.dumps({"files": files, **{name: getattr(settings, name) for name in names}}))
    """
)


def settings_for(data_dir: Path, **env: str) -> dict[str, Any]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TERMINFLOW_") and key != "DJANGO_SETTINGS_MODULE"
    }
    clean.update({"TERMINFLOW_DATA_DIR": str(data_dir), **env})
    result = subprocess.run(
        [sys.executable, "-c", REPORT], env=clean, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_https_base_url_makes_cookies_secure_and_turns_on_hsts(tmp_path: Path) -> None:
    values = settings_for(
        tmp_path / "data",
        TERMINFLOW_BASE_URL="https://termine.praxis.example",
        TERMINFLOW_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )

    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_hsts_and_the_proxy_header_can_be_tuned(tmp_path: Path) -> None:
    values = settings_for(
        tmp_path / "data",
        TERMINFLOW_BASE_URL="https://termine.praxis.example",
        TERMINFLOW_HSTS_SECONDS="600",
        TERMINFLOW_HSTS_INCLUDE_SUBDOMAINS="1",
        TERMINFLOW_PROXY_SSL_HEADER="X-Forwarded-Ssl: on",
        TERMINFLOW_FORWARDED_ALLOW_IPS="10.0.0.5",
    )

    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SSL", "on"]
    assert values["FORWARDED_ALLOW_IPS"] == "10.0.0.5"


def test_a_plain_http_base_url_keeps_cookies_usable_without_tls(tmp_path: Path) -> None:
    values = settings_for(tmp_path / "data", TERMINFLOW_BASE_URL="http://127.0.0.1:8000")

    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert (
        values["HEADER_TIMEOUT_SECONDS"],
        values["BODY_TIMEOUT_SECONDS"],
        values["WEB_PUSH_BODY_TIMEOUT_SECONDS"],
        values["KEEP_ALIVE_SECONDS"],
    ) == (10.0, 60.0, 10.0, 5)


def test_a_new_data_folder_and_its_database_and_key_are_private(tmp_path: Path) -> None:
    # given no data folder yet, and no secret key in the environment
    data = tmp_path / "data"

    # when terminflow starts on it and writes to its database
    values = settings_for(data)

    # then the folder is 0700 and the key, the database and its WAL files are 0600
    assert mode(data) == 0o700
    assert values["files"] == {
        "secret_key": "0o600",
        "terminflow.sqlite3": "0o600",
        "terminflow.sqlite3-wal": "0o600",
        "terminflow.sqlite3-shm": "0o600",
    }


def test_files_left_readable_by_an_older_version_are_made_private(tmp_path: Path) -> None:
    # given a data folder, key and database (with WAL files left over) created world-readable
    data = tmp_path / "data"
    settings_for(data)
    for leftover in ("terminflow.sqlite3-wal", "terminflow.sqlite3-shm"):
        (data / leftover).write_bytes(b"")
    data.chmod(0o755)
    for path in data.iterdir():
        path.chmod(0o644)

    # when terminflow starts on it again
    values = settings_for(data)

    # then everything is private again
    assert mode(data) == 0o700
    assert set(values["files"].values()) == {"0o600"}
    assert len(values["files"]) == 4
