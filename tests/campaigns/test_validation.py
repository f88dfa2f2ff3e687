"""Graph validation: every problem kind, all of them at once, and the double opt-in warning."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from terminflow.campaigns import registry
from terminflow.campaigns.models import Campaign, Edge, Element
from terminflow.campaigns.services import save_campaign
from terminflow.campaigns.validation import (
    MARKETING_WITHOUT_DOI,
    InvalidGraph,
    Problem,
    validate_graph,
)
from tests.conftest import make_workspace

from .factories import edge, element, graph, make_campaign, make_field, registered

pytestmark = pytest.mark.django_db


def problems(workspace, elements, edges=(), **kwargs):
    errors, _ = validate_graph(workspace, graph(elements, list(edges)), **kwargs)
    return [(p.element, p.message) for p in errors]


def warnings(workspace, elements, edges=()):
    _, found = validate_graph(workspace, graph(elements, list(edges)))
    return [(p.element, p.message) for p in found]


START = element("start", "contact.tag_added", tag="booked")


def test_a_sound_graph_has_no_problems(workspace):
    make_field(workspace, "appointment", "datetime")
    elements = [
        START,
        element("wait", "wait.until_field", field="appointment", offset_minutes=-1440),
        element("vip", "condition.tag", tag="vip"),
        element("gold", "contact.tag", add=["gold"]),
        element("stop", "campaign.reset"),
    ]
    edges = [
        edge("start", "wait"),
        edge("wait", "vip"),
        edge("vip", "gold", "yes"),
        edge("vip", "stop", "no"),
    ]

    assert problems(workspace, elements, edges) == []
    assert warnings(workspace, elements, edges) == []


def test_an_unknown_type_is_named(workspace):
    assert problems(workspace, [START, element("x", "sms.send")], [edge("start", "x")]) == [
        ("x", "Element “sms.send”: unknown element type sms.send.")
    ]


def test_a_config_is_checked_against_its_schema_entry_by_entry(workspace):
    found = problems(
        workspace,
        [START, element("wait", "wait.duration", minutes=0, colour="red")],
        [edge("start", "wait")],
    )

    assert found == [
        ("wait", "Element “Wait”: Minutes: must be at least 1."),
        ("wait", "Element “Wait”: colour: is not allowed here."),
    ]


def test_a_condition_on_a_field_needs_a_value_for_comparisons(workspace):
    make_field(workspace, "city", "text")

    found = problems(
        workspace,
        [START, element("city", "condition.field", field="city", op="eq")],
        [edge("start", "city")],
    )

    assert found == [("city", "Element “Field check”: Is invalid: operator 'eq' needs a value")]


def test_referenced_fields_must_exist_with_a_fitting_type(workspace):
    make_field(workspace, "city", "text")
    make_field(workspace, "visits", "number")
    elements = [
        START,
        element("a", "wait.until_field", field="city"),
        element("b", "wait.until_field", field="nowhere"),
        element("c", "contact.set_field", field="visits", value="many"),
        element("d", "condition.field", field="city", op="gt", value="B"),
    ]
    edges = [edge("start", key) for key in "abcd"]

    assert problems(workspace, elements, edges) == [
        (
            "a",
            "Element “Wait until a date”: field 'city' is of type text; it must be date or "
            "datetime",
        ),
        ("b", "Element “Wait until a date 2”: field 'nowhere' does not exist"),
        ("c", "Element “Set a field”: visits: 'many' is not a number."),
        (
            "d",
            "Element “Field check”: field 'city' is of type text; it must be date or datetime or "
            "number",
        ),
    ]


def test_a_referenced_campaign_must_be_in_the_same_workspace(workspace):
    elsewhere = make_campaign(
        make_workspace("Praxis Enge"), [START], name="Other workspace", status="draft"
    )
    mine = make_campaign(workspace, [START], name="Mine", status="draft")

    found = problems(
        workspace,
        [
            START,
            element("stop", "campaign.stop", campaign_id=elsewhere.pk),
            element("reset", "campaign.reset", campaign_id=mine.pk),
        ],
        [edge("start", "stop"), edge("start", "reset")],
    )

    assert found == [("stop", f"Element “Stop campaign”: campaign {elsewhere.pk} does not exist")]


def test_branches_must_fit_the_kind_of_their_element(workspace):
    elements = [
        START,
        element("tag", "contact.tag", add=["a"]),
        element("vip", "condition.tag", tag="vip"),
        element("end", "contact.tag", add=["b"]),
    ]
    edges = [
        edge("start", "tag", "yes"),
        edge("start", "vip"),
        edge("vip", "end", "next"),
        edge("vip", "tag", "no"),
    ]

    assert problems(workspace, elements, edges) == [
        (
            "start",
            "Element “Tag added”: the connection to “Add or remove tags” leaves from “yes”; "
            "use next.",
        ),
        (
            "vip",
            "Element “Has tag?”: the connection to “Add or remove tags 2” leaves from “next”; "
            "use yes or no.",
        ),
        ("end", "Element “Add or remove tags 2” is not reachable from any event."),
    ]


def test_edges_must_join_existing_elements(workspace):
    assert problems(workspace, [START], [edge("start", "ghost"), edge("void", "start")]) == [
        ("ghost", "A connection leads to or from the element ghost, which does not exist."),
        ("void", "A connection leads to or from the element void, which does not exist."),
    ]


def test_every_element_must_be_reachable_from_a_trigger(workspace):
    elements = [
        START,
        element("a", "contact.tag", add=["a"]),
        element("b", "contact.tag", add=["b"]),
    ]

    assert problems(workspace, elements, [edge("a", "b")]) == [
        ("a", "Element “Add or remove tags” is not reachable from any event."),
        ("b", "Element “Add or remove tags 2” is not reachable from any event."),
    ]


def test_a_trigger_has_no_incoming_edges(workspace):
    elements = [START, element("other", "contact.tag_added", tag="x")]

    assert problems(workspace, elements, [edge("start", "other")]) == [
        (
            "other",
            "Element “Tag added 2” is an event and cannot have incoming connections "
            "(from “Tag added”).",
        )
    ]


def test_a_cycle_needs_a_wait(workspace):
    elements = [
        START,
        element("a", "contact.tag", add=["a"]),
        element("b", "condition.tag", tag="b"),
        element("c", "contact.tag", add=["c"]),
    ]
    edges = [edge("start", "a"), edge("a", "b"), edge("b", "c", "yes"), edge("c", "a")]

    assert problems(workspace, elements, edges) == [
        (
            "a",
            "The elements “Add or remove tags”, “Has tag?”, “Add or remove tags 2” form a loop "
            "without a wait.",
        )
    ]


def test_a_cycle_through_a_wait_is_allowed(workspace):
    elements = [
        START,
        element("a", "contact.tag", add=["a"]),
        element("w", "wait.duration", minutes=60),
    ]
    edges = [edge("start", "a"), edge("a", "w"), edge("w", "a")]

    assert problems(workspace, elements, edges) == []


def test_an_element_pointing_at_itself_is_a_cycle(workspace):
    elements = [START, element("a", "contact.tag", add=["a"])]

    assert problems(workspace, elements, [edge("start", "a"), edge("a", "a")]) == [
        ("a", "The elements “Add or remove tags” form a loop without a wait.")
    ]


def test_ids_and_edges_are_unique(workspace):
    elements = [
        START,
        element("a", "contact.tag", add=["a"]),
        element("a", "wait.duration", minutes=1),
    ]

    assert problems(workspace, elements, [edge("start", "a"), edge("start", "a")]) == [
        ("a", "Element “Wait”: the id a is used twice."),
        ("start", "Element “Tag added”: the connection to “Wait” is drawn twice."),
    ]


def test_an_active_campaign_needs_a_trigger(workspace):
    assert problems(workspace, [], activating=True) == [
        (None, "An active campaign needs at least one event.")
    ]
    assert problems(workspace, []) == []


def test_every_problem_is_listed_at_once(workspace):
    elements = [
        START,
        element("x", "sms.send"),
        element("wait", "wait.duration", minutes=-5),
        element("vip", "condition.tag", tag="vip"),
        element("loop", "contact.tag", add=["l"]),
        element("lost", "contact.tag", add=["lost"]),
    ]
    edges = [
        edge("start", "x"),
        edge("start", "wait"),
        edge("wait", "vip", "yes"),
        edge("start", "loop"),
        edge("loop", "loop"),
        edge("loop", "ghost"),
    ]

    assert problems(workspace, elements, edges) == [
        ("x", "Element “sms.send”: unknown element type sms.send."),
        ("wait", "Element “Wait”: Minutes: must be at least 1."),
        ("wait", "Element “Wait”: the connection to “Has tag?” leaves from “yes”; use next."),
        ("ghost", "A connection leads to or from the element ghost, which does not exist."),
        ("vip", "Element “Has tag?” is not reachable from any event."),
        ("lost", "Element “Add or remove tags 2” is not reachable from any event."),
        ("loop", "The elements “Add or remove tags” form a loop without a wait."),
    ]


def test_saving_an_invalid_graph_raises_with_every_problem_and_stores_nothing(workspace):
    data = graph(
        [START, element("x", "sms.send"), element("lost", "contact.tag", add=["l"])],
        [edge("start", "x")],
    )

    with pytest.raises(InvalidGraph) as raised:
        save_campaign(workspace, data)

    assert raised.value.status == 422
    assert raised.value.as_dict() == {
        "detail": "The campaign cannot be saved: 2 problems in its graph.",
        "code": "invalid_graph",
        "errors": [
            {
                "element": "x",
                "message": "Element “sms.send”: unknown element type sms.send.",
                "code": "unknown_type",
            },
            {
                "element": "lost",
                "message": "Element “Add or remove tags” is not reachable from any event.",
                "code": "unreachable",
            },
        ],
    }
    assert Campaign.objects.count() == 0
    assert Element.objects.count() == 0
    assert Edge.objects.count() == 0


# --- the double opt-in warning ------------------------------------------------------------


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@pytest.fixture
def mail_like_types():
    types = [
        registry.ElementType(
            key="test.booking",
            kind="trigger",
            label="Booking",
            config_schema=NoConfig,
            meta={"single_opt_in_source": True},
        ),
        registry.ElementType(
            key="test.newsletter",
            kind="action",
            label="News",
            config_schema=NoConfig,
            marketing=True,
        ),
        registry.ElementType(
            key="test.doi", kind="action", label="DOI", config_schema=NoConfig, doi=True
        ),
    ]
    with registered(types[0]), registered(types[1]), registered(types[2]):
        yield


@pytest.mark.usefixtures("mail_like_types")
def test_a_marketing_email_reachable_from_a_single_opt_in_source_is_warned_about(workspace):
    elements = [
        element("booking", "test.booking"),
        element("vip", "condition.tag", tag="vip"),
        element("doi", "test.doi"),
        element("news_after_doi", "test.newsletter"),
        element("news", "test.newsletter"),
    ]
    edges = [
        edge("booking", "vip"),
        edge("vip", "doi", "yes"),
        edge("doi", "news_after_doi"),
        edge("vip", "news", "no"),
    ]

    assert problems(workspace, elements, edges) == []
    assert warnings(workspace, elements, edges) == [
        ("news", f"Element “News 2”: {MARKETING_WITHOUT_DOI}")
    ]


@pytest.mark.usefixtures("mail_like_types")
def test_one_path_without_double_opt_in_is_enough_for_the_warning(workspace):
    elements = [
        element("booking", "test.booking"),
        element("doi", "test.doi"),
        element("news", "test.newsletter"),
    ]
    edges = [edge("booking", "doi"), edge("doi", "news"), edge("booking", "news")]

    assert warnings(workspace, elements, edges) == [
        ("news", f"Element “News”: {MARKETING_WITHOUT_DOI}")
    ]


@pytest.mark.usefixtures("mail_like_types")
def test_marketing_behind_other_triggers_or_a_double_opt_in_step_is_fine(workspace):
    elements = [
        element("tagged", "contact.tag_added", tag="newsletter"),
        element("news", "test.newsletter"),
        element("booking", "test.booking"),
        element("doi", "test.doi"),
        element("news2", "test.newsletter"),
    ]
    edges = [edge("tagged", "news"), edge("booking", "doi"), edge("doi", "news2")]

    assert warnings(workspace, elements, edges) == []


@pytest.mark.usefixtures("mail_like_types")
def test_saving_returns_the_warnings_and_saves_anyway(workspace):
    campaign, found = save_campaign(
        workspace,
        graph(
            [element("booking", "test.booking"), element("news", "test.newsletter")],
            [edge("booking", "news")],
        ),
    )

    assert found == [
        Problem("news", f"Element “News”: {MARKETING_WITHOUT_DOI}", "marketing_without_doi")
    ]
    assert campaign.status == "active"
