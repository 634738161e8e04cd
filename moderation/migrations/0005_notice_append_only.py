"""Notices are what a merchant was told: PostgreSQL refuses to rewrite or delete them.

Only the e-mail delivery columns may change (moderation.models.notices.DELIVERY_FIELDS).
"""

from django.db import migrations

CONTENT_COLUMNS = [
    "merchant_id", "kind", "policy_id", "clause_id", "language", "subject", "body", "restricts",
    "appeal_deadline", "transparency", "puid", "dedupe_key", "created_at",
]

CREATE = """
CREATE OR REPLACE FUNCTION refuse_notice_rewrite() RETURNS trigger AS $$
BEGIN
    IF ({changed}) THEN
        RAISE EXCEPTION 'moderation_notice is append-only: its content cannot change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER moderation_notice_content_frozen
    BEFORE UPDATE ON moderation_notice
    FOR EACH ROW EXECUTE FUNCTION refuse_notice_rewrite();

CREATE TRIGGER moderation_notice_no_delete
    BEFORE DELETE ON moderation_notice
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
""".format(changed=" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in CONTENT_COLUMNS))

DROP = """
DROP TRIGGER IF EXISTS moderation_notice_content_frozen ON moderation_notice;
DROP TRIGGER IF EXISTS moderation_notice_no_delete ON moderation_notice;
DROP FUNCTION IF EXISTS refuse_notice_rewrite();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0004_policies_and_removals")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
