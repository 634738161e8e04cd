import pytest
from django.db import connection, transaction

from moderation.models import AppendOnlyError, AuditEvent, AuditVerb


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


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE moderation_auditevent SET reason = 'rewritten'",
        "DELETE FROM moderation_auditevent",
    ],
)
def test_the_database_refuses_raw_sql_changes(marketplace, statement):
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.get().reason == ""
