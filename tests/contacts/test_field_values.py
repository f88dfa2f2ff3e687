"""The typed copy of field values stays equal to ``Contact.fields`` through every write."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection

from terminflow.contacts import field_values, privacy, services
from terminflow.contacts import fields as contact_fields
from terminflow.contacts.models import Contact, FieldValue
from terminflow.kit.errors import Unprocessable
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace

from .factories import make_contact, make_field

pytestmark = pytest.mark.django_db

Row = tuple[str, str | None, float | None, date | None, int | None, datetime | None]


def copy(*people: Contact) -> dict[str, list[Row]]:
    """Per contact's email, its typed rows: (key, text, number, date, month_day, moment)."""
    rows = (
        FieldValue.objects.filter(contact__in=people)
        .order_by("contact_id", "field__key")
        .values_list(
            "contact__email", "field__key", "text", "number", "date", "month_day", "moment"
        )
    )
    found: dict[str, list[Row]] = {person.email: [] for person in people}
    for email, *row in rows:
        found[email].append(tuple(row))  # type: ignore[arg-type]
    return found


@pytest.fixture
def fields(workspace: Workspace) -> None:
    make_field(workspace, "city", "text")
    make_field(workspace, "plan", "select", options=["Basis", "Premium"])
    make_field(workspace, "vip", "checkbox")
    make_field(workspace, "visits", "number")
    make_field(workspace, "birthday", "date")
    make_field(workspace, "termin", "datetime")


ANNA = {
    "city": "Zürich",
    "plan": "premium",
    "vip": "ja",
    "visits": "12.5",
    "birthday": "1980-03-15",
    # 23:30 in Zurich in summer time.
    "termin": "2026-03-29T23:30:00",
}
ANNA_ROWS: list[Row] = [
    ("birthday", None, None, date(1980, 3, 15), 315, None),
    ("city", "Zürich", None, None, None, None),
    ("plan", "Premium", None, None, None, None),
    ("termin", None, None, None, None, datetime(2026, 3, 29, 21, 30, tzinfo=UTC)),
    ("vip", None, 1.0, None, None, None),
    ("visits", None, 12.5, None, None, None),
]


def test_a_new_contact_has_each_value_in_the_column_of_its_type(workspace, fields):
    anna = make_contact(workspace, "anna@example.ch", fields=ANNA)
    assert copy(anna) == {"anna@example.ch": ANNA_ROWS}


def test_updates_replace_and_clear_values(workspace, fields):
    anna = make_contact(workspace, "anna@example.ch", fields=ANNA)
    services.update_contact(anna, fields={"visits": 3, "city": None, "vip": False})
    contact_fields.set_field(anna, "birthday", "1980-12-31")
    contact_fields.set_fields(anna, {"plan": "", "termin": "2026-10-25T02:30:00"})
    assert copy(anna) == {
        "anna@example.ch": [
            ("birthday", None, None, date(1980, 12, 31), 1231, None),
            # 02:30 occurs twice in Zurich that night: the first, in summer time.
            ("termin", None, None, None, None, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
            ("vip", None, 0.0, None, None, None),
            ("visits", None, 3.0, None, None, None),
        ]
    }


def test_a_batch_keeps_the_last_value_of_a_contact_listed_twice(workspace, fields):
    anna = make_contact(workspace, "anna@example.ch", fields={"visits": 1})
    ben = make_contact(workspace, "ben@example.ch", fields={"city": "Basel"})
    contact_fields.set_fields_many(
        [
            (anna, {"visits": 2, "city": "Bern"}),
            (ben, {"city": None, "birthday": "1975-04-02"}),
            (anna, {"visits": 10**20, "city": None}),
        ],
        source="test",
    )
    assert copy(anna, ben) == {
        "anna@example.ch": [("visits", None, 1e20, None, None, None)],
        "ben@example.ch": [("birthday", None, None, date(1975, 4, 2), 402, None)],
    }


def test_an_invalid_value_stores_no_typed_row(workspace, fields):
    anna = make_contact(workspace, "anna@example.ch", fields={"visits": 1})
    with pytest.raises(Unprocessable):
        contact_fields.set_fields(anna, {"visits": 2, "birthday": "15.03.1980"})
    with pytest.raises(Unprocessable):
        contact_fields.set_fields_many([(anna, {"city": "Bern", "visits": "viele"})], source="test")
    with pytest.raises(Unprocessable):
        make_contact(workspace, "ben@example.ch", fields={"city": "Basel", "vip": "vielleicht"})
    assert copy(anna) == {"anna@example.ch": [("visits", None, 1.0, None, None, None)]}
    assert FieldValue.objects.count() == 1


def test_deleting_a_field_or_a_contact_deletes_its_rows(workspace, fields):
    make_contact(workspace, "anna@example.ch", fields={"city": "Bern", "visits": 1})
    ben = make_contact(workspace, "ben@example.ch", fields={"city": "Basel", "visits": 2})
    carla = make_contact(workspace, "carla@example.ch", fields={"visits": 3})
    contact_fields.delete_field(workspace, "city")
    services.delete_contact(ben)
    privacy.erase_contact(carla)
    assert list(FieldValue.objects.values_list("contact__email", "field__key", "number")) == [
        ("anna@example.ch", "visits", 1.0)
    ]


def _people(workspace: Workspace) -> list[Contact]:
    make_field(workspace, "note", "text")
    return [
        make_contact(workspace, "anna@example.ch", fields={**ANNA, "note": "x" * 10_000}),
        make_contact(workspace, "ben@example.ch", fields={"visits": -3, "vip": False}),
        make_contact(workspace, "carla@example.ch"),
        make_contact(workspace, "dora@example.ch", fields={"birthday": "2024-02-29"}),
    ]


class _Editor:
    """What the migration's backfill uses of a schema editor (SQLite allows none in a test's
    transaction)."""

    connection = connection

    def execute(self, sql: str, params: Any = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _migration_backfill() -> None:
    migration = importlib.import_module("terminflow.contacts.migrations.0006_field_values")
    migration.backfill(None, _Editor())


def test_the_bulk_rebuild_gives_the_rows_the_services_wrote(workspace, fields):
    people = _people(workspace)
    other = make_workspace("Praxis Oerlikon")
    make_field(other, "visits", "number")
    fremd = make_contact(other, "fremd@example.ch", fields={"visits": 7})
    written = copy(*people, fremd)
    assert written["anna@example.ch"][:2] == ANNA_ROWS[:2]  # the rest checked above

    # One workspace's rows, the other's untouched.
    FieldValue.objects.filter(contact__in=people).delete()
    FieldValue.objects.filter(contact=fremd).update(number=1)
    assert field_values.rebuild(workspace.pk) == 10
    assert copy(*people) == {email: written[email] for email in copy(*people)}
    assert copy(fremd) == {"fremd@example.ch": [("visits", None, 1.0, None, None, None)]}

    # Every workspace.
    assert field_values.rebuild() == 11
    assert copy(*people, fremd) == written


def test_the_migration_fills_the_rows_the_services_would_write(workspace, fields):
    people = _people(workspace)
    written = copy(*people)
    FieldValue.objects.all().delete()
    _migration_backfill()
    assert copy(*people) == written


@pytest.mark.parametrize(
    ("field_type", "stored", "column", "typed"),
    [
        ("number", 123456789012345678, "number", 123456789012345678.0),
        ("number", -(10**400), "number", float("-inf")),
        ("date", "15.03.1980", "date", None),
        ("datetime", "2026-03-29T23:30:00", "moment", None),
        ("text", 12, "text", None),
    ],
)
def test_values_without_a_typed_form_keep_their_columns_empty(
    field_type: str, stored: Any, column: str, typed: Any
):
    assert field_values.columns(field_type, stored)[column] == typed
