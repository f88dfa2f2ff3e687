"""Web pushes as eTermin sends them: the field set, JSON or form bodies, delivery in background."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx

from terminflow.kit import clock

from .state import Account, Appointment, PushConfig, SandboxState, local_text, utc_text

logger = logging.getLogger(__name__)

# The order eTermin's JSON bodies list the fields in.
PUSH_FIELDS = (
    "command",
    "appointmentUID",
    "startDateTimeUTC",
    "endDateTimeUTC",
    "startDateTime",
    "endDateTime",
    "bookingDateUTC",
    "salutation",
    "firstName",
    "lastName",
    "phone",
    "street",
    "ZIP",
    "town",
    "birthday",
    "notes",
    "email",
    "calendarName",
    "calendarID",
    "selectedAnswers",
    "bookingLanguage",
    "newsletter",
    *(f"additional{n}" for n in range(1, 7)),
)
DELIVERY_TIMEOUT_SECONDS = 10.0


def push_fields(command: str, appointment: Appointment, account: Account) -> dict[str, str]:
    """Every push field as text, empty where the appointment has no value."""
    zone = account.zone
    newsletter = {True: "1", False: "0", None: ""}[appointment.newsletter]
    fields = {
        "command": command,
        "appointmentUID": appointment.uid,
        "startDateTimeUTC": utc_text(appointment.start),
        "endDateTimeUTC": utc_text(appointment.end),
        "startDateTime": local_text(appointment.start, zone),
        "endDateTime": local_text(appointment.end, zone),
        "bookingDateUTC": utc_text(appointment.created_at),
        "salutation": appointment.salutation,
        "firstName": appointment.first_name,
        "lastName": appointment.last_name,
        "phone": appointment.phone,
        "street": appointment.street,
        "ZIP": appointment.zip,
        "town": appointment.town,
        "birthday": appointment.birthday,
        "notes": appointment.notes,
        "email": appointment.email,
        "calendarName": appointment.calendar_name,
        "calendarID": str(appointment.calendar_id),
        "selectedAnswers": appointment.selected_answers,
        "bookingLanguage": appointment.booking_language,
        "newsletter": newsletter,
    }
    for index, value in enumerate(appointment.additional, start=1):
        fields[f"additional{index}"] = value
    return {name: fields[name] for name in PUSH_FIELDS}


_UTC_FIELDS = ("startDateTimeUTC", "endDateTimeUTC", "bookingDateUTC")
_LOCAL_FIELDS = ("startDateTime", "endDateTime")
_COMPACT = "%Y%m%d%H%M%S"


def apply_variant(fields: dict[str, str], variant: str) -> dict[str, str]:
    """The fields as an account of this variant spells them (see ``PUSH_VARIANTS``)."""
    if variant == "sparse":
        return {k: v for k, v in fields.items() if k not in ("calendarID", "newsletter")}
    if variant == "utc_without_z":
        return {k: v.removesuffix("Z") if k in _UTC_FIELDS else v for k, v in fields.items()}
    if variant == "upper_compact":
        spelled = {}
        for key, value in fields.items():
            if value and key in _UTC_FIELDS + _LOCAL_FIELDS:
                value = datetime.fromisoformat(value.removesuffix("Z")).strftime(_COMPACT)
            spelled[key.upper()] = value
        return spelled
    return fields


def encode(fields: dict[str, str], format: str) -> tuple[bytes, str]:
    """The body and content type: JSON carries every field, form only the filled ones."""
    if format == "form":
        filled = {k: v for k, v in fields.items() if v != ""}
        return urlencode(filled).encode("ascii"), "application/x-www-form-urlencoded"
    return json.dumps(fields, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"


def sample_appointment(account: Account) -> Appointment:
    """What eTermin's test buttons send: a made-up booking in the account's first calendar."""
    calendar_id, calendar_name = min(account.calendars.items(), default=(0, "Testkalender"))
    now = clock.now()
    start = (
        (now + timedelta(days=1))
        .astimezone(account.zone)
        .replace(hour=10, minute=0, second=0, microsecond=0)
    )
    return Appointment(
        id=0,
        uid=str(uuid.uuid4()),
        calendar_id=calendar_id,
        calendar_name=calendar_name,
        start=start.astimezone(UTC),
        end=(start + timedelta(minutes=30)).astimezone(UTC),
        created_at=now,
        salutation="Herr",
        first_name="Max",
        last_name="Muster",
        email="max.muster@example.com",
        phone="+41 44 000 00 00",
        notes="Test",
        selected_answers="Testtermin",
    )


class Pusher:
    """Sends web pushes after the API has answered, and records every delivery."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def push(self, account: Account, command: str, appointment: Appointment) -> bool:
        """Queue one push if the account has a web push URL; False when it has none.

        It only starts the delivery, so a slow receiver never holds the API's connection.
        """
        if account.push is None or account.push.paused:
            return False
        config = PushConfig(**vars(account.push))
        fields = apply_variant(push_fields(command, appointment, account), config.variant)
        task = asyncio.get_running_loop().create_task(
            self._deliver(account.public_key, config, fields)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _deliver(self, public_key: str, config: PushConfig, fields: dict[str, str]) -> None:
        body, content_type = encode(fields, config.format)
        headers = {"Content-Type": content_type, "User-Agent": "eTermin-WebPush (sandbox)"}
        if config.header_name:
            headers[config.header_name] = config.header_value
        delivery = self.state.new_delivery(
            public_key=public_key,
            command=fields.get("command") or fields["COMMAND"],
            url=config.url,
            format=config.format,
            headers=headers,
            body=body.decode("utf-8"),
            sent_at=datetime.now(UTC).isoformat(),
        )
        try:
            response = await self._http().post(config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        else:
            delivery.status_code = response.status_code
            delivery.response_body = response.text[:2000]
        self.state.deliveries.append(delivery)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
        return self._client

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
