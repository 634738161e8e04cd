"""The operations page: failed and stuck work listed from our own rows, retried once per press."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from moderation.models import (
    AuditEvent,
    AuditVerb,
    CategoryRemoval,
    Notice,
    Policy,
    PolicyScan,
    RemovalChunk,
    StatementSubmission,
)
from moderation.selectors.operations import operations_overview
from moderation.services import operations, removals, scanning
from moderation.services.policies import announce_policy
from tests.concurrency import race
from tests.moderation.conftest import ANNOUNCED, SHANGHAI

RUN_AT = datetime(2021, 10, 8, 0, 0, 30, tzinfo=SHANGHAI)  # the removal tests' start
MINUTE = timedelta(minutes=1)
PAGE = "/backoffice/operations/"


# --- The scene: one of each kind of trouble -------------------------------------------------


@pytest.fixture
def policy(travel, policy_admin, draft_policy, removal_catalog, settings):
    """The reference policy, announced: its two notices (merchants A and B) are written, unsent."""
    settings.REMOVAL_CHUNK_SIZE = 3  # five chunks for the 13 listings
    travel.to(ANNOUNCED)
    # The mailer never runs (even when a transactional test commits): the notices stay unsent.
    with mock.patch("moderation.tasks.send_pending_notices.delay"):
        return announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)


@pytest.fixture
def notices(policy):
    found = list(Notice.objects.order_by("pk"))
    assert [n.email_status for n in found] == ["pending", "pending"]
    return found


def mark_sent(*notices_to_mark):
    Notice.objects.filter(pk__in=[n.pk for n in notices_to_mark]).update(
        email_status=Notice.EmailStatus.SENT, sent_at=ANNOUNCED, email_attempts=1
    )


@pytest.fixture
def running_removal(travel, policy, policy_admin, miners, miner_accessories):
    """A removal started at its time, its five chunks planned and none run (the queueing is dropped)."""
    removal = removals.schedule_removal(actor=policy_admin, policy=policy, categories=[miners, miner_accessories])
    travel.to(RUN_AT)
    with mock.patch.object(removals, "queue_pending_chunks"):
        assert removals.start_removal(removal_id=removal.pk)
    removal.refresh_from_db()
    return removal


@pytest.fixture
def failed_removal(running_removal):
    chunk = running_removal.chunks.get(number=1)
    assert removals.fail_removal(chunk_id=chunk.pk, error=OSError("disk full"))
    running_removal.refresh_from_db()
    assert running_removal.status == CategoryRemoval.Status.FAILED
    return running_removal


@pytest.fixture
def stuck_removal(travel, running_removal):
    """Two chunks done a minute after the start, then nothing for sixteen minutes."""
    travel.to(RUN_AT + MINUTE)
    for chunk in running_removal.chunks.order_by("number")[:2]:
        removals.run_removal_chunk(chunk_id=chunk.pk)
    travel.to(RUN_AT + 17 * MINUTE)
    running_removal.refresh_from_db()
    return running_removal


def start_scan(policy) -> PolicyScan:
    with mock.patch.object(scanning, "queue_pending_scan_chunks"):
        return scanning.start_policy_scan(policy=policy)


@pytest.fixture
def failed_scan(travel, policy):
    travel.to(RUN_AT)
    scan = start_scan(policy)
    chunk = scan.chunks.get()
    scanning.record_scan_chunk_failure(chunk_id=chunk.pk, error=OSError("matcher crashed"), give_up=True)
    scan.refresh_from_db()
    assert scan.status == PolicyScan.Status.FAILED
    return scan


@pytest.fixture
def stuck_scan(travel, policy):
    travel.to(RUN_AT)
    scan = start_scan(policy)
    travel.to(RUN_AT + 16 * MINUTE)
    return scan


@pytest.fixture
def failed_statement(notices):
    notice = notices[0]
    return StatementSubmission.objects.create(
        notice=notice,
        puid=notice.puid,
        status=StatementSubmission.Status.FAILED,
        attempts=8,
        response_status=422,
        last_error="422: decision_ground: The selected decision ground is invalid.",
    )


@pytest.fixture
def beat_tick():
    interval = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    moment = RUN_AT + 16 * MINUTE
    PeriodicTask.objects.create(name="tick", task="moderation.ping", interval=interval, last_run_at=moment)
    return moment


@pytest.fixture
def scene(travel, notices, failed_removal, failed_scan, failed_statement, beat_tick):
    """At RUN_AT + 17 minutes: a failed removal, a failed scan, a failed statement, a failed
    notice (A's) and a stuck one (B's, never picked up in eleven days)."""
    Notice.objects.filter(pk=notices[0].pk).update(
        email_status=Notice.EmailStatus.FAILED, email_attempts=5, last_error="Connection unexpectedly closed"
    )
    travel.to(RUN_AT + 17 * MINUTE)
    return {"removal": failed_removal, "scan": failed_scan, "statement": failed_statement, "notices": notices}


def retry_url(kind, pk):
    return reverse("backoffice:operations-retry", kwargs={"kind": kind, "object_id": pk})


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Who may look, who may retry -----------------------------------------------------------


def test_the_page_and_its_url_name():
    assert reverse("backoffice:operations") == PAGE


def test_anonymous_visitors_are_sent_to_the_login_page(client, scene):
    for url, method in [
        (PAGE, "get"),
        (retry_url("removal", scene["removal"].pk), "post"),
        (reverse("backoffice:operations-retry-all", kwargs={"kind": "notice"}), "post"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_a_user_without_a_staff_role_is_refused(client, merchant_user_a, scene):
    client.force_login(merchant_user_a)
    assert client.get(PAGE).status_code == 403
    assert client.post(retry_url("removal", scene["removal"].pk)).status_code == 403


def test_a_moderator_may_look_but_not_retry(client, moderator, scene):
    client.force_login(moderator)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert b'<form method="post" action="/backoffice/operations/' not in response.content
    assert "Policy admins and senior moderators can retry it." in response.content.decode()
    events = AuditEvent.objects.count()
    for kind, pk in [
        ("removal", scene["removal"].pk),
        ("scan", scene["scan"].pk),
        ("notice", scene["notices"][0].pk),
        ("statement", scene["statement"].pk),
    ]:
        assert client.post(retry_url(kind, pk)).status_code == 403
    for kind in ("notice", "statement"):
        assert client.post(reverse("backoffice:operations-retry-all", kwargs={"kind": kind})).status_code == 403
    assert AuditEvent.objects.count() == events
    scene["removal"].refresh_from_db()
    assert scene["removal"].status == CategoryRemoval.Status.FAILED


@pytest.mark.parametrize("who", ["policy_admin", "senior"])
def test_policy_admins_and_senior_moderators_see_the_retry_buttons(client, request, who, scene):
    client.force_login(request.getfixturevalue(who))
    content = client.get(PAGE).content.decode()
    assert f'action="{retry_url("removal", scene["removal"].pk)}"' in content
    assert f'action="{retry_url("notice", scene["notices"][0].pk)}"' in content
    assert 'id="retry-all-notices"' in content and 'id="retry-all-statements"' in content


def test_a_retry_is_a_post(client, policy_admin, scene):
    client.force_login(policy_admin)
    assert client.get(retry_url("removal", scene["removal"].pk)).status_code == 405
    assert client.post(retry_url("lunch", 1)).status_code == 404
    assert client.post(retry_url("removal", 999_999)).status_code == 404


def test_the_nav_links_to_the_page_for_staff(client, moderator, merchant_user_a, db):
    client.force_login(moderator)
    assert f'href="{PAGE}"' in client.get(reverse("backoffice:home")).content.decode()
    client.force_login(merchant_user_a)
    assert f'href="{PAGE}"' not in client.get(reverse("backoffice:home")).content.decode()


# --- What the page lists -------------------------------------------------------------------


def test_it_lists_each_kind_of_trouble(client, moderator, scene, beat_tick):
    client.force_login(moderator)
    response = client.get(PAGE)
    content = response.content.decode()
    overview = response.context["overview"]
    assert [r.pk for r in overview.removals.rows] == [scene["removal"].pk]
    assert [s.pk for s in overview.scans.rows] == [scene["scan"].pk]
    assert [(n.pk, n.problem) for n in overview.notices.rows] == [
        (scene["notices"][0].pk, "failed"),
        (scene["notices"][1].pk, "stuck"),
    ]
    assert (overview.notices.failed, overview.notices.stuck) == (1, 1)
    assert [s.pk for s in overview.statements.rows] == [scene["statement"].pk]
    assert overview.beat_last_tick == beat_tick
    assert f'data-removal="{scene["removal"].pk}"' in content and "disk full" in content
    assert f'data-scan="{scene["scan"].pk}"' in content and "matcher crashed" in content
    assert "Connection unexpectedly closed" in content and scene["notices"][0].merchant.store_name in content
    assert scene["statement"].puid in content and "HTTP 422" in content
    assert "Celery beat last ticked at 2021-10-07 16:16:30 UTC (1\xa0minute ago)." in content


def test_an_empty_page_says_all_is_well(client, moderator, notices):
    mark_sent(*notices)
    client.force_login(moderator)
    content = client.get(PAGE).content.decode()
    assert 'id="all-clear"' in content
    assert "Celery beat has not ticked here yet." in content


def test_work_that_goes_well_is_not_listed(travel, notices, running_removal):
    mark_sent(*notices)
    removals.run_removal_chunk(chunk_id=running_removal.chunks.get(number=1).pk)
    scan = start_scan(running_removal.policy)
    travel.by(10 * MINUTE)
    overview = operations_overview()
    assert overview.all_clear
    # A notice backing off after a failed attempt is waiting as designed, not stuck.
    Notice.objects.filter(pk=notices[0].pk).update(
        email_status=Notice.EmailStatus.PENDING, email_attempts=2, email_claimed_until=travel.now() + 4 * MINUTE
    )
    travel.by(18 * MINUTE)  # its retry time passed 14 minutes ago
    assert [n.pk for n in operations_overview().notices.rows] == []
    assert {r.pk for r in operations_overview().removals.rows} == {running_removal.pk}
    assert {s.pk for s in operations_overview().scans.rows} == {scan.pk}
    travel.by(2 * MINUTE)
    assert [n.pk for n in operations_overview().notices.rows] == [notices[0].pk]


def test_a_running_removal_is_stuck_after_the_set_time_without_a_finished_chunk(travel, settings, running_removal):
    travel.to(RUN_AT + MINUTE)
    removals.run_removal_chunk(chunk_id=running_removal.chunks.get(number=1).pk)
    travel.to(RUN_AT + 15 * MINUTE)  # fourteen minutes since the chunk
    assert operations_overview().removals.rows == []
    travel.to(RUN_AT + 16 * MINUTE + timedelta(seconds=1))
    [row] = operations_overview().removals.rows
    assert (row.pk, row.problem, row.last_moved_at) == (running_removal.pk, "stuck", RUN_AT + MINUTE)
    # The threshold is a setting, read at each request.
    settings.STUCK_AFTER_MINUTES = 30
    assert operations_overview().removals.rows == []
    assert operations_overview().stuck_after_minutes == 30


def test_the_beat_sweep_re_queueing_a_removal_does_not_hide_that_it_is_stuck(travel, stuck_removal):
    # Beat re-sends the chunks of a stalled removal and bumps its heartbeat each time; the
    # chunks still never finish (workers down): it is stuck all the same.
    with mock.patch.object(removals, "queue_pending_chunks", return_value=3):
        assert removals.requeue_stalled_removals() == 3
    stuck_removal.refresh_from_db()
    assert stuck_removal.last_progress_at == travel.now()
    assert [r.pk for r in operations_overview().removals.rows] == [stuck_removal.pk]


def test_a_scan_is_stuck_after_the_set_time_without_progress(travel, policy):
    travel.to(RUN_AT)
    scan = start_scan(policy)
    travel.by(15 * MINUTE)
    assert operations_overview().scans.rows == []
    travel.by(MINUTE + timedelta(seconds=1))
    [row] = operations_overview().scans.rows
    assert (row.pk, row.problem) == (scan.pk, "stuck")


def test_the_page_costs_the_same_queries_whatever_the_backlog(travel, client, moderator, scene, stuck_scan):
    client.force_login(moderator)
    client.get(PAGE)  # sessions, content types: warm

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    few = queries()
    # A mail outage: every notice of a second announcement fails, and their statements too.
    notice = scene["notices"][1]
    for i in range(60):  # more than a list shows
        Notice.objects.create(
            merchant=notice.merchant,
            kind=notice.kind,
            subject=f"Notice {i}",
            body="…",
            puid=f"puid-{i}",
            dedupe_key=f"outage:{i}",
            created_at=ANNOUNCED,
            email_status=Notice.EmailStatus.FAILED,
        )
    for i, extra in enumerate(Notice.objects.filter(dedupe_key__startswith="outage:")):
        StatementSubmission.objects.create(notice=extra, puid=extra.puid, status="failed", last_error=f"e{i}")
    assert queries() == few
    # Session, user, roles; removals, scans, notices and their counts, statements and theirs, beat,
    # the marketplaces' webhook endpoints in trouble; the session saved again (its messages).
    assert few <= 14
    overview = operations_overview()
    assert (len(overview.notices.rows), overview.notices.total) == (50, 62)
    assert (len(overview.statements.rows), overview.statements.total) == (50, 61)


def test_long_lists_show_the_oldest_rows_and_the_total(travel, scene):
    overview = operations_overview(rows=1)
    assert len(overview.notices.rows) == 1 and overview.notices.total == 2 and overview.notices.truncated
    assert overview.notices.rows[0].pk == scene["notices"][0].pk


# --- Retrying removals ---------------------------------------------------------------------


def test_retrying_a_failed_removal_resumes_it_from_where_it_stopped(
    client, policy_admin, scene, removal_catalog, django_capture_on_commit_callbacks
):
    removal = scene["removal"]
    client.force_login(policy_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry_url("removal", removal.pk), follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert messages_of(response) == [f"Removal #{removal.pk} retried: its remaining chunks are queued."]
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.COMPLETED and removal.listings_done == 13
    resumed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_RESUMED)
    assert (resumed.actor, resumed.before, resumed.after) == (policy_admin, {"status": "failed"}, {"status": "running"})
    assert f'data-removal="{removal.pk}"' not in response.content.decode()


def test_retrying_a_stuck_removal_sends_its_chunks_again(
    travel, senior, stuck_removal, removal_catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        operations.retry_removal(actor=senior, removal=stuck_removal)
    stuck_removal.refresh_from_db()
    assert stuck_removal.status == CategoryRemoval.Status.COMPLETED
    assert stuck_removal.listings_done == 13 and stuck_removal.chunks_done == 5
    event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_RESUMED)
    assert event.actor == senior and event.target_id == stuck_removal.pk
    last_moved = (RUN_AT + MINUTE).astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert event.before == {"status": "running", "last_moved_at": last_moved}
    assert "No progress for 15 minutes" in event.reason


def test_a_stuck_removal_is_retried_once_then_given_the_set_time_again(travel, senior, policy_admin, stuck_removal):
    with mock.patch.object(operations, "resend_removal_chunks") as resent:
        operations.retry_removal(actor=senior, removal=stuck_removal)
        with pytest.raises(ValidationError, match="is not failed or stuck"):
            operations.retry_removal(actor=policy_admin, removal=stuck_removal)
        assert operations_overview().removals.rows == []
        travel.by(15 * MINUTE + timedelta(seconds=1))  # still nothing moved since the retry
        assert [r.pk for r in operations_overview().removals.rows] == [stuck_removal.pk]
        operations.retry_removal(actor=policy_admin, removal=stuck_removal)
    assert resent.call_count == 0  # queued on commit, which a test transaction never reaches
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_RESUMED).count() == 2


def test_a_stuck_removal_whose_chunks_are_all_done_is_finished_by_a_worker(
    travel, senior, running_removal, django_capture_on_commit_callbacks
):
    """Its finish failed (notices could not be written): the retry sends a done chunk again."""
    travel.to(RUN_AT + MINUTE)
    with mock.patch.object(removals, "finish_removal_if_done"):
        for chunk in running_removal.chunks.all():
            removals.run_removal_chunk(chunk_id=chunk.pk)
    travel.by(16 * MINUTE)
    with (
        mock.patch("moderation.tasks.run_removal_chunk.delay") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        operations.retry_removal(actor=senior, removal=running_removal)
    last = running_removal.chunks.order_by("-number").first()
    sent.assert_called_once_with(last.pk)


def test_a_removal_that_failed_before_it_started_goes_back_on_the_schedule(
    client, travel, policy_admin, policy, miners, miner_accessories
):
    removal = removals.schedule_removal(actor=policy_admin, policy=policy, categories=[miners, miner_accessories])
    Policy.objects.filter(pk=policy.pk).update(status=Policy.Status.RETIRED)  # replaced before its removal ran
    travel.to(RUN_AT)
    assert removals.start_removal(removal_id=removal.pk)
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.FAILED and removal.scope_category_ids == []
    client.force_login(policy_admin)
    response = client.post(retry_url("removal", removal.pk), follow=True)
    assert messages_of(response) == [f"Removal #{removal.pk} is back on the schedule: it starts at the next beat tick."]
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.SCHEDULED


def test_a_removal_that_is_neither_failed_nor_stuck_is_refused_and_nothing_changes(
    client, policy_admin, travel, running_removal
):
    travel.to(RUN_AT + 5 * MINUTE)
    client.force_login(policy_admin)
    before = CategoryRemoval.objects.filter(pk=running_removal.pk).values().get()
    events = AuditEvent.objects.count()
    with mock.patch.object(operations, "resend_removal_chunks") as resent:
        response = client.post(retry_url("removal", running_removal.pk), follow=True)
    assert messages_of(response) == [
        f"Removal #{running_removal.pk} is not failed or stuck: only a failed removal, or a running one "
        "without progress for 15 minutes, can be retried."
    ]
    assert CategoryRemoval.objects.filter(pk=running_removal.pk).values().get() == before
    assert AuditEvent.objects.count() == events
    resent.assert_not_called()


# --- Retrying scans ------------------------------------------------------------------------


def test_retrying_a_failed_scan_resumes_it(travel, senior, failed_scan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        operations.retry_scan(actor=senior, scan=failed_scan)
    failed_scan.refresh_from_db()
    assert failed_scan.status == PolicyScan.Status.COMPLETED
    resumed = AuditEvent.objects.filter(verb=AuditVerb.SCAN_STARTED).latest("pk")
    assert (resumed.actor, resumed.reason) == (senior, "Resumed.")
    with pytest.raises(ValidationError, match="is not failed or stuck"):
        operations.retry_scan(actor=senior, scan=failed_scan)


def test_retrying_a_stuck_scan_sends_its_chunks_again(travel, senior, stuck_scan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        operations.retry_scan(actor=senior, scan=stuck_scan)
    stuck_scan.refresh_from_db()
    assert stuck_scan.status == PolicyScan.Status.COMPLETED
    event = AuditEvent.objects.filter(verb=AuditVerb.SCAN_STARTED, actor=senior).get()
    assert "No progress for 15 minutes" in event.reason


def test_a_failed_scan_waits_while_another_scan_of_its_policy_runs(senior, failed_scan):
    running = start_scan(failed_scan.policy)
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="Another scan of this policy is running"):
        operations.retry_scan(actor=senior, scan=failed_scan)
    failed_scan.refresh_from_db()
    assert failed_scan.status == PolicyScan.Status.FAILED and running.status == PolicyScan.Status.RUNNING
    assert AuditEvent.objects.count() == events


# --- Retrying notices and statements -------------------------------------------------------


def test_retrying_a_failed_notice_e_mails_it_again(client, policy_admin, scene, django_capture_on_commit_callbacks):
    notice = scene["notices"][0]
    client.force_login(policy_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry_url("notice", notice.pk), follow=True)
    assert messages_of(response) == [f"The notice “{notice.subject}” will be e-mailed again."]
    notice.refresh_from_db()
    assert (notice.email_status, notice.email_attempts) == ("sent", 1)
    assert notice.merchant.contact_email in [m.to[0] for m in mail.outbox]
    event = AuditEvent.objects.get(verb=operations.NOTICE_RETRY_VERB, actor=policy_admin)
    assert event.target_id == notice.pk and event.merchant_id == notice.merchant_id
    assert event.before == {"email_status": "failed", "email_attempts": 5}
    assert event.after == {"email_status": "pending"}
    assert event.reason == "E-mail delivery retried from the operations page."


def test_a_retried_notice_is_refused_a_second_time_and_nothing_changes(travel, senior, scene):
    notice = scene["notices"][0]
    assert operations.retry_notice_delivery(actor=senior, notice=notice) == 1
    notice.refresh_from_db()
    assert (notice.email_status, notice.email_attempts, notice.email_claimed_until) == ("pending", 0, travel.now())
    before = Notice.objects.filter(pk=notice.pk).values().get()
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="is not failed or stuck"):
        operations.retry_notice_delivery(actor=senior, notice=notice)
    assert Notice.objects.filter(pk=notice.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_a_stuck_notice_keeps_its_attempts_and_is_due_at_once(travel, senior, scene):
    stuck = scene["notices"][1]
    Notice.objects.filter(pk=stuck.pk).update(email_status="sending", email_attempts=2)
    operations.retry_notice_delivery(actor=senior, notice=stuck)
    stuck.refresh_from_db()
    assert (stuck.email_status, stuck.email_attempts) == ("pending", 2)
    from moderation.services.notices import claim_unsent_notices

    travel.by(timedelta(seconds=1))
    assert stuck.pk in claim_unsent_notices()


def test_retry_all_notices_takes_a_batch_per_press(client, senior, scene, monkeypatch):
    monkeypatch.setattr(operations, "RETRY_BATCH", 1)
    client.force_login(senior)
    url = reverse("backoffice:operations-retry-all", kwargs={"kind": "notice"})
    with mock.patch("moderation.tasks.send_pending_notices.delay"):
        assert messages_of(client.post(url, follow=True)) == ["1 notice will be e-mailed again."]
        assert messages_of(client.post(url, follow=True)) == ["1 notice will be e-mailed again."]
        assert messages_of(client.post(url, follow=True)) == [
            "Nothing is failed or stuck any more: there was nothing to retry."
        ]
    assert AuditEvent.objects.filter(verb=operations.NOTICE_RETRY_VERB, actor=senior).count() == 2
    assert set(Notice.objects.values_list("email_status", flat=True)) == {"pending"}


def test_retrying_a_failed_statement_queues_it_for_the_submitter(
    client, policy_admin, scene, django_capture_on_commit_callbacks
):
    statement = scene["statement"]
    client.force_login(policy_admin)
    with (
        mock.patch("moderation.tasks.submit_statements.delay") as submitter,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(retry_url("statement", statement.pk), follow=True)
    submitter.assert_called_once_with()
    assert messages_of(response) == [f"Statement {statement.puid} will be submitted again."]
    statement.refresh_from_db()
    assert (statement.status, statement.attempts, statement.claimed_until) == ("pending", 0, None)
    assert statement.next_attempt_at == RUN_AT + 17 * MINUTE
    event = AuditEvent.objects.get(verb=operations.STATEMENT_RETRY_VERB)
    assert event.actor == policy_admin and event.target_id == statement.pk
    assert event.before["status"] == "failed" and event.before["attempts"] == 8
    assert event.after == {"status": "pending", "attempts": 0}
    response = client.post(retry_url("statement", statement.pk), follow=True)
    assert messages_of(response) == [f"Statement {statement.puid} is not failed: there is nothing to retry."]
    assert AuditEvent.objects.filter(verb=operations.STATEMENT_RETRY_VERB).count() == 1


def test_retry_all_statements(senior, scene):
    with mock.patch("moderation.tasks.submit_statements.delay"):
        assert operations.retry_statements(actor=senior) == 1
        assert operations.retry_statements(actor=senior) == 0


# --- Two operators press the same button (PostgreSQL: row locks) ---------------------------


@pytest.fixture
def committed(transactional_db):
    """Rows committed for real, so that racing threads on their own connections see them."""


def exactly_one_wins(results, errors):
    winners = [r for r, e in zip(results, errors, strict=True) if e is None]
    refused = [e for e in errors if e is not None]
    assert len(winners) == 1, errors
    assert len(refused) == 1 and isinstance(refused[0], ValidationError), refused
    return winners[0]


@pytest.mark.postgres
def test_two_retries_of_a_failed_removal_resume_it_once(committed, policy_admin, senior, failed_removal):
    with mock.patch.object(removals, "queue_pending_chunks") as queued:
        results, errors = race(
            lambda actor: operations.retry_removal(actor=actor, removal=failed_removal), [(policy_admin,), (senior,)]
        )
    exactly_one_wins(results, errors)
    assert queued.call_count == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_RESUMED).count() == 1
    assert CategoryRemoval.objects.get(pk=failed_removal.pk).status == CategoryRemoval.Status.RUNNING


@pytest.mark.postgres
def test_two_retries_of_a_stuck_removal_re_queue_it_once(committed, policy_admin, senior, stuck_removal):
    with mock.patch.object(operations, "resend_removal_chunks") as resent:
        results, errors = race(
            lambda actor: operations.retry_removal(actor=actor, removal=stuck_removal), [(policy_admin,), (senior,)]
        )
    exactly_one_wins(results, errors)
    assert resent.call_count == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_RESUMED).count() == 1


@pytest.mark.postgres
def test_two_retries_of_a_stuck_scan_re_queue_it_once(committed, policy_admin, senior, stuck_scan):
    with mock.patch.object(scanning, "queue_pending_scan_chunks") as queued:
        results, errors = race(
            lambda actor: operations.retry_scan(actor=actor, scan=stuck_scan), [(policy_admin,), (senior,)]
        )
    exactly_one_wins(results, errors)
    assert queued.call_count == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.SCAN_STARTED, actor__isnull=False).count() == 1


@pytest.mark.postgres
def test_two_retries_of_a_failed_notice_send_it_once(committed, policy_admin, senior, scene):
    notice = scene["notices"][0]
    with mock.patch("moderation.tasks.send_pending_notices.delay") as sweep:
        results, errors = race(
            lambda actor: operations.retry_notice_delivery(actor=actor, notice=notice), [(policy_admin,), (senior,)]
        )
    assert exactly_one_wins(results, errors) == 1
    assert sweep.call_count == 1
    assert AuditEvent.objects.filter(verb=operations.NOTICE_RETRY_VERB, target_id=notice.pk).count() == 1


@pytest.mark.postgres
def test_two_retry_all_presses_retry_each_notice_once(committed, policy_admin, senior, scene):
    with mock.patch("moderation.tasks.send_pending_notices.delay"):
        results, errors = race(
            lambda actor: operations.retry_notice_deliveries(actor=actor), [(policy_admin,), (senior,)]
        )
    assert errors == [None, None]
    assert sorted(results) == [0, 2]
    events = AuditEvent.objects.filter(verb=operations.NOTICE_RETRY_VERB, actor__isnull=False)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(n.pk for n in scene["notices"])


@pytest.mark.postgres
def test_two_retries_of_a_failed_statement_queue_it_once(committed, policy_admin, senior, scene):
    statement = scene["statement"]
    with mock.patch("moderation.tasks.submit_statements.delay") as submitter:
        results, errors = race(
            lambda actor: operations.retry_statement(actor=actor, submission=statement), [(policy_admin,), (senior,)]
        )
    assert exactly_one_wins(results, errors) == 1
    assert submitter.call_count == 1
    assert AuditEvent.objects.filter(verb=operations.STATEMENT_RETRY_VERB).count() == 1


def test_chunks_of_a_failed_removal_are_pending_again_after_the_retry(senior, failed_removal):
    with mock.patch.object(removals, "queue_pending_chunks"):
        operations.retry_removal(actor=senior, removal=failed_removal)
    assert set(failed_removal.chunks.values_list("status", flat=True)) == {RemovalChunk.Status.PENDING}
