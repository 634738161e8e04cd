"""Notices: written once, e-mailed at least once and at most once per success, never rewritten."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction

from moderation.models import AppendOnlyError, AuditEvent, AuditVerb, Notice
from moderation.services import notices as notice_services
from moderation.services.policies import announce_policy
from moderation.tasks import send_pending_notices
from tests.conftest import runs_as_runtime_role
from tests.moderation.conftest import ANNOUNCED


@pytest.fixture
def pending(policy_admin, draft_policy, removal_catalog, merchant_a, merchant_b):
    """Two notices written by an announcement whose after-commit e-mail never ran."""
    announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)
    notices = list(Notice.objects.order_by("id"))
    assert [n.email_status for n in notices] == ["pending", "pending"]
    assert mail.outbox == []
    return notices


@pytest.fixture
def smtp_down():
    with mock.patch(
        "django.core.mail.EmailMessage.send",
        side_effect=smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
    ) as send:
        yield send


def test_it_sends_each_pending_notice_once_and_marks_it_sent(travel, pending):
    moment = travel.to(ANNOUNCED + timedelta(minutes=1))
    assert notice_services.send_pending_notices() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["hello@gadgets.example", "sales@hashpower.example"]
    by_subject = {m.subject: m for m in mail.outbox}
    for notice in Notice.objects.all():
        assert (notice.email_status, notice.sent_at, notice.email_attempts) == ("sent", moment, 1)
        assert notice.email_claimed_until is None
        message = by_subject[notice.subject]
        assert message.body == notice.body
        assert message.extra_headers["X-Notice-Id"] == notice.puid

    assert notice_services.send_pending_notices() == 0
    assert send_pending_notices() == 0  # the task too
    assert len(mail.outbox) == 2


def test_a_notice_claimed_by_another_worker_is_not_sent_twice(travel, pending):
    travel.to(ANNOUNCED)
    claimed = notice_services.claim_unsent_notices()
    assert sorted(claimed) == sorted(n.pk for n in pending)
    # A second worker finds nothing while the lease runs…
    assert notice_services.claim_unsent_notices() == []
    assert notice_services.send_pending_notices() == 0
    # …and takes the notices over once the first worker's lease has passed (it died).
    travel.by(notice_services.EMAIL_LEASE + timedelta(seconds=1))
    assert notice_services.send_pending_notices() == 2
    assert notice_services.deliver_notices(claimed) == (0, 0)  # the first worker wakes up: all sent already
    assert len(mail.outbox) == 2


def test_a_failed_delivery_keeps_the_notice_pending_with_the_error_and_backs_off(travel, pending, smtp_down):
    moment = travel.to(ANNOUNCED)
    ids = notice_services.claim_unsent_notices()
    assert notice_services.deliver_notices(ids) == (0, 2)
    for notice in Notice.objects.all():
        assert notice.email_status == Notice.EmailStatus.PENDING
        assert notice.email_attempts == 1
        assert notice.last_error == "Connection unexpectedly closed"
        assert notice.sent_at is None
        assert notice.email_claimed_until == moment + notice_services.EMAIL_RETRY_BASE
    assert not AuditEvent.objects.filter(verb=AuditVerb.NOTICE_DELIVERY_FAILED).exists()
    # Not retried before its time, retried after it.
    travel.by(notice_services.EMAIL_RETRY_BASE - timedelta(seconds=1))
    assert notice_services.claim_unsent_notices() == []
    travel.by(timedelta(seconds=2))
    assert sorted(notice_services.claim_unsent_notices()) == sorted(ids)


def test_one_run_with_the_mail_server_down_uses_one_attempt(travel, pending, smtp_down):
    travel.to(ANNOUNCED)
    assert notice_services.send_pending_notices() == 0
    assert set(Notice.objects.values_list("email_status", "email_attempts")) == {("pending", 1)}
    assert smtp_down.call_count == 2


def wait_for_the_retry():
    """What the beat sweep does later: a run after the notices' back-off has passed."""
    return max(Notice.objects.values_list("email_claimed_until", flat=True)) + timedelta(seconds=1)


def test_it_gives_up_after_the_last_attempt_and_records_it(travel, pending, smtp_down):
    travel.to(ANNOUNCED)
    for attempt in range(1, notice_services.EMAIL_MAX_ATTEMPTS + 1):
        assert notice_services.send_pending_notices() == 0
        expected = "failed" if attempt == notice_services.EMAIL_MAX_ATTEMPTS else "pending"
        assert set(Notice.objects.values_list("email_status", "email_attempts")) == {(expected, attempt)}
        if expected == "pending":
            travel.to(wait_for_the_retry())
    assert smtp_down.call_count == 2 * notice_services.EMAIL_MAX_ATTEMPTS
    travel.by(timedelta(days=1))
    assert notice_services.claim_unsent_notices() == []
    assert set(Notice.objects.values_list("email_claimed_until", flat=True)) == {None}
    events = AuditEvent.objects.filter(verb=AuditVerb.NOTICE_DELIVERY_FAILED)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(n.pk for n in pending)
    for event in events:
        assert event.actor_name == "task:notices"
        assert event.reason == "Gave up after 5 attempts: Connection unexpectedly closed"
        assert event.merchant_id is not None and event.policy_id is not None
    assert mail.outbox == []


def test_a_notice_sent_after_failures_counts_every_attempt(travel, pending, smtp_down):
    travel.to(ANNOUNCED)
    notice_services.send_pending_notices()
    smtp_down.side_effect = None
    moment = travel.to(wait_for_the_retry())
    notice_services.send_pending_notices()
    assert set(Notice.objects.values_list("email_status", "email_attempts", "sent_at")) == {("sent", 2, moment)}


# --- append-only -----------------------------------------------------------------------------


def test_a_notice_cannot_be_changed_through_the_orm(pending):
    notice = pending[0]
    notice.subject = "Rewritten"
    with pytest.raises(AppendOnlyError):
        notice.save()
    with pytest.raises(AppendOnlyError, match="subject"):
        Notice.objects.filter(pk=notice.pk).update(subject="Rewritten")
    with pytest.raises(AppendOnlyError, match="body"):
        Notice.objects.filter(pk=notice.pk).update(body="Rewritten", email_status="sent")
    assert Notice.objects.get(pk=notice.pk).subject != "Rewritten"
    # Delivery columns may change.
    assert Notice.objects.filter(pk=notice.pk).update(email_attempts=3, last_error="bounced") == 1


def test_a_notice_cannot_be_deleted_through_the_orm(pending):
    with pytest.raises(AppendOnlyError):
        pending[0].delete()
    with pytest.raises(AppendOnlyError):
        Notice.objects.all().delete()
    assert Notice.objects.count() == 2


RAW_SQL_REWRITES = [
    "UPDATE moderation_notice SET subject = 'Rewritten'",
    'UPDATE moderation_notice SET transparency = \'{"puid": "forged"}\'::jsonb',
    "UPDATE moderation_notice SET subject = 'Rewritten', email_status = 'sent', sent_at = now()",
    "DELETE FROM moderation_notice",
]


@pytest.mark.postgres
@pytest.mark.database_owner
@pytest.mark.parametrize("statement", RAW_SQL_REWRITES)
def test_the_trigger_refuses_raw_sql_rewrites_of_a_notice_even_from_its_owner(pending, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Notice.objects.count() == 2
    assert set(Notice.objects.values_list("email_status", flat=True)) == {"pending"}
    assert "Rewritten" not in set(Notice.objects.values_list("subject", flat=True))


@pytest.mark.postgres
@pytest.mark.parametrize("statement", RAW_SQL_REWRITES)
def test_the_role_the_app_runs_as_cannot_rewrite_a_notice_in_raw_sql(pending, statement):
    # The runtime role may UPDATE the delivery columns only, and not DELETE; run as a single
    # role (make test against one PostgreSQL login), the trigger is what refuses.
    refusal = "permission denied" if runs_as_runtime_role() else "append-only"
    with pytest.raises(DatabaseError, match=refusal), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Notice.objects.count() == 2
    assert set(Notice.objects.values_list("email_status", flat=True)) == {"pending"}
    assert "Rewritten" not in set(Notice.objects.values_list("subject", flat=True))


@pytest.mark.postgres
def test_the_database_lets_raw_sql_update_the_delivery(pending):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE moderation_notice SET email_status = 'sent', sent_at = now(), email_attempts = 1")
        assert cursor.rowcount == 2
    assert set(Notice.objects.values_list("email_status", flat=True)) == {"sent"}
