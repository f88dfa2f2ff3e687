"""Small factories for eTermin processing tests: accounts, fields, campaigns, stored pushes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from terminflow.campaigns.models import Campaign
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import activate_campaign, save_campaign
from terminflow.contacts.models import Field
from terminflow.etermin.models import EterminAccount, WebPush
from terminflow.etermin.services import connect_account
from terminflow.kit import clock
from terminflow.workspaces.models import Workspace

CALENDAR_ID = 211614
CALENDAR_NAME = "Praxis Seefeld"


def make_account(
    workspace: Workspace, *, name: str = "Praxis", public_key: str = "pub-1"
) -> EterminAccount:
    return connect_account(
        workspace, name=name, public_key=public_key, private_key="priv-" + public_key, verify=False
    )


def make_field(workspace: Workspace, key: str, type: str = "datetime") -> Field:
    return Field.objects.create(workspace=workspace, key=key, label=key.title(), type=type)


def etermin_element(element_id: str = "booking", **config: Any) -> dict[str, Any]:
    config.setdefault("event", "created")
    config.setdefault("calendar", "all")
    return {"id": element_id, "type": "etermin.appointment", "config": config, "position": {}}


def tag_element(element_id: str, *tags: str) -> dict[str, Any]:
    return {"id": element_id, "type": "contact.tag", "config": {"add": list(tags)}, "position": {}}


def make_campaign(
    workspace: Workspace,
    elements: list[dict[str, Any]],
    edges: list[tuple[str, str]] | list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    *,
    name: str = "Booking flow",
    active: bool = True,
) -> Campaign:
    data = CampaignIn(
        name=name,
        elements=elements,  # type: ignore[arg-type]
        edges=[
            {"source": edge[0], "target": edge[1], "branch": edge[2] if len(edge) > 2 else "next"}
            for edge in edges
        ],  # type: ignore[arg-type]
    )
    campaign, _ = save_campaign(workspace, data)
    if active:
        campaign, _ = activate_campaign(campaign)
    return campaign


def push_body(
    command: str,
    uid: str,
    *,
    start: str = "2026-12-03T08:30:00Z",
    end: str = "2026-12-03T09:15:00Z",
    email: str = "lea.brunner@example.ch",
    calendar_id: int | None = CALENDAR_ID,
    calendar_name: str = CALENDAR_NAME,
    notes: str = "Bitte Parkplatz reservieren.",
    newsletter: str | None = "1",
    **extra: Any,
) -> bytes:
    body: dict[str, Any] = {
        "command": command,
        "appointmentUID": uid,
        "startDateTimeUTC": start,
        "endDateTimeUTC": end,
        "firstName": "Lea",
        "lastName": "Brunner",
        "email": email,
        "phone": "+41 79 555 01 23",
        "calendarName": calendar_name,
        "notes": notes,
        "selectedAnswers": "Erstberatung (45 min)",
        **extra,
    }
    if calendar_id is not None:
        body["calendarID"] = str(calendar_id)
    if newsletter is not None:
        body["newsletter"] = newsletter
    return json.dumps(body).encode()


def store_push(
    account: EterminAccount, body: bytes, *, content_type: str = "application/json"
) -> WebPush:
    """An inbox row as ingest stores it, without going through HTTP."""
    from terminflow.etermin.pushes import check_push

    header = check_push(body, content_type)
    return WebPush.objects.create(
        account=account,
        workspace_id=account.workspace_id,
        received_at=clock.now(),
        content_type=content_type,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        command=header.command,
        appointment_uid=header.uid,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)
