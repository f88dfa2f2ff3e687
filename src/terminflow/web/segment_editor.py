"""The segment page's condition rows: a definition shown as rows, and rows posted back.

Each condition is one row of plain form fields named ``c<i>-<name>``; the page re-renders the
rows (htmx) whenever one changes, so a row always offers the comparisons its field allows.
Definitions with groups (``{"type": "group"}``, only made through the API) are edited as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from terminflow.campaigns.models import Campaign
from terminflow.contacts import services as contacts
from terminflow.contacts.models import Tag
from terminflow.mail.models import EmailTemplate
from terminflow.segments.definition import MAX_CONDITIONS, OPS_BY_TYPE
from terminflow.workspaces.models import Workspace

from .labels import EMAIL_STATUSES

KINDS = {
    "email_status": _("Email status"),
    "tags": _("Tags"),
    "field": _("Field"),
    "appointment": _("eTermin appointment"),
    "campaign": _("Campaign"),
    "email": _("Email"),
}
OPS = {
    "eq": pgettext_lazy("segment", "is"),
    "contains": pgettext_lazy("segment", "contains"),
    "gt": pgettext_lazy("segment", "is after / greater than"),
    "lt": pgettext_lazy("segment", "is before / less than"),
    "between": pgettext_lazy("segment", "is between"),
    "next_days": pgettext_lazy("segment", "in the next … days"),
    "last_days": pgettext_lazy("segment", "in the last … days"),
    "this_month": pgettext_lazy("segment", "this month (any year)"),
    "empty": pgettext_lazy("segment", "is empty"),
    "not_empty": pgettext_lazy("segment", "is not empty"),
}
TAG_MATCHES = {
    "any": _("has one of the tags"),
    "all": _("has all of the tags"),
    "none": _("has none of the tags"),
}
CAMPAIGN_OPS = {
    "in": _("is in the campaign now"),
    "not_in": _("is not in the campaign now"),
    "entered": _("went through the campaign"),
    "not_entered": _("never went through the campaign"),
}
EMAIL_OPS = {
    "received": _("received"),
    "not_received": _("did not receive"),
    "opened": _("opened"),
    "not_opened": _("did not open"),
    "clicked": _("clicked a link in"),
    "not_clicked": _("clicked no link in"),
}
APPOINTMENT_OPS = ("next_days", "last_days", "between")


@dataclass
class Row:
    kind: str = "email_status"
    statuses: list[str] = field(default_factory=list)
    match: str = "any"
    tags: list[str] = field(default_factory=list)
    field: str = ""
    op: str = ""
    value: str = ""
    value2: str = ""
    days: str = ""
    campaign_id: str = ""
    email_id: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def has_groups(definition: dict[str, Any]) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == "group" for c in definition.get("conditions") or []
    )


def rows_from_definition(definition: dict[str, Any]) -> list[Row]:
    rows = []
    for item in definition.get("conditions") or []:
        rows.append(
            Row(
                kind=item.get("type", "email_status"),
                statuses=list(item.get("statuses") or []),
                match=item.get("match", "any"),
                tags=list(item.get("tags") or []),
                field=item.get("field", ""),
                op=item.get("op", ""),
                value=_text(item.get("value")),
                value2=_text(item.get("value2")),
                days=_text(item.get("days")),
                campaign_id=_text(item.get("campaign_id")),
                email_id=_text(item.get("email_id")),
            )
        )
    return rows


def rows_from_post(data: QueryDict) -> list[Row]:
    """The rows as posted, with the row asked to be added or removed."""
    count = min(_int(data.get("rows")) or 0, MAX_CONDITIONS + 1)
    rows = []
    for i in range(count):
        prefix = f"c{i}-"
        rows.append(
            Row(
                kind=data.get(prefix + "kind", "email_status"),
                statuses=data.getlist(prefix + "statuses"),
                match=data.get(prefix + "match", "any"),
                tags=data.getlist(prefix + "tags"),
                field=data.get(prefix + "field", ""),
                op=data.get(prefix + "op", ""),
                value=data.get(prefix + "value", "").strip(),
                value2=data.get(prefix + "value2", "").strip(),
                days=data.get(prefix + "days", "").strip(),
                campaign_id=data.get(prefix + "campaign_id", ""),
                email_id=data.get(prefix + "email_id", ""),
            )
        )
    removed = _int(data.get("remove"))
    if removed is not None and 0 <= removed < len(rows):
        del rows[removed]
    if data.get("add") and len(rows) < MAX_CONDITIONS:
        rows.append(Row())
    return rows


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _number_or_text(value: str) -> Any:
    number = _int(value)
    return number if number is not None else value


def definition_from_rows(match: str, rows: list[Row]) -> dict[str, Any]:
    """The definition the rows describe; invalid entries are passed on for the checks to name."""
    conditions: list[dict[str, Any]] = []
    for row in rows:
        if row.kind == "email_status":
            conditions.append({"type": "email_status", "statuses": row.statuses})
        elif row.kind == "tags":
            conditions.append({"type": "tags", "match": row.match, "tags": row.tags})
        elif row.kind in ("field", "appointment"):
            item: dict[str, Any] = {"type": row.kind, "op": row.op or "eq"}
            if row.kind == "field":
                item["field"] = row.field
            if row.kind == "appointment" and item["op"] not in APPOINTMENT_OPS:
                item["op"] = "next_days"
            if item["op"] in ("next_days", "last_days"):
                item["days"] = _number_or_text(row.days) if row.days else None
            elif item["op"] not in ("this_month", "empty", "not_empty"):
                item["value"] = row.value or None
                if item["op"] == "between":
                    item["value2"] = row.value2 or None
            conditions.append(item)
        elif row.kind == "campaign":
            conditions.append(
                {
                    "type": "campaign",
                    "campaign_id": _number_or_text(row.campaign_id),
                    "op": row.op if row.op in CAMPAIGN_OPS else "in",
                }
            )
        elif row.kind == "email":
            conditions.append(
                {
                    "type": "email",
                    "email_id": _number_or_text(row.email_id),
                    "op": row.op if row.op in EMAIL_OPS else "received",
                }
            )
    return {"match": match if match in ("all", "any") else "all", "conditions": conditions}


def definition_from_json(text: str) -> Any:
    """The JSON of the advanced editor; text that is not JSON is passed on as it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def choices(workspace: Workspace) -> dict[str, Any]:
    """What the rows offer: fields with their comparisons, tags, campaigns, emails, statuses."""
    fields = contacts.list_fields(workspace)
    return {
        "kinds": list(KINDS.items()),
        "statuses": list(EMAIL_STATUSES.items()),
        "fields": fields,
        "field_types": {f.key: f.type for f in fields},
        "ops_by_type": {kind: [(op, OPS[op]) for op in ops] for kind, ops in OPS_BY_TYPE.items()},
        "appointment_ops": [(op, OPS[op]) for op in APPOINTMENT_OPS],
        "tag_matches": list(TAG_MATCHES.items()),
        "tags": list(
            Tag.objects.filter(workspace=workspace)
            .order_by("name")
            .values_list("name", flat=True)[:1000]
        ),
        "campaigns": list(
            Campaign.objects.filter(workspace=workspace, archived_at__isnull=True)
            .order_by("name")
            .values_list("pk", "name")
        ),
        "campaign_ops": list(CAMPAIGN_OPS.items()),
        "emails": list(
            EmailTemplate.objects.filter(workspace=workspace, archived_at__isnull=True)
            .order_by("name")
            .values_list("pk", "name")
        ),
        "email_ops": list(EMAIL_OPS.items()),
    }
