"""The typed copy of contact field values (``FieldValue``), which segments query.

``Contact.fields`` holds each value in its stored form (see the contact services). The copy
holds it in the column of its type, each column with its own index, so "birthday this month"
or "appointment in the next 7 days" is an index range instead of a read of every contact's
JSON (docs/decisions/0008-typed-copy-of-field-values.md).

The contact services call ``store`` in the transaction that writes ``fields``, with the values
they wrote; deleting a contact or a field deletes its rows through the foreign keys. ``rebuild``
computes the copy from the stored JSON in bulk SQL, for contacts written around the services
(a bulk load, a repair); it gives the same rows ``store`` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection, transaction

from .models import Field, FieldType, FieldValue

COLUMNS = ("text", "number", "date", "month_day", "moment")


def columns(field_type: str, stored: Any) -> dict[str, Any]:
    """The typed columns for a value in its stored form; all None when it has no typed form."""
    typed: dict[str, Any] = dict.fromkeys(COLUMNS)
    if field_type in (FieldType.TEXT, FieldType.SELECT) and isinstance(stored, str):
        typed["text"] = stored
    elif field_type == FieldType.CHECKBOX and isinstance(stored, bool):
        typed["number"] = 1.0 if stored else 0.0
    elif field_type == FieldType.NUMBER and isinstance(stored, int | float):
        if not isinstance(stored, bool):
            typed["number"] = _float(stored)
    elif field_type == FieldType.DATE and isinstance(stored, str):
        try:
            day = date.fromisoformat(stored)
        except ValueError:
            return typed
        typed["date"] = day
        typed["month_day"] = day.month * 100 + day.day
    elif field_type == FieldType.DATETIME and isinstance(stored, str):
        try:
            moment = datetime.fromisoformat(stored)
        except ValueError:
            return typed
        if moment.tzinfo is not None:
            typed["moment"] = moment.astimezone(UTC)
    return typed


def _float(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:
        # An integer beyond any float compares like infinity, as SQLite's CAST makes it.
        return math.inf if number > 0 else -math.inf


def store(values: Iterable[tuple[int, Field, Any]]) -> None:
    """Make the copy equal to the stored values: (contact id, field, stored value or None).

    A value replaces the row of that contact and field, None deletes it; for a pair listed
    twice the last counts. Two statements at most per call, plus one per field cleared.
    """
    final: dict[tuple[int, int], tuple[Field, Any]] = {}
    for contact_id, field, stored in values:
        final[(field.pk, contact_id)] = (field, stored)
    rows: list[FieldValue] = []
    cleared: dict[int, list[int]] = defaultdict(list)
    for (field_id, contact_id), (field, stored) in final.items():
        if stored is None:
            cleared[field_id].append(contact_id)
        else:
            rows.append(
                FieldValue(field_id=field_id, contact_id=contact_id, **columns(field.type, stored))
            )
    if rows:
        FieldValue.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["field", "contact"],
            update_fields=list(COLUMNS),
        )
    for field_id, contact_ids in cleared.items():
        FieldValue.objects.filter(field_id=field_id, contact_id__in=contact_ids).delete()


# The typed columns from each stored JSON value, as ``columns`` computes them. Keys are field
# keys ([a-z][a-z0-9_]*), so they join as plain text.
_REBUILD = {
    "sqlite": """
        INSERT INTO contacts_fieldvalue
            (field_id, contact_id, text, number, date, month_day, moment)
        SELECT f.id, c.id,
            CASE WHEN f.type IN ('text', 'select') AND j.type = 'text' THEN j.value END,
            CASE
                WHEN f.type = 'number' AND j.type IN ('integer', 'real')
                    THEN CAST(j.value AS REAL)
                WHEN f.type = 'checkbox' AND j.type IN ('true', 'false')
                    THEN CASE j.type WHEN 'true' THEN 1.0 ELSE 0.0 END
            END,
            CASE WHEN f.type = 'date' AND j.type = 'text' THEN date(j.value) END,
            CASE WHEN f.type = 'date' AND j.type = 'text'
                THEN CAST(strftime('%%m%%d', j.value) AS INTEGER) END,
            CASE WHEN f.type = 'datetime' AND j.type = 'text'
                AND j.value GLOB '*T*[-+Z]*' THEN datetime(j.value) END
        FROM contacts_contact c, json_each(c.fields) j
        JOIN contacts_field f ON f.workspace_id = c.workspace_id AND f.key = j.key
        WHERE j.type <> 'null' AND (%s IS NULL OR c.workspace_id = %s)
    """,
    "postgresql": r"""
        INSERT INTO contacts_fieldvalue
            (field_id, contact_id, text, number, date, month_day, moment)
        SELECT f.id, c.id,
            CASE WHEN f.type IN ('text', 'select') AND jsonb_typeof(j.value) = 'string'
                THEN j.value #>> '{}' END,
            CASE
                WHEN f.type = 'number' AND jsonb_typeof(j.value) = 'number'
                    THEN (j.value #>> '{}')::double precision
                WHEN f.type = 'checkbox' AND jsonb_typeof(j.value) = 'boolean'
                    THEN CASE WHEN (j.value)::boolean THEN 1.0 ELSE 0.0 END
            END,
            CASE WHEN f.type = 'date' AND j.value #>> '{}' ~ '^\d{4}-\d{2}-\d{2}$'
                THEN (j.value #>> '{}')::date END,
            CASE WHEN f.type = 'date' AND j.value #>> '{}' ~ '^\d{4}-\d{2}-\d{2}$'
                THEN (substr(j.value #>> '{}', 6, 2) || substr(j.value #>> '{}', 9, 2))::int
            END,
            CASE WHEN f.type = 'datetime'
                AND j.value #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$'
                THEN (j.value #>> '{}')::timestamptz END
        FROM contacts_contact c CROSS JOIN LATERAL jsonb_each(c.fields) j
        JOIN contacts_field f ON f.workspace_id = c.workspace_id AND f.key = j.key
        WHERE jsonb_typeof(j.value) <> 'null' AND (%s::bigint IS NULL OR c.workspace_id = %s)
    """,
}


def rebuild(workspace_id: int | None = None) -> int:
    """Compute the copy of one workspace's contacts (or all) from their stored JSON.

    Two statements (delete, ``INSERT … SELECT``) in one transaction; returns the rows
    written. For contacts written around the services; the services keep the copy themselves.
    """
    rows = FieldValue.objects.all()
    if workspace_id is not None:
        rows = rows.filter(field__workspace_id=workspace_id)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        rows.delete()
        cursor.execute(_REBUILD[connection.vendor], [workspace_id, workspace_id])
        return int(cursor.rowcount)
