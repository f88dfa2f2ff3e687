"""The sender against a real SMTP server: delivery, SMTP down, bounces, limits, TLS, DKIM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.mail import sending, services, transports
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from tests.fixtures.smtp import SmtpServer, self_signed_tls

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def queue(
    workspace: Workspace, count: int = 1, kind: str = "marketing", **contact: Any
) -> list[Outbox]:
    template = make_email(workspace, kind)
    status = "confirmed_doi" if kind == "marketing" else "confirmed_soi"
    rows = []
    for index in range(count):
        person = make_contact(
            workspace, email=contact.get("email", f"person{index}@example.com"), status=status
        )
        rows.append(services.queue_email(template, person, now=T0))
    return rows


def statuses() -> list[tuple[str, str]]:
    return list(Outbox.objects.order_by("id").values_list("status", "reason"))


def test_queued_email_is_delivered_with_its_message_id_and_headers(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    [row] = queue(workspace)

    moved = sending.send_due(now=T0)

    assert moved == 1
    [received] = smtp.messages
    message = received.message
    assert received.mail_from == "terminflow@localhost"
    assert received.rcpt_tos == ["person0@example.com"]
    assert message["Message-ID"] == row.message_id
    assert message["Subject"] == "Hallo Anna"
    assert message["From"] == "Praxis Seefeld <terminflow@localhost>"
    assert message["List-Unsubscribe"] == row.headers["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hallo Anna, Neuigkeiten!" in received.part("text/plain")
    assert "Neuigkeiten!" in received.part("text/html")
    stored = Outbox.objects.get(pk=row.pk)
    assert (stored.status, stored.reason, stored.sent_at, stored.attempts) == ("sent", "", T0, 1)
    assert sending.send_due(now=T0 + timedelta(hours=1)) == 0
    assert len(smtp.messages) == 1


def test_with_nothing_due_the_sender_only_reads(workspace: Workspace, smtp: SmtpServer) -> None:
    # given an email already sent, and one due only tomorrow
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queue(workspace)
    sending.send_due(now=T0)
    [later] = queue(workspace, email="later@example.com")
    Outbox.objects.filter(pk=later.pk).update(next_attempt_at=T0 + timedelta(days=1))

    # when the sender looks again
    with CaptureQueriesContext(connection) as queries:
        moved = sending.send_due(now=T0 + timedelta(minutes=1))

    # then it moved nothing, and only read: no transaction (the write lock on SQLite)
    assert moved == 0
    assert queries
    assert [q["sql"].split()[0] for q in queries] == ["SELECT"] * len(queries)
    assert len(smtp.messages) == 1


def test_non_ascii_subject_and_dot_lines_survive_the_trip(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    template = make_email(
        workspace,
        "marketing",
        subject="Grüezi {{ contact.first_name }} – Ihr Termin",
        body_html='<a href="{{ links.unsubscribe }}">x</a>',
        body_text=".\n..\nZeile mit Umlaut: äöü {{ links.unsubscribe }}",
    )
    person = make_contact(workspace, first_name="Zoë")
    services.queue_email(template, person, now=T0)

    sending.send_due(now=T0)

    [received] = smtp.messages
    assert received.message["Subject"] == "Grüezi Zoë – Ihr Termin"
    assert received.part("text/plain") == (
        f".\n..\nZeile mit Umlaut: äöü {received.message['List-Unsubscribe'][1:-1]}"
    )


def test_without_smtp_emails_wait_labelled_and_go_out_once_configured(
    workspace: Workspace, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.SMTP_URL = ""
    queue(workspace, 2)

    assert sending.send_due(now=T0) == 0
    assert statuses() == [("queued", services.NO_SMTP_REASON)] * 2
    assert smtp_server.messages == []

    settings.SMTP_URL = smtp_server.url
    try:
        assert sending.send_due(now=T0) == 2
    finally:
        transports.close_pools()
    assert statuses() == [("sent", "")] * 2
    assert len(smtp_server.messages) == 2


def test_smtp_down_then_back_delivers_each_email_exactly_once(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    rows = queue(workspace, 6)
    sending.send_due(now=T0, limit=2)
    smtp.stop()

    assert sending.send_due(now=T0) == 4
    waiting = Outbox.objects.filter(status="queued")
    assert waiting.count() == 4
    assert all(r.reason.startswith("waiting for the SMTP server: ") for r in waiting)
    assert {r.next_attempt_at for r in waiting} == {T0 + timedelta(seconds=30)}
    # Nothing is due before the backoff ends.
    assert sending.send_due(now=T0 + timedelta(seconds=29)) == 0

    smtp.start()
    assert sending.send_due(now=T0 + timedelta(seconds=30)) == 4

    ids = sorted(m.message["Message-ID"] for m in smtp.messages)
    assert ids == sorted(r.message_id for r in rows)
    assert statuses() == [("sent", "")] * 6


def test_server_going_away_mid_batch_loses_and_duplicates_nothing(
    workspace: Workspace, smtp: SmtpServer, settings: Any
) -> None:
    settings.SMTP_URL = smtp.url + "?pool=1"
    rows = queue(workspace, 5)
    handler = smtp.handler
    original = handler.handle_DATA
    accepted = 0

    async def accept_two_then_shut(*args: Any) -> str:
        nonlocal accepted
        if accepted >= 2:
            return "421 4.3.2 shutting down"
        accepted += 1
        return await original(*args)

    handler.handle_DATA = accept_two_then_shut  # type: ignore[method-assign]
    sending.send_due(now=T0)
    assert len(smtp.messages) == 2
    assert Outbox.objects.filter(status="queued").count() == 3

    handler.handle_DATA = original  # type: ignore[method-assign]
    sending.send_due(now=T0 + timedelta(minutes=1))

    ids = sorted(m.message["Message-ID"] for m in smtp.messages)
    assert ids == sorted(r.message_id for r in rows)
    assert statuses() == [("sent", "")] * 5


def test_permanent_bounce_fails_the_email_and_blocks_the_address(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    smtp.handler.refuse["gone@example.com"] = "550 5.1.1 no such user"
    [row] = queue(workspace, email="gone@example.com")

    sending.send_due(now=T0)

    stored = Outbox.objects.get(pk=row.pk)
    assert (stored.status, stored.reason) == (
        "failed",
        "address refused by the server: 550 5.1.1 no such user",
    )
    contact = Contact.objects.get(pk=row.contact_id)
    assert (contact.email_status, contact.blocked_until) == ("blocked", None)
    kinds = list(
        ConsentEvent.objects.filter(contact=contact).values_list("kind", "source").order_by("id")
    )
    assert kinds[-2:] == [("bounced", "smtp"), ("blocked", "smtp")]
    assert smtp.messages == []


def test_temporary_refusal_retries_with_backoff_then_blocks_temporarily(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    smtp.handler.refuse["full@example.com"] = "452 4.2.2 mailbox full"
    [row] = queue(workspace, email="full@example.com")

    sending.send_due(now=T0)
    stored = Outbox.objects.get(pk=row.pk)
    assert (stored.status, stored.next_attempt_at) == ("queued", T0 + timedelta(seconds=30))
    assert stored.reason == "temporarily refused, will retry: 452 4.2.2 mailbox full"

    sending.send_due(now=T0 + timedelta(seconds=30))
    assert Outbox.objects.get(pk=row.pk).next_attempt_at == T0 + timedelta(seconds=90)

    late = T0 + sending.RETRY_FOR
    Outbox.objects.filter(pk=row.pk).update(next_attempt_at=late)
    sending.send_due(now=late)

    stored = Outbox.objects.get(pk=row.pk)
    assert stored.status == "failed"
    contact = Contact.objects.get(pk=row.contact_id)
    assert (contact.email_status, contact.block_count, contact.blocked_until) == (
        "blocked_temporarily",
        1,
        late + timedelta(hours=72),
    )
    assert smtp.messages == []


def test_quentn_block_lengths_grow_and_the_fifth_is_permanent(workspace: Workspace) -> None:
    assert [services.block_duration(n).days for n in (1, 2, 3, 4)] == [3, 9, 27, 75]
    contact = make_contact(workspace, email="soft@example.com")
    found = []
    for n in range(5):
        now = T0 + timedelta(days=200 * n)
        found.append(
            services.record_bounce(contact, permanent=False, reply="452", message_id="<x>", now=now)
        )
    assert found == ["blocked_temporarily"] * 4 + ["blocked"]


def test_expired_temporary_block_restores_the_earlier_status(workspace: Workspace) -> None:
    contact = make_contact(workspace, email="soft@example.com", status="confirmed_doi")
    services.record_bounce(contact, permanent=False, reply="452", message_id="<x>", now=T0)

    assert services.deliverable_status(contact, T0 + timedelta(hours=71)) == "blocked_temporarily"
    assert services.deliverable_status(contact, T0 + timedelta(hours=72)) == "confirmed_doi"
    assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_doi"


def test_email_to_a_contact_who_unsubscribed_meanwhile_is_cancelled(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    from terminflow.contacts import consent

    [row] = queue(workspace)
    consent.set_email_status(row.contact, "unsubscribed", source="test")

    sending.send_due(now=T0)

    assert statuses() == [("cancelled", "contact is unsubscribed")]
    assert smtp.messages == []


def test_rate_limit_caps_emails_per_minute(
    workspace: Workspace, smtp: SmtpServer, settings: Any
) -> None:
    settings.SMTP_URL = smtp.url + "?rate_per_minute=3"
    queue(workspace, 5)

    assert sending.send_due(now=T0) == 3
    assert sending.send_due(now=T0 + timedelta(seconds=59)) == 0
    assert sending.send_due(now=T0 + timedelta(seconds=61)) == 2
    assert len(smtp.messages) == 5


def test_pipelining_server_gets_the_same_emails_and_bounces(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    smtp.handler.pipelining = True
    smtp.handler.refuse["gone@example.com"] = "550 5.1.1 no such user"
    queue(workspace, 3)
    [bounced] = queue(workspace, email="gone@example.com")

    sending.send_due(now=T0)

    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "person0@example.com",
        "person1@example.com",
        "person2@example.com",
    ]
    assert Outbox.objects.get(pk=bounced.pk).status == "failed"
    assert Outbox.objects.filter(status="sent").count() == 3


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_and_login(workspace: Workspace, settings: Any, tmp_path: Any, mode: str) -> None:
    context = self_signed_tls(tmp_path)
    server = SmtpServer(
        starttls=context if mode == "starttls" else None,
        implicit_tls=context if mode == "smtps" else None,
        login=("mailer", "s3cret"),
    )
    server.start()
    scheme = "smtps" if mode == "smtps" else "smtp"
    extra = "&starttls=require" if mode == "starttls" else ""
    settings.SMTP_URL = f"{scheme}://mailer:s3cret@127.0.0.1:{server.port}?tls_verify=0{extra}"
    try:
        queue(workspace)
        sending.send_due(now=T0)
    finally:
        transports.close_pools()
        server.stop()

    assert statuses() == [("sent", "")]
    assert len(server.messages) == 1


def test_wrong_password_keeps_emails_waiting(
    workspace: Workspace, settings: Any, tmp_path: Any
) -> None:
    server = SmtpServer(starttls=self_signed_tls(tmp_path), login=("mailer", "s3cret"))
    server.start()
    settings.SMTP_URL = f"smtp://mailer:wrong@127.0.0.1:{server.port}?tls_verify=0"
    try:
        queue(workspace)
        sending.send_due(now=T0)
    finally:
        transports.close_pools()
        server.stop()

    [(status, reason)] = statuses()
    assert status == "queued"
    assert reason.startswith("waiting for the SMTP server: smtp://mailer@127.0.0.1:")
    assert "refused the login: 535" in reason
    assert "wrong" not in reason
    assert server.messages == []


def test_dkim_signature_verifies(
    workspace: Workspace, smtp: SmtpServer, settings: Any, tmp_path: Any
) -> None:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "dkim.pem").write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    settings.DKIM_DOMAIN = "praxis.example"
    settings.DKIM_SELECTOR = "tf"
    settings.DKIM_PRIVATE_KEY = str(tmp_path / "dkim.pem")
    queue(workspace)

    sending.send_due(now=T0)

    [received] = smtp.messages
    assert received.message["DKIM-Signature"] is not None
    assert dkim.verify(received.data, dnsfunc=lambda name, timeout=5: record)


def test_ics_attachment_arrives_as_text_calendar(workspace: Workspace, smtp: SmtpServer) -> None:
    template = make_email(workspace, "marketing")
    person = make_contact(workspace)
    row = services.queue_email(template, person, now=T0)
    Outbox.objects.filter(pk=row.pk).update(
        ics="BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"
    )

    sending.send_due(now=T0)

    [received] = smtp.messages
    parts = {p.get_content_type(): p for p in received.message.walk()}
    calendar = parts["text/calendar"]
    assert calendar.get_param("method") == "CANCEL"
    assert calendar.get_filename() == "termin.ics"
    assert calendar.get_content() == "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"


def test_several_rounds_in_one_sweep_send_every_batch_once(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    rows = queue(workspace, 5)

    moved = sending.send_due(now=T0, limit=2, rounds=4)

    assert moved == 5
    assert sorted(m.message["Message-ID"] for m in smtp.messages) == sorted(
        r.message_id for r in rows
    )
    assert statuses() == [("sent", "")] * 5


def test_rows_of_a_sender_that_died_go_out_after_the_lease_with_the_same_message_id(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    [row] = queue(workspace)
    sending._claim(T0, 10)  # a sender claimed it and died before sending

    assert sending.send_due(now=T0 + sending.LEASE - timedelta(seconds=1)) == 0
    assert sending.send_due(now=T0 + sending.LEASE) == 1

    [received] = smtp.messages
    assert received.message["Message-ID"] == row.message_id
    assert Outbox.objects.get(pk=row.pk).attempts == 2
