"""The .ics attachment for emails about an appointment.

Times are written in the appointment's IANA zone with its VTIMEZONE, so calendars show the
booked wall-clock time even across a DST change. The UID is the eTermin appointment's, and
SEQUENCE grows with time, so a later email after a reschedule or cancellation updates the
entry the first one created instead of adding a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

PRODUCT_ID = "-//terminflow//appointment//DE"
_EPOCH = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))
CANCELLED = {"deleted", "cancelled", "canceled"}


def appointment_ics(
    appointment: dict[str, Any],
    *,
    summary: str,
    organizer_name: str,
    organizer_email: str,
    timezone: str,
    now: datetime,
) -> str:
    """One VEVENT for the appointment; a cancelled appointment gives METHOD:CANCEL."""
    zone = ZoneInfo(appointment.get("timezone") or timezone)
    start: datetime = appointment["start"].astimezone(zone)
    end_value = appointment.get("end")
    end: datetime = end_value.astimezone(zone) if end_value else start + timedelta(minutes=30)
    cancelled = str(appointment.get("status") or "").lower() in CANCELLED
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    uid = appointment.get("uid") or f"{start.isoformat()}-{summary}"
    event.add("uid", f"{uid}@terminflow")
    event.add("dtstamp", now)
    # Seconds since 2024: grows with every email, which is all SEQUENCE needs.
    event.add("sequence", max(0, int((now - _EPOCH).total_seconds())))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", appointment.get("calendar_name") or summary)
    description = "\n".join(
        part for part in (appointment.get("services"), appointment.get("notes")) if part
    )
    if description:
        event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("organizer", f"mailto:{organizer_email}", parameters={"cn": organizer_name})
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode("utf-8")


def ics_method(ics: str) -> str:
    return "CANCEL" if "METHOD:CANCEL" in ics else "PUBLISH"
