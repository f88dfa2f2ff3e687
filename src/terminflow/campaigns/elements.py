"""The built-in element types: contact triggers, contact actions, campaign actions, waits and
conditions. Registered from ``CampaignsConfig.ready``; other apps add theirs the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from terminflow.contacts import cleaning
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ContactTag, EmailStatusName, FieldType
from terminflow.contacts.models import Field as ContactField
from terminflow.kit import memo
from terminflow.kit.errors import TerminflowError
from terminflow.kit.reasons import Reason

from . import engine, registry
from .models import Campaign, Element, Run, RunStatus
from .registry import ElementType, Outcome, RunContext

if TYPE_CHECKING:
    from terminflow.contacts.models import Contact
    from terminflow.workspaces.models import Workspace

TAG_ADDED = "contact.tag_added"
DOI_CONFIRMED = "contact.doi_confirmed"
WAIT_UNTIL_FIELD = "wait.until_field"
# The reasons these elements store on runs (English; shown translated through kit.reasons).
TAGS_UNCHANGED = Reason("tags_unchanged", "the tags were already as configured")
RESET_CAMPAIGN_GONE = Reason("campaign_gone", "the campaign to reset no longer exists")
STOP_CAMPAIGN_GONE = Reason("campaign_gone", "the campaign to stop no longer exists")
RUNS_CANCELLED = Reason("runs_cancelled", "%(count)s waiting runs cancelled")
FIELD_GONE = Reason("field_gone", "field '%(field)s' no longer exists")
CANNOT_COMPARE = Reason("cannot_compare", "cannot compare %(have)s with %(want)s as %(type)s")
FIELD_EMPTY = Reason("field_empty", "field '%(field)s' is empty")
TIME_PASSED = Reason("time_passed", "the time (%(time)s) had already passed")
APPOINTMENT_DELETED = Reason("appointment_deleted", "the appointment was deleted in eTermin")
# About ten years: long enough for any reminder, short enough to catch a typo of many zeros.
MAX_WAIT_MINUTES = 10 * 366 * 24 * 60


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- configs ---------------------------------------------------------------------------------


class TagAddedConfig(_Config):
    tag: str = Field(min_length=1, max_length=100, description="The tag that lets contacts in")


class DoiConfirmedConfig(_Config):
    pass


class TagConfig(_Config):
    add: list[str] = Field(default_factory=list, description="Tags to add")
    remove: list[str] = Field(default_factory=list, description="Tags to remove")

    @field_validator("add", "remove")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        cleaned = [name.strip() for name in names]
        if any(not name or len(name) > 100 for name in cleaned):
            raise ValueError("tag names are 1 to 100 characters")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _something(self) -> TagConfig:
        if not self.add and not self.remove:
            raise ValueError("add or remove at least one tag")
        return self


class SetFieldConfig(_Config):
    field: str = Field(min_length=1, max_length=64, description="The field's key")
    value: Any = Field(default=None, description="The new value; null empties the field")


class CampaignResetConfig(_Config):
    campaign_id: int | None = Field(default=None, description="Default: this campaign")


class CampaignStopConfig(_Config):
    campaign_id: int = Field(description="The campaign to take the contact out of")


class WaitDurationConfig(_Config):
    minutes: int = Field(ge=1, le=MAX_WAIT_MINUTES)


class WaitUntilFieldConfig(_Config):
    field: str = Field(min_length=1, max_length=64, description="A date or datetime field")
    offset_minutes: int = Field(
        default=0,
        ge=-MAX_WAIT_MINUTES,
        le=MAX_WAIT_MINUTES,
        description="Negative = before; counted on the wall clock of the workspace's time zone",
    )
    if_past: Literal["continue", "stop"] = Field(
        default="continue", description="When the time has already passed: go on now, or stop"
    )
    stop_if_appointment_deleted: bool | None = Field(
        default=None,
        description=(
            "Stop waiting when the appointment behind the field is deleted in eTermin. Default "
            "(null): on when an eTermin element fills the field, off otherwise."
        ),
    )


class ConditionTagConfig(_Config):
    tag: str = Field(min_length=1, max_length=100)


Operator = Literal["eq", "ne", "gt", "lt", "empty", "not_empty"]


class ConditionFieldConfig(_Config):
    field: str = Field(min_length=1, max_length=64)
    op: Operator = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_given(self) -> ConditionFieldConfig:
        if self.op not in ("empty", "not_empty") and self.value in (None, ""):
            raise ValueError(f"operator {self.op!r} needs a value")
        return self


class ConditionEmailStatusConfig(_Config):
    statuses: list[EmailStatusName] = Field(min_length=1)


# --- reference checks ------------------------------------------------------------------------


def _find_field(workspace: Workspace, key: str) -> ContactField | None:
    return ContactField.objects.filter(workspace=workspace, key=key).first()


def _check_field(
    workspace: Workspace, key: str, allowed: set[str] | None = None
) -> tuple[ContactField | None, list[str]]:
    field = _find_field(workspace, key)
    if field is None:
        return None, [gettext("field %(key)r does not exist") % {"key": key}]
    if allowed is not None and field.type not in allowed:
        kinds = gettext(" or ").join(sorted(allowed))
        message = gettext("field %(key)r is of type %(type)s; it must be %(kinds)s")
        return field, [message % {"key": key, "type": field.type, "kinds": kinds}]
    return field, []


def _value_problem(workspace: Workspace, field: ContactField, value: Any) -> str | None:
    """Why ``value`` cannot be stored in ``field``, in the contact services' words."""
    try:
        contact_fields.clean_field_value(field, value, zone=cleaning.workspace_zone(workspace))
    except TerminflowError as exc:
        return exc.detail
    return None


def _check_set_field(
    workspace: Workspace, config: BaseModel, campaign: Campaign | None
) -> list[str]:
    assert isinstance(config, SetFieldConfig)
    field, problems = _check_field(workspace, config.field)
    if field is not None:
        problem = _value_problem(workspace, field, config.value)
        if problem:
            problems.append(problem)
    return problems


def _provides_set_field(config: BaseModel) -> set[str]:
    assert isinstance(config, SetFieldConfig)
    return set() if config.value in (None, "") else {f"contact.fields.{config.field}"}


def _check_wait_until_field(
    workspace: Workspace, config: BaseModel, campaign: Campaign | None
) -> list[str]:
    assert isinstance(config, WaitUntilFieldConfig)
    problems = _check_field(workspace, config.field, {FieldType.DATE, FieldType.DATETIME})[1]
    if (
        not problems
        and config.stop_if_appointment_deleted
        and config.field not in appointment_fields(workspace.pk)
    ):
        problems.append(
            gettext(
                "“Stop when the appointment is deleted” needs a field that an eTermin element "
                "fills; no eTermin element fills “%(field)s”."
            )
            % {"field": config.field}
        )
    return problems


def appointment_fields(workspace_id: int) -> frozenset[str]:
    """The fields that elements of the workspace fill from an appointment (eTermin's start/end).

    Read from the registry: an element type that provides ``appointment`` fills the fields it
    provides beside it from that appointment. Removed elements and all campaign states count,
    so pausing a campaign does not change what a wait elsewhere does.
    """
    return memo.remember(
        ("campaigns.appointment_fields", workspace_id), lambda: _appointment_fields(workspace_id)
    )


def _appointment_fields(workspace_id: int) -> frozenset[str]:
    types = {t.key: t for t in registry.all_types() if t.provides is not None}
    found: set[str] = set()
    rows = Element.objects.filter(
        campaign__workspace_id=workspace_id, type__in=list(types), removed=False
    ).values_list("type", "config")
    for type_key, config in rows:
        element_type = types[type_key]
        assert element_type.provides is not None
        try:
            names = element_type.provides(element_type.config_schema.model_validate(config))
        except ValidationError:
            continue
        if "appointment" in names:
            found |= {n[len("contact.fields.") :] for n in names if n.startswith("contact.fields.")}
    return frozenset(found)


def _stops_on_deletion(config: WaitUntilFieldConfig, workspace_id: int) -> bool:
    if config.stop_if_appointment_deleted is not None:
        return config.stop_if_appointment_deleted
    return config.field in appointment_fields(workspace_id)


def stop_waits_for_deleted_appointment(
    contact: Contact, appointment_id: int, moments: set[datetime], now: datetime
) -> int:
    """Stop the contact's waits tied to an appointment that was deleted in eTermin.

    A wait is tied to it when the appointment let the contact into the campaign, or when the
    wait's field still holds the appointment's start or end. Only waits whose option "stop when
    the appointment is deleted" is on (by default when an eTermin element fills the field);
    they end as cancelled with the reason ``appointment_deleted``, so no reminder goes out for
    an appointment that no longer exists. Returns how many were stopped.
    """
    runs = Run.objects.filter(
        contact_id=contact.pk,
        status=RunStatus.PENDING,
        element__type=WAIT_UNTIL_FIELD,
        element__removed=False,
    ).select_related("element", "enrollment")
    stopped = 0
    for run in runs:
        try:
            config = WaitUntilFieldConfig.model_validate(run.element.config)
        except ValidationError:
            continue
        if not _stops_on_deletion(config, contact.workspace_id):
            continue
        entered_by = (run.enrollment.context or {}).get("appointment_id")
        if entered_by != appointment_id and (
            contact_fields.field_datetime(contact, config.field) not in moments
        ):
            continue
        engine.stop_pending(run, APPOINTMENT_DELETED(), now)
        stopped += 1
    return stopped


def _check_condition_field(
    workspace: Workspace, config: BaseModel, campaign: Campaign | None
) -> list[str]:
    assert isinstance(config, ConditionFieldConfig)
    ordered: set[str] = {FieldType.NUMBER, FieldType.DATE, FieldType.DATETIME}
    allowed = ordered if config.op in ("gt", "lt") else None
    field, problems = _check_field(workspace, config.field, allowed)
    if field is not None and not problems and config.op not in ("empty", "not_empty"):
        problem = _value_problem(workspace, field, config.value)
        if problem:
            problems.append(problem)
    return problems


def _check_campaign_id(
    workspace: Workspace, config: BaseModel, campaign: Campaign | None
) -> list[str]:
    campaign_id = getattr(config, "campaign_id", None)
    if campaign_id is None:
        return []
    if not Campaign.objects.filter(workspace=workspace, pk=campaign_id).exists():
        return [gettext("campaign %(id)s does not exist") % {"id": campaign_id}]
    return []


# --- field values ----------------------------------------------------------------------------


def typed_value(field_type: str, stored: Any) -> Any:
    """A stored field value (see the contact services) as a comparable Python value."""
    if field_type == FieldType.NUMBER:
        return float(stored)
    if field_type == FieldType.DATE:
        return date.fromisoformat(str(stored))
    if field_type == FieldType.DATETIME:
        return datetime.fromisoformat(str(stored)).astimezone(UTC)
    if field_type == FieldType.TEXT:
        # Text compares without regard to case, as people type it.
        return str(stored).strip().casefold()
    return stored


# --- handlers --------------------------------------------------------------------------------


def _source(context: RunContext) -> str:
    return f"campaign:{context.run.campaign_id}:{context.element.key}"


def _tag(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, TagConfig)
    contact = context.run.contact
    added = (
        contact_tags.add_tags(contact, config.add, source=_source(context)) if config.add else []
    )
    removed = contact_tags.remove_tags(contact, config.remove) if config.remove else []
    if not added and not removed:
        return Outcome(status="completed", reason=TAGS_UNCHANGED())
    return Outcome()


def _set_field(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, SetFieldConfig)
    contact_fields.set_field(
        context.run.contact, config.field, config.value, source=_source(context)
    )
    return Outcome()


def _target_campaign(context: RunContext) -> Campaign | None:
    campaign_id = getattr(context.config, "campaign_id", None)
    if campaign_id is None or campaign_id == context.run.campaign_id:
        return context.run.campaign
    return Campaign.objects.filter(workspace_id=context.run.workspace_id, pk=campaign_id).first()


def _campaign_reset(context: RunContext) -> Outcome:
    from .services import reset_contact

    campaign = _target_campaign(context)
    if campaign is None:
        return Outcome(status="failed", reason=RESET_CAMPAIGN_GONE())
    reset_contact(campaign, context.run.contact, now=context.now)
    return Outcome()


def _campaign_stop(context: RunContext) -> Outcome:
    from .services import stop_contact

    campaign = _target_campaign(context)
    if campaign is None:
        return Outcome(status="failed", reason=STOP_CAMPAIGN_GONE())
    cancelled = stop_contact(campaign, context.run.contact, now=context.now)
    return Outcome(reason=RUNS_CANCELLED(count=cancelled) if cancelled else "")


def _condition_tag(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, ConditionTagConfig)
    has_tag = ContactTag.objects.filter(
        contact_id=context.run.contact_id, tag__name=config.tag
    ).exists()
    return Outcome(branch="yes" if has_tag else "no")


def _condition_field(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, ConditionFieldConfig)
    contact = context.run.contact
    raw = (contact.fields or {}).get(config.field)
    empty = raw is None or raw == ""
    if config.op in ("empty", "not_empty"):
        return Outcome(branch="yes" if empty == (config.op == "empty") else "no")
    field = ContactField.objects.filter(workspace_id=contact.workspace_id, key=config.field).first()
    if field is None:
        return Outcome(status="failed", reason=FIELD_GONE(field=config.field))
    if empty:
        return Outcome(branch="yes" if config.op == "ne" else "no")
    zone = cleaning.workspace_zone(contact.workspace)
    try:
        have = typed_value(field.type, raw)
        want = typed_value(
            field.type, contact_fields.clean_field_value(field, config.value, zone=zone)
        )
    except (TypeError, ValueError, TerminflowError):
        return Outcome(
            status="failed",
            reason=CANNOT_COMPARE(have=repr(raw), want=repr(config.value), type=field.type),
        )
    result = {
        "eq": have == want,
        "ne": have != want,
        "gt": have > want,
        "lt": have < want,
    }[config.op]
    return Outcome(branch="yes" if result else "no")


def _condition_email_status(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, ConditionEmailStatusConfig)
    status = context.run.contact.email_status
    return Outcome(branch="yes" if status in config.statuses else "no")


# --- waits -----------------------------------------------------------------------------------


def _wait_duration(context: RunContext) -> tuple[datetime | None, str]:
    config = context.config
    assert isinstance(config, WaitDurationConfig)
    # Counted from when the contact reached the wait, not from when the sweep got to it.
    reached = context.run.due_at or context.now
    return reached + timedelta(minutes=config.minutes), ""


def wall_clock_due(moment: datetime, offset_minutes: int, zone: str) -> datetime:
    """``moment`` plus the offset on the wall clock of ``zone``, as aware UTC.

    "One day before 09:00" stays 09:00 local across a DST change, which a plain UTC offset of
    24 hours would shift by an hour. A local time that does not exist (the spring gap) is read
    with the offset before the change, so it lands an hour later on the clock.
    """
    tz = ZoneInfo(zone)
    wall = moment.astimezone(tz).replace(tzinfo=None) + timedelta(minutes=offset_minutes)
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _wait_until_field(context: RunContext) -> tuple[datetime | None, str]:
    config = context.config
    assert isinstance(config, WaitUntilFieldConfig)
    if _stops_on_deletion(config, context.run.workspace_id):
        appointment = registry.enrollment_context(context.enrollment).get("appointment")
        if appointment and appointment.get("status") == "deleted":
            return None, APPOINTMENT_DELETED()
    moment = contact_fields.field_datetime(context.run.contact, config.field)
    if moment is None:
        return None, FIELD_EMPTY(field=config.field)
    due = wall_clock_due(moment, config.offset_minutes, context.run.workspace.timezone)
    if due <= context.now and config.if_past == "stop":
        return None, TIME_PASSED(time=due.isoformat())
    return due, ""


# --- signal receivers ------------------------------------------------------------------------


def on_tag_added(sender: Any, contact: Contact, tag: str, **kwargs: Any) -> None:
    engine.fire(
        contact.workspace,
        TAG_ADDED,
        contact,
        match=lambda config: getattr(config, "tag", None) == tag,
        context={"source": "tag", "tag": tag},
    )


def on_doi_confirmed(sender: Any, contact: Contact, **kwargs: Any) -> None:
    engine.fire(contact.workspace, DOI_CONFIRMED, contact, context={"source": "doi"})


def on_field_changed(sender: Any, contact: Contact, key: str, **kwargs: Any) -> None:
    engine.retime_waits(contact, key)


# --- registration ----------------------------------------------------------------------------

BUILT_IN: list[ElementType] = [
    ElementType(
        key=TAG_ADDED,
        kind="trigger",
        label="Tag added",
        description="Lets a contact in when the tag is added to it.",
        config_schema=TagAddedConfig,
        meta={"group": "events"},
    ),
    ElementType(
        key=DOI_CONFIRMED,
        kind="trigger",
        label="Double opt-in confirmed",
        description="Lets a contact in when it confirms its email address by double opt-in.",
        config_schema=DoiConfirmedConfig,
        meta={"group": "events"},
    ),
    ElementType(
        key="contact.tag",
        kind="action",
        label="Add or remove tags",
        description="Adds and removes tags on the contact.",
        config_schema=TagConfig,
        handler=_tag,
        meta={"group": "actions"},
    ),
    ElementType(
        key="contact.set_field",
        kind="action",
        label="Set a field",
        description="Writes a value into a contact field (null empties it).",
        config_schema=SetFieldConfig,
        handler=_set_field,
        check=_check_set_field,
        provides=_provides_set_field,
        meta={"group": "actions"},
    ),
    ElementType(
        key="campaign.reset",
        kind="action",
        label="Reset campaign",
        description=(
            "Lets the contact pass a campaign (this one by default) again; its history is kept. "
            "In this campaign, the current pass ends here."
        ),
        config_schema=CampaignResetConfig,
        handler=_campaign_reset,
        check=_check_campaign_id,
        meta={"group": "actions"},
    ),
    ElementType(
        key="campaign.stop",
        kind="action",
        label="Stop campaign",
        description="Takes the contact out of a campaign and cancels its waiting steps there.",
        config_schema=CampaignStopConfig,
        handler=_campaign_stop,
        check=_check_campaign_id,
        meta={"group": "actions"},
    ),
    ElementType(
        key="wait.duration",
        kind="wait",
        label="Wait",
        description="Waits the given number of minutes.",
        config_schema=WaitDurationConfig,
        wait_due=_wait_duration,
        meta={"group": "timing"},
    ),
    ElementType(
        key=WAIT_UNTIL_FIELD,
        kind="wait",
        label="Wait until a date",
        description=(
            "Waits until the time in a date or datetime field, plus or minus an offset, in the "
            "workspace's time zone; re-timed when the field changes."
        ),
        config_schema=WaitUntilFieldConfig,
        wait_due=_wait_until_field,
        check=_check_wait_until_field,
        meta={"group": "timing", engine.RETIMED_BY_FIELD: "field"},
    ),
    ElementType(
        key="condition.tag",
        kind="condition",
        label="Has tag?",
        description="Yes when the contact has the tag.",
        config_schema=ConditionTagConfig,
        handler=_condition_tag,
        meta={"group": "conditions"},
    ),
    ElementType(
        key="condition.field",
        kind="condition",
        label="Field check",
        description="Compares a contact field with a value (text ignores case).",
        config_schema=ConditionFieldConfig,
        handler=_condition_field,
        check=_check_condition_field,
        meta={"group": "conditions"},
    ),
    ElementType(
        key="condition.email_status",
        kind="condition",
        label="Email status?",
        description="Yes when the contact's email status is one of the chosen ones.",
        config_schema=ConditionEmailStatusConfig,
        handler=_condition_email_status,
        meta={"group": "conditions"},
    ),
]


def register() -> None:
    """Register the built-in types and connect the triggers to the contact signals."""
    from terminflow.contacts import signals

    for element_type in BUILT_IN:
        registry.register(element_type)
    signals.tag_added.connect(on_tag_added, dispatch_uid="campaigns.tag_added")
    signals.doi_confirmed.connect(on_doi_confirmed, dispatch_uid="campaigns.doi_confirmed")
    signals.field_changed.connect(on_field_changed, dispatch_uid="campaigns.field_changed")
