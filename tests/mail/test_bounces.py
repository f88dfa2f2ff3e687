"""Late bounces: VERP return paths, DSN and ARF parsing, and the bounce mailbox over IMAPS.

The mailbox is a real Dovecot on 127.0.0.1 (``imap_server``); the samples follow what Gmail,
Outlook (Exchange Online) and Postfix send, and an ARF feedback-loop report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import override_settings

from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.mail import bounces, mailbox, sending, services, tasks
from terminflow.mail.models import BounceMessage, Outbox
from terminflow.workspaces.models import Workspace
from tests.fixtures.imap import ImapServer
from tests.fixtures.smtp import SmtpServer

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DOMAIN = "bounces.praxis-seefeld.ch"
SAMPLES = Path(__file__).parent / "bounce_samples"


def sample(name: str, row: Outbox | None = None, *, token: str | None = None) -> bytes:
    text = (SAMPLES / f"{name}.eml").read_text()
    text = text.replace("@@TOKEN@@", token or (row.public_id.hex if row else "0" * 32))
    text = text.replace("@@MESSAGE_ID@@", row.message_id.strip("<>") if row else "x@y")
    text = text.replace("@@RCPT@@", row.to_email if row else "nobody@example.com")
    return text.replace("\n", "\r\n").encode()


def sent(workspace: Workspace, email: str) -> Outbox:
    row = services.queue_email(
        make_email(workspace, "marketing"), make_contact(workspace, email), now=T0
    )
    Outbox.objects.filter(pk=row.pk).update(status="sent", sent_at=T0)
    return Outbox.objects.get(pk=row.pk)


def ledger(row: Outbox) -> list[tuple[str, str, str]]:
    """(kind, source, new status) of the ledger entries a bounce or complaint wrote."""
    return [
        (e.kind, e.source, e.details.get("to", ""))
        for e in ConsentEvent.objects.filter(
            contact_id=row.contact_id, source__in=["dsn", "arf"]
        ).order_by("id")
    ]


def contact_of(row: Outbox) -> Contact:
    return Contact.objects.get(pk=row.contact_id)


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "status", "diagnostic_start"),
    [
        ("gmail_hard", "hard", "5.1.1", "550-5.1.1 The email account that you tried"),
        ("outlook_soft", "soft", "4.4.7", "452 4.2.2 The recipient's mailbox is over"),
        ("postfix_hard", "hard", "5.1.1", "550 5.1.1 <"),
    ],
)
def test_delivery_status_notifications_are_read(
    workspace: Workspace, name: str, kind: str, status: str, diagnostic_start: str
) -> None:
    row = sent(workspace, "anna@example.com")

    report = bounces.parse(sample(name, row))

    assert (report.kind, report.dsn_status) == (kind, status)
    assert report.token == row.public_id.hex
    assert report.original_message_id == row.message_id.strip("<>")
    assert report.diagnostic.startswith(diagnostic_start)


def test_arf_complaint_is_read_and_matched_by_the_original_message_id(
    workspace: Workspace,
) -> None:
    row = sent(workspace, "anna@example.com")

    report = bounces.parse(sample("arf_complaint", row))

    assert (report.kind, report.feedback_type, report.token) == ("complaint", "abuse", None)
    assert report.original_message_id == row.message_id.strip("<>")


def test_an_auto_reply_is_no_report() -> None:
    assert bounces.parse(sample("junk_autoreply")).kind == "unknown"


# -- VERP ----------------------------------------------------------------------------------------


@override_settings(BOUNCE_DOMAIN=DOMAIN)
def test_every_message_leaves_with_its_own_verp_return_path(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    rows = [sent(workspace, f"p{n}@example.com") for n in range(2)]
    Outbox.objects.update(status="queued", next_attempt_at=T0, sent_at=None)

    sending.send_due(now=T0)

    by_rcpt = {m.rcpt_tos[0]: m.mail_from for m in smtp.messages}
    assert by_rcpt == {row.to_email: f"bounce+{row.public_id.hex}@{DOMAIN}" for row in rows}


@override_settings(BOUNCE_DOMAIN="")
def test_without_a_bounce_domain_the_return_path_is_the_sender() -> None:
    assert bounces.return_path("6f1c9b1e-2f0a-4c1e-9d43-0c5a4c3e1f00") == "terminflow@localhost"


# -- the mailbox -------------------------------------------------------------------------------


@override_settings(BOUNCE_DOMAIN=DOMAIN)
def test_bounce_mailbox_hard_soft_complaint_and_junk(
    workspace: Workspace, imap_server: ImapServer
) -> None:
    # given four sent emails and what came back for them, plus an auto-reply
    gmail, outlook, postfix, complained = (
        sent(workspace, f"{name}@example.com") for name in ("gmail", "outlook", "postfix", "arf")
    )
    imap_server.deliver(sample("gmail_hard", gmail))
    imap_server.deliver(sample("outlook_soft", outlook))
    imap_server.deliver(sample("postfix_hard", postfix))
    imap_server.deliver(sample("arf_complaint", complained))
    imap_server.deliver(sample("junk_autoreply", gmail))
    config = mailbox.parse_imap_url(imap_server.url)

    # when the mailbox is polled
    taken = mailbox.poll(config)

    # then every message was taken out of the mailbox and recorded once
    assert taken == 5
    assert imap_server.count() == 0
    assert sorted(
        (b.kind, b.status, b.outbox_id, b.raw is not None) for b in BounceMessage.objects.all()
    ) == sorted(
        [
            ("hard", "applied", gmail.pk, False),
            ("soft", "applied", outlook.pk, False),
            ("hard", "applied", postfix.pk, False),
            ("complaint", "applied", complained.pk, False),
            ("unknown", "review", None, True),
        ]
    )
    # and hard bounces block for good, the soft one for three days, the complaint marks spam
    assert contact_of(gmail).email_status == "blocked"
    assert contact_of(postfix).email_status == "blocked"
    soft = contact_of(outlook)
    assert soft.email_status == "blocked_temporarily"
    assert soft.block_count == 1
    assert contact_of(complained).email_status == "spam"
    # with the same ledger entries as a bounce in the SMTP reply, from source dsn / arf
    assert ledger(gmail) == [("bounced", "dsn", ""), ("blocked", "dsn", "blocked")]
    assert ledger(outlook) == [
        ("bounced", "dsn", ""),
        ("blocked", "dsn", "blocked_temporarily"),
    ]
    assert ledger(complained) == [("status_changed", "arf", "spam")]
    bounce = ConsentEvent.objects.filter(contact_id=gmail.contact_id, kind="bounced").get()
    assert bounce.details["permanent"] is True
    assert bounce.details["message_id"] == gmail.message_id
    assert bounce.details["reply"].startswith("5.1.1 550-5.1.1 The email account")
    # and the junk is kept whole for a person to read
    junk = BounceMessage.objects.get(status="review")
    assert bytes(junk.raw) == sample("junk_autoreply", gmail)
    assert junk.reason == "not a delivery status notification or ARF report"

    # when polled again, and when the same bounce arrives a second time
    assert mailbox.poll(config) == 0
    imap_server.deliver(sample("gmail_hard", gmail))
    assert mailbox.poll(config) == 1

    # then nothing is counted twice
    assert BounceMessage.objects.count() == 5
    assert ledger(gmail) == [("bounced", "dsn", ""), ("blocked", "dsn", "blocked")]
    assert imap_server.count() == 0


def test_a_bounce_for_no_email_of_ours_is_kept_for_review_and_changes_nothing(
    workspace: Workspace,
) -> None:
    row = sent(workspace, "anna@example.com")
    raw = sample("postfix_hard", token="f" * 32).replace(
        row.to_email.encode(), b"stranger@example.net"
    )

    recorded = bounces.record(raw, now=T0)

    assert recorded is not None
    assert (recorded.status, recorded.kind, recorded.outbox_id) == ("review", "hard", None)
    assert recorded.reason == "no email of ours matches its token or Message-ID"
    assert bytes(recorded.raw) == raw
    assert contact_of(row).email_status == "confirmed_doi"
    assert ledger(row) == []


def test_a_soft_bounce_after_a_block_lifts_counts_up(workspace: Workspace) -> None:
    row = sent(workspace, "anna@example.com")
    bounces.record(sample("outlook_soft", row), now=T0)

    contact = contact_of(row)

    assert (contact.email_status, contact.block_count) == ("blocked_temporarily", 1)
    assert contact.blocked_until == T0 + timedelta(days=3)


def test_imap_url_is_checked() -> None:
    with pytest.raises(mailbox.MailboxConfigError, match="imaps://"):
        mailbox.parse_imap_url("imap://u:p@host/INBOX")
    with pytest.raises(mailbox.MailboxConfigError, match="user and a host"):
        mailbox.parse_imap_url("imaps://host/INBOX")
    config = mailbox.parse_imap_url("imaps://b%40x.ch:p%3Aw@mail.x.ch/Bounces?tls_verify=0")
    assert config is not None
    assert (config.username, config.password, config.host, config.port, config.folder) == (
        "b@x.ch",
        "p:w",
        "mail.x.ch",
        993,
        "Bounces",
    )
    assert config.tls_verify is False
    assert "p:w" not in repr(config)
    assert mailbox.parse_imap_url("") is None


def test_the_worker_polls_the_mailbox_only_when_configured(settings) -> None:
    settings.BOUNCE_IMAP_URL = ""

    assert "mail.bounces" in [s.name for s in tasks.SWEEPS]
    assert tasks.poll_bounces() == 0
