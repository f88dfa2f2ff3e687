"""Sending benchmark: emails per minute from the outbox to a local SMTP server.

One command: ``.venv/bin/python bench/send.py [--count 20000] [--pool 4] [--backend sqlite]``.

1. An SMTP sink runs in its own process on 127.0.0.1 (aiosmtpd on uvloop, a handler that
   accepts and drops every message), so it never shares the GIL with the sender.
2. **Baseline**: a raw client with the same number of connections (``smtplib`` in threads)
   blasts ``--count`` ready-made messages of the same size at the sink: the rate of the SMTP
   server alone, without terminflow.
3. **terminflow**: a subprocess migrates a fresh database (SQLite in WAL with
   ``synchronous=FULL`` as in production, or a dedicated PostgreSQL database), queues
   ``--count`` rendered marketing emails in the outbox (one rendered through the services,
   copied per contact, each copy with its own tracked links and open pixel as the services
   make them, unless ``--no-tracking``; the rewriting is timed and reported), then times the
   worker's ``mail.send`` sweep in a loop, as the worker runs it, until the outbox is empty,
   and checks every row is ``sent``. Every message is DKIM-signed (a fresh RSA-2048 key)
   unless ``--no-dkim``, as in production.

Both run ``--repeat`` times, alternating; printed: each run, the medians in emails per minute
and their ratio. The target is 50,000 per minute. The 2 cores are shared by the sink and the
sender (and whatever else runs): compare the ratio, not single runs.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import smtplib
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, bench_database, report, run_child, setup_django

TARGET_PER_MINUTE = 50_000


# -- the SMTP sink ------------------------------------------------------------------------------


def _sink(port_out: Any, received: Any, signed: Any, stop: Any) -> None:
    import asyncio
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()

    class Drop:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with received.get_lock():
                received.value += 1
            if (envelope.original_content or envelope.content).startswith(b"DKIM-Signature:"):
                with signed.get_lock():
                    signed.value += 1
            return "250 OK"

    class SinkController(Controller):
        def _trigger_server(self) -> None:
            if self.port == 0 and self.server is not None:
                self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = SinkController(Drop(), hostname="127.0.0.1", port=0, loop=loop)
    controller.start()
    port_out.send(controller.port)
    stop.wait()
    controller.stop()


class Sink:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.received = context.Value("l", 0)
        self.signed = context.Value("l", 0)
        self._stop = context.Event()
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_sink, args=(child, self.received, self.signed, self._stop), daemon=True
        )
        self._process.start()
        self.port: int = parent.recv()

    def close(self) -> None:
        self._stop.set()
        self._process.join(10)


# -- the baseline: a raw client -----------------------------------------------------------------


def sample_message(size_hint: int) -> bytes:
    from datetime import UTC, datetime

    from terminflow.mail.transports import build_message

    text = ("Hallo Anna, hier sind die Neuigkeiten aus der Praxis. " * 40)[:size_hint]
    return build_message(
        from_email="Praxis Seefeld <terminflow@localhost>",
        to_email="person@example.com",
        subject="Neuigkeiten aus der Praxis",
        body_text=text,
        body_html=f"<p>{text}</p>",
        message_id="<bench@localhost>",
        date=datetime.now(UTC),
        headers={
            "List-Unsubscribe": "<https://example.com/mail/unsubscribe/x/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def baseline(port: int, count: int, pool: int, message: bytes) -> float:
    """Seconds a raw smtplib client with ``pool`` connections needs for ``count`` messages."""
    shares = [count // pool + (1 if i < count % pool else 0) for i in range(pool)]

    def blast(n: int) -> None:
        client = smtplib.SMTP("127.0.0.1", port)
        client.ehlo()
        for i in range(n):
            client.sendmail("terminflow@localhost", [f"person{i}@example.com"], message)
        client.quit()

    threads = [threading.Thread(target=blast, args=(n,)) for n in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# -- the child: terminflow's sender -------------------------------------------------------------


def child(count: int, track: bool) -> None:
    setup_django()
    import uuid

    from django.db import transaction

    from terminflow.contacts.models import Contact
    from terminflow.kit import clock
    from terminflow.mail import services, tracking, transports
    from terminflow.mail.models import Outbox
    from terminflow.mail.tasks import SWEEPS
    from terminflow.workspaces.services import get_or_create_workspace

    workspace = get_or_create_workspace("Praxis Seefeld")
    # Rendered untracked once; each copy below is then tracked for its own outbox row.
    workspace.track_opens = workspace.track_clicks = False
    workspace.save()
    now = clock.now()
    with transaction.atomic():
        Contact.objects.bulk_create(
            [
                Contact(
                    workspace=workspace,
                    email=f"person{i}@example.com",
                    first_name="Anna",
                    email_status="confirmed_doi",
                )
                for i in range(count)
            ],
            batch_size=2_000,
        )
    contacts = list(Contact.objects.filter(workspace=workspace).order_by("id"))
    text = "Hallo {{ contact.first_name }}, hier sind die Neuigkeiten aus der Praxis. " * 20
    links = "".join(
        f'<p><a href="https://praxis-seefeld.example/{page}?utm_source=newsletter">{page}</a></p>'
        for page in ("angebot", "termine", "team")
    )
    template = services.create_template(
        workspace,
        services.TemplateData(
            name="Newsletter",
            subject="Neuigkeiten für {{ contact.first_name }}",
            body_html=(
                f"<html><body><p>{text}</p>{links}"
                '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p></body></html>'
            ),
        ),
    )
    first = services.queue_email(template, contacts[0], now=now)
    domain = transports.message_id_domain()
    rows = []
    rewrite_seconds = 0.0
    if track:
        began = time.perf_counter()
        body, targets = tracking.track(first.body_html, first.public_id, clicks=True, opens=True)
        rewrite_seconds += time.perf_counter() - began
        Outbox.objects.filter(pk=first.pk).update(body_html=body, links=targets)
    for contact in contacts[1:]:
        public_id = uuid.uuid4()
        body, targets = first.body_html, []
        if track:
            began = time.perf_counter()
            body, targets = tracking.track(body, public_id, clicks=True, opens=True)
            rewrite_seconds += time.perf_counter() - began
        rows.append(
            Outbox(
                workspace=workspace,
                contact=contact,
                template=template,
                template_version=1,
                public_id=public_id,
                message_id=f"<{public_id.hex}@{domain}>",
                kind=first.kind,
                to_email=contact.email,
                from_email=first.from_email,
                subject=first.subject,
                body_html=body,
                body_text=first.body_text,
                links=targets,
                headers=first.headers,
                created_at=now,
                next_attempt_at=now,
            )
        )
    with transaction.atomic():
        Outbox.objects.bulk_create(rows, batch_size=2_000)
    # The set-up's tens of thousands of model objects are not the sender's: left alive, every
    # full garbage collection during the timed part walked them (7 % of its CPU in a profile).
    del rows, contacts
    gc.collect()

    rounds = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    sweep = next(s for s in SWEEPS if s.name == "mail.send")
    while sweep.run():
        rounds += 1
    elapsed = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    transports.close_pools()
    sent = Outbox.objects.filter(status="sent").count()
    report(
        {
            "seconds": elapsed,
            "sent": sent,
            "rounds": rounds,
            "message_bytes": len(body) + len(first.body_text),
            "rewrite_us": rewrite_seconds / count * 1e6,
            "cpu_us": cpu_seconds / count * 1e6,
        }
    )


# -- the parent ---------------------------------------------------------------------------------


def _dkim_env() -> dict[str, str]:
    """A fresh RSA-2048 signing key for the run, as the settings take it (PEM in the variable)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return {
        "TERMINFLOW_DKIM_DOMAIN": "praxis-seefeld.example",
        "TERMINFLOW_DKIM_SELECTOR": "tf2026",
        "TERMINFLOW_DKIM_PRIVATE_KEY": pem,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--pool", type=int, default=4, help="SMTP connections")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians printed")
    parser.add_argument("--no-dkim", action="store_true", help="send without DKIM signatures")
    parser.add_argument(
        "--no-tracking", action="store_true", help="no tracked links and no open pixel"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.count, track=not args.no_tracking)
        return

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")
    sys.path.insert(0, str(ROOT / "src"))
    message = sample_message(2_000)
    base_rates: list[float] = []
    rates: list[float] = []
    rewrites: list[float] = []
    cpu: list[float] = []
    dkim_env = {} if args.no_dkim else _dkim_env()
    sink = Sink()
    try:
        for attempt in range(1, args.repeat + 1):
            before = sink.received.value
            base_seconds = baseline(sink.port, args.count, args.pool, message)
            assert sink.received.value - before == args.count, "the sink lost messages"
            base_rates.append(args.count / base_seconds * 60)

            before = sink.received.value
            signed_before = sink.signed.value
            with bench_database(args.backend, "tf_bench_send") as env:
                env["TERMINFLOW_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}?pool={args.pool}"
                env.update(dkim_env)
                result = run_child(
                    Path(__file__),
                    ["--count", str(args.count), *(["--no-tracking"] if args.no_tracking else [])],
                    env,
                )
            delivered = sink.received.value - before
            assert result["sent"] == args.count, f"{result['sent']} of {args.count} marked sent"
            assert delivered == args.count, f"the sink got {delivered} of {args.count}"
            signed = sink.signed.value - signed_before
            assert signed == (0 if args.no_dkim else args.count), f"{signed} DKIM-signed"
            rates.append(args.count / result["seconds"] * 60)
            rewrites.append(result["rewrite_us"])
            cpu.append(result["cpu_us"])
            print(
                f"run {attempt}: baseline {base_rates[-1]:,.0f}/min, "
                f"terminflow {rates[-1]:,.0f}/min in {result['rounds']} sweeps "
                f"({result['message_bytes']:,} bytes a message; tracking the links took "
                f"{result['rewrite_us']:.0f} µs an email when queued; "
                f"{result['cpu_us']:.0f} µs of CPU an email while sending)",
                flush=True,
            )
    finally:
        sink.close()
    base_rate = statistics.median(base_rates)
    rate = statistics.median(rates)
    verdict = "meets" if rate >= TARGET_PER_MINUTE else "misses"
    print(f"baseline (raw smtplib, {args.pool} connections): {base_rate:,.0f} emails/min (median)")
    print(
        f"terminflow ({args.backend}, outbox → SMTP, {args.pool} connections, "
        f"DKIM {'off' if args.no_dkim else 'on'}, "
        f"tracking {'off' if args.no_tracking else 'on'}): "
        f"{rate:,.0f} emails/min (median), {rate / base_rate:.2f}× the baseline; "
        f"{verdict} the target of {TARGET_PER_MINUTE:,}/min"
    )
    print(
        f"CPU time of the sending process: {statistics.median(cpu):.0f} µs an email (median; "
        "the steadier figure on a shared machine: the SMTP sink needs the rest of the 2 cores)"
    )
    if not args.no_tracking:
        print(
            f"rewriting links and adding the pixel when queued: "
            f"{statistics.median(rewrites):.0f} µs an email (median; not part of the sending rate)"
        )


if __name__ == "__main__":
    main()
