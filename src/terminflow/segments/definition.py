"""A segment's definition: its JSON shape, its limits, and the checks against the workspace.

A definition is ``{"match": "all" | "any", "conditions": [...]}``; each condition has a
``type`` (``email_status``, ``tags``, ``field``, ``appointment``, ``campaign``, ``email``) or is
a ``group`` with its own ``match`` and conditions (groups do not nest further). No conditions
at all means every contact. The shape is checked by pydantic, the references (fields,
campaigns, emails, tags of this workspace) by ``check``; both give 422 with one sentence per
problem and store nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import EmailStatus, EmailStatusName, FieldType, Tag
from terminflow.contacts.models import Field as ContactField
from terminflow.kit.errors import Unprocessable
from terminflow.kit.input_errors import sentence
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace

# Conditions in a whole definition, groups' conditions included: enough for any filter a person
# builds by hand, few enough that the compiled query stays small.
MAX_CONDITIONS = 20
MAX_TAGS = 20
# About ten years, the longest "in the next / last N days" that makes sense.
MAX_DAYS = 3660
TEXT_MAX_LENGTH = 200


FieldOp = Literal[
    "eq",
    "contains",
    "gt",
    "lt",
    "between",
    "next_days",
    "last_days",
    "this_month",
    "empty",
    "not_empty",
]
_ORDERED = ("eq", "gt", "lt", "between")
_PRESENCE = ("empty", "not_empty")
# Which comparisons each field type offers.
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: ("eq", "contains", *_PRESENCE),
    FieldType.SELECT: ("eq", *_PRESENCE),
    FieldType.CHECKBOX: ("eq",),
    FieldType.NUMBER: (*_ORDERED, *_PRESENCE),
    FieldType.DATE: (*_ORDERED, "next_days", "last_days", "this_month", *_PRESENCE),
    FieldType.DATETIME: (*_ORDERED, "next_days", "last_days", *_PRESENCE),
}
NEEDS_VALUE = frozenset({"eq", "contains", "gt", "lt", "between"})
NEEDS_DAYS = frozenset({"next_days", "last_days"})

Scalar = str | int | float | bool | None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmailStatusCondition(_Rule):
    type: Literal["email_status"]
    statuses: list[EmailStatusName] = Field(min_length=1, max_length=len(EmailStatus.values))


class TagsCondition(_Rule):
    type: Literal["tags"]
    match: Literal["all", "any", "none"] = "any"
    tags: list[str] = Field(min_length=1, max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        cleaned = [name.strip() for name in names]
        if any(not name or len(name) > 100 for name in cleaned):
            raise ValueError(gettext("tag names are 1 to 100 characters"))
        return list(dict.fromkeys(cleaned))


class _WithDays(_Rule):
    days: int | None = Field(default=None, ge=0, le=MAX_DAYS)


class FieldCondition(_WithDays):
    type: Literal["field"]
    field: str = Field(min_length=1, max_length=64)
    op: FieldOp
    value: Scalar = None
    value2: Scalar = None

    @field_validator("value", "value2")
    @classmethod
    def _short(cls, value: Scalar) -> Scalar:
        if isinstance(value, str) and len(value) > TEXT_MAX_LENGTH:
            raise ValueError(gettext("values are at most 200 characters"))
        return value

    @model_validator(mode="after")
    def _operands(self) -> FieldCondition:
        _require_operands(self.op, self.value, self.value2, self.days)
        return self


class AppointmentCondition(_WithDays):
    """An eTermin appointment (booked, not deleted) whose start lies in the window."""

    type: Literal["appointment"]
    op: Literal["next_days", "last_days", "between"]
    value: date | None = None
    value2: date | None = None

    @model_validator(mode="after")
    def _operands(self) -> AppointmentCondition:
        _require_operands(self.op, self.value, self.value2, self.days)
        return self


class CampaignCondition(_Rule):
    type: Literal["campaign"]
    campaign_id: int = Field(ge=1)
    # in: under way in the campaign now; entered: went through it at some time.
    op: Literal["in", "not_in", "entered", "not_entered"] = "in"


class EmailCondition(_Rule):
    type: Literal["email"]
    email_id: int = Field(ge=1)
    op: Literal["received", "not_received", "opened", "not_opened", "clicked", "not_clicked"]


Condition = Annotated[
    EmailStatusCondition
    | TagsCondition
    | FieldCondition
    | AppointmentCondition
    | CampaignCondition
    | EmailCondition,
    Field(discriminator="type"),
]


class Group(_Rule):
    type: Literal["group"]
    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_CONDITIONS)


class Definition(_Rule):
    match: Literal["all", "any"] = "all"
    conditions: list[Annotated[Condition | Group, Field(discriminator="type")]] = Field(
        default_factory=list, max_length=MAX_CONDITIONS
    )

    @model_validator(mode="after")
    def _bounded(self) -> Definition:
        if sum(1 for _ in leaves(self)) > MAX_CONDITIONS:
            raise ValueError(
                gettext("a segment has at most %(max)s conditions") % {"max": MAX_CONDITIONS}
            )
        return self


def leaves(definition: Definition) -> list[tuple[tuple[int, ...], Any]]:
    """Every condition with its position: (i,) at the top, (i, j) inside group i."""
    found: list[tuple[tuple[int, ...], Any]] = []
    for i, item in enumerate(definition.conditions):
        if isinstance(item, Group):
            found += [((i, j), inner) for j, inner in enumerate(item.conditions)]
        else:
            found.append(((i,), item))
    return found


def _require_operands(op: str, value: Any, value2: Any, days: int | None) -> None:
    # Raised in the request's language: kit.input_errors shows a value error's text as it is.
    if op in NEEDS_VALUE and value in (None, ""):
        raise ValueError(gettext("the comparison %(op)r needs a value") % {"op": op})
    if op == "between" and value2 in (None, ""):
        raise ValueError(gettext("the comparison 'between' needs value and value2"))
    if op in NEEDS_DAYS and days is None:
        raise ValueError(gettext("the comparison %(op)r needs days") % {"op": op})


def parse(raw: Any) -> Definition:
    """The definition as a model; raises ``Unprocessable`` with every shape problem."""
    if raw is None:
        raw = {}
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = []
        for error in exc.errors():
            location = ["definition", *error.get("loc", ())]
            errors.append(
                {
                    "loc": location,
                    "msg": sentence({**error, "loc": location}),
                    "type": error.get("type"),
                }
            )
        raise Unprocessable(
            " ".join(str(e["msg"]) for e in errors),
            extra={"errors": errors},
            code="invalid_segment",
        ) from None


def _where(position: tuple[int, ...]) -> str:
    return ".".join(str(p + 1) for p in position)


def check(workspace: Workspace, definition: Definition) -> list[dict[str, Any]]:
    """Problems with the definition's references in ``workspace``, one per condition at most.

    Fields, campaigns and emails are looked up in the workspace only, so another workspace's
    ids read as "does not exist".
    """
    found = leaves(definition)
    keys = {c.field for _, c in found if isinstance(c, FieldCondition)}
    fields = {f.key: f for f in ContactField.objects.filter(workspace=workspace, key__in=keys)}
    campaign_ids = {c.campaign_id for _, c in found if isinstance(c, CampaignCondition)}
    campaigns = set(
        Campaign.objects.filter(workspace=workspace, pk__in=campaign_ids).values_list(
            "pk", flat=True
        )
    )
    email_ids = {c.email_id for _, c in found if isinstance(c, EmailCondition)}
    emails = set(
        EmailTemplate.objects.filter(workspace=workspace, pk__in=email_ids).values_list(
            "pk", flat=True
        )
    )
    names = {name for _, c in found if isinstance(c, TagsCondition) for name in c.tags}
    tags = set(
        Tag.objects.filter(workspace=workspace, name__in=names).values_list("name", flat=True)
    )
    problems: list[dict[str, Any]] = []
    for position, condition in found:
        message = _problem(workspace, condition, fields, campaigns, emails, tags)
        if message:
            problems.append(
                {
                    "condition": _where(position),
                    "message": gettext("Condition %(where)s: %(problem)s")
                    % {"where": _where(position), "problem": message},
                }
            )
    return problems


def _problem(
    workspace: Workspace,
    condition: Any,
    fields: dict[str, ContactField],
    campaigns: set[int],
    emails: set[int],
    tags: set[str],
) -> str:
    if isinstance(condition, TagsCondition):
        missing = [name for name in condition.tags if name not in tags]
        if missing:
            return gettext("the tag %(tag)r does not exist") % {"tag": missing[0]}
    elif isinstance(condition, CampaignCondition):
        if condition.campaign_id not in campaigns:
            return gettext("campaign %(id)s does not exist") % {"id": condition.campaign_id}
    elif isinstance(condition, EmailCondition):
        if condition.email_id not in emails:
            return gettext("email %(id)s does not exist") % {"id": condition.email_id}
    elif isinstance(condition, FieldCondition):
        return _field_problem(workspace, condition, fields.get(condition.field))
    return ""


def _field_problem(
    workspace: Workspace, condition: FieldCondition, field: ContactField | None
) -> str:
    from . import query

    if field is None:
        return gettext("field %(key)r does not exist") % {"key": condition.field}
    allowed = OPS_BY_TYPE.get(field.type, ())
    if condition.op not in allowed:
        return gettext(
            "the comparison %(op)r does not work on the %(type)s field %(key)r; use one of: "
            "%(allowed)s"
        ) % {
            "op": condition.op,
            "type": field.type,
            "key": field.key,
            "allowed": ", ".join(allowed),
        }
    for value in (condition.value, condition.value2):
        if value in (None, "") or condition.op not in NEEDS_VALUE:
            continue
        try:
            query.operand(workspace, field, value)
        except Unprocessable as exc:
            return exc.detail
    return ""


def validate(workspace: Workspace, raw: Any) -> Definition:
    """The checked definition; ``Unprocessable`` (422, code ``invalid_segment``) otherwise."""
    definition = parse(raw)
    problems = check(workspace, definition)
    if problems:
        raise Unprocessable(
            " ".join(p["message"] for p in problems),
            extra={"errors": problems},
            code="invalid_segment",
        )
    return definition
