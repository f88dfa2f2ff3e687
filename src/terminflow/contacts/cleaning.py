"""Cleaning and normalising what callers hand the contact modules: email addresses and phone
numbers in the one form we store and compare, the region and time zone a workspace's input is
read in, and the checks for text and names (type, NUL characters, length) that fields, tags,
notes and contacts share; each raises ``Unprocessable`` with a message naming the input.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.utils.translation import gettext_lazy
from email_validator import EmailNotValidError, validate_email

from terminflow.kit.errors import Unprocessable
from terminflow.workspaces.models import Workspace

DEFAULT_PHONE_REGION = "CH"
NAME_MAX_LENGTH = 200


def normalize_email(email: str) -> str:
    """The address in the one form we store and compare: validated, stripped, lower-cased.

    Raises ``Unprocessable`` ("'x' is not an email address: ...") for anything else.
    """
    if not isinstance(email, str) or not email.strip():
        raise Unprocessable(gettext_lazy("An email address is required."))
    candidate = email.strip()
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an email address: %(exc)s"),
            shorten=shorten(candidate),
            exc=exc,
        ) from None
    normalized = result.normalized.lower()
    if len(normalized) > 254:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an email address: it is too long."),
            shorten=shorten(candidate),
        )
    return normalized


def normalize_phone(phone: str | None, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """The number in E.164 (``+41446681800``), "" for no number; ``Unprocessable`` if invalid.

    Numbers without a country code are read as numbers of ``region``.
    """
    if phone is None:
        return ""
    if not isinstance(phone, str):
        raise Unprocessable(
            gettext_lazy("phone: write the number as text, e.g. '+41 44 668 18 00'.")
        )
    raw = phone.strip()
    if not raw:
        return ""
    problem = (
        f"'{shorten(raw)}' is not a valid phone number; write it with the country code, "
        "e.g. '+41 44 668 18 00'."
    )
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise Unprocessable(problem) from None
    if not phonenumbers.is_valid_number(parsed):
        raise Unprocessable(problem)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_region(workspace: Workspace) -> str:
    """The region local numbers belong to: the country of the workspace's locale, else CH."""
    _, _, country = (workspace.locale or "").replace("_", "-").partition("-")
    country = country.upper()
    if country in phonenumbers.SUPPORTED_REGIONS:
        return country
    return DEFAULT_PHONE_REGION


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_text(label: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise Unprocessable(gettext_lazy("%(label)s: must be text."), label=label)
    # PostgreSQL stores no NUL character in text or JSON; refuse it before it becomes a 500.
    if "\x00" in value:
        raise Unprocessable(gettext_lazy("%(label)s: contains a NUL character."), label=label)
    if len(value) > max_length:
        raise Unprocessable(
            gettext_lazy("%(label)s: at most %(max_length)s characters."),
            label=label,
            max_length=max_length,
        )
    return value


def clean_name(label: str, value: Any) -> str:
    if value is None:
        return ""
    return clean_text(label, value.strip() if isinstance(value, str) else value, NAME_MAX_LENGTH)
