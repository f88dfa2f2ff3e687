"""The eTermin event element (``etermin.appointment``) and the ``appointment`` template context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field, field_validator

from terminflow.campaigns import registry
from terminflow.kit.input_errors import label

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign, Enrollment
    from terminflow.workspaces.models import Workspace

ELEMENT_TYPE = "etermin.appointment"
EVENT_BY_COMMAND = {"CREATED": "created", "MODIFIED": "modified", "DELETED": "deleted"}


class AppointmentTriggerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: int | None = Field(
        default=None, description="The eTermin account; optional when only one is connected."
    )
    calendar: Literal["all"] | int = Field(
        default="all",
        description='A calendar id, or "all" (also calendars created in eTermin later).',
    )
    event: Literal["created", "modified", "deleted"] = "created"
    start_field: str | None = Field(default=None, description="Date/datetime field for the start")
    end_field: str | None = Field(default=None, description="Date/datetime field for the end")
    save_notes: bool = Field(
        default=False,
        description=(
            "Store the remarks the customer left when booking as a note on the contact. "
            "Booking remarks may contain health data (special category personal data under "
            "the nDSG and the GDPR): turn this on only if you need them, and tell customers."
        ),
    )
    newsletter_only: bool = Field(
        default=False,
        description="React only to customers who ticked eTermin's newsletter checkbox.",
    )

    @field_validator("calendar", mode="before")
    @classmethod
    def _calendar_id(cls, value: Any) -> Any:
        # The builder's dropdown sends ids as strings.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value


def _check(workspace: Workspace, config: BaseModel, campaign: Campaign | None = None) -> list[str]:
    """References must exist when the campaign is saved, not when a push arrives."""
    from terminflow.contacts.models import Field as ContactField
    from terminflow.contacts.models import FieldType

    from .client import EterminError
    from .models import EterminAccount
    from .services import list_calendars

    assert isinstance(config, AppointmentTriggerConfig)
    problems: list[str] = []
    accounts = list(EterminAccount.objects.filter(workspace=workspace))
    account = None
    if config.account_id is None:
        if not accounts:
            problems.append(
                gettext("Connect an eTermin account first (Settings → API info → eTermin).")
            )
        elif len(accounts) > 1:
            problems.append(gettext("Choose the eTermin account: this workspace has several."))
        else:
            account = accounts[0]
    else:
        account = next((a for a in accounts if a.id == config.account_id), None)
        if account is None:
            problems.append(
                gettext("eTermin account %(id)s does not exist.") % {"id": config.account_id}
            )
    if account is not None and config.calendar != "all":
        try:
            calendar_ids = {calendar.id for calendar in list_calendars(account)}
        except EterminError:
            # eTermin being down must not block saving; the id is checked again at the next save.
            calendar_ids = None
        if calendar_ids is not None and config.calendar not in calendar_ids:
            problems.append(
                gettext("Calendar %(calendar)s does not exist in eTermin account “%(account)s”.")
                % {"calendar": config.calendar, "account": account.name}
            )
    for attribute in ("start_field", "end_field"):
        key = getattr(config, attribute)
        if not key:
            continue
        field_type = (
            ContactField.objects.filter(workspace=workspace, key=key)
            .values_list("type", flat=True)
            .first()
        )
        if field_type is None:
            problems.append(
                gettext("%(setting)s: field %(key)r does not exist.")
                % {"setting": label([attribute]), "key": key}
            )
        elif field_type not in {FieldType.DATE, FieldType.DATETIME}:
            problems.append(
                gettext("%(setting)s: field %(key)r must be of type date or datetime.")
                % {"setting": label([attribute]), "key": key}
            )
    return problems


def _complete(workspace: Workspace, config: BaseModel) -> BaseModel:
    """Store the account even when the workspace has only one, so connecting a second account
    later leaves the element reacting to the account it was built for."""
    from .models import EterminAccount

    assert isinstance(config, AppointmentTriggerConfig)
    if config.account_id is not None:
        return config
    ids = list(EterminAccount.objects.filter(workspace=workspace).values_list("id", flat=True)[:2])
    if len(ids) != 1:
        return config
    return config.model_copy(update={"account_id": ids[0]})


def _provides(config: BaseModel) -> set[str]:
    """The appointment for the emails after it, and the fields it fills with its times."""
    assert isinstance(config, AppointmentTriggerConfig)
    names = {"appointment"}
    if config.event != "deleted":
        # A deleted appointment leaves the fields as they were (processing sets none).
        names |= {f"contact.fields.{key}" for key in (config.start_field, config.end_field) if key}
    return names


def appointment_context(enrollment: Enrollment) -> dict[str, Any] | None:
    """The appointment that let the contact in, as email templates see it."""
    from .models import Appointment

    appointment_id = (enrollment.context or {}).get("appointment_id")
    if appointment_id is None:
        return None
    appointment = Appointment.objects.filter(pk=appointment_id).first()
    if appointment is None:
        return None
    return {
        "uid": appointment.uid,
        "start": appointment.start,
        "end": appointment.end,
        "calendar_id": appointment.calendar_id,
        "calendar_name": appointment.calendar_name,
        "services": appointment.services,
        "notes": appointment.notes,
        "status": appointment.status,
    }


def register() -> None:
    registry.register(
        registry.ElementType(
            key=ELEMENT_TYPE,
            kind="trigger",
            label="eTermin",
            description=(
                "Reacts to appointments created, edited or deleted in eTermin. New contacts "
                "arrive as single opt-in."
            ),
            config_schema=AppointmentTriggerConfig,
            check=_check,
            provides=_provides,
            complete=_complete,
            meta={"single_opt_in_source": True, "group": "events", "color": "orange"},
        )
    )
    registry.register_context("appointment", appointment_context)
