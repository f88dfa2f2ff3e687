"""What the sandbox remembers: accounts, calendars, contacts, appointments, deliveries, calls.

All of it lives in memory and is touched only from the server's event loop, so it needs no
locks. Times are kept in UTC and shown in the account's zone the way eTermin shows them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from terminflow.kit import clock

PUSH_FORMATS = ("json", "form")
# How an account's pushes spell their fields, as seen from different eTermin accounts:
# ``upper_compact`` UPPER-CASE keys and ``yyyyMMddHHmmss`` dates, ``sparse`` without calendarID
# and newsletter, ``utc_without_z`` UTC fields without the trailing ``Z``.
PUSH_VARIANTS = ("standard", "upper_compact", "sparse", "utc_without_z")
ADDITIONAL_FIELDS = 17
COMMANDS = ("CREATED", "MODIFIED", "DELETED")
FIRST_APPOINTMENT_ID = 1_000_001
FIRST_CONTACT_ID = 500_001


class SandboxError(Exception):
    """Bad input to the sandbox; ``status`` is the HTTP status the server answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_api_text(moment: datetime) -> str:
    """UTC the way eTermin's listings write it: ISO without the ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_moment(value: Any, zone: ZoneInfo, name: str) -> datetime:
    """An aware UTC datetime from eTermin's ``yyyy-mm-dd HH:MM`` (local) or ISO with offset."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or "").strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise SandboxError(f"{name} must look like yyyy-mm-dd HH:MM, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_day(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value or "").strip()[:10])
    except ValueError:
        raise SandboxError(f"{name} must look like yyyy-mm-dd, got {value!r}") from None


def parse_flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    return None


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SandboxError(f"unknown time zone {name!r}") from None


@dataclass
class PushConfig:
    url: str
    format: str = "json"
    header_name: str = ""
    header_value: str = ""
    variant: str = "standard"
    # Paused keeps the URL but sends nothing: pushes lost on purpose, for tests and demos.
    paused: bool = False


@dataclass
class Contact:
    id: int
    uid: str
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    salutation: str = ""
    street: str = ""
    zip: str = ""
    town: str = ""
    birthday: str = ""
    notes: str = ""
    newsletter: bool = False
    company: str = ""
    title: str = ""
    customer_number: str = ""
    additional: list[str] = field(default_factory=lambda: [""] * ADDITIONAL_FIELDS)

    def as_api(self) -> dict[str, Any]:
        # Key spellings as observed in eTermin's answers (``cid`` lower-case, ``City``).
        row: dict[str, Any] = {
            "cid": self.id,
            "ExternalID": self.uid,
            "Salutation": self.salutation,
            "Title": self.title,
            "FirstName": self.first_name,
            "LastName": self.last_name,
            "Company": self.company,
            "CustomerNumber": self.customer_number,
            "Email": self.email,
            "Phone": self.phone,
            "Street": self.street,
            "ZIP": self.zip,
            "City": self.town,
            "Birthday": self.birthday,
            "Notes": self.notes,
            "Newsletter": self.newsletter,
        }
        for index, value in enumerate(self.additional, start=1):
            row[f"Additional{index}"] = value
        return row


# Customer fields an appointment carries: (API parameter, attribute).
PERSON_FIELDS = (
    ("salutation", "salutation"),
    ("firstname", "first_name"),
    ("lastname", "last_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("street", "street"),
    ("zip", "zip"),
    ("town", "town"),
    ("birthday", "birthday"),
    ("notes", "notes"),
    ("selectedanswers", "selected_answers"),
    ("bookinglanguage", "booking_language"),
)


@dataclass
class Appointment:
    id: int
    uid: str
    calendar_id: int
    calendar_name: str
    start: datetime
    end: datetime
    created_at: datetime
    salutation: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    street: str = ""
    zip: str = ""
    town: str = ""
    birthday: str = ""
    notes: str = ""
    selected_answers: str = ""
    booking_language: str = "DE"
    newsletter: bool | None = None
    additional: list[str] = field(default_factory=lambda: [""] * ADDITIONAL_FIELDS)
    location: str = ""
    title: str = ""
    manual_confirmed: bool = False
    blocked: bool = False
    deleted_at: datetime | None = None

    def as_api(self, zone: ZoneInfo) -> dict[str, Any]:
        # ``ID`` and ``IID`` both carry the numeric id here; see docs/etermin.md on ID vs IID.
        row: dict[str, Any] = {
            "ID": self.id,
            "IID": self.id,
            "ExternalID": self.uid,
            "CalendarID": self.calendar_id,
            "CalendarName": self.calendar_name,
            "StartDateTime": local_text(self.start, zone),
            "EndDateTime": local_text(self.end, zone),
            "StartDateTimeUTC": utc_api_text(self.start),
            "EndDateTimeUTC": utc_api_text(self.end),
            "CreationDate": local_text(self.created_at, zone),
            "Location": self.location,
            "Title": self.title,
            "ServicesText": self.selected_answers,
            "ManualConfirmed": self.manual_confirmed,
            "BlockedApp": self.blocked,
            "AppAttrib": 0,
            "Salutation": self.salutation,
            "FirstName": self.first_name,
            "LastName": self.last_name,
            "Email": self.email,
            "Phone": self.phone,
            "Street": self.street,
            "ZIP": self.zip,
            "Town": self.town,
            "Birthday": self.birthday,
            "Notes": self.notes,
            "SelectedAnswers": self.selected_answers,
            "BookingLanguage": self.booking_language,
            "Newsletter": self.newsletter,
        }
        for index, value in enumerate(self.additional, start=1):
            row[f"Additional{index}"] = value
        if self.deleted_at is not None:
            row["DeletionDate"] = local_text(self.deleted_at, zone)
        return row


@dataclass
class Account:
    public_key: str
    private_key: str
    timezone: str = "Europe/Zurich"
    calendars: dict[int, str] = field(default_factory=dict)
    push: PushConfig | None = None
    contacts: dict[str, Contact] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    deleted: dict[str, Appointment] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def calendars_api(self, name_key: str = "CalendarName") -> list[dict[str, Any]]:
        return [
            {
                "CalendarID": cid,
                name_key: name,
                "Street": "",
                "ZIP": "",
                "Town": "",
                "Enabled": True,
                "TimeSlotMinutes": 15,
            }
            for cid, name in sorted(self.calendars.items())
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "public_key": self.public_key,
            "timezone": self.timezone,
            "calendars": [
                {"id": cid, "name": name} for cid, name in sorted(self.calendars.items())
            ],
            "web_push": asdict(self.push) if self.push else None,
            "appointments": len(self.appointments),
            "deleted_appointments": len(self.deleted),
            "contacts": len(self.contacts),
        }


@dataclass
class Delivery:
    id: int
    public_key: str
    command: str
    url: str
    format: str
    headers: dict[str, str]
    body: str
    status_code: int | None = None
    response_body: str = ""
    error: str = ""
    sent_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FailureMode:
    """The next ``count`` API calls hang ``hang_seconds`` and/or answer ``status``."""

    count: int = 0
    status: int | None = 500
    hang_seconds: float = 0.0
    # Sent as ``Retry-After`` (seconds) with the failure's status, e.g. with a 429.
    retry_after: int | None = None


@dataclass
class Quirks:
    # eTermin has been seen answering XML without being asked; this forces it for every call.
    xml_always: bool = False
    # Some eTermin answers name the calendar ``Name`` instead of ``CalendarName``.
    calendar_name_key: str = "CalendarName"


class SandboxState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.deliveries: list[Delivery] = []
        self.calls: list[dict[str, Any]] = []
        self.failure = FailureMode()
        self.quirks = Quirks()
        self._next_appointment_id = FIRST_APPOINTMENT_ID
        self._next_contact_id = FIRST_CONTACT_ID
        self._next_delivery_id = 1

    # -- accounts ------------------------------------------------------------------------------

    def account(self, public_key: str) -> Account:
        try:
            return self.accounts[public_key]
        except KeyError:
            raise SandboxError(f"no account with public key {public_key!r}", 404) from None

    def add_account(
        self,
        public_key: str,
        private_key: str,
        *,
        calendars: list[dict[str, Any]] | None = None,
        timezone: str = "Europe/Zurich",
        web_push: dict[str, Any] | None = None,
    ) -> Account:
        if not public_key or not private_key:
            raise SandboxError("public_key and private_key are required")
        zone_of(timezone)
        account = Account(public_key=public_key, private_key=private_key, timezone=timezone)
        self.accounts[public_key] = account
        for calendar in calendars or []:
            self.add_calendar(account, calendar.get("id"), calendar.get("name", ""))
        if web_push:
            self.configure_push(account, **web_push)
        return account

    def add_calendar(self, account: Account, calendar_id: Any, name: str) -> int:
        if calendar_id in (None, ""):
            calendar_id = max(account.calendars, default=211_600) + 1
        try:
            number = int(calendar_id)
        except (TypeError, ValueError):
            raise SandboxError(f"calendar id must be a number, got {calendar_id!r}") from None
        account.calendars[number] = str(name or f"Kalender {number}")
        return number

    def configure_push(
        self,
        account: Account,
        url: str,
        format: str = "json",
        header_name: str = "",
        header_value: str = "",
        variant: str = "standard",
        paused: bool = False,
    ) -> PushConfig:
        if not str(url or "").startswith(("http://", "https://")):
            raise SandboxError("url must start with http:// or https://")
        if format not in PUSH_FORMATS:
            raise SandboxError(f"format must be one of {', '.join(PUSH_FORMATS)}")
        if variant not in PUSH_VARIANTS:
            raise SandboxError(f"variant must be one of {', '.join(PUSH_VARIANTS)}")
        account.push = PushConfig(
            url=url,
            format=format,
            header_name=header_name or "",
            header_value=header_value or "",
            variant=variant,
            paused=bool(paused),
        )
        return account.push

    def pause_push(self, account: Account, paused: bool) -> PushConfig:
        if account.push is None:
            raise SandboxError("web push is not configured for this account", 409)
        account.push.paused = paused
        return account.push

    # -- contacts ------------------------------------------------------------------------------

    def remember_contact(self, account: Account, appointment: Appointment) -> None:
        if not appointment.email:
            return
        key = appointment.email.lower()
        contact = account.contacts.get(key)
        if contact is None:
            contact = Contact(
                id=self._next_contact_id, uid=str(uuid.uuid4()), email=appointment.email
            )
            self._next_contact_id += 1
            account.contacts[key] = contact
        for attr in ("salutation", "first_name", "last_name", "phone", "street", "zip", "town"):
            value = getattr(appointment, attr)
            if value:
                setattr(contact, attr, value)
        if appointment.birthday:
            contact.birthday = appointment.birthday
        if appointment.newsletter is not None:
            contact.newsletter = appointment.newsletter

    def contacts(self, account: Account, email: str | None) -> list[Contact]:
        if email is None:
            return list(account.contacts.values())
        contact = account.contacts.get(email.strip().lower())
        return [contact] if contact else []

    # -- appointments --------------------------------------------------------------------------

    def create_appointment(self, account: Account, params: dict[str, Any]) -> Appointment:
        calendar_id = self._calendar_id(account, params.get("calendarid"))
        zone = account.zone
        start = parse_moment(params.get("start"), zone, "start")
        end = parse_moment(params.get("end"), zone, "end")
        if end <= start:
            raise SandboxError("end must be after start")
        appointment = Appointment(
            id=self._next_appointment_id,
            uid=str(uuid.uuid4()),
            calendar_id=calendar_id,
            calendar_name=account.calendars[calendar_id],
            start=start,
            end=end,
            created_at=clock.now(),
        )
        self._next_appointment_id += 1
        self._apply_person(appointment, params)
        account.appointments[appointment.uid] = appointment
        self.remember_contact(account, appointment)
        return appointment

    def update_appointment(self, account: Account, uid: str, params: dict[str, Any]) -> Appointment:
        """eTermin rewrites the appointment's slot on every update: start, end and calendarid
        must be sent each time, even when only the notes change."""
        appointment = self.appointment(account, uid)
        missing = [name for name in ("start", "end", "calendarid") if not params.get(name)]
        if missing:
            raise SandboxError(
                f"{', '.join(missing)} missing: start, end and calendarid are required on every "
                "update"
            )
        zone = account.zone
        calendar_id = self._calendar_id(account, params["calendarid"])
        start = parse_moment(params["start"], zone, "start")
        end = parse_moment(params["end"], zone, "end")
        if end <= start:
            raise SandboxError("end must be after start")
        appointment.calendar_id = calendar_id
        appointment.calendar_name = account.calendars[calendar_id]
        appointment.start, appointment.end = start, end
        self._apply_person(appointment, params)
        self.remember_contact(account, appointment)
        return appointment

    def delete_appointment(self, account: Account, uid: str) -> Appointment:
        appointment = self.appointment(account, uid)
        del account.appointments[appointment.uid]
        appointment.deleted_at = clock.now()
        account.deleted[appointment.uid] = appointment
        return appointment

    def appointment(self, account: Account, uid: str) -> Appointment:
        appointment = self.find_appointment(account, uid)
        if appointment is None:
            raise SandboxError(f"no appointment with id {uid!r}", 404)
        return appointment

    @staticmethod
    def find_appointment(account: Account, key: Any) -> Appointment | None:
        """By ExternalID (UUID) or by the numeric ID/IID: sources disagree on which ``id``
        means, so both are accepted."""
        text = str(key or "").strip()
        found = account.appointments.get(text)
        if found is None and text.isdigit():
            number = int(text)
            found = next((a for a in account.appointments.values() if a.id == number), None)
        return found

    def appointments_between(
        self, account: Account, start: date, end: date, calendar_id: int | None
    ) -> list[Appointment]:
        zone = account.zone
        return sorted(
            (
                a
                for a in account.appointments.values()
                # eTermin's end day is exclusive: clients add a day to include it.
                if start <= a.start.astimezone(zone).date() < end
                and (calendar_id is None or a.calendar_id == calendar_id)
            ),
            key=lambda a: (a.start, a.id),
        )

    def deleted_between(self, account: Account, start: date, end: date) -> list[Appointment]:
        zone = account.zone
        return sorted(
            (
                a
                for a in account.deleted.values()
                if a.deleted_at is not None and start <= a.deleted_at.astimezone(zone).date() < end
            ),
            key=lambda a: (a.deleted_at, a.id),
        )

    def _calendar_id(self, account: Account, value: Any) -> int:
        try:
            calendar_id = int(str(value).strip())
        except (TypeError, ValueError):
            raise SandboxError("calendarid is required and must be a number") from None
        if calendar_id not in account.calendars:
            raise SandboxError(f"calendar {calendar_id} does not belong to this account")
        return calendar_id

    @staticmethod
    def _apply_person(appointment: Appointment, params: dict[str, Any]) -> None:
        for key, attr in PERSON_FIELDS:
            if params.get(key) is not None:
                setattr(appointment, attr, str(params[key]))
        if "newsletter" in params:
            appointment.newsletter = parse_flag(params["newsletter"])
        for index in range(ADDITIONAL_FIELDS):
            value = params.get(f"additional{index + 1}")
            if value is not None:
                appointment.additional[index] = str(value)
        for key, attr in (("location", "location"), ("title", "title")):
            if params.get(key) is not None:
                setattr(appointment, attr, str(params[key]))
        if "manualconfirmed" in params:
            appointment.manual_confirmed = bool(parse_flag(params["manualconfirmed"]))

    # -- records -------------------------------------------------------------------------------

    def new_delivery(self, **fields: Any) -> Delivery:
        delivery = Delivery(id=self._next_delivery_id, **fields)
        self._next_delivery_id += 1
        return delivery

    def record_call(self, **fields: Any) -> dict[str, Any]:
        call = {"at": clock.now().isoformat(), **fields}
        self.calls.append(call)
        return call

    def take_failure(self) -> FailureMode | None:
        if self.failure.count <= 0:
            return None
        self.failure.count -= 1
        return self.failure

    # -- files ---------------------------------------------------------------------------------

    def load(self, path: str | Path) -> None:
        """Accounts (keys, zone, calendars, web push) from a JSON state file."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for entry in data.get("accounts", []):
            self.add_account(
                str(entry["public_key"]),
                str(entry["private_key"]),
                calendars=entry.get("calendars"),
                timezone=entry.get("timezone", "Europe/Zurich"),
                web_push=entry.get("web_push"),
            )
