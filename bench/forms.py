"""Sign-up benchmark: does the answer's timing tell a known address from a new one?

One command: ``.venv/bin/python bench/forms.py [--count 300] [--backend sqlite]``.

A child migrates a fresh database (SQLite in WAL with ``synchronous=FULL`` as in production,
or a dedicated PostgreSQL database) and makes a workspace, a form, and ``--count`` contacts in
each state: known (single opt-in), confirmed by double opt-in, unsubscribed. Then the real
server (``terminflow serve``, no embedded worker, rate limits lifted) takes ``--count``
sign-ups of each kind, interleaved at random over one keep-alive connection; new addresses are
the fourth kind. **Baseline**: the same connection's ``GET /f/<id>`` (the page, no write).

Printed: per kind the median and p90 latency in milliseconds and the ratio of its median to
that of new addresses (1.00 means indistinguishable), and each against the baseline. The
machine is shared: compare the ratios, not single runs.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, bench_database, median, percentile, report, run_child, setup_django

KINDS = ("new", "known", "confirmed", "unsubscribed")


def child_setup(count: int) -> None:
    setup_django()
    from terminflow.contacts.services import create_contact
    from terminflow.forms import services as forms
    from terminflow.mail import services as mail
    from terminflow.workspaces.services import get_or_create_workspace

    workspace = get_or_create_workspace("Bench Praxis")
    doi = mail.create_template(
        workspace,
        mail.TemplateData(
            name="DOI",
            subject="Bitte bestätigen",
            body_html='<a href="{{ links.confirm }}">OK</a>',
            kind="doi",
        ),
    )
    form = forms.create_form(
        workspace,
        forms.FormData(name="Newsletter", doi_email_id=doi.pk, consent_text="Ja, bitte."),
    )
    proof = {"confirmed_at": "2026-01-01T00:00:00+00:00"}
    for i in range(count):
        create_contact(workspace, email=f"known{i}@example.com", email_status="confirmed_soi")
        create_contact(
            workspace,
            email=f"confirmed{i}@example.com",
            email_status="confirmed_doi",
            doi_proof=proof,
        )
        create_contact(workspace, email=f"unsubscribed{i}@example.com", email_status="unsubscribed")
    report({"public_id": form.public_id})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **env,
        "TERMINFLOW_EMBEDDED_WORKER": "0",
        "TERMINFLOW_BASE_URL": url,
        "TERMINFLOW_FORM_SUBMISSIONS_PER_ADDRESS": "1000000",
        "TERMINFLOW_FORM_SUBMISSIONS_PER_EMAIL": "1000000",
    }
    command = [sys.executable, "-m", "terminflow.cli", "serve", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("terminflow serve did not start")


def measure(url: str, public_id: str, count: int) -> dict[str, list[float]]:
    plan = [(kind, i) for kind in KINDS for i in range(count)] + [("page", i) for i in range(count)]
    random.Random(7).shuffle(plan)
    times: dict[str, list[float]] = {kind: [] for kind in (*KINDS, "page")}
    page = f"{url}/f/{public_id}"
    with httpx.Client(headers={"Accept": "text/html"}, timeout=10) as client:
        client.get(page)  # warm up
        for kind, i in plan:
            start = time.perf_counter()
            if kind == "page":
                response = client.get(page)
            else:
                response = client.post(page, data={"email": f"{kind}{i}@example.com"})
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{kind}: HTTP {response.status_code}")
            times[kind].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        child_setup(args.count)
        return
    with bench_database(args.backend, "forms") as env:
        env = {**env, "TERMINFLOW_SQLITE_SYNCHRONOUS": "FULL"}
        setup: dict[str, Any] = run_child(Path(__file__), ["--count", str(args.count)], env)
        server, url = _serve(env)
        try:
            times = measure(url, setup["public_id"], args.count)
        finally:
            server.terminate()
            server.wait(15)
    base = median(times["new"])
    page = median(times["page"])
    print(f"sign-ups on {args.backend}, {args.count} per kind, one keep-alive connection")
    print(f"{'kind':<14}{'median ms':>10}{'p90 ms':>9}{'÷ new':>8}{'÷ page GET':>12}")
    for kind in (*KINDS, "page"):
        values = times[kind]
        print(
            f"{kind:<14}{median(values):>10.2f}{percentile(values, 90):>9.2f}"
            f"{median(values) / base:>8.2f}{median(values) / page:>12.2f}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
