"""Property: any valid graph, any sequence of entries, resets and field changes, driven by the
sweep with the clock moving forward, ends every enrollment, runs each element at most once per
contact and rotation, never runs anything before it is due, and only runs what an edge led to.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count, Min
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminflow.campaigns import engine
from terminflow.campaigns.models import Edge, Enrollment, Run
from terminflow.campaigns.services import reset_contact, save_campaign
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services as contacts
from terminflow.contacts import tags as contact_tags

from .factories import T0, edge, element, graph

pytestmark = pytest.mark.django_db

TRIGGER_TAGS = ["go0", "go1"]
NODE_KINDS = ["action", "wait", "condition", "until", "reset"]


@st.composite
def flows(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A random valid graph: triggers first, then nodes, every edge pointing forward."""
    triggers = [
        element(f"t{i}", "contact.tag_added", tag=TRIGGER_TAGS[i])
        for i in range(draw(st.integers(1, 2)))
    ]
    kinds = draw(st.lists(st.sampled_from(NODE_KINDS), min_size=1, max_size=6))
    nodes = []
    for i, kind in enumerate(kinds):
        key = f"n{i}"
        if kind == "action":
            nodes.append(element(key, "contact.tag", add=[key]))
        elif kind == "wait":
            nodes.append(element(key, "wait.duration", minutes=draw(st.integers(1, 180))))
        elif kind == "condition":
            tag = draw(st.sampled_from(["vip", *TRIGGER_TAGS, "n0", "n1"]))
            nodes.append(element(key, "condition.tag", tag=tag))
        elif kind == "until":
            nodes.append(
                element(
                    key,
                    "wait.until_field",
                    field="appointment",
                    offset_minutes=draw(st.integers(-2880, 2880)),
                    if_past=draw(st.sampled_from(["continue", "stop"])),
                )
            )
        else:
            nodes.append(element(key, "campaign.reset"))
    everything = triggers + nodes
    kind_of = {e["id"]: e["type"] for e in everything}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def branch_from(source: str) -> str:
        if kind_of[source].startswith("condition."):
            return draw(st.sampled_from(["yes", "no"]))
        return "next"

    for position, target in enumerate(nodes, start=len(triggers)):
        earlier = [e["id"] for e in everything[:position]]
        sources = [draw(st.sampled_from(earlier))]
        sources += draw(st.lists(st.sampled_from(earlier), max_size=2))
        for source in sources:
            branch = branch_from(source)
            edges[(source, target["id"], branch)] = edge(source, target["id"], branch)
    return everything, list(edges.values())


events = st.lists(
    st.one_of(
        st.tuples(st.just("tag"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("reset"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("move"), st.integers(0, 2), st.integers(-600, 6000)),
        st.tuples(st.just("clear"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("time"), st.just(0), st.integers(1, 600)),
    ),
    max_size=10,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(flow=flows(), script=events, vip=st.lists(st.booleans(), min_size=3, max_size=3))
def test_any_valid_graph_ends_every_enrollment_once_per_rotation_and_never_early(
    workspace, flow, script, vip
):
    elements, edges = flow
    with transaction.atomic(), time_machine.travel(T0, tick=False) as clock:
        try:
            drive(workspace, elements, edges, script, vip, clock)
        finally:
            transaction.set_rollback(True)


def drive(workspace, elements, edges, script, vip, clock) -> None:
    contact_fields.create_field(workspace, key="appointment", type="datetime")
    campaign, _ = save_campaign(workspace, graph(elements, edges))
    people = [
        contacts.create_contact(
            workspace,
            email=f"p{i}@example.ch",
            tags=["vip"] if vip[i] else [],
            fields={"appointment": (T0 + timedelta(hours=6 * i)).isoformat()},
        )
        for i in range(3)
    ]
    now = T0
    for kind, who, value in script:
        person = people[who]
        if kind == "tag":
            tag = TRIGGER_TAGS[value]
            contact_tags.remove_tags(person, [tag])
            contact_tags.add_tags(person, [tag])
        elif kind == "reset":
            reset_contact(campaign, person)
        elif kind == "move":
            contact_fields.set_field(
                person, "appointment", (T0 + timedelta(minutes=value)).isoformat()
            )
        elif kind == "clear":
            contact_fields.set_field(person, "appointment", None)
        else:
            now += timedelta(minutes=value)
            clock.move_to(now)
        engine.advance_due()

    for _ in range(60):
        next_due = Run.objects.filter(status="pending").aggregate(due=Min("due_at"))["due"]
        if next_due is None:
            break
        now = max(now, next_due)
        clock.move_to(now)
        engine.advance_due()

    check(campaign, people)


def check(campaign, people) -> None:
    # Every enrollment has ended: nothing pending, nothing left active.
    assert not Run.objects.filter(campaign=campaign, status="pending").exists()
    assert not Enrollment.objects.filter(campaign=campaign, status="active").exists()

    # At most one run per (element, contact, rotation).
    assert not (
        Run.objects.values("element_id", "contact_id", "rotation")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )

    all_runs = list(Run.objects.filter(campaign=campaign).select_related("element"))
    for run in all_runs:
        # Nothing ran before it was due, a wait not before its own time. (A wait stopped early
        # because its field was emptied or moved into the past did not run: it is skipped.)
        stopped_wait = run.element.kind == "wait" and run.status == "skipped"
        if run.status in ("completed", "skipped", "failed") and not stopped_wait:
            assert run.finished_at >= run.due_at, run
            if run.element.kind == "wait":
                assert run.finished_at >= run.wait_until, run

    # Only what an edge led to ran: each run has a finished predecessor on the right branch.
    by_key = {(r.element_id, r.contact_id, r.rotation): r for r in all_runs}
    incoming = defaultdict(list)
    for source_id, target_id, branch in Edge.objects.filter(campaign=campaign).values_list(
        "source_id", "target_id", "branch"
    ):
        incoming[target_id].append((source_id, branch))
    for run in all_runs:
        if run.element.kind == "trigger":
            continue
        led_here = [
            by_key.get((source_id, run.contact_id, run.rotation))
            for source_id, branch in incoming[run.element_id]
        ]
        assert any(
            before is not None
            and before.status in ("completed", "skipped")
            and before.branch == branch
            for before, (_, branch) in zip(led_here, incoming[run.element_id], strict=True)
        ), run

    # Each action did its work exactly when its run completed.
    for person in people:
        have = set(contact_tags.tag_names(person))
        for run_element in {r.element for r in all_runs if r.element.type == "contact.tag"}:
            done = any(
                r.element_id == run_element.pk
                and r.contact_id == person.pk
                and r.status == "completed"
                for r in all_runs
            )
            assert (run_element.key in have) == done
