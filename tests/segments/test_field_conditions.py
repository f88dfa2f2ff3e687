"""Every field condition selects from the typed copy exactly what the stored JSON says.

For each field type, each comparison and a spread of values (month ends, a leap day, the two
DST changes in Zurich, case and ``LIKE``'s special characters, integers beyond a float's
precision), at moments where "today" in Zurich is another day or month than in UTC, the
compiler's answer in each form it takes equals the reference reading of ``Contact.fields``
(tests/segments/reference.py): as a set (``IN``, ``NOT IN`` / ``NOT EXISTS``), asked of one
contact at a time (``EXISTS``), and behind a tag on every contact (on SQLite the field then
drives the count, or a negation is asked by ``EXISTS`` behind the tag).
The values were written by each path that writes fields: create, update, the batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services as contacts
from terminflow.contacts.models import Contact
from terminflow.segments import query
from terminflow.segments.definition import FieldCondition, validate
from terminflow.workspaces.models import Workspace
from tests.contacts.factories import make_field
from tests.segments.reference import json_condition

pytestmark = pytest.mark.django_db

TYPES = {
    "city": "text",
    "plan": "select",
    "vip": "checkbox",
    "visits": "number",
    "birthday": "date",
    "renewal": "date",
    "termin": "datetime",
}
# What the contacts hold; contact i has the i-th value of each list (cycling), None for none.
VALUES: dict[str, list[Any]] = {
    "city": ["Zürich", "ZÜRICH", "zürich", "Basel", "basel-land", "100% Bio", "a_b", None],
    "plan": ["Basis", "Premium", None],
    "vip": [True, False, None, True],
    "visits": [0, -3, 3, 7, 7.5, 12, 12.5, 10**15, 123456789012345678, -0.5, None],
    "birthday": [
        "2024-02-29",
        "1980-03-15",
        "1990-03-31",
        "1975-04-01",
        "2000-12-31",
        "1999-01-01",
        "1988-02-28",
        None,
        "1970-10-25",
        # Children born around the days the tests take as today.
        "2026-03-28",
        "2026-03-29",
        "2026-04-01",
        "2026-10-24",
        "2026-12-31",
        "2027-01-01",
        "2026-03-01",
    ],
    "renewal": [
        "2026-03-01",
        "2026-03-27",
        "2026-03-28",
        "2026-03-29",
        "2026-03-30",
        "2026-03-31",
        "2026-04-01",
        "2026-04-04",
        "2026-10-25",
        "2026-12-31",
        "2027-01-01",
        "2026-02-28",
        None,
    ],
    # Around the spring change (Sunday 29 March, 02:00 → 03:00) and the autumn change (Sunday
    # 25 October, 03:00 → 02:00): the last second before and the first after local midnights,
    # and 02:30 twice in October.
    "termin": [
        "2026-03-28T10:59:59+00:00",
        "2026-03-28T11:00:00+00:00",
        "2026-03-28T22:59:59+00:00",
        "2026-03-28T23:00:00+00:00",
        "2026-03-29T00:59:59+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-29T21:59:59+00:00",
        "2026-03-29T22:00:00+00:00",
        "2026-03-31T22:00:00+00:00",
        "2026-10-24T22:00:00+00:00",
        "2026-10-25T00:30:00+00:00",
        "2026-10-25T01:30:00+00:00",
        "2026-10-25T23:00:00+00:00",
        "2026-12-31T23:00:00+00:00",
        None,
    ],
}
PEOPLE = 30

# Moments where the local day or month differs from UTC's, on and around the DST changes.
NOWS = [
    datetime(2026, 3, 28, 11, 0, tzinfo=UTC),  # Saturday noon, the night before summer time
    datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # Sunday 00:30 in Zurich, the 23-hour day
    datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 1 April 00:30 in Zurich, March in UTC
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),  # 02:45 summer time, an hour that repeats
    datetime(2026, 12, 31, 23, 30, tzinfo=UTC),  # New Year in Zurich
    datetime(2026, 2, 28, 23, 30, tzinfo=UTC),  # 1 March in Zurich, February in UTC
]
RELATIVE = ("next_days", "last_days", "this_month")


def _rules(key: str, *rules: dict[str, Any]) -> list[dict[str, Any]]:
    presence = [{"op": "empty"}, {"op": "not_empty"}] if TYPES[key] != "checkbox" else []
    return [{"field": key, **rule} for rule in (*rules, *presence)]


CONDITIONS: dict[str, list[dict[str, Any]]] = {
    "city": _rules(
        "city",
        *({"op": "eq", "value": v} for v in ("zürich", "ZÜRICH", "basel", "100% bio", "a_b")),
        {"op": "eq", "value": "axb"},
        *({"op": "contains", "value": v} for v in ("ZÜR", "sel", "%", "_", "ü", "bio")),
    ),
    "plan": _rules("plan", {"op": "eq", "value": "Premium"}, {"op": "eq", "value": "basis"}),
    "vip": _rules(
        "vip",
        {"op": "eq", "value": True},
        {"op": "eq", "value": False},
        {"op": "eq", "value": "nein"},
    ),
    "visits": _rules(
        "visits",
        *({"op": "eq", "value": v} for v in (7, "7.5", -3, 10**15, 123456789012345678, 0)),
        *({"op": "gt", "value": v} for v in (7, "-1", 12.5, 123456789012345677)),
        *({"op": "lt", "value": v} for v in (0, 12, "1e15")),
        {"op": "between", "value": 12, "value2": 7},
        {"op": "between", "value": -1, "value2": 1},
        {"op": "between", "value": 10**15, "value2": 10**18},
    ),
    "birthday": _rules(
        "birthday",
        {"op": "this_month"},
        {"op": "eq", "value": "2024-02-29"},
        {"op": "gt", "value": "1990-03-31"},
        {"op": "lt", "value": "1980-03-15"},
        {"op": "between", "value": "1990-03-31", "value2": "1975-04-01"},
        *({"op": "next_days", "days": d} for d in (0, 1, 3, 31)),
        *({"op": "last_days", "days": d} for d in (0, 1, 30)),
    ),
    "renewal": _rules(
        "renewal",
        {"op": "this_month"},
        {"op": "eq", "value": "2026-03-29"},
        {"op": "gt", "value": "2026-03-28"},
        {"op": "lt", "value": "2026-03-29"},
        {"op": "between", "value": "2026-04-04", "value2": "2026-03-28"},
        *({"op": "next_days", "days": d} for d in (0, 1, 3, 7, 300)),
        *({"op": "last_days", "days": d} for d in (0, 1, 28)),
    ),
    "termin": _rules(
        "termin",
        # Whole local days: 23 hours in March, 25 in October.
        {"op": "eq", "value": "2026-03-29"},
        {"op": "eq", "value": "2026-10-25"},
        {"op": "eq", "value": "2026-03-28T11:00:00Z"},
        # A wall time the spring change skips (moved on by the gap), one that occurs twice
        # (the first), both read in Zurich.
        {"op": "eq", "value": "2026-03-29T02:59:59"},
        {"op": "eq", "value": "2026-10-25T02:30:00"},
        {"op": "gt", "value": "2026-03-29"},
        {"op": "gt", "value": "2026-03-28T22:59:59Z"},
        {"op": "lt", "value": "2026-03-29"},
        {"op": "lt", "value": "2026-10-25T02:30:00"},
        {"op": "between", "value": "2026-03-29", "value2": "2026-03-28"},
        {"op": "between", "value": "2026-10-25", "value2": "2026-10-25"},
        {"op": "between", "value": "2026-03-28T23:00:00+00:00", "value2": "2026-10-25"},
        *({"op": "next_days", "days": d} for d in (0, 1, 2, 7, 300)),
        *({"op": "last_days", "days": d} for d in (0, 1, 3, 300)),
    ),
}


def _value(key: str, i: int) -> Any:
    values = VALUES[key]
    return values[i % len(values)]


@pytest.fixture
def people(workspace: Workspace) -> list[Contact]:
    """Contacts with every field, written by each path that writes fields."""
    for key, kind in TYPES.items():
        make_field(workspace, key, kind, options=["Basis", "Premium"] if kind == "select" else None)
    # Values that the updates below replace or clear, so stale typed rows would show.
    first = {"city": "Bern", "plan": "Basis", "vip": True, "visits": 99, "birthday": "1966-06-06",
             "renewal": "2026-03-28", "termin": "2026-03-28T12:00:00+00:00"}  # fmt: skip
    people, batch = [], []
    for i in range(PEOPLE):
        final = {key: _value(key, i) for key in TYPES}
        email = f"p{i:02d}@example.ch"
        if i % 3 == 0:
            contact = contacts.create_contact(workspace, email=email, fields=final, tags=["Alle"])
        else:
            contact = contacts.create_contact(workspace, email=email, fields=first, tags=["Alle"])
            if i % 3 == 1:
                contacts.update_contact(contact, fields=final)
            else:
                batch.append((contact, final))
        people.append(contact)
    contact_fields.set_fields_many(batch, source="test")
    return people


def _emails(rows: Any) -> list[str]:
    return sorted(email.split("@")[0] for email in rows.values_list("email", flat=True))


def _answers(workspace: Workspace, rule: dict[str, Any], now: datetime) -> dict[str, list[str]]:
    definition = validate(workspace, {"conditions": [{"type": "field", **rule}]})
    behind_tag = validate(
        workspace,
        {"conditions": [{"type": "tags", "tags": ["Alle"]}, {"type": "field", **rule}]},
    )
    condition = FieldCondition.model_validate({"type": "field", **rule})
    everyone = Contact.objects.filter(workspace=workspace)
    return {
        "json": _emails(everyone.filter(json_condition(workspace, condition, now))),
        "set": _emails(query.members(workspace, definition, now=now)),
        "one": _emails(everyone.filter(query.condition(workspace, definition, now=now, one=True))),
        "behind a tag": _emails(query.members(workspace, behind_tag, now=now)),
    }


@pytest.mark.parametrize("key", list(TYPES))
def test_each_comparison_selects_what_the_json_says(people: Any, workspace: Workspace, key):
    checked, selective = 0, 0
    for rule in CONDITIONS[key]:
        for now in NOWS if rule["op"] in RELATIVE else NOWS[:1]:
            answers = _answers(workspace, rule, now)
            expected = answers.pop("json")
            assert answers == dict.fromkeys(answers, expected), (rule, now)
            checked += 1
            selective += 0 < len(expected) < PEOPLE
    # The comparisons tell contacts apart, so agreeing means something.
    assert selective >= checked * 0.7, (selective, checked)
