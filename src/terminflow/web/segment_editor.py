"""The segment page's condition rows: a definition shown as rows, and rows posted back.

Each condition is one row of plain form fields named ``c<i>-<name>``; the page re-renders the
rows (htmx) whenever one changes, so a row always offers the comparisons its field allows.
A group (``{"type": "group"}``) is a row of kind ``group`` with its own ``c<i>-match`` (all or
any) and its own rows ``c<i>.<j>-<name>``, counted in ``c<i>-rows``. Groups do not nest (see
``segments.definition``), so every definition there is has a form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from terminflow.campaigns.models import Campaign
from terminflow.contacts import fields as contact_fields
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
GROUP_MATCH_LABELS = {
    "all": _("all of its conditions"),
    "any": _("any of its conditions"),
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
GROUP = "group"
GROUP_MATCHES = ("all", "any")


@dataclass
class Row:
    kind: str = "email_status"
    statuses: list[str] = field(default_factory=list)
    # A tag row's all/any/none, or a group's all/any.
    match: str = "any"
    tags: list[str] = field(default_factory=list)
    field: str = ""
    op: str = ""
    value: str = ""
    value2: str = ""
    days: str = ""
    campaign_id: str = ""
    email_id: str = ""
    # A group's own conditions (kind "group" only). The class's ``field`` is a str by now.
    rows: list[Row] = dataclasses.field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.kind == GROUP


@dataclass(frozen=True)
class Slot:
    """A row where the page shows it: its field name prefix (``c3``, ``c3.1``), the path that
    ``remove`` names (``3``, ``3.1``), and a group's own slots."""

    name: str
    path: str
    row: Row
    inner: list[Slot]


def slots(rows: list[Row]) -> list[Slot]:
    return [
        Slot(
            name=f"c{i}",
            path=str(i),
            row=row,
            inner=[Slot(f"c{i}.{j}", f"{i}.{j}", r, []) for j, r in enumerate(row.rows)],
        )
        for i, row in enumerate(rows)
    ]


def group() -> Row:
    """A new group: all of one (still empty) condition, since a group needs one at least."""
    return Row(kind=GROUP, match="all", rows=[Row()])


def leaf_count(rows: list[Row]) -> int:
    """Conditions as ``segments.definition`` counts them: a group's, not the group itself."""
    return sum(len(row.rows) if row.is_group else 1 for row in rows)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _row_from_item(item: dict[str, Any]) -> Row:
    if item.get("type") == GROUP:
        return Row(
            kind=GROUP,
            match=item.get("match", "all"),
            rows=[_row_from_item(inner) for inner in item.get("conditions") or []],
        )
    return Row(
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


def rows_from_definition(definition: dict[str, Any]) -> list[Row]:
    return [_row_from_item(item) for item in definition.get("conditions") or []]


def _posted_rows(data: QueryDict, count_key: str, prefix: str, *, groups: bool) -> list[Row]:
    count = min(_int(data.get(count_key)) or 0, MAX_CONDITIONS + 1)
    rows = []
    for i in range(count):
        name = f"{prefix}{i}"
        kind = data.get(f"{name}-kind", "email_status")
        if kind == GROUP and groups:
            rows.append(
                Row(
                    kind=GROUP,
                    match=data.get(f"{name}-match", "all"),
                    rows=_posted_rows(data, f"{name}-rows", f"{name}.", groups=False),
                )
            )
            continue
        rows.append(
            Row(
                kind=kind,
                statuses=data.getlist(f"{name}-statuses"),
                match=data.get(f"{name}-match", "any"),
                tags=data.getlist(f"{name}-tags"),
                field=data.get(f"{name}-field", ""),
                op=data.get(f"{name}-op", ""),
                value=data.get(f"{name}-value", "").strip(),
                value2=data.get(f"{name}-value2", "").strip(),
                days=data.get(f"{name}-days", "").strip(),
                campaign_id=data.get(f"{name}-campaign_id", ""),
                email_id=data.get(f"{name}-email_id", ""),
            )
        )
    return rows


def rows_from_post(data: QueryDict) -> list[Row]:
    """The rows as posted, with the row or group asked to be added or removed.

    ``remove`` names a row (``3``) or a row in a group (``3.1``); a group whose last row is
    removed goes with it. ``add`` adds a row (``1``) or a group (``group``) at the end,
    ``add_to`` a row at the end of that group.
    """
    rows = _posted_rows(data, "rows", "c", groups=True)
    _remove(rows, str(data.get("remove", "")))
    room = leaf_count(rows) < MAX_CONDITIONS
    add, add_to = data.get("add"), _int(data.get("add_to"))
    if add and room:
        rows.append(group() if add == GROUP else Row())
    elif add_to is not None and room and 0 <= add_to < len(rows) and rows[add_to].is_group:
        rows[add_to].rows.append(Row())
    return rows


def _remove(rows: list[Row], path: str) -> None:
    parts = [_int(part) for part in path.split(".")] if path else []
    if not parts or len(parts) > 2 or any(p is None or p < 0 for p in parts):
        return
    outer, inner = parts[0] or 0, parts[1] if len(parts) == 2 else None
    if outer >= len(rows):
        return
    if inner is None:
        del rows[outer]
    elif rows[outer].is_group and inner < len(rows[outer].rows):
        del rows[outer].rows[inner]
        if not rows[outer].rows:
            del rows[outer]


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _number_or_text(value: str) -> Any:
    number = _int(value)
    return number if number is not None else value


def _condition(row: Row) -> dict[str, Any] | None:
    if row.is_group:
        return {
            "type": GROUP,
            "match": row.match if row.match in GROUP_MATCHES else "all",
            "conditions": [c for c in map(_condition, row.rows) if c is not None],
        }
    if row.kind == "email_status":
        return {"type": "email_status", "statuses": row.statuses}
    if row.kind == "tags":
        return {"type": "tags", "match": row.match, "tags": row.tags}
    if row.kind in ("field", "appointment"):
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
        return item
    if row.kind == "campaign":
        return {
            "type": "campaign",
            "campaign_id": _number_or_text(row.campaign_id),
            "op": row.op if row.op in CAMPAIGN_OPS else "in",
        }
    if row.kind == "email":
        return {
            "type": "email",
            "email_id": _number_or_text(row.email_id),
            "op": row.op if row.op in EMAIL_OPS else "received",
        }
    return None


def definition_from_rows(match: str, rows: list[Row]) -> dict[str, Any]:
    """The definition the rows describe; invalid entries are passed on for the checks to name."""
    return {
        "match": match if match in GROUP_MATCHES else "all",
        "conditions": [c for c in map(_condition, rows) if c is not None],
    }


def choices(workspace: Workspace) -> dict[str, Any]:
    """What the rows offer: fields with their comparisons, tags, campaigns, emails, statuses."""
    fields = contact_fields.list_fields(workspace)
    return {
        "kinds": list(KINDS.items()),
        "statuses": list(EMAIL_STATUSES.items()),
        "fields": fields,
        "field_types": {f.key: f.type for f in fields},
        "ops_by_type": {kind: [(op, OPS[op]) for op in ops] for kind, ops in OPS_BY_TYPE.items()},
        "appointment_ops": [(op, OPS[op]) for op in APPOINTMENT_OPS],
        "tag_matches": list(TAG_MATCHES.items()),
        "group_matches": list(GROUP_MATCH_LABELS.items()),
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
