import pytest
from django.db import DatabaseError, connection, transaction

from moderation.models import AppendOnlyError, AuditEvent, AuditVerb
from tests.conftest import runs_as_runtime_role


def test_it_records_the_creation_of_a_marketplace(marketplace):
    event = AuditEvent.objects.get(verb=AuditVerb.MARKETPLACE_CREATED)
    assert event.target_id == marketplace.pk
    assert event.actor is None and event.actor_name == "task:tests"
    assert event.after == {"code": "alibaba", "name": "Alibaba.com", "timezone": "Asia/Shanghai"}


def test_it_refuses_to_update_an_event_through_the_orm(marketplace):
    event = AuditEvent.objects.get()
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    assert AuditEvent.objects.get().reason == ""


def test_it_refuses_to_delete_an_event_through_the_orm(marketplace):
    event = AuditEvent.objects.get()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 1


RAW_SQL_CHANGES = [
    "UPDATE moderation_auditevent SET reason = 'rewritten'",
    "DELETE FROM moderation_auditevent",
]


@pytest.mark.postgres
@pytest.mark.database_owner
@pytest.mark.parametrize("statement", RAW_SQL_CHANGES)
def test_the_trigger_refuses_raw_sql_changes_even_from_the_owner_of_the_table(marketplace, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get().reason == ""


@pytest.mark.postgres
@pytest.mark.parametrize("statement", RAW_SQL_CHANGES)
def test_the_role_the_app_runs_as_cannot_change_events_in_raw_sql(marketplace, statement):
    # The runtime role lacks the privilege before any trigger runs; run as a single role
    # (make test against one PostgreSQL login), the trigger is what refuses.
    refusal = "permission denied" if runs_as_runtime_role() else "append-only"
    with pytest.raises(DatabaseError, match=refusal), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get().reason == ""
