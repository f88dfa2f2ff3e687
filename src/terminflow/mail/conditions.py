"""Conditions on engagement: ``condition.email_opened`` and ``condition.email_clicked``.

Each names an email element of the same campaign and asks whether the contact opened (or
clicked in) the email that element sent them in the same pass (enrollment). Only what a person
did counts: an engagement row with ``count`` 0 holds mail scanners' hits and answers "no", and
a human click counts as an open. An email not sent (yet), or sent but not opened, is "no"; a
campaign usually waits a while after the email before it asks.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext
from pydantic import BaseModel, ConfigDict, Field

from terminflow.campaigns import registry
from terminflow.campaigns.registry import ElementType, Outcome, RunContext

from .models import Engagement, EngagementKind
from .stats import EMAIL_ELEMENT_TYPES

OPENED = "condition.email_opened"
CLICKED = "condition.email_clicked"


class EngagementConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    element_id: str = Field(
        min_length=1,
        max_length=64,
        description="The email element of this campaign whose email is asked about.",
    )


def check_element(
    config: BaseModel,
    types: Mapping[str, registry.ElementType | None],
    labels: Mapping[str, str],
) -> list[str]:
    """The referenced element must be in the graph being saved and send an email."""
    assert isinstance(config, EngagementConfig)
    key = config.element_id
    if key not in types:
        return [gettext("the element %(id)s is not in this campaign") % {"id": key}]
    element_type = types[key]
    if element_type is None or element_type.key not in EMAIL_ELEMENT_TYPES:
        return [
            gettext("the element “%(target)s” is not an email element")
            % {"target": labels.get(key, key)}
        ]
    return []


def _engaged(context: RunContext, kinds: tuple[str, ...]) -> Outcome:
    config = context.config
    assert isinstance(config, EngagementConfig)
    engaged = Engagement.objects.filter(
        outbox__run__enrollment_id=context.run.enrollment_id,
        outbox__run__element__key=config.element_id,
        kind__in=kinds,
        count__gt=0,
    ).exists()
    return Outcome(branch="yes" if engaged else "no")


def email_opened(context: RunContext) -> Outcome:
    return _engaged(context, (EngagementKind.OPEN, EngagementKind.CLICK))


def email_clicked(context: RunContext) -> Outcome:
    return _engaged(context, (EngagementKind.CLICK,))


def register() -> None:
    registry.register(
        ElementType(
            key=OPENED,
            kind="condition",
            label="Email opened?",
            description=(
                "Yes when the contact opened the email of the chosen email element (in this "
                "pass through the campaign); a click counts as an open."
            ),
            config_schema=EngagementConfig,
            handler=email_opened,
            graph_check=check_element,
            meta={"group": "conditions"},
        )
    )
    registry.register(
        ElementType(
            key=CLICKED,
            kind="condition",
            label="Link clicked?",
            description=(
                "Yes when the contact clicked a link in the email of the chosen email element "
                "(in this pass through the campaign)."
            ),
            config_schema=EngagementConfig,
            handler=email_clicked,
            graph_check=check_element,
            meta={"group": "conditions"},
        )
    )
