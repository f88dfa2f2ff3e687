"""Pydantic's input errors as sentences in the reader's language (API bodies, element settings).

django-ninja answers bad JSON with pydantic's English messages ("String should have at least 1
character") and field names ("body_html"). Here each error type gets its own translated
sentence and each known field its label, so a German user reads "HTML-Inhalt: darf nicht leer
sein." The English ``type`` of each error stays in the response as the machine code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# Labels of the API's input fields, by their JSON name.
FIELD_LABELS: dict[str, Promise] = {
    "name": _("Name"),
    "subject": _("Subject"),
    "body_html": _("HTML content"),
    "body_text": _("Text content"),
    "design": _("Design"),
    "kind": _("Kind"),
    "email": _("Email address"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "phone": _("Phone"),
    "email_status": _("Email status"),
    "fields": _("Fields"),
    "tags": _("Tags"),
    "key": _("Key"),
    "label": _("Label"),
    "type": _("Type"),
    "options": _("Options"),
    "status": _("Status"),
    "elements": _("Elements"),
    "edges": _("Connections"),
    "config": _("Settings"),
    "position": _("Position"),
    "source": _("Source"),
    "target": _("Target"),
    "branch": _("Branch"),
    "public_key": _("Public API key"),
    "private_key": _("Private API key"),
    "verify": _("Check keys"),
    "account_id": _("eTermin account"),
    "contact_id": _("Contact"),
    "limit": _("Limit"),
    "offset": _("Offset"),
    "text": _("Text"),
    "value": _("Value"),
    "id": _("ID"),
    "cursor": _("Cursor"),
    "field": _("Field"),
    "offset_minutes": _("Offset"),
    "minutes": _("Minutes"),
    "if_past": _("When the time has passed"),
    "stop_if_appointment_deleted": _("Stop when the appointment is deleted"),
    "calendar": _("Calendar"),
    "event": _("Event"),
    "start_field": _("Field for the start"),
    "end_field": _("Field for the end"),
    "save_notes": _("Save notes"),
    "newsletter_only": _("Only with newsletter checkbox"),
    "email_id": _("Email"),
    "campaign_id": _("Campaign"),
    "tag": _("Tag"),
    "add": _("Tags to add"),
    "remove": _("Tags to remove"),
    "op": _("Comparison"),
    "statuses": _("Email statuses"),
}

# One sentence per pydantic error type; ``%(name)s`` come from the error's ``ctx``.
MESSAGES: dict[str, Promise] = {
    "missing": _("required."),
    "string_too_short": _("must have at least %(min_length)s characters."),
    "string_too_long": _("may have at most %(max_length)s characters."),
    "too_short": _("must have at least %(min_length)s entries."),
    "too_long": _("may have at most %(max_length)s entries."),
    "string_type": _("must be text."),
    "int_type": _("must be a whole number."),
    "int_parsing": _("must be a whole number."),
    "int_from_float": _("must be a whole number."),
    "float_type": _("must be a number."),
    "float_parsing": _("must be a number."),
    "bool_type": _("must be true or false."),
    "bool_parsing": _("must be true or false."),
    "dict_type": _("must be an object."),
    "list_type": _("must be a list."),
    "model_type": _("must be an object."),
    "model_attributes_type": _("must be an object."),
    "literal_error": _("must be one of: %(expected)s."),
    "enum": _("must be one of: %(expected)s."),
    "extra_forbidden": _("is not allowed here."),
    "greater_than": _("must be greater than %(gt)s."),
    "greater_than_equal": _("must be at least %(ge)s."),
    "less_than": _("must be less than %(lt)s."),
    "less_than_equal": _("may be at most %(le)s."),
    "datetime_type": _("must be a date and time (ISO 8601)."),
    "datetime_parsing": _("must be a date and time (ISO 8601)."),
    "datetime_from_date_parsing": _("must be a date and time (ISO 8601)."),
    "date_type": _("must be a date (YYYY-MM-DD)."),
    "date_parsing": _("must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": _("must be a date (YYYY-MM-DD)."),
    "json_invalid": _("is not valid JSON."),
    "json_type": _("is not valid JSON."),
    "url_parsing": _("must be a URL."),
    "url_type": _("must be a URL."),
    "union_tag_invalid": _("has an unknown type."),
    "value_error": _("is invalid: %(error)s"),
    "assertion_error": _("is invalid: %(error)s"),
}
INVALID = _("is invalid.")


def label(location: Iterable[Any]) -> str:
    """The reader's name of the field an error is about: its label, with list positions."""
    parts = [part for part in location if part not in {"body", "payload", "query", "path"}]
    named = [str(p) for p in parts if not isinstance(p, int)]
    if not named:
        return ""
    last = named[-1]
    text = str(FIELD_LABELS.get(last, last))
    positions = [str(p + 1) for p in parts if isinstance(p, int)]
    if positions:
        text += f" ({', '.join(positions)})"
    return text


def sentence(error: Mapping[str, Any]) -> str:
    """One error as "Label: what is wrong." in the active language."""
    ctx = {key: _plain(value) for key, value in (error.get("ctx") or {}).items()}
    kind = str(error.get("type", ""))
    template = MESSAGES.get(kind)
    if kind in ("value_error", "assertion_error"):
        # Our validators raise plain English sentences that are msgids themselves.
        ctx["error"] = gettext(str(ctx.get("error", "")))
    try:
        message = str(template) % ctx if template is not None else str(INVALID)
    except (KeyError, TypeError, ValueError):
        message = str(INVALID)
    name = label(error.get("loc", ()))
    return f"{name}: {message}" if name else message[:1].upper() + message[1:]


def _plain(value: Any) -> str:
    if isinstance(value, BaseException):
        return str(value.args[0]) if value.args else str(value)
    return str(value)
