"""The ``terminflow`` command: serve | worker | migrate | createadmin | createoperator | ...

Every failure a person can cause (a setting, a busy port, a database that is not there) ends in
one line on stderr and a non-zero exit, never a traceback: ``CliError`` and the errors the
settings and the database raise are turned into that line in ``main``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

log = logging.getLogger("terminflow.cli")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# Reconnecting to an unreachable database: 1 s, doubling, at most 30 s between attempts.
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0


class CliError(Exception):
    """A failure to report as one line; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")
    import django
    from django.utils import translation

    django.setup()
    # The command speaks English to operators, whatever the default language of the pages.
    translation.deactivate_all()
    _check_sqlite_folder()


def _check_sqlite_folder() -> None:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "sqlite" not in database["ENGINE"]:
        return
    folder = Path(database["NAME"]).parent
    if not folder.is_dir():
        raise CliError(
            f"the folder {folder} for the SQLite database does not exist; create it or fix "
            "TERMINFLOW_DATABASE_URL"
        )


def _database_problem(exc: BaseException) -> str:
    """The first line of a driver's error, which is the part that names the cause."""
    from django.conf import settings

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    database = settings.DATABASES["default"]
    where = database.get("HOST") or database["NAME"]
    return f"cannot use the database ({where}): {first}"


def _migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
    call_command("collectstatic", interactive=False, verbosity=0)
    from terminflow.workspaces.services import ensure_default_plans

    ensure_default_plans()


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup()
    _migrate(verbosity=1)
    _warn_about_operators_in_workspaces()
    return 0


def _warn_about_operators_in_workspaces() -> None:
    """Name the accounts that can open /admin/ and also work in a workspace.

    Older versions made every ``createadmin`` user an operator; which of them really run the
    server only the operator knows, so nothing is changed automatically (see the README).
    """
    from django.utils.translation import gettext as _

    from terminflow.workspaces.services import operators_in_workspaces

    users = operators_in_workspaces()
    if users:
        print(
            _(
                "These workspace members are also operators and can see every workspace in "
                "/admin/: %(emails)s. If they do not run this server, remove their staff and "
                "superuser status (README, “Upgrading”)."
            )
            % {"emails": ", ".join(user.email for user in users)},
            file=sys.stderr,
        )


def _bind(host: str, port: int) -> socket.socket:
    """Listen before saying that terminflow runs; a busy port is a one-line error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror}; is terminflow (make run) already "
            "running? Stop it or choose another --port"
        ) from None
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    import uvicorn
    from django.conf import settings

    from terminflow.kit.deadlines import http_protocol
    from terminflow.workspaces.models import User

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    banner = [f"terminflow is running at http://{args.host}:{port}/  (data: {settings.DATA_DIR})"]
    if not User.objects.exists():
        banner.append(
            "No user yet. Create one with:\n"
            "  terminflow createadmin --email you@example.com --password '...' "
            "--workspace 'My shop'\n"
            "then log in at /login/, and make an API token with\n"
            "  terminflow apitoken --workspace 'My shop'\n"
            "The operator who manages plans in /admin/ gets an account of their own:\n"
            "  terminflow createoperator --email ops@example.com --password '...'"
        )
    else:
        banner.append("Log in with your email and password at /login/ (operators: /admin/).")
    if settings.LOG_FORMAT == "json":
        # Every line of a JSON log is an object, the greeting included.
        for text in banner:
            logging.getLogger("terminflow").info(text)
    else:
        print("\n".join(banner))
    sys.stdout.flush()
    options: dict[str, Any] = {}
    if settings.LOG_FORMAT == "json":
        # uvicorn's own logging config prints plain lines; without it its loggers go to ours.
        options["log_config"] = None
    config = uvicorn.Config(
        "terminflow.asgi:app",
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        http=http_protocol(settings.HEADER_TIMEOUT_SECONDS),
        timeout_keep_alive=settings.KEEP_ALIVE_SECONDS,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
        **options,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def reconnect_delays() -> Iterator[float]:
    """1, 2, 4, 8, 16, 30, 30, … seconds."""
    delay = RECONNECT_FIRST_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)


def wait_for_database(stop: threading.Event, echo: Callable[[str], None]) -> bool:
    """Connect, backing off while the database is unreachable; one line per failed attempt.

    Returns False when stopped before a connection was made.
    """
    from django.db import connection
    from django.db.utils import DatabaseError

    for attempt, delay in enumerate(reconnect_delays(), start=1):
        try:
            connection.ensure_connection()
            return True
        except DatabaseError as exc:
            connection.close()
            echo(f"{_database_problem(exc)}; attempt {attempt}, trying again in {delay:g} s")
        if stop.wait(delay):
            return False
    return False  # pragma: no cover - the delays never end


def cmd_worker(args: argparse.Namespace) -> int:
    _setup()
    from terminflow.worker import Worker

    stop = threading.Event()
    try:
        if not wait_for_database(stop, lambda line: print(line, file=sys.stderr, flush=True)):
            return 1
        print("terminflow worker running; Ctrl-C stops it.")
        sys.stdout.flush()
        Worker().run_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_createadmin(args: argparse.Namespace) -> int:
    _setup()
    from terminflow.contacts.cleaning import normalize_email
    from terminflow.kit.errors import TerminflowError

    try:
        email = normalize_email(args.email)
    except TerminflowError as exc:
        raise CliError(f"--email: {exc.english}", status=2) from None
    _migrate()
    from django.utils.translation import gettext as _

    from terminflow.workspaces.services import create_admin

    try:
        user, workspace = create_admin(
            email=email,
            password=args.password,
            workspace_name=args.workspace,
            reset_password=args.reset_password,
        )
    except TerminflowError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    print(
        _("Admin %(email)s can now log in to workspace %(workspace)s.")
        % {"email": user.email, "workspace": repr(workspace.name)}
    )
    return 0


def cmd_createoperator(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from django.utils.translation import gettext as _

    from terminflow.kit.errors import TerminflowError
    from terminflow.workspaces.services import create_operator

    try:
        user = create_operator(
            email=args.email, password=args.password, reset_password=args.reset_password
        )
    except TerminflowError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    print(_("Operator %(email)s can now log in at /admin/.") % {"email": user.email})
    return 0


def cmd_apitoken(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from terminflow.workspaces.services import issue_api_token, workspace_by_name

    workspace = workspace_by_name(args.workspace)
    issued = issue_api_token(workspace, name=args.name)
    print(issued.token)
    print(
        "Keep this token now: only its hash is stored, it cannot be shown again.",
        file=sys.stderr,
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    _setup()
    from terminflow.backup import BackupError, backup

    try:
        print(backup(Path(args.file).resolve()))
    except BackupError as exc:
        print(f"terminflow backup: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    _setup()
    from terminflow.backup import BackupError, restore

    try:
        print(restore(Path(args.file).resolve()))
    except BackupError as exc:
        print(f"terminflow restore: {exc}", file=sys.stderr)
        return 2
    # A backup from an older release gets this release's migrations.
    _migrate()
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from terminflow.etermin.sandbox.server import main as sandbox_main
    from terminflow.etermin.sandbox.state import SandboxError

    if args.state and not Path(args.state).is_file():
        raise CliError(f"--state: the file {args.state} does not exist", status=2)
    try:
        return sandbox_main(args)
    except (ValueError, SandboxError) as exc:
        raise CliError(f"--state: {args.state} cannot be read: {exc}", status=2) from None
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; is a sandbox "
            "already running? Stop it or choose another --port"
        ) from None


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (argparse prints the usage block otherwise)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is out of range; use 1 to 65535, or 0 for any free port"
        )
    return port


def _log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level; use {', '.join(LOG_LEVELS)}"
        )
    return text.lower()


def _version() -> str:
    try:
        return version("terminflow")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="terminflow")
    parser.add_argument("--version", action="version", version=f"terminflow {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the web server, ingest and worker in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--log-level", type=_log_level, default="info")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run worker sweeps only").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="create or update the database").set_defaults(func=cmd_migrate)

    admin = sub.add_parser(
        "createadmin",
        help="create the admin of a workspace (creating the workspace if needed); "
        "workspace admins use the pages and the API, never /admin/",
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True, help="checked by the password validators")
    admin.add_argument("--workspace", required=True, help="the workspace's name")
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="the user exists already: give them this password (refused without this flag)",
    )
    admin.set_defaults(func=cmd_createadmin)

    operator = sub.add_parser(
        "createoperator",
        help="create an operator: runs the server, may use /admin/ and sees every workspace",
    )
    operator.add_argument("--email", required=True)
    operator.add_argument("--password", required=True, help="checked by the password validators")
    operator.add_argument(
        "--reset-password",
        action="store_true",
        help="the operator exists already: give them this password (refused without this flag)",
    )
    operator.set_defaults(func=cmd_createoperator)

    token = sub.add_parser("apitoken", help="print a new API token for a workspace")
    token.add_argument("--workspace", required=True)
    token.add_argument("--name", default="default")
    token.set_defaults(func=cmd_apitoken)

    backup = sub.add_parser(
        "backup", help="write a consistent backup of the database to FILE (also while serving)"
    )
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="replace the database's content with a backup (stop terminflow first)"
    )
    restore.add_argument("file")
    restore.set_defaults(func=cmd_restore)

    sandbox = sub.add_parser("sandbox", help="run the fake eTermin server for tests and demos")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=_port, default=8765)
    sandbox.add_argument("--state", default="", help="JSON file with keys, calendars, web push")
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def _fail(message: str, status: int) -> int:
    print(f"terminflow: error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import DatabaseError

    from terminflow.kit.errors import TerminflowError

    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except ImproperlyConfigured as exc:
        return _fail(str(exc), 2)
    except DatabaseError as exc:
        return _fail(_database_problem(exc), 1)
    except TerminflowError as exc:
        return _fail(exc.english, 2)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
