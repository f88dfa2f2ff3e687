"""SMTP: the server configuration, MIME assembly, DKIM, and a pool of reusable connections.

The server comes from ``TERMINFLOW_SMTP_URL``::

    smtp://user:password@mail.example.com:587?pool=4&rate_per_minute=6000
    smtps://user:password@mail.example.com            (implicit TLS, port 465)

``smtp://`` upgrades with STARTTLS whenever the server offers it (``starttls=require`` refuses
servers that do not, ``starttls=off`` never tries). A password written as ``enc:<token>`` is
decrypted with the instance's key (``terminflow.kit.crypto.encrypt``), so the clear password
need not sit in the environment. Query options:

- ``pool``: parallel connections (default 4); each is reused across emails.
- ``rate_per_minute``: the most emails handed to this server per minute (0 = no limit).
- ``timeout``: seconds for connecting and for each reply (default 15).
- ``tls_verify=0``: accept any certificate (a relay on a private network with its own CA).

Commands are pipelined (RFC 2920) when the server offers PIPELINING: MAIL, RCPT and DATA go
out in one write, which halves the round trips per email.
"""

from __future__ import annotations

import binascii
import logging
import smtplib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from django.conf import settings

from terminflow.kit.crypto import Secret, decrypt

log = logging.getLogger("terminflow.mail")

Outcome = Literal["sent", "retry", "failed", "bounced", "server_down"]


class SmtpConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpConfig:
    scheme: Literal["smtp", "smtps"]
    host: str
    port: int
    username: str = ""
    password: Secret = field(default=Secret(""), repr=False)
    starttls: Literal["opportunistic", "require", "off"] = "opportunistic"
    tls_verify: bool = True
    timeout: float = 15.0
    pool: int = 4
    rate_per_minute: int = 0

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.scheme, self.host, self.port, self.username)

    def describe(self) -> str:
        """For logs and admin pages: never the password."""
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"


def _int_option(options: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SmtpConfigError(f"SMTP URL option {name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SmtpConfigError(f"SMTP URL option {name} must be between {low} and {high}")
    return value


@lru_cache(maxsize=8)
def parse_smtp_url(url: str) -> SmtpConfig | None:
    """The server an SMTP URL describes; ``None`` for an empty URL (emails stay queued)."""
    url = (url or "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("smtp", "smtps"):
        raise SmtpConfigError("TERMINFLOW_SMTP_URL must start with smtp:// or smtps://")
    if not parsed.hostname:
        raise SmtpConfigError("TERMINFLOW_SMTP_URL has no host")
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    password = unquote(parsed.password or "")
    if password.startswith("enc:"):
        password = decrypt(password[4:])
    starttls = options.get("starttls", "opportunistic")
    if starttls not in ("opportunistic", "require", "off"):
        raise SmtpConfigError("SMTP URL option starttls must be opportunistic, require or off")
    timeout = options.get("timeout", "15")
    try:
        timeout_seconds = float(timeout)
    except ValueError:
        raise SmtpConfigError(f"SMTP URL option timeout={timeout!r} is not a number") from None
    return SmtpConfig(
        scheme=parsed.scheme,  # type: ignore[arg-type]
        host=parsed.hostname,
        port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
        username=unquote(parsed.username or ""),
        password=Secret(password),
        starttls=starttls,  # type: ignore[arg-type]
        tls_verify=options.get("tls_verify", "1").lower() not in ("0", "false", "no"),
        timeout=timeout_seconds,
        pool=_int_option(options, "pool", 4, 1, 64),
        rate_per_minute=_int_option(options, "rate_per_minute", 0, 0, 10_000_000),
    )


def current_config() -> SmtpConfig | None:
    return parse_smtp_url(getattr(settings, "SMTP_URL", "") or "")


# MIME -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """One email to send: envelope addresses and the message (CRLF, not yet dot-stuffed).

    ``data`` may be a function that builds the bytes: the pool's threads then build messages
    while other connections wait for the server, instead of one thread building them all first.
    """

    sender: str
    recipient: str
    data: bytes | Callable[[], bytes]

    def message(self) -> bytes:
        return self.data if isinstance(self.data, bytes) else self.data()


def _encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded-words, split on character boundaries, one per folded line."""
    words: list[str] = []
    chunk = b""
    for char in value:
        encoded = char.encode("utf-8")
        # 45 bytes of UTF-8 give 60 base64 characters: each word stays well under 76.
        if len(chunk) + len(encoded) > 45:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(chunk.decode("utf-8"))
    return "\r\n ".join(
        "=?utf-8?b?" + binascii.b2a_base64(w.encode("utf-8"), newline=False).decode() + "?="
        for w in words
    )


def _header(name: str, value: str) -> bytes:
    if value.isascii() and len(value) + len(name) < 900:
        return f"{name}: {value}\r\n".encode("ascii")
    return f"{name}: {_encoded_words(value)}\r\n".encode("ascii")


@lru_cache(maxsize=256)
def _address(value: str) -> str:
    if "<" not in value and value.isascii():
        return value
    name, address = parseaddr(value)
    if not name:
        return address
    return formataddr((name, address), charset="utf-8")


@lru_cache(maxsize=16)
def _date_header(date: datetime) -> str:
    # A round of emails shares one timestamp; formatting it is worth doing once.
    return format_datetime(date)


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(body, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    lines = [binascii.b2a_base64(data[i : i + 57]) for i in range(0, len(data), 57)]
    return b"".join(lines).replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + _qp(text)


def build_message(
    *,
    from_email: str,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str,
    message_id: str,
    date: datetime,
    headers: dict[str, str] | None = None,
    ics: str = "",
    ics_method: str = "PUBLISH",
) -> bytes:
    """The MIME message: text and HTML as alternatives, plus the .ics when there is one.

    Assembled by hand because ``email.message.EmailMessage`` costs more per email than the
    whole SMTP exchange with a local server; the shapes here are fixed and few.
    """
    token = uuid.uuid4().hex
    alternative = f"alt-{token}"
    head = b"".join(
        [
            _header("From", _address(from_email)),
            _header("To", _address(to_email)),
            _header("Subject", subject),
            _header("Date", _date_header(date)),
            _header("Message-ID", message_id),
            *(_header(name, value) for name, value in (headers or {}).items()),
            b"MIME-Version: 1.0\r\n",
        ]
    )
    body = (
        f"--{alternative}\r\n".encode("ascii")
        + _text_part("plain", body_text)
        + f"\r\n--{alternative}\r\n".encode("ascii")
        + _text_part("html", body_html)
        + f"\r\n--{alternative}--\r\n".encode("ascii")
    )
    if not ics:
        return (
            head
            + f'Content-Type: multipart/alternative; boundary="{alternative}"\r\n\r\n'.encode()
            + body
        )
    mixed = f"mix-{token}"
    return (
        head
        + f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n'.encode()
        + f"--{mixed}\r\n".encode()
        + f'Content-Type: multipart/alternative; boundary="{alternative}"\r\n\r\n'.encode()
        + body
        + f"\r\n--{mixed}\r\n".encode()
        + (
            f'Content-Type: text/calendar; charset="utf-8"; method={ics_method}\r\n'
            'Content-Disposition: attachment; filename="termin.ics"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode("ascii")
        + _b64(ics.encode("utf-8"))
        + f"\r\n--{mixed}--\r\n".encode()
    )


# DKIM -----------------------------------------------------------------------------------------

DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_key: bytes = field(repr=False)


@lru_cache(maxsize=4)
def _dkim_key(domain: str, selector: str, key: str) -> DkimKey | None:
    if not (domain and selector and key):
        return None
    pem = key if "-----BEGIN" in key else Path(key).read_text()
    return DkimKey(domain=domain, selector=selector, private_key=pem.encode("ascii"))


def current_dkim() -> DkimKey | None:
    """The DKIM key from ``TERMINFLOW_DKIM_DOMAIN/_SELECTOR/_PRIVATE_KEY`` (PEM or a file)."""
    return _dkim_key(
        getattr(settings, "DKIM_DOMAIN", ""),
        getattr(settings, "DKIM_SELECTOR", ""),
        getattr(settings, "DKIM_PRIVATE_KEY", ""),
    )


def dkim_sign(message: bytes, key: DkimKey) -> bytes:
    from . import dkim

    return dkim.sign(
        message,
        domain=key.domain,
        selector=key.selector,
        pem=key.private_key,
        headers=DKIM_HEADERS,
    )


# SMTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What the server said about one email.

    ``sent``: accepted. ``retry``: a temporary refusal of this email (4xx), try it later.
    ``failed``: refused for good, not because of the address. ``bounced``: the recipient address
    was refused (``permanent`` tells 5xx from 4xx). ``server_down``: no answer from the server;
    nothing is known about this email, so it goes out again later.
    """

    outcome: Outcome
    code: int | None = None
    reply: str = ""
    permanent: bool = False


class ServerTrouble(Exception):
    """The server cannot be reached or will not let us in; every email waits."""


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


def _dot_stuffed(data: bytes) -> bytes:
    # Every line that starts with a dot gets a second one (RFC 5321 4.5.2); bytes.replace
    # does it at memchr speed, a multi-line regex took a tenth of the sender's time.
    data = data.replace(b"\n.", b"\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpConnection:
    """One SMTP session, reused for many emails; reconnects when the server hung up idle."""

    # Servers drop idle sessions after a while; reconnecting before that avoids a failed first
    # command after every quiet spell.
    MAX_IDLE_SECONDS = 60.0

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.smtp: smtplib.SMTP | None = None
        self.pipelining = False
        self.smtputf8 = False
        self.last_used = 0.0

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> None:
        config = self.config
        try:
            if config.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=self._tls_context()
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            smtp.ehlo()
            if config.scheme == "smtp" and config.starttls != "off":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                elif config.starttls == "require":
                    smtp.close()
                    raise ServerTrouble(f"{config.describe()} does not offer STARTTLS")
            if config.username:
                self._login(smtp)
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerTrouble(
                f"{config.describe()} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerTrouble(f"cannot reach {config.describe()}: {exc}") from None
        self.smtp = smtp
        self.pipelining = smtp.has_extn("pipelining")
        self.smtputf8 = smtp.has_extn("smtputf8")
        self.last_used = time.monotonic()

    def _login(self, smtp: smtplib.SMTP) -> None:
        # One mechanism, not smtplib's try-them-all: after a refused password some servers
        # answer the next mechanism with silence, and a wrong password should fail fast.
        offered = (smtp.esmtp_features.get("auth") or "").upper().split()
        smtp.user, smtp.password = self.config.username, str(self.config.password)
        if "PLAIN" in offered or not offered:
            smtp.auth("PLAIN", smtp.auth_plain)
        elif "LOGIN" in offered:
            smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        else:
            smtp.auth("CRAM-MD5", smtp.auth_cram_md5, initial_response_ok=False)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None

    def _abort(self) -> None:
        try:
            assert self.smtp is not None
            self.smtp.putcmd("rset")
            self.smtp.getreply()
        except (OSError, smtplib.SMTPException):
            self.close()

    def send(self, envelope: Envelope) -> Delivery:
        """Send one email; reconnects once when the session died before anything was sent."""
        if self.smtp is not None and time.monotonic() - self.last_used > self.MAX_IDLE_SECONDS:
            self.close()
        for attempt in (1, 2):
            if self.smtp is None:
                self.open()  # ServerTrouble goes to the caller
            try:
                return self._transaction(envelope)
            except _Disconnected as exc:
                self.close()
                if exc.data_sent or attempt == 2:
                    return Delivery("server_down", reply=str(exc) or "server hung up")
        raise AssertionError("unreachable")

    def _transaction(self, envelope: Envelope) -> Delivery:
        smtp = self.smtp
        assert smtp is not None
        try:
            data = envelope.message()
        except Exception as exc:
            log.exception("cannot build the message for %s", envelope.recipient)
            return Delivery("failed", reply=f"cannot build the message: {exc}")
        options = ""
        if not (envelope.sender.isascii() and envelope.recipient.isascii()):
            if not self.smtputf8:
                return Delivery(
                    "failed", reply="the address needs SMTPUTF8, which the server does not offer"
                )
            options = " SMTPUTF8 BODY=8BITMIME"
        mail = f"MAIL FROM:<{envelope.sender}>{options}\r\n".encode()
        rcpt = f"RCPT TO:<{envelope.recipient}>\r\n".encode()
        try:
            if self.pipelining:
                smtp.send(mail + rcpt + b"DATA\r\n")
                mail_reply = smtp.getreply()
                rcpt_reply = smtp.getreply()
                data_reply = smtp.getreply()
            else:
                smtp.send(mail)
                mail_reply = smtp.getreply()
                if mail_reply[0] != 250:
                    self._abort()
                    return self._refused_sender(mail_reply)
                smtp.send(rcpt)
                rcpt_reply = smtp.getreply()
                if rcpt_reply[0] not in (250, 251):
                    self._abort()
                    return self._refused_recipient(rcpt_reply)
                smtp.send(b"DATA\r\n")
                data_reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Disconnected(str(exc), data_sent=False) from None
        if data_reply[0] == 421 or mail_reply[0] == 421:
            raise _Disconnected(_reply(*data_reply), data_sent=False)
        if data_reply[0] == 354 and (mail_reply[0] != 250 or rcpt_reply[0] not in (250, 251)):
            # A pipelined DATA accepted although the envelope failed: end it empty.
            try:
                smtp.send(b".\r\n")
                smtp.getreply()
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise _Disconnected(str(exc), data_sent=False) from None
        if mail_reply[0] != 250:
            self._abort()
            return self._refused_sender(mail_reply)
        if rcpt_reply[0] not in (250, 251):
            self._abort()
            return self._refused_recipient(rcpt_reply)
        if data_reply[0] != 354:
            self._abort()
            return self._refused_data(data_reply)
        try:
            smtp.send(_dot_stuffed(data))
            final = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The server may have taken the email just before the connection died; resending
            # can duplicate it, but with the same Message-ID (see sending.py).
            raise _Disconnected(str(exc), data_sent=True) from None
        self.last_used = time.monotonic()
        if final[0] == 250:
            return Delivery("sent", code=250, reply=_reply(*final))
        if final[0] == 421:
            self.close()
            return Delivery("server_down", code=421, reply=_reply(*final))
        return self._refused_data(final)

    @staticmethod
    def _refused_sender(reply: tuple[int, bytes]) -> Delivery:
        # A refused sender is this server's policy, not this email's fault: try again later.
        return Delivery("retry", code=reply[0], reply=_reply(*reply))

    @staticmethod
    def _refused_recipient(reply: tuple[int, bytes]) -> Delivery:
        code = reply[0]
        return Delivery("bounced", code=code, reply=_reply(*reply), permanent=500 <= code < 600)

    @staticmethod
    def _refused_data(reply: tuple[int, bytes]) -> Delivery:
        code = reply[0]
        outcome: Outcome = "failed" if 500 <= code < 600 else "retry"
        return Delivery(outcome, code=code, reply=_reply(*reply))


class _Disconnected(Exception):
    def __init__(self, message: str, *, data_sent: bool) -> None:
        super().__init__(message)
        self.data_sent = data_sent


class SmtpPool:
    """Up to ``config.pool`` connections working in parallel, kept open between batches."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._idle: list[SmtpConnection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=config.pool, thread_name_prefix="smtp-" + config.host
        )

    def _take(self) -> SmtpConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return SmtpConnection(self.config)

    def _give_back(self, connection: SmtpConnection) -> None:
        with self._lock:
            self._idle.append(connection)

    def _send_share(self, envelopes: Sequence[Envelope]) -> list[Delivery]:
        connection = self._take()
        results: list[Delivery] = []
        try:
            for index, envelope in enumerate(envelopes):
                try:
                    delivery = connection.send(envelope)
                except ServerTrouble as exc:
                    trouble = Delivery("server_down", reply=str(exc))
                    results.extend([trouble] * (len(envelopes) - index))
                    break
                results.append(delivery)
                if delivery.outcome == "server_down":
                    # The server went away; the rest of this share waits for the next round.
                    results.extend([delivery] * (len(envelopes) - index - 1))
                    break
        finally:
            self._give_back(connection)
        return results

    def submit(self, envelopes: Sequence[Envelope]) -> Callable[[], list[Delivery]]:
        """Start sending every envelope; the returned function waits for the results (in the
        same order). Never raises for SMTP trouble."""
        if not envelopes:
            return list
        lanes = min(self.config.pool, len(envelopes))
        shares = [list(envelopes[i::lanes]) for i in range(lanes)]
        futures = [self._executor.submit(self._send_share, share) for share in shares]

        def results() -> list[Delivery]:
            ordered: list[Delivery] = [Delivery("server_down")] * len(envelopes)
            for lane, future in enumerate(futures):
                for position, delivery in enumerate(future.result()):
                    ordered[lane + position * lanes] = delivery
            return ordered

        return results

    def deliver(self, envelopes: Sequence[Envelope]) -> list[Delivery]:
        return self.submit(envelopes)()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        self._executor.shutdown(wait=True)


_POOLS: dict[tuple[str, str, int, str], SmtpPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(config: SmtpConfig) -> SmtpPool:
    with _POOLS_LOCK:
        pool = _POOLS.get(config.key)
        if pool is None or pool.config != config:
            if pool is not None:
                pool.close()
            pool = _POOLS[config.key] = SmtpPool(config)
        return pool


def close_pools() -> None:
    """Close every pooled connection (shutdown, tests, a changed configuration)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


def envelope_sender() -> str:
    """The MAIL FROM address (where bounces go): the address of ``TERMINFLOW_FROM_EMAIL``."""
    return _address_part(getattr(settings, "DEFAULT_FROM_EMAIL", "") or "")


@lru_cache(maxsize=16)
def _address_part(value: str) -> str:
    # Asked once per email sent: parsing the same setting each time showed in profiles.
    return parseaddr(value)[1]


def message_id_domain() -> str:
    domain = envelope_sender().rpartition("@")[2]
    return domain or socket.getfqdn() or "terminflow.invalid"
