"""The starter campaign "Termine mit Erinnerung" (appointments with reminder), made in one click.

eTermin appointment created → double opt-in email → wait until 24 hours before the appointment
→ reminder email; eTermin appointment deleted → the contact leaves the campaign. It is made as
a draft together with what it needs (the two emails from the starters, a datetime field that
the eTermin trigger fills with the start), so the user only points it at a calendar (all
calendars until then) and activates it.

It lives in the mail app, the lowest layer that may use every part: campaigns and contacts are
below it, and the eTermin trigger is named by its registry key, as the builder names it, so
nothing here imports the etermin app. The campaign API offers it through
``campaigns.registry.register_starter_campaign``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.translation import gettext_lazy

from terminflow.campaigns import registry
from terminflow.campaigns.models import Campaign
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import save_campaign
from terminflow.campaigns.validation import GraphWarning
from terminflow.contacts import fields as contact_fields
from terminflow.contacts.models import Field, FieldType

from . import elements, starters

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

KEY = "appointments-with-reminder"
NAMES = {"de": "Termine mit Erinnerung", "en": "Appointments with reminder"}
FIELD_KEY = "appointment_start"
FIELD_LABELS = {"de": "Terminbeginn", "en": "Appointment start"}
# Registered by the etermin app; named here by key, as the builder does.
APPOINTMENT_TRIGGER = "etermin.appointment"
DAY_BEFORE = -24 * 60


def _start_field(workspace: Workspace, language: str) -> str:
    """A datetime field for the appointment's start: ``appointment_start`` when free or already
    a datetime field, else the first free ``appointment_start_<n>``."""
    taken = dict(
        Field.objects.filter(workspace=workspace, key__startswith=FIELD_KEY).values_list(
            "key", "type"
        )
    )
    key, number = FIELD_KEY, 2
    while key in taken and taken[key] != FieldType.DATETIME:
        key, number = f"{FIELD_KEY}_{number}", number + 1
    if key not in taken:
        contact_fields.create_field(
            workspace, key=key, type=FieldType.DATETIME, label=FIELD_LABELS[language]
        )
    return key


def _name(workspace: Workspace, language: str) -> str:
    base = NAMES[language]
    taken = set(
        Campaign.objects.filter(workspace=workspace, name__startswith=base).values_list(
            "name", flat=True
        )
    )
    name, number = base, 2
    while name in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def _element(key: str, type_key: str, config: dict[str, Any], x: int, y: int) -> dict[str, Any]:
    return {"id": key, "type": type_key, "config": config, "position": {"x": x, "y": y}}


def graph(
    name: str, *, field: str, doi_email: int, reminder_email: int, campaign_id: int
) -> CampaignIn:
    """The campaign's graph; the triggers react to every calendar until one is chosen."""
    return CampaignIn.model_validate(
        {
            "name": name,
            "status": "draft",
            "elements": [
                _element(
                    "booking",
                    APPOINTMENT_TRIGGER,
                    {"event": "created", "calendar": "all", "start_field": field},
                    80,
                    40,
                ),
                _element("doi", elements.DOI, {"email_id": doi_email}, 80, 200),
                _element(
                    "wait",
                    "wait.until_field",
                    {"field": field, "offset_minutes": DAY_BEFORE, "if_past": "continue"},
                    80,
                    360,
                ),
                _element("reminder", elements.SEND, {"email_id": reminder_email}, 80, 520),
                _element(
                    "cancelled",
                    APPOINTMENT_TRIGGER,
                    {"event": "deleted", "calendar": "all"},
                    420,
                    40,
                ),
                _element("stop", "campaign.stop", {"campaign_id": campaign_id}, 420, 200),
            ],
            "edges": [
                {"source": "booking", "target": "doi"},
                {"source": "doi", "target": "wait"},
                {"source": "wait", "target": "reminder"},
                {"source": "cancelled", "target": "stop"},
            ],
        }
    )


def create(
    workspace: Workspace, language: str | None = None
) -> tuple[Campaign, list[GraphWarning]]:
    """Make the campaign as a draft, with its two emails and its date field, in one transaction.

    ``language`` (de or en, the workspace's by default) is that of the name and the emails.
    Returns the campaign and its warnings; references still to set (no eTermin account
    connected, or several to choose from) are among them and keep it from being activated.
    """
    language = starters.check_language(language or workspace.language)
    # Rendered and checked before the transaction, so no render holds the write lock.
    doi = starters.checked(workspace, "doi-request", language)
    reminder = starters.checked(workspace, "reminder-24h", language)
    with transaction.atomic():
        field = _start_field(workspace, language)
        doi_email = starters.store(workspace, doi)
        reminder_email = starters.store(workspace, reminder)
        name = _name(workspace, language)
        # The stop element names the campaign itself, so the campaign exists first.
        campaign, _ = save_campaign(workspace, CampaignIn(name=name))
        data = graph(
            name,
            field=field,
            doi_email=doi_email.pk,
            reminder_email=reminder_email.pk,
            campaign_id=campaign.pk,
        )
        return save_campaign(workspace, data, campaign, open_references=True)


def register() -> None:
    registry.register_starter_campaign(
        registry.StarterCampaign(
            key=KEY, label=gettext_lazy("Appointments with reminder"), create=create
        )
    )
