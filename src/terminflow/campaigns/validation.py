"""Validation of a campaign graph before it is saved or activated.

Every problem is collected, never only the first, so the builder can mark all of them at once.
Errors block saving; warnings (a marketing email reachable without double opt-in) do not.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy
from pydantic import BaseModel, ValidationError

from terminflow.contacts.models import Field
from terminflow.kit.errors import TerminflowError, Unprocessable
from terminflow.kit.input_errors import sentence

from . import registry
from .schemas import CampaignIn

if TYPE_CHECKING:
    from terminflow.workspaces.models import Workspace

    from .models import Campaign

MARKETING_WITHOUT_DOI = gettext_lazy("marketing email reachable without double opt-in")
FIELD_PREFIX = "contact.fields."


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) with a graph; ``element`` is the client's id.

    ``message`` is in the request's language and names elements by their label; ``code`` is
    the stable English name of the rule.
    """

    element: str | None
    message: str
    code: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"element": self.element, "message": str(self.message), "code": self.code}


# Saving returns these beside the campaign; the name says they do not block anything.
GraphWarning = Problem


class InvalidGraph(Unprocessable):
    code = "invalid_graph"

    def __init__(self, errors: list[Problem]) -> None:
        count = len(errors)
        super().__init__(
            ngettext_lazy(
                "The campaign cannot be saved: %(count)s problem in its graph.",
                "The campaign cannot be saved: %(count)s problems in its graph.",
                "count",
            ),
            extra={"errors": [error.as_dict() for error in errors]},
            count=count,
        )
        self.errors = errors


def element_labels(data: CampaignIn) -> dict[str, str]:
    """How messages name each element: the label the user gave it, else its type's label.

    Two elements of one type are told apart by a number in the order of the graph ("Send
    email 2"), never by the client's id, which the user never sees.
    """
    labels: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    for element in data.elements:
        given = element.position.get("label") if isinstance(element.position, dict) else None
        if isinstance(given, str) and given.strip():
            labels[element.id] = given.strip()
            continue
        element_type = registry.get(element.type)
        base = _(element_type.label) if element_type is not None else element.type
        counts[base] += 1
        labels[element.id] = base if counts[base] == 1 else f"{base} {counts[base]}"
    return labels


def parse_config(
    element_type: registry.ElementType, config: dict[str, Any]
) -> tuple[BaseModel | None, list[str]]:
    """The config parsed by the type's schema, or None and one message per invalid entry."""
    try:
        return element_type.config_schema.model_validate(config), []
    except ValidationError as exc:
        return None, [sentence(error) for error in exc.errors()]


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
    configs: dict[str, BaseModel] = {}
    labels = element_labels(data)

    def problem(key: str | None, code: str, text: str, **params: Any) -> Problem:
        if key is not None and "label" not in params:
            params["label"] = labels.get(key, key)
        return Problem(key, text % params if params else text, code)

    for element in data.elements:
        if element.id in types:
            errors.append(
                problem(
                    element.id,
                    "duplicate_id",
                    _("Element “%(label)s”: the id %(id)s is used twice."),
                    id=element.id,
                )
            )
            continue
        element_type = registry.get(element.type)
        types[element.id] = element_type
        if element_type is None:
            errors.append(
                problem(
                    element.id,
                    "unknown_type",
                    _("Element “%(label)s”: unknown element type %(type)s."),
                    type=element.type,
                )
            )
            continue
        config, messages = parse_config(element_type, element.config)
        errors.extend(
            problem(element.id, "invalid_config", _("Element “%(label)s”: %(message)s"), message=m)
            for m in messages
        )
        if config is not None:
            configs[element.id] = config
        if config is not None and element_type.check is not None:
            try:
                found = element_type.check(workspace, config, campaign)
            except TerminflowError as exc:
                found = [exc.detail]
            errors.extend(
                problem(
                    element.id,
                    "invalid_reference",
                    _("Element “%(label)s”: %(message)s"),
                    message=str(m),
                )
                for m in found
            )

    # References between elements, once every element's type is known.
    for key, config in configs.items():
        element_type = types[key]
        if element_type is None or element_type.graph_check is None:
            continue
        errors.extend(
            problem(key, "invalid_reference", _("Element “%(label)s”: %(message)s"), message=m)
            for m in element_type.graph_check(config, types, labels)
        )

    edges: list[tuple[str, str, str]] = []
    seen_edges: set[tuple[str, str, str]] = set()
    for edge in data.edges:
        missing = [key for key in (edge.source, edge.target) if key not in types]
        for key in missing:
            errors.append(
                problem(
                    key,
                    "edge_unknown_element",
                    _("A connection leads to or from the element %(id)s, which does not exist."),
                    id=key,
                )
            )
        if missing:
            continue
        source_type = types[edge.source]
        if source_type is not None and edge.branch not in source_type.branches:
            errors.append(
                problem(
                    edge.source,
                    "edge_branch",
                    _(
                        "Element “%(label)s”: the connection to “%(target)s” leaves from "
                        "“%(branch)s”; use %(allowed)s."
                    ),
                    target=labels.get(edge.target, edge.target),
                    branch=edge.branch,
                    allowed=_(" or ").join(source_type.branches),
                )
            )
            continue
        drawn = (edge.source, edge.target, edge.branch)
        if drawn in seen_edges:
            errors.append(
                problem(
                    edge.source,
                    "edge_twice",
                    _("Element “%(label)s”: the connection to “%(target)s” is drawn twice."),
                    target=labels.get(edge.target, edge.target),
                )
            )
            continue
        seen_edges.add(drawn)
        edges.append(drawn)

    triggers = [key for key, t in types.items() if t is not None and t.kind == "trigger"]
    incoming: dict[str, list[str]] = defaultdict(list)
    for source, target, _branch in edges:
        incoming[target].append(source)
    for key in triggers:
        if incoming[key]:
            sources = ", ".join(f"“{labels[k]}”" for k in sorted(set(incoming[key])))
            errors.append(
                problem(
                    key,
                    "trigger_incoming",
                    _(
                        "Element “%(label)s” is an event and cannot have incoming connections "
                        "(from %(sources)s)."
                    ),
                    sources=sources,
                )
            )

    reached = _reachable(triggers, edges)
    for key, element_type in types.items():
        if (element_type is None or element_type.kind != "trigger") and key not in reached:
            errors.append(
                problem(
                    key, "unreachable", _("Element “%(label)s” is not reachable from any event.")
                )
            )

    waits = {key for key, t in types.items() if t is not None and t.kind == "wait"}
    for cycle in _cycles_without(waits, list(types), edges):
        errors.append(
            problem(
                cycle[0],
                "cycle_without_wait",
                _("The elements %(cycle)s form a loop without a wait."),
                cycle=", ".join(f"“{labels[k]}”" for k in cycle),
            )
        )

    if activating and not triggers:
        errors.append(
            problem(None, "no_trigger", _("An active campaign needs at least one event."))
        )

    return errors, _warnings(workspace, types, configs, edges, triggers, reached, problem)


def graph_warnings(workspace: Workspace, data: CampaignIn) -> list[GraphWarning]:
    """The warnings of a stored graph, without the reference checks (no calls to eTermin)."""
    types = {element.id: registry.get(element.type) for element in data.elements}
    configs: dict[str, BaseModel] = {}
    for element in data.elements:
        element_type = types[element.id]
        if element_type is not None:
            config, _messages = parse_config(element_type, element.config)
            if config is not None:
                configs[element.id] = config
    edges = [(e.source, e.target, e.branch) for e in data.edges if e.source in types]
    triggers = [key for key, t in types.items() if t is not None and t.kind == "trigger"]
    labels = element_labels(data)

    def problem(key: str | None, code: str, text: str, **params: Any) -> Problem:
        params.setdefault("label", labels.get(key or "", key))
        return Problem(key, text % params, code)

    reached = _reachable(triggers, edges)
    return _warnings(workspace, types, configs, edges, triggers, reached, problem)


def _warnings(
    workspace: Workspace,
    types: dict[str, registry.ElementType | None],
    configs: dict[str, BaseModel],
    edges: list[tuple[str, str, str]],
    triggers: list[str],
    reached: set[str],
    problem: Callable[..., Problem],
) -> list[GraphWarning]:
    warnings = [
        problem(w.element, w.code, _("Element “%(label)s”: %(message)s"), message=w.message)
        for w in marketing_warnings(types, edges)
    ]
    warnings.extend(needs_warnings(workspace, types, configs, edges, triggers, reached, problem))
    return warnings


def needs_warnings(
    workspace: Workspace,
    types: dict[str, registry.ElementType | None],
    configs: dict[str, BaseModel],
    edges: list[tuple[str, str, str]],
    triggers: list[str],
    reached: set[str],
    problem: Callable[..., Problem],
) -> list[GraphWarning]:
    """Elements whose content needs a name that not every path leading to them provides.

    An email that shows ``{{ appointment.start }}`` behind "double opt-in confirmed" fails for
    every contact, since no appointment let them in; a field that the campaign fills on one
    path but not on another is missing for the contacts that came the other way. A must-
    analysis over the graph: what an element can rely on is what every predecessor had or
    added. Fields the campaign never fills (imported data) are trusted; fields that do not
    exist are not.
    """
    needing = {
        key
        for key, t in types.items()
        if t is not None and t.needs is not None and key in configs and key in reached
    }
    if not needing:
        return []
    provided: dict[str, set[str]] = {}
    for key, element_type in types.items():
        names: set[str] = set()
        if element_type is not None and element_type.provides is not None and key in configs:
            names = element_type.provides(configs[key])
        provided[key] = names
    universe = set().union(*provided.values())
    predecessors: dict[str, list[str]] = defaultdict(list)
    for source, target, _branch in edges:
        predecessors[target].append(source)
    available_out: dict[str, set[str]] = {
        key: (set(provided[key]) if key in triggers else set(universe)) for key in types
    }
    available_in: dict[str, set[str]] = {key: set() for key in types}
    changed = True
    while changed:
        changed = False
        for key in types:
            if key in triggers or key not in reached:
                continue
            sources = [available_out[p] for p in predecessors[key] if p in reached]
            entering = set.intersection(*sources) if sources else set()
            leaving = entering | provided[key]
            if entering != available_in[key] or leaving != available_out[key]:
                available_in[key], available_out[key] = entering, leaving
                changed = True

    context_names = registry.context_names()
    existing_fields = set(Field.objects.filter(workspace=workspace).values_list("key", flat=True))
    filled_somewhere = {n for n in universe if n.startswith(FIELD_PREFIX)}
    warnings: list[GraphWarning] = []
    for key in types:
        if key not in needing:
            continue
        element_type = types[key]
        assert element_type is not None and element_type.needs is not None
        for name in sorted(element_type.needs(workspace, configs[key])):
            if name in available_in[key]:
                continue
            if name in context_names:
                warnings.append(
                    problem(
                        key,
                        "name_not_provided",
                        _(
                            "Element “%(label)s” uses “%(name)s”, but not every path leading "
                            "to it provides one (only an eTermin event does); sending fails "
                            "for contacts who came another way."
                        ),
                        name=name,
                    )
                )
            elif name.startswith(FIELD_PREFIX):
                field_key = name[len(FIELD_PREFIX) :]
                if field_key not in existing_fields:
                    warnings.append(
                        problem(
                            key,
                            "field_missing",
                            _(
                                "Element “%(label)s” uses the field “%(field)s”, which does not "
                                "exist."
                            ),
                            field=field_key,
                        )
                    )
                elif name in filled_somewhere:
                    warnings.append(
                        problem(
                            key,
                            "field_not_provided",
                            _(
                                "Element “%(label)s” uses the field “%(field)s”, which not every "
                                "path leading to it fills; sending fails for contacts without "
                                "it."
                            ),
                            field=field_key,
                        )
                    )
    return warnings


def marketing_warnings(
    types: dict[str, registry.ElementType | None], edges: Iterable[tuple[str, str, str]]
) -> list[GraphWarning]:
    """Marketing elements reachable from a single-opt-in source without a double opt-in step.

    Generic over the registry: sources say ``meta["single_opt_in_source"]``, the steps that ask
    for double opt-in say ``doi=True`` and marketing emails ``marketing=True``.
    """
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target, _branch in edges:
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
    return [
        Problem(key, str(MARKETING_WITHOUT_DOI), "marketing_without_doi")
        for key in types
        if key in flagged
    ]


def _reachable(starts: list[str], edges: list[tuple[str, str, str]]) -> set[str]:
    successors: dict[str, list[str]] = defaultdict(list)
    for source, target, _branch in edges:
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
    for source, target, _branch in edges:
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
