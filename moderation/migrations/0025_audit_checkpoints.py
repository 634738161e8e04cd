"""Seal the audit trail: chained checkpoints and their verifications, append-only in PostgreSQL too.

Three triggers (PostgreSQL only, like 0002):

- ``moderation_auditcheckpoint`` and ``moderation_auditverification`` refuse UPDATE and
  DELETE, with 0002's ``refuse_append_only_change()``;
- every INSERT statement into ``moderation_auditevent`` first takes the shared advisory
  lock ``SEAL_LOCK_KEY`` for the rest of its transaction, before any id is drawn. The sealer
  takes the same lock exclusively to fix its upper bound: once it holds it, every
  transaction that drew an event id has ended, so no id at or below ``max(id)`` can still
  appear (moderation.services.sealing). One lock per statement, not per row: a removal's
  chunk of 20,000 events pays for it once.
"""

import django.db.models.deletion
import django.db.models.expressions
import django.utils.timezone
from django.db import migrations, models

# moderation.services.sealing.SEAL_LOCK_KEY: the same number (a migration does not import app code).
SEAL_LOCK_KEY = 6_173_720_911

CREATE = f"""
CREATE TRIGGER moderation_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

CREATE TRIGGER moderation_auditverification_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditverification
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

CREATE OR REPLACE FUNCTION audit_insert_shares_seal_lock() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({SEAL_LOCK_KEY});
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER moderation_auditevent_seal_lock
    BEFORE INSERT ON moderation_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_insert_shares_seal_lock();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_auditevent_seal_lock ON moderation_auditevent;
DROP FUNCTION IF EXISTS audit_insert_shares_seal_lock();
DROP TRIGGER IF EXISTS moderation_auditverification_append_only ON moderation_auditverification;
DROP TRIGGER IF EXISTS moderation_auditcheckpoint_append_only ON moderation_auditcheckpoint;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0024_api_token_verbs"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sequence", models.PositiveIntegerField(unique=True)),
                ("first_event_id", models.BigIntegerField()),
                (
                    "last_event_id",
                    models.BigIntegerField(help_text="The next checkpoint covers the events after this id."),
                ),
                ("event_count", models.PositiveIntegerField()),
                (
                    "batch_hash",
                    models.CharField(help_text="SHA-256 of the batch's events in canonical form.", max_length=64),
                ),
                ("previous_hash", models.CharField(help_text="The previous checkpoint's chain hash.", max_length=64)),
                ("chain_hash", models.CharField(help_text="SHA-256 of this row's fields.", max_length=64, unique=True)),
                ("bound_event_id", models.BigIntegerField(help_text="max(id) when sealed_at was fixed.")),
                (
                    "sealed_at",
                    models.DateTimeField(
                        help_text="Database time when the upper bound was fixed: every event up to it had committed."
                    ),
                ),
                ("earliest_occurred_at", models.DateTimeField()),
                ("latest_occurred_at", models.DateTimeField()),
                ("sealed_by", models.CharField(max_length=150)),
            ],
            options={
                "ordering": ["sequence"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("first_event_id__lte", models.F("last_event_id")),
                            ("last_event_id__lte", models.F("bound_event_id")),
                            ("event_count__gte", 1),
                            (
                                "event_count__lte",
                                django.db.models.expressions.CombinedExpression(
                                    django.db.models.expressions.CombinedExpression(
                                        models.F("last_event_id"), "-", models.F("first_event_id")
                                    ),
                                    "+",
                                    models.Value(1),
                                ),
                            ),
                            ("earliest_occurred_at__lte", models.F("latest_occurred_at")),
                        ),
                        name="audit_checkpoint_range_valid",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditVerification",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "verified_by",
                    models.CharField(help_text="Username, or 'task:<name>' for the system.", max_length=150),
                ),
                ("ok", models.BooleanField()),
                ("checkpoints_checked", models.PositiveIntegerField()),
                ("events_checked", models.PositiveBigIntegerField()),
                ("first_failed_sequence", models.PositiveIntegerField(blank=True, null=True)),
                ("problem", models.TextField(blank=True, help_text="The first mismatch, in words.")),
                ("problems", models.JSONField(blank=True, default=list, help_text="Every mismatch found (capped).")),
                (
                    "events_unsealed",
                    models.PositiveBigIntegerField(help_text="Events past the last checkpoint, not sealed yet."),
                ),
                (
                    "verified_through",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="moderation.auditcheckpoint",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
