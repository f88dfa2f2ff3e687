"""A database trigger refuses any UPDATE of a consent event, whatever code path tries it."""

from django.db import migrations

SQLITE_UP = [
    """CREATE TRIGGER contacts_consentevent_append_only BEFORE UPDATE ON contacts_consentevent
    BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS contacts_consentevent_append_only"]

POSTGRES_UP = [
    """CREATE OR REPLACE FUNCTION contacts_consentevent_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'consent events are append-only';
    END
    $$""",
    """CREATE TRIGGER contacts_consentevent_append_only BEFORE UPDATE ON contacts_consentevent
    FOR EACH ROW EXECUTE FUNCTION contacts_consentevent_append_only()""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS contacts_consentevent_append_only ON contacts_consentevent",
    "DROP FUNCTION IF EXISTS contacts_consentevent_append_only()",
]


def _run(sql_by_vendor):
    def run(apps, schema_editor):
        for sql in sql_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
