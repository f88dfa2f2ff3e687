"""The one adapter from any eTermin web push variant to our appointment event.

eTermin sends a push either as JSON (every field present) or as form fields (only filled fields
present), with keys in whatever case the sender used and dates in several formats. Everything
here is liberal in what it reads and strict in what it returns: a push is either turned into an
``AppointmentEvent`` or refused with ``UnreadablePush`` and a reason a person understands. The
raw body always stays in the inbox, so a push refused today can be parsed again after a fix.

``check_push`` is the cheap part the ingest route runs on the hot path; ``parse_push`` is the
whole reading the worker does later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from email_validator import EmailNotValidError, validate_email

from terminflow.kit.reasons import Reason

COMMANDS = ("CREATED", "MODIFIED", "DELETED")
# The inbox column is varchar(200); a longer id could never be stored, so it is refused here.
MAX_UID_LENGTH = 200

# Lower-cased key -> the name eTermin documents, for reasons a person can match to eTermin.
_UTC_DATE_FIELDS = {
    "startdatetimeutc": "startDateTimeUTC",
    "enddatetimeutc": "endDateTimeUTC",
    "bookingdateutc": "bookingDateUTC",
}
_LOCAL_DATE_FIELDS = {
    "startdatetime": "startDateTime",
    "enddatetime": "endDateTime",
    "bookingdate": "bookingDate",
}
_DATE_FIELDS = {**_UTC_DATE_FIELDS, **_LOCAL_DATE_FIELDS}

_NEWSLETTER_YES = frozenset({"1", "true", "yes", "ja", "on", "y", "j"})
_NEWSLETTER_NO = frozenset({"0", "false", "no", "nein", "off", "n"})
# The charsets eTermin sends, under the names HTTP clients spell them with, to Python's codec.
# Anything else is refused before the body is read: Python has codecs (punycode, idna, utf-7,
# rot13, ...) that cost a second of CPU for 64 KiB, and no eTermin push is written in them.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-15": "iso8859-15",
    "iso8859-15": "iso8859-15",
    "latin-9": "iso8859-15",
    "latin9": "iso8859-15",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "utf-16": "utf-16",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BIRTHDAY_DOTTED = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")
_BOM = b"\xef\xbb\xbf"
_COMPACT_LAYOUTS = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}
# Far enough from datetime's limits that no time zone conversion can overflow.
_MIN_YEAR, _MAX_YEAR = 1000, 9000


# Why a body is unreadable, as stored on its inbox row (English; translated through kit.reasons).
for _msgid in (
    "The body is not valid JSON: %(error)s.",
    "The body is JSON nested too deeply to be a web push.",
    "The body is a JSON array; a web push is one JSON object.",
    "The body is JSON but %(kind)s, not an object with the push's fields.",
    "The body is neither a JSON object nor form fields (name=value&…).",
    "The body is not bytes.",
    "The body is empty.",
    "The field %(field)s holds %(value)s, which is not a date and time.",
    "The field %(field)s holds %(value)s, which is not a plausible date.",
    "The account's time zone %(zone)s is unknown, so local times cannot be read.",
    "The push has no command (CREATED, MODIFIED or DELETED).",
    "The command %(command)s is not one of CREATED, MODIFIED, DELETED.",
    "The push has no appointmentUID.",
    "The appointmentUID is longer than %(max)s characters.",
    "The appointmentUID contains control characters.",
    "The appointmentUID is not valid text.",
):
    Reason("unreadable", _msgid)


class UnreadablePush(Exception):
    """A body that is not a web push we can act on; ``reason`` says why, in a sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class UnsupportedCharset(UnreadablePush):
    """The content type names a charset eTermin never sends; the body is not worth reading."""


@dataclass(frozen=True)
class PushHeader:
    command: str
    uid: str


@dataclass(frozen=True)
class AppointmentEvent:
    """What a web push says, in our words; times are aware UTC."""

    command: Literal["CREATED", "MODIFIED", "DELETED"]
    uid: str
    start: datetime | None
    end: datetime | None
    booked_at: datetime | None
    calendar_id: int | None
    calendar_name: str
    salutation: str
    first_name: str
    last_name: str
    phone: str
    street: str
    zip: str
    town: str
    birthday: date | None
    email: str
    email_problem: str
    notes: str
    services: str
    language: str
    newsletter: Literal["yes", "no", "unknown"]
    additional: dict[str, str]
    fields: dict[str, str]


# -- decoding the body ---------------------------------------------------------------------------


def _media_type(content_type: str) -> tuple[str, str]:
    """(media type, charset), both lower-case; either may be empty."""
    if not content_type:
        return "", ""
    media, _, params = content_type.partition(";")
    charset = ""
    if params:
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _json_value(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise
    except RecursionError:
        # The standard parser recurses per level; orjson stops at 1024 and hands over to it.
        raise UnreadablePush("The body is JSON nested too deeply to be a web push.") from None
    except ValueError as exc:
        raise UnreadablePush(f"The body is not valid JSON: {exc}.") from None


def _fast_json(body: bytes) -> Any:
    """orjson on the hot path (a third of ``check_push``'s time went to ``json.loads``).

    Anything orjson refuses goes through ``json`` again, so what is accepted and the error
    messages people see stay the standard library's.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _json_value(body)


def _load_json(body: bytes, codec: str) -> dict[str, Any]:
    try:
        value = _json_value(body.decode(codec)) if codec != "utf-8" else _fast_json(body)
    except UnicodeDecodeError:
        # A declared or assumed charset that is not: the body is most likely latin-1.
        value = _json_value(body.decode("latin-1"))
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise UnreadablePush("The body is a JSON array; a web push is one JSON object.")
        raise UnreadablePush(
            f"The body is JSON but {_json_kind(value)}, not an object with the push's fields."
        )
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key).lower()
        # As in forms: a key sent twice in different case keeps its last filled value.
        if name not in result or (item is not None and item != ""):
            result[name] = item
    return result


def _form_text(raw: bytes, codec: str) -> str:
    if codec != "utf-8":
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Older form posts are latin-1; every byte sequence is valid latin-1.
        return raw.decode("latin-1")


def _load_form(body: bytes, codec: str) -> dict[str, Any]:
    if b"=" not in body:
        raise UnreadablePush("The body is neither a JSON object nor form fields (name=value&…).")
    result: dict[str, Any] = {}
    # Split and unquote as bytes, so each name and value can then be decoded on its own
    # (urllib's parse_qsl refuses raw non-ASCII bytes).
    pairs = []
    for part in body.split(b"&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition(b"=")
        pairs.append(
            (
                unquote_to_bytes(raw_key.replace(b"+", b" ")),
                unquote_to_bytes(raw_value.replace(b"+", b" ")),
            )
        )
    for raw_key, raw_value in pairs:
        key = _form_text(raw_key, codec).strip().lower()
        value = _form_text(raw_value, codec)
        # A repeated key keeps its last filled value, whatever the case of each spelling.
        if value or key not in result:
            result[key] = value
    return result


def push_codec(content_type: str) -> str:
    """The Python codec for the charset ``content_type`` declares, ``utf-8`` when it declares none.

    Raises ``UnsupportedCharset`` for a charset eTermin does not send.
    """
    return _codec(_media_type(content_type)[1])


def _codec(charset: str) -> str:
    if not charset:
        return "utf-8"
    codec = _CHARSETS.get(charset)
    if codec is None:
        raise UnsupportedCharset(
            f"The charset {_printable(charset, 40)} is not one eTermin sends; "
            "send UTF-8, ISO-8859-1, ISO-8859-15, Windows-1252 or UTF-16."
        )
    return codec


def _from_utf16(body: bytes, codec: str) -> bytes:
    """A UTF-16 body as UTF-8, so the rest of the reading has one multi-byte case less."""
    if codec == "utf-16" and not body.startswith(_UTF16_BOMS):
        raise UnreadablePush("The body is declared UTF-16 but has no byte order mark.")
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise UnreadablePush("The body is not valid UTF-16.") from None
    return text.removeprefix("\ufeff").encode("utf-8")


def _load(body: bytes, content_type: str) -> dict[str, Any]:
    """The body's fields with lower-cased keys; values as sent (str for forms, any for JSON)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise UnreadablePush("The body is not bytes.")
    body = bytes(body)
    media, charset = _media_type(content_type)
    codec = _codec(charset)
    if codec.startswith("utf-16") or body.startswith(_UTF16_BOMS):
        body = _from_utf16(body, codec if codec.startswith("utf-16") else "utf-16")
        codec = "utf-8"
    if body.startswith(_BOM):
        body = body[3:]
    stripped = body.strip()
    if not stripped:
        raise UnreadablePush("The body is empty.")
    first = stripped[:1]
    # The content decides: eTermin's content type is not always right, and a form body never
    # starts with a brace while a JSON object always does.
    if first in (b"{", b"["):
        return _load_json(stripped, codec)
    if "json" in media:
        try:
            return _load_json(stripped, codec)
        except UnreadablePush:
            if b"=" in stripped:
                return _load_form(stripped, codec)
            raise
    return _load_form(stripped, codec)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        # orjson reads 1024 levels; the standard encoder gives up at the recursion limit.
        raise UnreadablePush("The body is JSON nested too deeply to be a web push.") from None


def _printable(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return repr(shown)


# -- dates ---------------------------------------------------------------------------------------


def _parse_datetime(text: str) -> datetime:
    """A naive or aware datetime from ISO 8601 (any common spelling) or compact digits."""
    value = text.strip()
    if value.isdigit():
        layout = _COMPACT_LAYOUTS.get(len(value))
        if layout is None:
            raise ValueError(value)
        return datetime.strptime(value, layout)
    if value[-1:] == "z":
        value = value[:-1] + "Z"
    return datetime.fromisoformat(value)


def _check_date(fields: dict[str, Any], key: str) -> datetime | None:
    raw = fields.get(key)
    if raw is None:
        return None
    text = _text(raw)
    if not text.strip():
        return None
    try:
        moment = _parse_datetime(text)
    except (ValueError, OverflowError):
        raise UnreadablePush(
            f"The field {_DATE_FIELDS[key]} holds {_printable(text)}, which is not a date and time."
        ) from None
    if moment.year == 1 and moment.month == 1 and moment.day == 1:
        # .NET's DateTime.MinValue, the way a .NET sender spells "no date".
        return None
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise UnreadablePush(
            f"The field {_DATE_FIELDS[key]} holds {_printable(text)}, "
            "which is not a plausible date."
        )
    return moment


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnreadablePush(
            f"The account's time zone {name!r} is unknown, so local times cannot be read."
        ) from None


def _utc(moment: datetime | None, zone_name: str) -> datetime | None:
    """Aware UTC; a naive local time is read in ``zone_name``.

    In the hour that does not exist (spring forward) the time is read with the offset before the
    change, i.e. moved forward by the gap; in the hour that happens twice (fall back) it is the
    first occurrence. zoneinfo's ``fold=0`` gives exactly that, the same on every machine.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone_name), fold=0)
    return moment.astimezone(UTC)


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _birthday(text: str) -> date | None:
    value = text.strip()
    if not value:
        return None
    match = _BIRTHDAY_DOTTED.match(value)
    try:
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return _parse_datetime(value).date()
    except (ValueError, OverflowError):
        # A birthday eTermin let through in some odd form is no reason to lose the booking.
        return None


# -- the public functions ------------------------------------------------------------------------


def _header(fields: dict[str, Any]) -> PushHeader:
    raw_command = fields.get("command")
    command = _text(raw_command).strip().upper()
    if not command:
        raise UnreadablePush("The push has no command (CREATED, MODIFIED or DELETED).")
    if command not in COMMANDS:
        raise UnreadablePush(
            f"The command {_printable(_text(raw_command))} is not one of CREATED, MODIFIED, "
            "DELETED."
        )
    uid = _text(fields.get("appointmentuid")).strip()
    if not uid:
        raise UnreadablePush("The push has no appointmentUID.")
    if len(uid) > MAX_UID_LENGTH:
        raise UnreadablePush(f"The appointmentUID is longer than {MAX_UID_LENGTH} characters.")
    if "\x00" in uid or not uid.isprintable():
        raise UnreadablePush("The appointmentUID contains control characters.")
    try:
        uid.encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadablePush("The appointmentUID is not valid text.") from None
    return PushHeader(command=command, uid=uid)


def check_push(body: bytes, content_type: str) -> PushHeader:
    """Read just enough of a web push to store it: command and appointment UID.

    Also checks that every date field present can be read, so a push that ``parse_push`` would
    refuse for its dates is refused here already. Raises ``UnreadablePush(reason)``.
    """
    fields = _load(body, content_type)
    header = _header(fields)
    for key in _DATE_FIELDS:
        if key in fields:
            _check_date(fields, key)
    return header


def _clean(value: str) -> str:
    # NUL and lone surrogates cannot be stored in PostgreSQL text; they carry no meaning here.
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", errors="replace").decode("utf-8")
    return value


def _notes(text: str) -> str:
    text = text.replace("\r\n", "\n")
    if "\\" in text:
        # Some senders escape line breaks a second time; the customer typed real ones.
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
    return text.strip()


def _email(text: str) -> tuple[str, str]:
    value = text.strip()
    if not value:
        return "", ""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return "", f"{_printable(value)} is not an email address: {exc}"
    return result.normalized.lower(), ""


def _newsletter(text: str) -> Literal["yes", "no", "unknown"]:
    value = text.strip().lower()
    if value in _NEWSLETTER_YES:
        return "yes"
    if value in _NEWSLETTER_NO:
        return "no"
    return "unknown"


def _calendar_id(text: str) -> int | None:
    value = text.strip()
    if value.endswith(".0"):
        value = value[:-2]
    if value.isascii() and value.isdigit():
        return int(value)
    return None


def parse_push(
    body: bytes, content_type: str, *, timezone: str = "Europe/Zurich"
) -> AppointmentEvent:
    """Read a whole web push into an ``AppointmentEvent``.

    UTC fields win; a local field (``startDateTime`` …) is used only when its UTC twin is missing,
    and is read in ``timezone`` (the account's) unless it carries an offset. Empty fields count as
    missing, so the JSON and the form variant of the same push give the same event.
    Raises ``UnreadablePush(reason)``.
    """
    loaded = _load(body, content_type)
    header = _header(loaded)
    dates = {key: _check_date(loaded, key) for key in _DATE_FIELDS if key in loaded}

    fields: dict[str, str] = {}
    for key, raw in loaded.items():
        value = _clean(_text(raw))
        if value:
            fields[_clean(key)] = value

    def pick(utc_key: str, local_key: str) -> datetime | None:
        moment = _naive_utc(dates.get(utc_key))
        if moment is None:
            moment = _utc(dates.get(local_key), timezone)
        return moment

    get = fields.get
    email, email_problem = _email(get("email", ""))
    additional = {
        key: value
        for key, value in fields.items()
        if key.startswith("additional") and key[10:].isdigit()
    }
    return AppointmentEvent(
        command=header.command,  # type: ignore[arg-type]
        uid=header.uid,
        start=pick("startdatetimeutc", "startdatetime"),
        end=pick("enddatetimeutc", "enddatetime"),
        booked_at=pick("bookingdateutc", "bookingdate"),
        calendar_id=_calendar_id(get("calendarid", "")),
        calendar_name=get("calendarname", "").strip(),
        salutation=get("salutation", "").strip(),
        first_name=get("firstname", "").strip(),
        last_name=get("lastname", "").strip(),
        phone=get("phone", "").strip(),
        street=get("street", "").strip(),
        zip=get("zip", "").strip(),
        town=get("town", "").strip(),
        birthday=_birthday(get("birthday", "")),
        email=email,
        email_problem=email_problem,
        notes=_notes(get("notes", "")),
        services=get("selectedanswers", "").strip(),
        language=get("bookinglanguage", "").strip(),
        newsletter=_newsletter(get("newsletter", "")),
        additional=additional,
        fields=fields,
    )
