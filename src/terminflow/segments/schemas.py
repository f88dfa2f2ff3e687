"""Request and response shapes of ``/api/v1/segments`` (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict


class SegmentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            '{"match": "all"|"any", "conditions": [...]}; conditions of type email_status, '
            "tags, field, appointment, campaign, email, or a group of them. No conditions: "
            "every contact."
        ),
    )


class SegmentOut(Schema):
    id: int
    name: str
    definition: dict[str, Any]
    count: int | None = Field(default=None, description="Contacts in the segment now.")
    created_at: datetime
    updated_at: datetime


class SegmentFilters(Schema):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None
