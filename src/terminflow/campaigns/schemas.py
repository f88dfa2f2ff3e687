"""API shapes of campaigns (DESIGN §5): the graph in, the graph out, stats and run history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

Status = Literal["draft", "active", "paused"]


class ElementIn(Schema):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="Client-chosen, unique per campaign")
    type: str = Field(min_length=1, max_length=64, description="A key of GET /api/v1/elements")
    config: dict[str, Any] = Field(default_factory=dict)
    position: dict[str, Any] = Field(default_factory=dict, description='e.g. {"x": 0, "y": 0}')


class EdgeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=64)
    branch: str = Field(default="next", max_length=16, description="next, or yes / no")


class CampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    status: Status = "draft"
    elements: list[ElementIn] = Field(default_factory=list)
    edges: list[EdgeIn] = Field(default_factory=list)


class StarterCampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(
        default=None, max_length=8, description="de or en; the workspace's language by default"
    )


class StarterCampaignOut(Schema):
    key: str
    label: str


class ProblemOut(Schema):
    element: str | None
    message: str
    code: str = ""


class ElementOut(Schema):
    id: str
    type: str
    kind: str
    config: dict[str, Any]
    position: dict[str, Any]


class EdgeOut(Schema):
    source: str
    target: str
    branch: str


class CampaignOut(Schema):
    id: int
    name: str
    status: Status
    version: int
    elements: list[ElementOut]
    edges: list[EdgeOut]
    warnings: list[ProblemOut]
    archived: bool = False
    created_at: datetime
    updated_at: datetime


class FailureOut(Schema):
    reason: str = Field(description="In the request's language")
    code: str = Field(description='Stable English code; "" for a reason without one')
    count: int
    latest_at: datetime | None


class ElementStatsOut(Schema):
    id: str
    type: str
    removed: bool
    entered: int
    completed: int
    waiting: int
    skipped: int
    failed: int
    cancelled: int
    failures: list[FailureOut] = Field(
        default_factory=list, description="Failed runs by reason, the latest reasons first"
    )


class EmailElementStatsOut(ElementStatsOut):
    """An email element's row: the runs, plus what became of its emails (unique contacts).

    The same keys and meanings as ``GET /api/v1/emails/{id}/stats``, counted over the emails
    this element sent.
    """

    sent: int
    delivered: int
    bounced: int
    opened: int
    clicked: int
    unsubscribed: int


class CampaignStatsOut(Schema):
    campaign_id: int
    # Contacts by the status of their latest enrollment in this campaign.
    enrollments: dict[str, int]
    # An email element's row carries its email results; every other row only the runs. Tried
    # in this order, so a row without the email keys stays exactly as it was.
    elements: list[
        Annotated[EmailElementStatsOut | ElementStatsOut, Field(union_mode="left_to_right")]
    ]


class EnrollmentOut(Schema):
    campaign_id: int
    contact_id: int
    rotation: int
    status: str
    context: dict[str, Any]
    created_at: datetime
    ended_at: datetime | None


class RunOut(Schema):
    element: str
    type: str
    rotation: int
    status: str
    branch: str
    reason: str = Field(description="In the request's language")
    reason_code: str = Field("", description='Stable English code of the reason; "" if none')
    attempts: int
    due_at: datetime | None
    wait_until: datetime | None
    created_at: datetime
    finished_at: datetime | None


class ContactRunsOut(Schema):
    campaign_id: int
    contact_id: int
    enrollments: list[EnrollmentOut]
    runs: list[RunOut]


class StopOut(Schema):
    campaign_id: int
    contact_id: int
    cancelled: int


class MassResetOut(Schema):
    campaign_id: int
    reset: int


class ElementTypeOut(Schema):
    key: str
    kind: str
    label: str
    description: str
    branches: list[str]
    config_schema: dict[str, Any]
    marketing: bool
    doi: bool
    meta: dict[str, Any]
