"""The eTermin REST API client: signed requests, timeouts, bounded retries, liberal parsing.

Every request is signed with eTermin's scheme (a fresh salt and its HMAC-SHA256 under the private
key). Answers are read case-insensitively: keys come back lower-cased, from JSON or, when eTermin
answers XML despite ``Accept: application/json``, from XML. What eTermin does and what is only
guessed is written down in docs/etermin.md; tests/etermin/test_sandbox_conformance.py pins it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.utils.translation import gettext_lazy

from terminflow.kit.errors import Unprocessable
from terminflow.kit.metrics import ETERMIN_API_CALLS, ETERMIN_API_ERRORS

if TYPE_CHECKING:
    from terminflow.etermin.models import EterminAccount

logger = logging.getLogger(__name__)

AUTH_HINT = gettext_lazy(
    "eTermin rejected the API keys: check the public and private key under API → API & Web Push"
)


class EterminError(Unprocessable):
    code = "etermin_error"


class EterminAuthError(EterminError):
    code = "etermin_auth"


class EterminUnavailable(EterminError):
    code = "etermin_unavailable"


class EterminRateLimited(EterminUnavailable):
    """eTermin answered 429; ``retry_after`` is how many seconds it asked us to wait."""

    code = "etermin_rate_limited"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


# When a 429 carries no usable Retry-After, wait this long before asking again.
DEFAULT_RETRY_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Calendar:
    id: int
    name: str


@dataclass(frozen=True)
class EterminContact:
    email: str
    first_name: str
    last_name: str
    phone: str
    newsletter: bool | None
    raw: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class CreatedAppointment:
    """What ``POST /appointment`` answers: the ExternalID (``uid``) and the numeric ``iid``."""

    uid: str
    iid: int | None
    raw: dict = field(repr=False, compare=False)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms; one context shared by all clients keeps client_for cheap.
    return httpx.create_ssl_context()


def signature_headers(public_key: str, private_key: str, salt: str | None = None) -> dict[str, str]:
    """The three headers eTermin authenticates a request by.

    ``signature`` is the raw HMAC-SHA256 digest of the salt under the private key, standard
    base64; the salt must be new for every request, so callers normally leave it to us.
    """
    if salt is None:
        salt = secrets.token_hex(16)
    digest = hmac.new(private_key.encode("utf-8"), salt.encode("utf-8"), hashlib.sha256).digest()
    return {
        "publickey": public_key,
        "salt": salt,
        "signature": base64.b64encode(digest).decode("ascii"),
    }


def lower_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in row.items()}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on", "ja"}:
        return True
    if text in {"0", "false", "no", "off", "nein"}:
        return False
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _strip_namespace(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_value(element: ET.Element) -> Any:
    children = list(element)
    if children:
        return {_strip_namespace(child.tag): _xml_value(child) for child in children}
    nil = next((v for k, v in element.attrib.items() if _strip_namespace(k) == "nil"), None)
    if nil == "true":
        return None
    return element.text or ""


def parse_xml(body: bytes) -> list[dict[str, Any]]:
    """Rows from an XML answer (``<ArrayOfX><X>…</X></ArrayOfX>`` or a single ``<X>``)."""
    if b"<!DOCTYPE" in body.upper():
        # eTermin's answers have no DTD; refusing one rules out entity-expansion tricks.
        raise EterminError(
            gettext_lazy("eTermin answered XML with a document type declaration; refused")
        )
    try:
        # Safe here: no DTD (checked above), and expat ≥ 2.4 bounds entity amplification.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise EterminError(
            gettext_lazy("eTermin answered XML that cannot be read (%(exc)s)"), exc=exc
        ) from exc
    children = list(root)
    is_list = _strip_namespace(root.tag).startswith("ArrayOf") or (
        bool(children) and all(len(child) > 0 for child in children)
    )
    if is_list:
        return [lower_keys(_xml_value(child)) for child in children if len(child) > 0]
    value = _xml_value(root)
    return [lower_keys(value)] if isinstance(value, dict) else []


def _is_number(value: Any) -> bool:
    return str(value).strip().isdigit()


def appointment_uid(row: Mapping[str, Any]) -> str:
    """The ExternalID of an appointment row: ``ExternalID``, or ``ID`` where that is no number.

    Sources disagree on ``ID``: in listings it is the numeric id (like ``IID``), in the answer
    to a booking it is the ExternalID (docs/etermin.md).
    """
    uid = _text(row.get("externalid"))
    if not uid and row.get("id") is not None and not _is_number(row["id"]):
        uid = _text(row.get("id"))
    return uid


def appointment_iid(row: Mapping[str, Any]) -> int | None:
    for key in ("iid", "id"):
        if row.get(key) is not None and _is_number(row[key]):
            return int(str(row[key]).strip())
    return None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float:
    """``Retry-After`` in seconds (a number or an HTTP date); the default when unreadable."""
    text = (value or "").strip()
    if not text:
        return DEFAULT_RETRY_AFTER_SECONDS
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def parse_body(response: httpx.Response) -> list[dict[str, Any]]:
    """The answer as rows with lower-cased keys, whatever format eTermin chose."""
    body = response.content.strip()
    if not body:
        return []
    content_type = response.headers.get("content-type", "").lower()
    if "xml" in content_type or body.startswith(b"<"):
        return parse_xml(body)
    try:
        data = response.json()
    except ValueError as exc:
        raise EterminError(
            gettext_lazy("eTermin answered something that is neither JSON nor XML")
        ) from exc
    if isinstance(data, list):
        return [lower_keys(row) if isinstance(row, dict) else {"value": row} for row in data]
    if isinstance(data, dict):
        return [lower_keys(data)]
    return [{"value": data}]


class EterminClient:
    """A synchronous client for one eTermin account.

    Timeouts, connection errors and 5xx answers are retried ``retries`` times; after that the
    call raises ``EterminUnavailable``. 401/403 raise ``EterminAuthError`` at once. ``timezone``
    (the account's zone) lets callers pass aware datetimes; eTermin wants local wall time.
    """

    # Short pauses between tries of one call: long enough to ride out a restart, short enough
    # not to hold a request or a job noticeably.
    BACKOFF_SECONDS: Sequence[float] = (0.2, 0.5)

    def __init__(
        self,
        public_key: str,
        private_key: str,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        timezone: str | None = None,
    ) -> None:
        self.public_key = str(public_key).strip()
        # Kept under a name that says it is secret; never part of repr, logs or errors.
        self._private_key = str(private_key).strip()
        self.base_url = (base_url or settings.ETERMIN_API_URL).rstrip("/")
        self.timeout = settings.ETERMIN_TIMEOUT_SECONDS if timeout is None else timeout
        self.retries = max(0, retries)
        self.timezone = ZoneInfo(timezone) if timezone else None
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            verify=_ssl_context(),
            headers={"Accept": "application/json", "User-Agent": "terminflow"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"EterminClient(public_key={self.public_key!r}, base_url={self.base_url!r})"

    __str__ = __repr__

    def __enter__(self) -> EterminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reading -------------------------------------------------------------------------------

    def calendars(self) -> list[Calendar]:
        """The account's calendars (``GET /calendar``); also the cheapest check of the keys."""
        calendars = []
        for row in self._request("GET", "calendar"):
            raw_id = row.get("calendarid", row.get("id"))
            try:
                calendar_id = int(str(raw_id).strip())
            except (TypeError, ValueError):
                logger.warning("eTermin calendar without a numeric id skipped: %r", raw_id)
                continue
            name = _text(row.get("calendarname")) or _text(row.get("name"))
            calendars.append(Calendar(id=calendar_id, name=name))
        return calendars

    def contacts_by_email(self, email: str) -> list[EterminContact]:
        """eTermin's contacts with exactly this email (``GET /contact?email=``)."""
        return [
            EterminContact(
                email=_text(row.get("email")),
                first_name=_text(row.get("firstname")),
                last_name=_text(row.get("lastname")),
                phone=_text(row.get("phone")),
                newsletter=_as_bool(row.get("newsletter")),
                raw=row,
            )
            for row in self._request("GET", "contact", params={"email": email})
        ]

    def appointment(self, uid: str) -> dict | None:
        """One appointment by its external id (the push's ``appointmentUID``), or None."""
        rows = self._request("GET", "appointment", params={"id": uid}, missing_ok=True)
        return rows[0] if rows else None

    def appointments(self, start: date, end: date, calendar_id: int | None = None) -> list[dict]:
        """Appointments starting between two days, both included, optionally of one calendar.

        eTermin's ``end`` is exclusive, so the day after ``end`` is sent.
        """
        params: dict[str, str] = {"start": _day(start), "end": _day(end + timedelta(days=1))}
        if calendar_id is not None:
            params["calendarid"] = str(calendar_id)
        return self._request("GET", "appointment", params=params)

    def deleted_appointments(self, start: date, end: date) -> list[dict]:
        """Appointments deleted between two days, both included (by deletion date)."""
        return self._request(
            "GET",
            "appointmentdeleted",
            params={"start": _day(start), "end": _day(end + timedelta(days=1))},
        )

    # -- writing -------------------------------------------------------------------------------

    def create_appointment(self, **fields: Any) -> CreatedAppointment:
        """Book an appointment (``POST /appointment``): start, end, calendarid, firstname, ..."""
        rows = self._request("POST", "appointment", params=self._params(fields))
        row = rows[0] if rows else {}
        uid, iid = appointment_uid(row), appointment_iid(row)
        if not uid and iid is not None:
            # An answer with only the numeric id: the ExternalID is one lookup away.
            found = self.appointment(str(iid))
            uid = appointment_uid(found or {})
        if not uid:
            raise EterminError("eTermin booked the appointment but named no ExternalID")
        return CreatedAppointment(uid=uid, iid=iid, raw=row)

    def update_appointment(self, uid: str, **fields: Any) -> str:
        """Change an appointment (``PUT /appointment?id=``); returns eTermin's confirmation.

        eTermin reads the fields from a form body and rewrites the slot on every update, so
        ``start``, ``end`` and ``calendarid`` are always sent: those not given are read from
        the appointment first.
        """
        data = self._params(fields)
        missing = [name for name in ("start", "end", "calendarid") if name not in data]
        if missing:
            current = self.appointment(uid)
            if current is None:
                raise EterminError(f"eTermin has no appointment {uid!r} to change")
            now = {
                "start": _wall_time(current.get("startdatetime")),
                "end": _wall_time(current.get("enddatetime")),
                "calendarid": _text(current.get("calendarid")),
            }
            data.update({name: now[name] for name in missing})
        return self._confirm("PUT", "appointment", params={"id": uid}, data=data)

    def delete_appointment(self, uid: str) -> str:
        """Delete an appointment; ``sync=1`` lets the calendars connected to eTermin follow."""
        return self._confirm("DELETE", "appointment", params={"externalid": uid, "sync": "1"})

    # -- plumbing ------------------------------------------------------------------------------

    def _params(self, fields: Mapping[str, Any]) -> dict[str, str]:
        params: dict[str, str] = {}
        for key, value in fields.items():
            if value is None:
                continue
            if isinstance(value, bool):
                params[key.lower()] = "1" if value else "0"
            elif isinstance(value, datetime):
                params[key.lower()] = self._local_time(value)
            elif isinstance(value, date):
                params[key.lower()] = _day(value)
            else:
                params[key.lower()] = str(value)
        return params

    def _local_time(self, value: datetime) -> str:
        if value.tzinfo is not None:
            if self.timezone is None:
                raise ValueError(
                    "eTermin takes local wall time: pass a naive datetime or give the client "
                    "the account's timezone"
                )
            value = value.astimezone(self.timezone)
        return value.strftime("%Y-%m-%d %H:%M")

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> list[dict[str, Any]]:
        response = self._send(method, path, params=params, data=data, missing_ok=missing_ok)
        return [] if response is None else parse_body(response)

    def _confirm(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> str:
        """eTermin's short confirmation ("1 records updated!"), as JSON, XML or plain text."""
        response = self._send(method, path, params=params, data=data)
        assert response is not None
        body = response.content.strip()
        if body.startswith(b"<") and b"<!DOCTYPE" not in body.upper():
            try:
                # Safe: no DTD (checked above), as in parse_xml.
                return "".join(ET.fromstring(body).itertext()).strip()  # noqa: S314
            except ET.ParseError:
                return response.text.strip()
        try:
            value = response.json()
        except ValueError:
            return response.text.strip()
        return value if isinstance(value, str) else response.text.strip()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        if not self.public_key.isascii():
            # HTTP headers carry ASCII only, and eTermin's keys are ASCII: a pasting mistake.
            raise EterminAuthError(AUTH_HINT)
        attempts = self.retries + 1
        problem = ""
        endpoint = f"{method} /{path}"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                pause = self.BACKOFF_SECONDS[min(attempt - 2, len(self.BACKOFF_SECONDS) - 1)]
                if pause > 0:
                    # A bounded pause between tries of one call, not a wait in a job.
                    time.sleep(pause)  # noqa: TID251
            headers = signature_headers(self.public_key, self._private_key)
            ETERMIN_API_CALLS.labels(endpoint).inc()
            try:
                response = self._http.request(
                    method, path, params=params, data=data, headers=headers
                )
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed: {type(exc).__name__}"
            else:
                status = response.status_code
                if status >= 400 and not (status == 404 and missing_ok):
                    ETERMIN_API_ERRORS.labels(endpoint).inc()
                if status in {401, 403}:
                    logger.info("eTermin %s /%s answered %s", method, path, status)
                    raise EterminAuthError(AUTH_HINT)
                if status == 429:
                    # Asking again at once is what a rate limit forbids: the caller waits.
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                    logger.info("eTermin %s /%s answered 429; retry after %gs", method, path, wait)
                    raise EterminRateLimited(
                        f"eTermin asks to slow down; try again in {wait:.0f} s",
                        retry_after=wait,
                    )
                if status >= 500:
                    problem = f"it answered {status}"
                elif status == 404 and missing_ok:
                    return None
                elif status >= 400:
                    raise EterminError(
                        gettext_lazy(
                            "eTermin refused %(method)s /%(path)s with %(status)s: %(message)s"
                        ),
                        method=method,
                        path=path,
                        status=status,
                        message=_message(response),
                    )
                else:
                    return response
            if not problem.startswith("it answered"):
                ETERMIN_API_ERRORS.labels(endpoint).inc()
            logger.warning(
                "eTermin %s /%s try %d of %d failed: %s", method, path, attempt, attempts, problem
            )
        raise EterminUnavailable(
            gettext_lazy(
                "eTermin could not be reached (%(problem)s, %(attempts)s tries); try again later "
                "or save with verify: false"
            ),
            problem=problem,
            attempts=attempts,
        )


def _day(value: date) -> str:
    return value.strftime("%Y-%m-%d")


def _wall_time(value: Any) -> str:
    """eTermin's local ``yyyy-mm-ddTHH:MM:SS`` as the ``yyyy-mm-dd HH:MM`` it takes back."""
    text = _text(value)
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        raise EterminError(f"eTermin answered a time that cannot be read: {text[:40]!r}") from None


def _message(response: httpx.Response) -> str:
    try:
        rows = parse_body(response)
    except EterminError:
        rows = []
    for row in rows:
        text = _text(row.get("message")) or _text(row.get("detail"))
        if text:
            return text[:200]
    return response.text.strip()[:200] or response.reason_phrase


def client_for(account: EterminAccount) -> EterminClient:
    """A client signed with the account's keys, reading local times in the account's zone."""
    return EterminClient(
        account.public_key, str(account.private_key), timezone=account.timezone or None
    )
