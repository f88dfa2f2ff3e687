"""Log lines: plain or one JSON object per line, with a request id, and never a secret.

``TERMINFLOW_LOG_FORMAT=json`` picks ``JsonFormatter`` (settings wires it into ``LOGGING``).
A request id rides on a record as ``request_id`` (``extra={"request_id": ...}``) or comes from
``request_id_var`` set for the current request; a web push keeps its request id in its inbox
row, so the worker's lines about it carry the same id as the hook's.

Both formatters pass the finished text through ``redact``: a web push token sits in a URL
path, keys and passwords can sit in URLs, query strings or exception messages, and a log line
is read by more people than the database is.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

REQUEST_ID_MAX = 64
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_REDACTIONS = [
    # The Web Push URL's token is the only credential eTermin sends.
    (re.compile(r"(/hooks/etermin/)[^/\s?\"']+"), r"\1[redacted]"),
    # user:password@host in any URL (SMTP, database).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I), r"\1[redacted]@"),
    # key=value pairs and JSON members whose name says secret.
    (
        re.compile(
            r"((?:password|passwd|secret|token|private_key|public_key|api_key|apikey|key)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+",
            re.I,
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def new_request_id() -> str:
    return secrets.token_hex(8)


def accept_request_id(value: str) -> str:
    """A request id from a proxy's header if it is a sane token, else a new one."""
    if value and _REQUEST_ID_OK.match(value):
        return value
    return new_request_id()


def _request_id(record: logging.LogRecord) -> str:
    return str(getattr(record, "request_id", "") or request_id_var.get())


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = _request_id(record)
        if request_id:
            text = f"{text} request_id={request_id}"
        return redact(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = _request_id(record)
        if request_id:
            entry["request_id"] = request_id
        for name in ("inbox_id", "outcome", "status"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
