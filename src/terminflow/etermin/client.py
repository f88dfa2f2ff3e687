"""The eTermin REST API client: signed requests, timeouts, bounded retries, liberal parsing.

Every request is signed with eTermin's scheme (a fresh salt and its HMAC-SHA256 under the private
key). Answers are read case-insensitively: keys come back lower-cased, from JSON or, when eTermin
answers XML despite ``Accept: application/json``, from XML.
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
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.utils.translation import gettext_lazy

from terminflow.kit.errors import Unprocessable

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
        """Appointments starting between two days (inclusive), optionally of one calendar."""
        params: dict[str, str] = {"start": _day(start), "end": _day(end)}
        if calendar_id is not None:
            params["calendarid"] = str(calendar_id)
        return self._request("GET", "appointment", params=params)

    def deleted_appointments(self, start: date, end: date) -> list[dict]:
        """Appointments deleted between two days (by deletion date), to reconcile lost pushes."""
        return self._request(
            "GET", "appointmentdeleted", params={"start": _day(start), "end": _day(end)}
        )

    # -- writing -------------------------------------------------------------------------------

    def create_appointment(self, **fields: Any) -> dict:
        """Book an appointment (``POST /appointment``): start, end, calendarid, firstname, ..."""
        rows = self._request("POST", "appointment", params=self._params(fields))
        return rows[0] if rows else {}

    def update_appointment(self, uid: str, **fields: Any) -> dict:
        """Change an appointment (``PUT /appointment?id=``) and return eTermin's answer."""
        params = {**self._params(fields), "id": uid}
        rows = self._request("PUT", "appointment", params=params)
        return rows[0] if rows else {}

    def delete_appointment(self, uid: str) -> None:
        self._request("DELETE", "appointment", params={"id": uid})

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
        missing_ok: bool = False,
    ) -> list[dict[str, Any]]:
        if not self.public_key.isascii():
            # HTTP headers carry ASCII only, and eTermin's keys are ASCII: a pasting mistake.
            raise EterminAuthError(AUTH_HINT)
        attempts = self.retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                pause = self.BACKOFF_SECONDS[min(attempt - 2, len(self.BACKOFF_SECONDS) - 1)]
                if pause > 0:
                    # A bounded pause between tries of one call, not a wait in a job.
                    time.sleep(pause)  # noqa: TID251
            headers = signature_headers(self.public_key, self._private_key)
            try:
                response = self._http.request(method, path, params=params, headers=headers)
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed: {type(exc).__name__}"
            else:
                status = response.status_code
                if status in {401, 403}:
                    logger.info("eTermin %s /%s answered %s", method, path, status)
                    raise EterminAuthError(AUTH_HINT)
                if status >= 500 or status == 429:
                    problem = f"it answered {status}"
                elif status == 404 and missing_ok:
                    return []
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
                    return parse_body(response)
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
