"""The tag links lose the single-column indexes Django gives a foreign key.

``contact_tag_unique`` (contact, tag) and ``contact_tag_by_tag`` (tag, contact) lead with each
column already, so the two only cost every tag link two more index writes. Dropped by name, on
both backends, rather than by ``AlterField``, which on SQLite copies the whole table twice.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "contacts_contacttag_contact_id_7419fc13": "contact_id",
    "contacts_contacttag_tag_id_5d4815b8": "tag_id",
}


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_field_values")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    f'CREATE INDEX "{name}" ON "contacts_contacttag" ("{column}")',
                )
                for name, column in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="contacttag",
                    name="contact",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contact_tags",
                        to="contacts.contact",
                    ),
                ),
                migrations.AlterField(
                    model_name="contacttag",
                    name="tag",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contact_tags",
                        to="contacts.tag",
                    ),
                ),
            ],
        )
    ]
