"""The ``terminflow`` command: serve | worker | migrate | createadmin | apitoken | sandbox | ..."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")
    import django

    django.setup()


def _migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
    call_command("collectstatic", interactive=False, verbosity=0)
    from terminflow.workspaces.services import ensure_default_plans

    ensure_default_plans()


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup()
    _migrate(verbosity=1)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    import uvicorn
    from django.conf import settings

    from terminflow.workspaces.models import User

    banner = [
        f"terminflow is running at http://{args.host}:{args.port}/  (data: {settings.DATA_DIR})"
    ]
    if not User.objects.exists():
        banner.append(
            "No user yet. Create one with:\n"
            "  terminflow createadmin --email you@example.com --password '...' "
            "--workspace 'My shop'\n"
            "then log in at /login/ (or /admin/), and make an API token with\n"
            "  terminflow apitoken --workspace 'My shop'"
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
    uvicorn.run(
        "terminflow.asgi:app",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        **options,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _setup()
    from terminflow.worker import Worker

    print("terminflow worker running; Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        Worker().run_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_createadmin(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from terminflow.workspaces.services import create_admin

    user, workspace = create_admin(
        email=args.email, password=args.password, workspace_name=args.workspace
    )
    print(f"Admin {user.email} can now log in to workspace {workspace.name!r}.")
    return 0


def cmd_apitoken(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from terminflow.kit.errors import NotFound
    from terminflow.workspaces.services import issue_api_token, workspace_by_name

    try:
        workspace = workspace_by_name(args.workspace)
    except NotFound as exc:
        print(exc.detail, file=sys.stderr)
        return 2
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

    return sandbox_main(args)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="terminflow")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server, ingest and worker in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run worker sweeps only").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="create or update the database").set_defaults(func=cmd_migrate)

    admin = sub.add_parser("createadmin", help="create a workspace admin user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--workspace", required=True)
    admin.set_defaults(func=cmd_createadmin)

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
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--state", default="", help="JSON file with keys, calendars, web push")
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
