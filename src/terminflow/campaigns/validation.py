"""Validation of a campaign graph before it is saved or activated.

Every problem is collected, never only the first, so the builder can mark all of them at once.
Errors block saving; warnings (a marketing email reachable without double opt-in) do not.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from terminflow.kit.errors import TerminflowError, Unprocessable

from . import registry
from .schemas import CampaignIn

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

    from .models import Campaign

MARKETING_WITHOUT_DOI = "marketing email reachable without double opt-in"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) with a graph; ``element`` is the client's id."""

    element: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"element": self.element, "message": self.message}


# Saving returns these beside the campaign; the name says they do not block anything.
GraphWarning = Problem


class InvalidGraph(Unprocessable):
    code = "invalid_graph"

    def __init__(self, errors: list[Problem]) -> None:
        count = len(errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"The campaign cannot be saved: {count} {noun} in its graph.",
            extra={"errors": [error.as_dict() for error in errors]},
        )
        self.errors = errors


def parse_config(
    element_type: registry.ElementType, config: dict[str, Any]
) -> tuple[BaseModel | None, list[str]]:
    """The config parsed by the type's schema, or None and one message per invalid entry."""
    try:
        return element_type.config_schema.model_validate(config), []
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error.get("loc", ()))
            prefix = f"config.{location}" if location else "config"
            messages.append(f"{prefix}: {error.get('msg', 'invalid')}")
        return None, messages


def validate_graph(
    workspace: Workspace,
    data: CampaignIn,
    campaign: Campaign | None = None,
    *,
    activating: bool = False,
) -> tuple[list[Problem], list[GraphWarning]]:
    """All errors and warnings of a graph, in the order of its elements, then its edges.

    ``activating`` adds the rules that only an active campaign must keep (a trigger to start
    from). The element types' ``check`` functions verify references (fields, campaigns,
    accounts) against the workspace.
    """
    errors: list[Problem] = []
    types: dict[str, registry.ElementType | None] = {}

    for element in data.elements:
        if element.id in types:
            errors.append(Problem(element.id, f"element id {element.id!r} is used twice"))
            continue
        element_type = registry.get(element.type)
        types[element.id] = element_type
        if element_type is None:
            errors.append(Problem(element.id, f"unknown element type {element.type!r}"))
            continue
        config, messages = parse_config(element_type, element.config)
        errors.extend(Problem(element.id, message) for message in messages)
        if config is not None and element_type.check is not None:
            try:
                found = element_type.check(workspace, config, campaign)
            except TerminflowError as exc:
                found = [exc.detail]
            errors.extend(Problem(element.id, message) for message in found)

    edges: list[tuple[str, str, str]] = []
    seen_edges: set[tuple[str, str, str]] = set()
    for edge in data.edges:
        label = f"edge {edge.source} → {edge.target}"
        missing = [key for key in (edge.source, edge.target) if key not in types]
        for key in missing:
            errors.append(Problem(key, f"{label}: element {key!r} does not exist"))
        if missing:
            continue
        source_type = types[edge.source]
        if source_type is not None and edge.branch not in source_type.branches:
            allowed = " or ".join(source_type.branches)
            errors.append(
                Problem(
                    edge.source,
                    f"{label}: branch {edge.branch!r} does not fit a {source_type.kind} "
                    f"element (use {allowed})",
                )
            )
            continue
        drawn = (edge.source, edge.target, edge.branch)
        if drawn in seen_edges:
            errors.append(Problem(edge.source, f"{label}: the same edge is drawn twice"))
            continue
        seen_edges.add(drawn)
        edges.append(drawn)

    triggers = [key for key, t in types.items() if t is not None and t.kind == "trigger"]
    incoming: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        incoming[target].append(source)
    for key in triggers:
        if incoming[key]:
            sources = ", ".join(sorted(set(incoming[key])))
            errors.append(Problem(key, f"a trigger cannot have incoming edges (from {sources})"))

    reached = _reachable(triggers, edges)
    for key, element_type in types.items():
        if (element_type is None or element_type.kind != "trigger") and key not in reached:
            errors.append(Problem(key, "not reachable from any trigger"))

    waits = {key for key, t in types.items() if t is not None and t.kind == "wait"}
    for cycle in _cycles_without(waits, list(types), edges):
        errors.append(Problem(cycle[0], f"cycle without a wait through {', '.join(cycle)}"))

    if activating and not triggers:
        errors.append(Problem(None, "an active campaign needs at least one trigger"))

    return errors, marketing_warnings(types, edges)


def marketing_warnings(
    types: dict[str, registry.ElementType | None], edges: Iterable[tuple[str, str, str]]
) -> list[GraphWarning]:
    """Marketing elements reachable from a single-opt-in source without a double opt-in step.

    Generic over the registry: sources say ``meta["single_opt_in_source"]``, the steps that ask
    for double opt-in say ``doi=True`` and marketing emails ``marketing=True``.
    """
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        successors[source].append(target)
    flagged: set[str] = set()
    for key, element_type in types.items():
        if element_type is None or not element_type.meta.get("single_opt_in_source"):
            continue
        seen = {key}
        queue = deque([key])
        while queue:
            current = queue.popleft()
            for target in successors[current]:
                if target in seen:
                    continue
                seen.add(target)
                target_type = types.get(target)
                if target_type is None or target_type.doi:
                    continue
                if target_type.marketing:
                    flagged.add(target)
                queue.append(target)
    return [Problem(key, MARKETING_WITHOUT_DOI) for key in types if key in flagged]


def _reachable(starts: list[str], edges: list[tuple[str, str, str]]) -> set[str]:
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        successors[source].append(target)
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for target in successors[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _cycles_without(
    breakers: set[str], keys: list[str], edges: list[tuple[str, str, str]]
) -> list[list[str]]:
    """Cycles that pass no element of ``breakers``, one per strongly connected component.

    Tarjan's algorithm, iterative so a long chain cannot exhaust the recursion limit.
    """
    successors: dict[str, list[str]] = defaultdict(list)
    self_loops: set[str] = set()
    for source, target, _ in edges:
        if source in breakers or target in breakers:
            continue
        successors[source].append(target)
        if source == target:
            self_loops.add(source)
    order = {key: position for position, key in enumerate(keys)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in keys:
        if root in breakers or root in index:
            continue
        work = [(root, iter(successors[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in self_loops:
                    components.append(sorted(component, key=order.__getitem__))
    return sorted(components, key=lambda c: order[c[0]])
