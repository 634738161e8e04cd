"""Refuse UPDATE and DELETE of audit rows in PostgreSQL itself, even from raw SQL.

The ORM already refuses (AuditEvent.save/delete and its queryset); this makes the rule
hold for a psql session or a bug that bypasses the ORM. TRUNCATE stays possible for the
table's owner (test databases are flushed that way); production should run the app as a
role that does not own the tables.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER moderation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_auditevent_append_only ON moderation_auditevent;
DROP FUNCTION IF EXISTS refuse_append_only_change();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
