"""The typed copy of contact field values (``FieldValue``), filled from the stored JSON.

The backfill is bulk SQL, a copy of ``contacts.field_values.rebuild`` as it was when this
migration was written (a migration must not change when the app's code does).
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = {
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
                THEN CAST(strftime('%m%d', j.value) AS INTEGER) END,
            CASE WHEN f.type = 'datetime' AND j.type = 'text'
                AND j.value GLOB '*T*[-+Z]*' THEN datetime(j.value) END
        FROM contacts_contact c, json_each(c.fields) j
        JOIN contacts_field f ON f.workspace_id = c.workspace_id AND f.key = j.key
        WHERE j.type <> 'null'
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
        WHERE jsonb_typeof(j.value) <> 'null'
    """,
}


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL[schema_editor.connection.vendor], params=None)



class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0005_erasure_record'),
    ]

    operations = [
        migrations.CreateModel(
            name='FieldValue',
            fields=[
                ('pk', models.CompositePrimaryKey('field', 'contact', blank=True, editable=False, primary_key=True, serialize=False)),
                ('text', models.TextField(null=True)),
                ('number', models.FloatField(null=True)),
                ('date', models.DateField(null=True)),
                ('month_day', models.PositiveSmallIntegerField(null=True)),
                ('moment', models.DateTimeField(null=True)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='contacts.contact')),
                ('field', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='contacts.field')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('number__isnull', False)), fields=['field', 'number', 'contact'], name='field_value_number'), models.Index(condition=models.Q(('date__isnull', False)), fields=['field', 'date', 'contact'], name='field_value_date'), models.Index(condition=models.Q(('month_day__isnull', False)), fields=['field', 'month_day', 'contact'], name='field_value_month_day'), models.Index(condition=models.Q(('moment__isnull', False)), fields=['field', 'moment', 'contact'], name='field_value_moment')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
