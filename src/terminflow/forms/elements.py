"""The ``form.submitted`` trigger: a sign-up confirmed by its double opt-in starts a campaign."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext, gettext_noop
from pydantic import BaseModel, ConfigDict, Field

from terminflow.campaigns import registry

from .models import Form
from .submissions import FORM_SUBMITTED

if TYPE_CHECKING:
    from terminflow.campaigns.models import Campaign
    from terminflow.workspaces.models import Workspace


class FormSubmittedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form_id: int = Field(description="The sign-up form (GET /api/v1/forms) that lets contacts in.")


def _check(workspace: Workspace, config: BaseModel, campaign: Campaign | None = None) -> list[str]:
    assert isinstance(config, FormSubmittedConfig)
    if not Form.objects.filter(workspace=workspace, pk=config.form_id).exists():
        return [gettext("form %(id)s does not exist") % {"id": config.form_id}]
    return []


def register() -> None:
    registry.register(
        registry.ElementType(
            key=FORM_SUBMITTED,
            kind="trigger",
            # Marked for the catalogue; the builder and the messages translate them when shown.
            label=gettext_noop("Form submitted"),
            description=gettext_noop(
                "Lets a contact in when they confirm the double opt-in email of a sign-up "
                "form (at once when their address was confirmed before)."
            ),
            config_schema=FormSubmittedConfig,
            check=_check,
            meta={"group": "events"},
        )
    )
