"""The segment elements of the campaign builder: ``condition.segment`` and ``segment.entered``.

``condition.segment`` asks the database once per run whether the contact is in the segment
(one ``EXISTS``). ``segment.entered`` is let in by the membership sweep (``membership.py``),
which only ever reacts to contacts entering after the trigger's campaign was activated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext, gettext_noop
from pydantic import BaseModel, ConfigDict, Field

from terminflow.campaigns import registry
from terminflow.campaigns.registry import ElementType, Outcome, RunContext
from terminflow.kit.reasons import Reason

from . import services
from .models import Segment

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign
    from terminflow.workspaces.models import Workspace

CONDITION = "condition.segment"
ENTERED = "segment.entered"
SEGMENT_GONE = Reason("segment_gone", "segment %(id)s no longer exists")


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_id: int = Field(title="Segment", ge=1)


def _check(workspace: Workspace, config: BaseModel, campaign: Campaign | None = None) -> list[str]:
    assert isinstance(config, SegmentConfig)
    if not Segment.objects.filter(workspace=workspace, pk=config.segment_id).exists():
        return [gettext("segment %(id)s does not exist") % {"id": config.segment_id}]
    return []


def _in_segment(context: RunContext) -> Outcome:
    config = context.config
    assert isinstance(config, SegmentConfig)
    run = context.run
    segment = (
        Segment.objects.select_related("workspace")
        .filter(workspace_id=run.workspace_id, pk=config.segment_id)
        .first()
    )
    if segment is None:
        return Outcome(status="failed", reason=SEGMENT_GONE(id=config.segment_id))
    inside = services.contains(segment, run.contact_id, now=context.now)
    return Outcome(branch="yes" if inside else "no")


def register() -> None:
    # Labels and descriptions are msgids: the builder and the pages translate them on display.
    registry.register(
        ElementType(
            key=CONDITION,
            kind="condition",
            label=gettext_noop("In segment?"),
            description=gettext_noop(
                "Yes when the contact is in the segment at the moment it gets here."
            ),
            config_schema=SegmentConfig,
            handler=_in_segment,
            check=_check,
            meta={"group": "conditions"},
        )
    )
    registry.register(
        ElementType(
            key=ENTERED,
            kind="trigger",
            label=gettext_noop("Entered segment"),
            description=gettext_noop(
                "Lets a contact in when it enters the segment. Only contacts entering after the "
                "campaign was activated count; those already in it then do not start it."
            ),
            config_schema=SegmentConfig,
            check=_check,
            meta={"group": "events"},
        )
    )
