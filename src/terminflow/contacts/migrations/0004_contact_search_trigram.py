"""Trigram indexes so ``q`` (substring of email or name) stays fast at a million contacts.

PostgreSQL only (pg_trgm); the expressions match what Django writes for ``icontains``,
``UPPER(col::text) LIKE UPPER(%s)``. SQLite scans instead.
"""

from django.db import migrations

COLUMNS = ("email", "first_name", "last_name")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS contact_search_{column} ON contacts_contact "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)",
            params=None,
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS contact_search_{column}", params=None)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_consent_ledger_append_only")]

    operations = [migrations.RunPython(create, drop)]
