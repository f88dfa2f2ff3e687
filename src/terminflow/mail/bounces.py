"""Late bounces and complaints: VERP return paths, and reading what comes back by email.

Every message leaves with the return path ``bounce+<token>@<TERMINFLOW_BOUNCE_DOMAIN>``, the
token being the outbox row's ``public_id``. A server that accepted the message and fails to
deliver it later sends a delivery status notification (RFC 3464) to that address; a mailbox
provider's feedback loop sends a complaint (ARF, RFC 5965). Both land in the bounce mailbox
(``mailbox.py`` fetches them) and are read here, matched to the email by the token (or by the
original Message-ID), and acted on with the same rules and ledger entries as a bounce in the
SMTP reply. What cannot be read or matched is kept, raw, for a person to look at.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from django.conf import settings
from django.db import IntegrityError, transaction

from terminflow.contacts.models import Contact
from terminflow.kit import clock

from . import services, transports
from .models import BounceKind, BounceMessage, BounceStatus, Outbox

log = logging.getLogger("terminflow.mail.bounces")

_TOKEN = re.compile(rb"bounce\+([0-9a-f]{32})@", re.IGNORECASE)
_FIELD = r"(?im)^{name}[ \t]*:[ \t]*(.*(?:\r?\n[ \t]+.*)*)"


def return_path(public_id: uuid.UUID | str) -> str:
    """The envelope sender of one email: its VERP address, or the plain sender without a domain."""
    domain = settings.BOUNCE_DOMAIN
    if not domain:
        return transports.envelope_sender()
    token = public_id.hex if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id)).hex
    return f"bounce+{token}@{domain}"


@dataclass(frozen=True)
class Report:
    """What a bounce or complaint says, before it is matched to an email."""

    kind: str
    token: str | None = None
    original_message_id: str | None = None
    dsn_status: str = ""
    diagnostic: str = ""
    feedback_type: str = ""


def _field(text: str, name: str) -> str:
    found = re.search(_FIELD.format(name=re.escape(name)), text)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else ""


def _part_text(part: Message) -> str:
    """A part's content as text, whether the parser split it into sub-messages or not."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return str(payload)


def _original_message_id(message: Message) -> str | None:
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/rfc822-headers", "text/rfc822-headers"):
            found = _field(_part_text(part), "Message-ID")
            if found:
                return found.strip().strip("<>").strip() or None
    return None


def _delivery_status(message: Message) -> Report | None:
    status_part = next(
        (p for p in message.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if status_part is None:
        return None
    text = _part_text(status_part)
    action = _field(text, "Action").lower()
    status = _field(text, "Status")
    code = re.match(r"[245]\.\d{1,3}\.\d{1,3}", status)
    status = code.group(0) if code else ""
    diagnostic = _field(text, "Diagnostic-Code").partition(";")[2].strip()
    if action == "failed" and status.startswith("5"):
        kind = BounceKind.HARD
    elif action == "failed" and status.startswith("4"):
        kind = BounceKind.SOFT
    elif action == "failed":
        # No usable status code: a failure we cannot grade is treated as temporary.
        kind = BounceKind.SOFT
    elif action == "delayed":
        kind = BounceKind.DELAYED
    elif action in ("delivered", "relayed", "expanded"):
        kind = BounceKind.DELIVERED
    else:
        return None
    return Report(kind=kind, dsn_status=status, diagnostic=diagnostic[:1000])


def _feedback(message: Message) -> Report | None:
    part = next(
        (p for p in message.walk() if p.get_content_type() == "message/feedback-report"), None
    )
    if part is None:
        return None
    feedback_type = _field(_part_text(part), "Feedback-Type").lower()
    if not feedback_type:
        return None
    if feedback_type == "not-spam":
        return Report(kind=BounceKind.DELIVERED, feedback_type=feedback_type)
    return Report(kind=BounceKind.COMPLAINT, feedback_type=feedback_type)


def parse(raw: bytes) -> Report:
    """Read one message from the bounce mailbox; ``kind`` is ``unknown`` when it is no report."""
    message = message_from_bytes(raw, policy=compat32)
    report: Report | None = None
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "").lower()  # type: ignore[union-attr]
        if report_type == "feedback-report":
            report = _feedback(message)
        elif report_type == "delivery-status":
            report = _delivery_status(message)
    if report is None:
        return Report(kind=BounceKind.UNKNOWN)
    token = _TOKEN.search(raw)
    return Report(
        kind=report.kind,
        token=token.group(1).decode().lower() if token else None,
        original_message_id=_original_message_id(message),
        dsn_status=report.dsn_status,
        diagnostic=report.diagnostic,
        feedback_type=report.feedback_type,
    )


def _match(report: Report) -> Outbox | None:
    if report.token:
        row = Outbox.objects.filter(public_id=uuid.UUID(report.token)).first()
        if row is not None:
            return row
    if report.original_message_id:
        bare = report.original_message_id
        return Outbox.objects.filter(message_id__in=[f"<{bare}>", bare]).first()
    return None


def _act(report: Report, row: Outbox, now: datetime) -> str:
    contact = Contact.objects.get(pk=row.contact_id)
    if report.kind in (BounceKind.HARD, BounceKind.SOFT):
        reply = f"{report.dsn_status} {report.diagnostic}".strip()
        services.record_bounce(
            contact,
            permanent=report.kind == BounceKind.HARD,
            reply=reply,
            message_id=row.message_id,
            now=now,
            source="dsn",
        )
        return BounceStatus.APPLIED
    if report.kind == BounceKind.COMPLAINT:
        services.record_complaint(
            contact, message_id=row.message_id, feedback_type=report.feedback_type
        )
        return BounceStatus.APPLIED
    return BounceStatus.IGNORED


def record(raw: bytes, *, now: datetime | None = None) -> BounceMessage | None:
    """Read, match and act on one message, once (one transaction).

    Returns None when the same message was recorded before (fetched twice), so the caller can
    still remove it from the mailbox.
    """
    now = now or clock.now()
    digest = hashlib.sha256(raw).hexdigest()
    if BounceMessage.objects.filter(sha256=digest).exists():
        return None
    report = parse(raw)
    row = _match(report) if report.kind != BounceKind.UNKNOWN else None
    status: str
    if report.kind == BounceKind.UNKNOWN:
        status, reason = BounceStatus.REVIEW, "not a delivery status notification or ARF report"
    elif row is None:
        status, reason = BounceStatus.REVIEW, "no email of ours matches its token or Message-ID"
    else:
        status, reason = BounceStatus.IGNORED, ""
    try:
        with transaction.atomic():
            if row is not None:
                status = _act(report, row, now)
            return BounceMessage.objects.create(
                workspace_id=row.workspace_id if row is not None else None,
                outbox=row,
                sha256=digest,
                received_at=now,
                kind=report.kind,
                status=status,
                dsn_status=report.dsn_status,
                diagnostic=report.diagnostic,
                reason=reason,
                raw=raw if status == BounceStatus.REVIEW else None,
            )
    except IntegrityError:
        # Another worker recorded the same message between our check and our insert.
        return None
