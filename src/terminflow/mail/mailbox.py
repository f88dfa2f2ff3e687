"""The bounce mailbox, polled over IMAPS (``TERMINFLOW_BOUNCE_IMAP_URL``).

``imaps://user:password@host:993/INBOX``; options ``cafile=<path>`` (trust this CA, e.g. a
self-signed server), ``tls_verify=0`` and ``timeout=<seconds>``. A poll fetches a batch of
messages, records each one (``bounces.record``, its own transaction) and only then deletes it
from the mailbox, so a crash in between fetches it again and the record counts it once.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse

from django.conf import settings

from terminflow.kit.crypto import Secret

from . import bounces

log = logging.getLogger("terminflow.mail.mailbox")

BATCH = 50


class MailboxConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    username: str
    password: Secret = field(repr=False)
    folder: str = "INBOX"
    cafile: str = ""
    tls_verify: bool = True
    timeout: float = 15.0


def parse_imap_url(url: str) -> MailboxConfig | None:
    url = (url or "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme != "imaps":
        raise MailboxConfigError("TERMINFLOW_BOUNCE_IMAP_URL must start with imaps://")
    if not parsed.hostname or not parsed.username:
        raise MailboxConfigError("TERMINFLOW_BOUNCE_IMAP_URL needs a user and a host")
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    try:
        timeout = float(options.get("timeout", "15"))
    except ValueError:
        raise MailboxConfigError("TERMINFLOW_BOUNCE_IMAP_URL timeout is not a number") from None
    return MailboxConfig(
        host=parsed.hostname,
        port=parsed.port or 993,
        username=unquote(parsed.username),
        password=Secret(unquote(parsed.password or "")),
        folder=unquote(parsed.path.lstrip("/")) or "INBOX",
        cafile=options.get("cafile", ""),
        tls_verify=options.get("tls_verify", "1").lower() not in ("0", "false", "no"),
        timeout=timeout,
    )


def _context(config: MailboxConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.cafile or None)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def poll(config: MailboxConfig | None = None, *, batch: int = BATCH) -> int:
    """Fetch, record and remove up to ``batch`` messages; returns how many were taken."""
    config = config or parse_imap_url(settings.BOUNCE_IMAP_URL)
    if config is None:
        return 0
    imap = imaplib.IMAP4_SSL(
        config.host, config.port, ssl_context=_context(config), timeout=config.timeout
    )
    try:
        imap.login(config.username, config.password)
        imap.select(_quoted(config.folder))
        _, data = imap.uid("SEARCH", "UNDELETED")
        uids = [uid.decode() for uid in (data[0] or b"").split()[:batch]]
        taken: list[str] = []
        for uid in uids:
            _, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if raw is None:
                continue
            bounces.record(raw)
            taken.append(uid)
        if taken:
            imap.uid("STORE", ",".join(taken), "+FLAGS.SILENT", r"(\Deleted)")
            imap.expunge()
        return len(taken)
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            log.debug("bounce mailbox logout failed", exc_info=True)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
