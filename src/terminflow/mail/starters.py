"""Starter emails: ready-written emails in German and English, copied into a workspace in one click.

Each starter is a data file ``starter_data/<key>.<language>.json`` holding its name, subject,
kind, ``attach_ics`` and a design document in the visual editor's format; its ``body_html`` is
rendered from that design by the visual editor's renderer (``design.render``). A copy is an
ordinary email of the workspace (it opens in the visual editor): the starter files never change
what a workspace already has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.translation import gettext_lazy

from terminflow.kit.errors import NotFound, Unprocessable

from . import design, services
from .models import EmailTemplate

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

DATA = Path(__file__).resolve().parent / "starter_data"
# In the order the emails page offers them.
KEYS = (
    "appointment-confirmation",
    "reminder-24h",
    "review-request",
    "cancellation-confirmed",
    "doi-request",
)
LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class Starter:
    key: str
    language: str
    name: str
    subject: str
    kind: str
    attach_ics: bool
    design: dict[str, Any]
    body_html: str

    def template_data(self, name: str | None = None) -> services.TemplateData:
        return services.TemplateData(
            name=name or self.name,
            subject=self.subject,
            body_html=self.body_html,
            kind=self.kind,
            attach_ics=self.attach_ics,
            design=self.design,
        )


@lru_cache(maxsize=len(KEYS) * len(LANGUAGES))
def _load(key: str, language: str) -> Starter:
    raw = json.loads((DATA / f"{key}.{language}.json").read_text(encoding="utf-8"))
    cleaned = design.clean(raw["design"])
    return Starter(
        key=key,
        language=language,
        name=raw["name"],
        subject=raw["subject"],
        kind=raw["kind"],
        attach_ics=bool(raw["attach_ics"]),
        design=cleaned,
        body_html=design.render(cleaned, language=language, attach_ics=bool(raw["attach_ics"])),
    )


def check_language(language: str) -> str:
    """``language`` if starters exist in it; ``Unprocessable`` (code ``starter_language``)."""
    if language not in LANGUAGES:
        raise Unprocessable(
            gettext_lazy("There are no starter templates in “%(language)s”; use de or en."),
            language=language,
            code="starter_language",
        )
    return language


def get_starter(key: str, language: str) -> Starter:
    """One starter; ``NotFound`` for an unknown key, ``Unprocessable`` for an unknown language."""
    if key not in KEYS:
        raise NotFound(
            gettext_lazy("There is no starter template “%(key)s”."),
            key=key,
            code="starter_not_found",
        )
    return _load(key, check_language(language))


def list_starters(language: str | None = None) -> list[Starter]:
    """Every starter, in one language or in all, in the order the emails page offers them."""
    languages = (check_language(language),) if language else LANGUAGES
    return [_load(key, lang) for lang in languages for key in KEYS]


def checked(workspace: Workspace, key: str, language: str) -> services.TemplateData:
    """The starter as the workspace would save it, checked as any saved email is.

    The check renders the email with sample data: call it outside any transaction.
    """
    data = get_starter(key, language).template_data()
    problems = services.check_template(workspace, data)
    if problems:
        # The files are tested in both languages; this guards a workspace's odd settings.
        raise Unprocessable(
            gettext_lazy("The starter template “%(key)s” cannot be saved: %(message)s"),
            key=key,
            message=problems[0]["message"],
            extra={"errors": problems},
        )
    return data


def store(workspace: Workspace, data: services.TemplateData) -> EmailTemplate:
    """Save checked template data under a name no email of the workspace has yet.

    "Terminbestätigung" becomes "Terminbestätigung (2)" when the first copy is still there,
    archived ones included, so the builder's list never shows two emails of one name.
    """
    taken = set(
        EmailTemplate.objects.filter(workspace=workspace, name__startswith=data.name).values_list(
            "name", flat=True
        )
    )
    name = data.name
    number = 2
    while name in taken:
        name = f"{data.name} ({number})"
        number += 1
    return EmailTemplate.objects.create(
        workspace=workspace,
        name=name,
        kind=data.kind,
        subject=data.subject,
        body_html=data.body_html,
        body_text=data.body_text,
        attach_ics=data.attach_ics,
        design=data.design,
    )


def create_from_starter(
    workspace: Workspace, key: str, language: str | None = None
) -> EmailTemplate:
    """Copy a starter into the workspace as a new email (its language by default).

    ``NotFound`` for an unknown key and ``Unprocessable`` for an unknown language, with
    nothing stored.
    """
    data = checked(workspace, key, language or workspace.language)
    with transaction.atomic():
        return store(workspace, data)
