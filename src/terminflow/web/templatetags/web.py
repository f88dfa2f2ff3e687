"""Template filters for the pages: translated labels and values of typed contact fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import phonenumbers
from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from terminflow.kit import reasons
from terminflow.web import consent_text, labels

register = template.Library()


@register.filter
def role_label(code: str) -> str:
    return labels.label("roles", code)


@register.filter
def label(code: str, group: str) -> str:
    """``{{ contact.email_status|label:"email_status" }}``."""
    return labels.label(group, code)


@register.filter
def field_value(value: Any, field_type: str) -> str:
    """A stored field value shown in the user's locale and time zone."""
    if value is None or value == "":
        return "–"
    if field_type == "checkbox":
        return _("Yes") if value else _("No")
    if field_type == "date" and isinstance(value, str):
        try:
            return formats.date_format(date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except ValueError:
            return value
    if field_type == "datetime" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    if field_type == "number" and isinstance(value, int | float):
        return formats.number_format(value, use_l10n=True)
    return str(value)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def element_label(type_key: str) -> str:
    """A run's element type as the builder names it."""
    known = labels.ELEMENT_TYPES.get(type_key)
    if known is not None:
        return str(known)
    from terminflow.campaigns import registry

    element_type = registry.get(type_key)
    return element_type.label if element_type else type_key


@register.filter
def phone(number: str | None, locale: str = "de-CH") -> str:
    """A phone number grouped as its country writes it: national within the workspace's country
    (``044 668 18 00``), international otherwise (``+49 30 1234567``); unreadable ones as stored."""
    if not number:
        return "–"
    region = (locale or "").replace("_", "-").partition("-")[2].upper() or "CH"
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@register.filter
def note_source(source: str | None) -> str:
    """Where a note came from (``etermin``, ``ui:lea@…``), in words."""
    return consent_text.channel(source or "")


@register.filter
def reason(text: str | None) -> str:
    """A reason stored on a run, inbox entry or outbox row, in the reader's language."""
    return reasons.translate(text or "")
