"""The element registry: every element type's kind, config schema, handler and branches.

The engine, the API validation and the builder all read this one registry. Domain apps
contribute their own types from their ``AppConfig.ready`` (the etermin app registers
``etermin.appointment``, the mail app ``email.send`` and ``email.doi``), so this package never
imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

    from .models import Campaign, Element, Enrollment, Run

Kind = Literal["trigger", "action", "wait", "condition"]

BRANCHES_BY_KIND: dict[str, tuple[str, ...]] = {
    "trigger": ("next",),
    "action": ("next",),
    "wait": ("next",),
    "condition": ("yes", "no"),
}


@dataclass
class RunContext:
    """What a handler sees: the run, its element's parsed config and the enrollment.

    ``prepared`` is what the type's ``prepare`` returned for this run, when it has one.
    """

    run: Run
    element: Element
    enrollment: Enrollment
    config: BaseModel
    now: datetime
    prepared: Any = None


@dataclass
class Outcome:
    """What a handler decided.

    ``status`` is ``completed``, ``skipped`` (the flow still continues on ``next``), ``failed``
    (the flow stops for this contact) or ``retry`` (a temporary failure: run again at
    ``retry_at``). ``branch`` picks the outgoing edge of a condition.
    """

    status: Literal["completed", "skipped", "failed", "retry"] = "completed"
    branch: str = "next"
    reason: str = ""
    retry_at: datetime | None = None


# A wait computes its due time; None means "stop here" with the reason returned beside it.
WaitDue = Callable[[RunContext], tuple[datetime | None, str]]
Handler = Callable[[RunContext], Outcome]
# Slow, read-only work for a run (rendering an email), done before the run's transaction so no
# write lock is held meanwhile; the handler then only writes. Must not write.
Prepare = Callable[[RunContext], Any]
# Checks references (accounts, fields, emails) when a campaign is saved; returns problems.
ConfigCheck = Callable[["Workspace", BaseModel, "Campaign | None"], list[str]]
# The names an element makes available to the elements after it ("appointment",
# "contact.fields.termin"), and the names an element's content needs (an email's placeholders).
# Saving warns when some path to an element does not provide a name it needs.
Provides = Callable[[BaseModel], set[str]]
# Fills in what the workspace makes unambiguous before a valid config is stored (the only
# eTermin account), so a later change of the workspace cannot change what the element means.
Complete = Callable[["Workspace", BaseModel], BaseModel]
Needs = Callable[["Workspace", BaseModel], set[str]]
# Checks references to other elements of the graph being saved (a condition on an email
# element); gets the config, every element's type by the client's id, and how messages name
# each element. Returns problems.
GraphCheck = Callable[[BaseModel, Mapping[str, "ElementType | None"], Mapping[str, str]], list[str]]


@dataclass(frozen=True)
class ElementType:
    key: str
    kind: Kind
    label: str
    config_schema: type[BaseModel]
    handler: Handler | None = None
    prepare: Prepare | None = None
    wait_due: WaitDue | None = None
    check: ConfigCheck | None = None
    provides: Provides | None = None
    complete: Complete | None = None
    needs: Needs | None = None
    graph_check: GraphCheck | None = None
    description: str = ""
    # Marketing email elements must be preceded by a double opt-in step (a warning, not an error).
    marketing: bool = False
    doi: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def branches(self) -> tuple[str, ...]:
        return BRANCHES_BY_KIND[self.kind]


_REGISTRY: dict[str, ElementType] = {}


def register(element_type: ElementType) -> ElementType:
    existing = _REGISTRY.get(element_type.key)
    if existing is not None and existing != element_type:
        raise ValueError(f"element type {element_type.key!r} is registered twice")
    _REGISTRY[element_type.key] = element_type
    return element_type


def get(key: str) -> ElementType | None:
    return _REGISTRY.get(key)


def all_types() -> list[ElementType]:
    return sorted(_REGISTRY.values(), key=lambda t: (t.kind, t.key))


# Template context contributed by domain apps (the etermin app provides ``appointment``), so the
# mail app can render what an enrollment was about without importing the app that knows it.
ContextProvider = Callable[["Enrollment"], Any]
_CONTEXT_PROVIDERS: dict[str, ContextProvider] = {}


def register_context(name: str, provider: ContextProvider) -> None:
    _CONTEXT_PROVIDERS[name] = provider


# Failures an element's work met after its run completed (an email the mail server refused
# later), contributed by the app that knows them: rows of (element id, reason, count, latest).
FailureSource = Callable[["Campaign"], list[tuple[int, str, int, datetime | None]]]
_FAILURE_SOURCES: list[FailureSource] = []


def register_failures(source: FailureSource) -> None:
    if source not in _FAILURE_SOURCES:
        _FAILURE_SOURCES.append(source)


def later_failures(campaign: Campaign) -> list[tuple[int, str, int, datetime | None]]:
    return [row for source in _FAILURE_SOURCES for row in source(campaign)]


# Figures an app adds to the stats rows of its elements (the mail app: sent, opened, clicked,
# ... per email element), by element id; the campaign stats merge them in.
ElementStatsSource = Callable[["Campaign"], dict[int, dict[str, int]]]
_ELEMENT_STATS_SOURCES: list[ElementStatsSource] = []


def register_element_stats(source: ElementStatsSource) -> None:
    if source not in _ELEMENT_STATS_SOURCES:
        _ELEMENT_STATS_SOURCES.append(source)


def element_stats(campaign: Campaign) -> dict[int, dict[str, int]]:
    """Every source's figures for the campaign's elements, merged by element id."""
    merged: dict[int, dict[str, int]] = {}
    for source in _ELEMENT_STATS_SOURCES:
        for element_id, figures in source(campaign).items():
            merged.setdefault(element_id, {}).update(figures)
    return merged


def context_names() -> set[str]:
    """The template names that only some enrollments have (``appointment``)."""
    return set(_CONTEXT_PROVIDERS)


def enrollment_context(enrollment: Enrollment) -> dict[str, Any]:
    """Every provider's contribution for one enrollment, e.g. ``{"appointment": {...}}``."""
    return {name: provider(enrollment) for name, provider in _CONTEXT_PROVIDERS.items()}


# Ready-made campaigns ("appointments with reminder"), contributed by the app that can build
# them from its parts (emails, fields, triggers), so the campaign API offers them without
# importing that app. ``create(workspace, language)`` makes the campaign as a draft and returns
# it with its warnings (references still to set among them).
@dataclass(frozen=True)
class StarterCampaign:
    key: str
    label: Any  # a lazy translation: what the campaigns page calls it
    create: Callable[[Workspace, str | None], tuple[Campaign, list[Any]]]


_STARTER_CAMPAIGNS: dict[str, StarterCampaign] = {}


def register_starter_campaign(starter: StarterCampaign) -> None:
    _STARTER_CAMPAIGNS[starter.key] = starter


def starter_campaign(key: str) -> StarterCampaign | None:
    return _STARTER_CAMPAIGNS.get(key)


def starter_campaigns() -> list[StarterCampaign]:
    return list(_STARTER_CAMPAIGNS.values())
