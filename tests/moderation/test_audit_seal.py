"""The audit trail's seal: chained checkpoints, their verification, and what tampering looks like."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from moderation import tasks
from moderation.models import AppendOnlyError, AuditCheckpoint, AuditEvent, AuditVerb, AuditVerification
from moderation.models.audit import GENESIS_HASH
from moderation.services import sealing
from moderation.services.audit import SystemActor, record_event
from tests.concurrency import race

PAGE = "/backoffice/operations/"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sealer():
    return SystemActor("seal_audit_events")


@pytest.fixture
def write_events(db, marketplace):
    """``write_events(n)``: n events about the marketplace, as a bulk writer writes them; their ids."""
    marketplace_type = ContentType.objects.get_for_model(marketplace)

    def write(count: int, **fields) -> list[int]:
        events = AuditEvent.objects.bulk_create(
            AuditEvent(
                actor_name="task:tests",
                verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL,
                target_type=marketplace_type,
                target_id=marketplace.pk,
                target_repr=f"Listing {n}",
                before={"status": "live"},
                after={"status": "delisted", "removal": n},
                **fields,
            )
            for n in range(count)
        )
        return [event.pk for event in events]

    return write


def event_ids() -> list[int]:
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def tamper(sql: str, params=None, *, table: str = "moderation_auditevent") -> None:
    """Change the trail behind the ORM's back, as the tables' owner would: on PostgreSQL with
    the append-only trigger switched off for the statement (inside the test's transaction)."""
    trigger = f"{table}_append_only"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while the transaction's deferred foreign-key checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def checkpoint_holding(event_id: int) -> AuditCheckpoint:
    return AuditCheckpoint.objects.filter(last_event_id__gte=event_id).order_by("sequence").first()


# --- Sealing -----------------------------------------------------------------------------------


def test_it_seals_every_event_in_checkpoints_chained_one_to_the_next(write_events, sealer):
    write_events(7)
    ids = event_ids()

    result = sealing.seal_audit_events(actor=sealer, checkpoint_events=3)

    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    assert [c.pk for c in result.checkpoints] == [c.pk for c in checkpoints]
    assert result.events == len(ids) and not result.skipped
    assert [c.sequence for c in checkpoints] == list(range(1, len(checkpoints) + 1))
    assert [c.event_count for c in checkpoints] == [3] * (len(ids) // 3) + ([len(ids) % 3] if len(ids) % 3 else [])
    # Consecutive id ranges covering every event, each link holding the hash before it.
    assert checkpoints[0].first_event_id == ids[0] and checkpoints[-1].last_event_id == ids[-1]
    assert [c.first_event_id for c in checkpoints[1:]] == [
        ids[ids.index(c.last_event_id) + 1] for c in checkpoints[:-1]
    ]
    assert [c.previous_hash for c in checkpoints] == [GENESIS_HASH] + [c.chain_hash for c in checkpoints[:-1]]
    assert all(c.chain_hash == sealing.checkpoint_hash(c) for c in checkpoints)
    assert len({c.batch_hash for c in checkpoints}) == len(checkpoints)
    assert {c.sealed_by for c in checkpoints} == {"task:seal_audit_events"}
    assert {(c.bound_event_id, c.sealed_at) for c in checkpoints} == {(ids[-1], checkpoints[0].sealed_at)}
    assert sealing.verify_audit_chain().ok


def test_a_second_run_with_nothing_new_writes_nothing(write_events, sealer):
    write_events(4)
    sealing.seal_audit_events(actor=sealer)
    before = list(AuditCheckpoint.objects.values_list("pk", "chain_hash"))

    with CaptureQueriesContext(connection) as queries:
        result = sealing.seal_audit_events(actor=sealer)

    assert result.checkpoints == [] and result.events == 0 and not result.skipped
    assert list(AuditCheckpoint.objects.values_list("pk", "chain_hash")) == before
    # It fixed its bound and read the last checkpoint: no event read, nothing written.
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if "INSERT" in sql or "ORDER BY id LIMIT" in sql], statements


def test_new_events_are_sealed_in_a_checkpoint_chained_to_the_last(write_events, sealer):
    write_events(2)
    [first] = sealing.seal_audit_events(actor=sealer).checkpoints
    new_ids = write_events(3)

    [second] = sealing.seal_audit_events(actor=sealer).checkpoints

    assert (second.sequence, second.previous_hash) == (2, first.chain_hash)
    assert (second.first_event_id, second.last_event_id, second.event_count) == (new_ids[0], new_ids[-1], 3)
    assert second.earliest_occurred_at <= second.latest_occurred_at <= timezone.now()
    assert first.sealed_at <= second.sealed_at


def test_an_empty_trail_seals_nothing(db, sealer):
    assert not AuditEvent.objects.exists()
    assert sealing.seal_audit_events(actor=sealer).checkpoints == []
    assert not AuditCheckpoint.objects.exists()


def test_a_checkpoint_needs_at_least_one_event(write_events, sealer):
    write_events(1)
    with pytest.raises(ValueError, match="at least 1"):
        sealing.seal_audit_events(actor=sealer, checkpoint_events=0)
    assert not AuditCheckpoint.objects.exists()


def test_a_time_budget_stops_between_checkpoints_and_the_next_run_goes_on(write_events, sealer):
    write_events(4)
    assert AuditEvent.objects.count() == 5  # and the marketplace's creation
    first_run = sealing.seal_audit_events(actor=sealer, checkpoint_events=2, time_budget=0)
    assert [c.event_count for c in first_run.checkpoints] == [2]  # one batch always, then the budget is spent
    second_run = sealing.seal_audit_events(actor=sealer, checkpoint_events=2)
    assert [c.sequence for c in second_run.checkpoints] == [2, 3]
    assert AuditCheckpoint.objects.order_by("-sequence").first().event_count == 1
    assert sealing.verify_audit_chain().ok


def test_every_column_of_an_event_is_sealed():
    assert list(sealing.EVENT_COLUMNS) == [f.column for f in AuditEvent._meta.concrete_fields]


@pytest.mark.parametrize(
    "one, other",
    [
        ([(1, "2021-10-08T00:00:00.000000", None)], [(1, "2021-10-08T00:00:00.000000", "")]),  # NULL is not ""
        ([(1, "a,b", "c")], [(1, "a", "b,c")]),  # no separator to forge
        ([(1, "a"), (2, "b")], [(1, "a"), (3, "b")]),  # the ids are hashed
    ],
)
def test_the_canonical_form_tells_apart_what_differs(one, other):
    def digest(rows):
        batch = sealing._Batch()
        batch.add(rows)
        return batch.hexdigest()

    assert digest(one) != digest(other)


def test_the_hash_of_a_batch_does_not_depend_on_its_pages():
    rows = [(n, f"2021-10-08T00:00:0{n}.000000", f"event {n}") for n in range(1, 6)]
    whole, paged = sealing._Batch(), sealing._Batch()
    whole.add(rows)
    paged.add(rows[:2])
    paged.add(rows[2:])
    assert whole.hexdigest() == paged.hexdigest()


def test_events_written_by_the_services_are_sealed_like_bulk_ones(write_events, system, marketplace, sealer):
    record_event(
        actor=system,
        verb=AuditVerb.MARKETPLACE_CREATED,
        target=marketplace,
        reason='Ünïcode, "quotes", a\nnewline and 中文',
        after={"nested": {"b": 1, "a": [None, ""]}},
    )
    write_events(2)
    sealing.seal_audit_events(actor=sealer)
    result = sealing.verify_audit_chain()
    assert result.ok and result.events_checked == AuditEvent.objects.count()


# --- Checkpoints are append-only ---------------------------------------------------------------


def test_checkpoints_and_verifications_cannot_be_changed_through_the_orm(write_events, sealer):
    write_events(1)
    [checkpoint] = sealing.seal_audit_events(actor=sealer).checkpoints
    verification = sealing.verify_audit_chain(actor=sealer).verification
    for row in (checkpoint, verification):
        with pytest.raises(AppendOnlyError):
            row.save()
        with pytest.raises(AppendOnlyError):
            row.delete()
        with pytest.raises(AppendOnlyError):
            type(row).objects.all().update(pk=row.pk)
        with pytest.raises(AppendOnlyError):
            type(row).objects.all().delete()
    assert AuditCheckpoint.objects.count() == AuditVerification.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE moderation_auditcheckpoint SET batch_hash = 'rewritten'",
        "DELETE FROM moderation_auditcheckpoint",
        "UPDATE moderation_auditverification SET ok = true",
        "DELETE FROM moderation_auditverification",
    ],
)
@pytest.mark.database_owner
def test_the_database_refuses_raw_sql_changes_of_the_seal(write_events, sealer, statement):
    write_events(1)
    [checkpoint] = sealing.seal_audit_events(actor=sealer).checkpoints
    sealing.verify_audit_chain(actor=sealer)
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditCheckpoint.objects.get().batch_hash == checkpoint.batch_hash
    assert AuditVerification.objects.count() == 1


# --- Verification: what tampering looks like ------------------------------------------------------


@pytest.fixture
def sealed(write_events, sealer):
    """Nine events sealed in three checkpoints of three: the marketplace's creation and eight more."""
    write_events(8)
    checkpoints = sealing.seal_audit_events(actor=sealer, checkpoint_events=3).checkpoints
    assert len(checkpoints) == 3
    return checkpoints


def test_an_intact_trail_matches_its_seal(sealed):
    result = sealing.verify_audit_chain()
    assert result.ok and result.problems == []
    assert (result.checkpoints_checked, result.events_checked, result.events_unsealed) == (3, 9, 0)
    assert result.verified_through == sealed[-1]


@pytest.mark.database_owner
def test_an_edited_event_is_found_and_its_checkpoint_named(sealed):
    edited = event_ids()[4]
    tamper("UPDATE moderation_auditevent SET reason = %s WHERE id = %s", ["Nothing happened.", edited])

    result = sealing.verify_audit_chain()

    assert not result.ok
    problem = result.first_problem
    assert (problem.kind, problem.sequence) == (sealing.EDITED, 2) == ("edited", checkpoint_holding(edited).sequence)
    assert "checkpoint #2" in problem.message and "edited" in problem.message
    # The checkpoints before it still match; those after it too, but the chain is broken at #2.
    assert result.verified_through == sealed[0]
    assert [p.sequence for p in result.problems] == [2]


@pytest.mark.database_owner
def test_a_deleted_event_is_found(sealed):
    ids = event_ids()
    tamper("DELETE FROM moderation_auditevent WHERE id = %s", [ids[8]])

    result = sealing.verify_audit_chain()

    problem = result.first_problem
    assert (problem.kind, problem.sequence, problem.event_id) == ("deleted", 3, ids[8])
    assert "sealed 3 events" in problem.message and "2 are there now: 1 deleted" in problem.message
    assert f"event #{ids[8]}, the last it sealed, is gone" in problem.message
    assert result.verified_through == sealed[1]


@pytest.mark.database_owner
def test_an_event_deleted_from_the_middle_of_a_batch_is_found(sealed):
    tamper("DELETE FROM moderation_auditevent WHERE id = %s", [event_ids()[4]])
    problem = sealing.verify_audit_chain().first_problem
    assert (problem.kind, problem.sequence, problem.event_id) == ("deleted", 2, None)


@pytest.mark.database_owner
def test_an_event_inserted_into_a_sealed_range_is_found(sealed, marketplace):
    tamper(
        "INSERT INTO moderation_auditevent (id, occurred_at, actor_name, verb, target_type_id, target_id, "
        "target_repr, reason) VALUES (0, %s, 'moderator', %s, %s, %s, '', 'Warned on the phone.')",
        [
            connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(days=30)),
            AuditVerb.LISTING_TAKEN_DOWN,
            ContentType.objects.get_for_model(marketplace).pk,
            marketplace.pk,
        ],
    )

    problem = sealing.verify_audit_chain().first_problem

    assert (problem.kind, problem.sequence, problem.event_id) == ("inserted", 1, 0)
    assert "4 are there now: 1 inserted into the sealed range (event #0 comes before" in problem.message


def test_a_back_dated_insert_is_found_before_and_after_it_is_sealed(sealed, write_events, sealer):
    last = sealed[-1]
    [honest] = write_events(1, occurred_at=last.sealed_at - timedelta(minutes=5))  # a transaction's lag
    [backdated] = write_events(1, occurred_at=last.sealed_at - timedelta(hours=2))

    unsealed = sealing.verify_audit_chain()

    assert [(p.kind, p.sequence, p.event_id) for p in unsealed.problems] == [("backdated", None, backdated)]
    assert unsealed.events_unsealed == 2 and unsealed.verified_through == last
    assert "not sealed yet" in unsealed.problems[0].message and "2 h 0 min before checkpoint #3" in (
        unsealed.problems[0].message
    )
    assert honest < backdated

    sealing.seal_audit_events(actor=sealer)
    result = sealing.verify_audit_chain()

    assert [(p.kind, p.sequence, p.event_id) for p in result.problems] == [("backdated", 4, backdated)]
    assert "sealed in checkpoint #4" in result.problems[0].message
    # The tolerance is a setting, and an option of the command.
    assert sealing.verify_audit_chain(tolerance=timedelta(hours=3)).ok


def test_a_backlog_sealed_late_is_not_taken_for_back_dated_inserts(write_events, sealer):
    """The sealer was down for hours; its first run stops on its time budget, the next goes on."""
    hours_ago = timezone.now() - timedelta(hours=5)
    write_events(8, occurred_at=hours_ago)
    assert len(sealing.seal_audit_events(actor=sealer, checkpoint_events=3, time_budget=0).checkpoints) == 1
    assert len(sealing.seal_audit_events(actor=sealer, checkpoint_events=3).checkpoints) == 2
    assert sealing.verify_audit_chain().ok

    # Written after those runs and dated as long ago: that one was back-dated.
    [backdated] = write_events(1, occurred_at=hours_ago)
    sealing.seal_audit_events(actor=sealer)
    problems = sealing.verify_audit_chain().problems
    assert [(p.kind, p.sequence, p.event_id) for p in problems] == [("backdated", 4, backdated)]
    assert "before checkpoint #3 was sealed" in problems[0].message


@pytest.mark.database_owner
def test_a_rewritten_checkpoint_breaks_the_chain(sealed):
    tamper(
        "UPDATE moderation_auditcheckpoint SET event_count = 2 WHERE sequence = 2",
        table="moderation_auditcheckpoint",
    )
    kinds = [(p.kind, p.sequence) for p in sealing.verify_audit_chain().problems]
    assert kinds[0] == ("altered", 2)


@pytest.mark.database_owner
def test_a_removed_checkpoint_breaks_the_chain(sealed):
    tamper("DELETE FROM moderation_auditcheckpoint WHERE sequence = 2", table="moderation_auditcheckpoint")

    result = sealing.verify_audit_chain()

    first = result.first_problem
    assert (first.kind, first.sequence) == ("chain", 3)
    assert first.message == "checkpoint #2 is missing: #3 comes after #1"
    assert result.verified_through == sealed[0]


def test_the_verification_is_recorded_when_an_actor_runs_it(sealed, write_events, sealer):
    write_events(2)
    result = sealing.verify_audit_chain(actor=SystemActor("verify_audit"))

    recorded = AuditVerification.objects.get()
    assert result.verification == recorded
    assert (recorded.ok, recorded.verified_by, recorded.verified_through) == (True, "task:verify_audit", sealed[-1])
    assert (recorded.checkpoints_checked, recorded.events_checked, recorded.events_unsealed) == (3, 9, 2)
    assert recorded.started_at <= recorded.finished_at and recorded.problem == "" and recorded.problems == []


@pytest.mark.database_owner
def test_a_failed_verification_is_recorded_with_its_first_problem(sealed, caplog):
    tamper("DELETE FROM moderation_auditevent WHERE id = %s", [event_ids()[0]])

    sealing.verify_audit_chain(actor=SystemActor("verify_audit"))

    recorded = AuditVerification.objects.get()
    assert (recorded.ok, recorded.first_failed_sequence, recorded.verified_through) == (False, 1, None)
    assert recorded.problem.startswith("checkpoint #1 sealed 3 events")
    assert [p["kind"] for p in recorded.problems] == ["deleted"]
    assert "audit trail verification failed" in caplog.text


# --- The command, the tasks and the beat -----------------------------------------------------------


def test_the_command_reports_a_matching_trail(sealed, write_events):
    write_events(1)
    out = StringIO()

    call_command("verify_audit", stdout=out)

    assert out.getvalue().splitlines() == [
        "Checkpoints checked: 3; events: 9.",
        "Verified through checkpoint #3.",
        "Events not sealed yet: 1.",
        "The audit trail matches its seal.",
    ]
    assert AuditVerification.objects.get().verified_by == "task:verify_audit"


@pytest.mark.database_owner
def test_the_command_names_the_first_checkpoint_that_does_not_match_and_exits_with_1(sealed):
    tamper("UPDATE moderation_auditevent SET reason = 'rewritten' WHERE id = %s", [event_ids()[3]])
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="does not match its seal") as failure:
        call_command("verify_audit", stdout=out, stderr=err)

    assert failure.value.returncode == 1
    assert "Verified through checkpoint #1." in out.getvalue()
    assert err.getvalue().splitlines()[:2] == [
        "First checkpoint that does not match: #2.",
        f"- checkpoint #2: its 3 events (ids {sealed[1].first_event_id}–{sealed[1].last_event_id}) no longer give "
        "the sealed hash: an event was edited (or one deleted and another inserted in its place).",
    ]
    assert str(failure.value) == "The audit trail does not match its seal: 1 problem."
    assert AuditVerification.objects.get().ok is False


def test_the_command_refuses_a_negative_tolerance_and_records_nothing(sealed):
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("verify_audit", "--tolerance-minutes", "-1")
    assert not AuditVerification.objects.exists()


def test_the_sealing_task_seals_and_says_what_it_did(write_events):
    write_events(2)
    assert tasks.seal_audit_events.delay().get() == {"checkpoints": 1, "events": 3, "skipped": ""}
    assert tasks.seal_audit_events.delay().get() == {"checkpoints": 0, "events": 0, "skipped": ""}
    assert AuditCheckpoint.objects.get().sealed_by == "task:seal_audit_events"


def test_the_verification_task_records_its_run(sealed):
    assert tasks.verify_audit_trail.delay().get() == {"ok": True, "checkpoints": 3, "problems": 0}
    assert AuditVerification.objects.get().verified_by == "task:verify_audit_trail"


def test_the_beat_seals_every_minute_and_verifies_every_day(db):
    seal = PeriodicTask.objects.get(task="moderation.seal_audit_events")
    verify = PeriodicTask.objects.get(task="moderation.verify_audit_trail")
    assert (seal.interval.every, seal.interval.period, seal.enabled) == (60, "seconds", True)
    assert (verify.interval.every, verify.interval.period, verify.enabled) == (86400, "seconds", True)


# --- The Operations page ---------------------------------------------------------------------------


def test_the_operations_page_shows_the_last_checkpoint_and_the_backlog(client, moderator, sealed, write_events):
    sealing.verify_audit_chain(actor=SystemActor("verify_audit"))
    client.force_login(moderator)  # the sign-in is an event too
    write_events(2)

    response = client.get(PAGE)

    content = response.content.decode()
    seal = response.context["overview"].audit_seal
    assert (seal.last_checkpoint, seal.events_unsealed, seal.tampered) == (sealed[-1], 3, False)
    last = sealed[-1]
    assert f"Checkpoint #3 sealed events {last.first_event_id} to {last.last_event_id} (3 in all) at" in content
    assert 'data-seal="unsealed">3<' in content
    assert "Last verified at" in content and "The trail matched its seal through checkpoint #3." in content
    assert 'id="audit-tampered"' not in content


def test_the_operations_page_says_when_nothing_is_sealed_or_verified_yet(client, moderator, db):
    client.force_login(moderator)
    content = client.get(PAGE).content.decode()
    assert "Nothing has been sealed yet." in content
    assert "The seal has not been verified yet" in content


@pytest.mark.database_owner
def test_a_failed_verification_is_shown_at_the_top_of_the_operations_page(client, moderator, sealed):
    tamper("UPDATE moderation_auditevent SET reason = 'rewritten' WHERE id = %s", [event_ids()[7]])
    sealing.verify_audit_chain(actor=SystemActor("verify_audit_trail"))
    client.force_login(moderator)

    response = client.get(PAGE)

    content = response.content.decode()
    overview = response.context["overview"]
    assert overview.audit_seal.tampered and not overview.all_clear
    alarm = content.index('id="audit-tampered"')
    assert alarm < content.index('id="removals"')  # above everything else on the page
    assert "The audit trail does not match its seal." in content
    assert "The first checkpoint that does not match is #3." in content
    assert "checkpoint #3: its 3 events" in content
    assert '<span class="badge failed">Does not match</span>' in content


# --- Concurrency (PostgreSQL) -----------------------------------------------------------------------


@pytest.fixture
def committed(transactional_db, marketplace):
    """Rows committed for real, so that threads on their own connections see them."""
    return marketplace


@pytest.mark.postgres
def test_two_sealers_at_once_write_one_chain(committed, write_events):
    write_events(5)
    # Both read the last checkpoint (none) before either writes: both try checkpoint #1.
    both_read = threading.Barrier(2, timeout=10)
    read_batch = sealing._read_batch

    def read_after_the_other(*args, **kwargs):
        both_read.wait()
        return read_batch(*args, **kwargs)

    with mock.patch.object(sealing, "_read_batch", side_effect=read_after_the_other):
        results, errors = race(lambda: sealing.seal_audit_events(actor=SystemActor("sealer")), [(), ()])

    assert errors == [None, None]
    assert sorted(r.skipped for r in results) == ["", "lost"]
    [winner] = [r for r in results if not r.skipped]
    [checkpoint] = AuditCheckpoint.objects.all()
    assert [c.pk for c in winner.checkpoints] == [checkpoint.pk]
    assert (checkpoint.sequence, checkpoint.event_count) == (1, AuditEvent.objects.count())
    assert sealing.verify_audit_chain().ok


@pytest.mark.postgres
def test_sealers_racing_over_a_backlog_never_fork_the_chain(committed, write_events):
    write_events(40)
    results, errors = race(
        lambda: sealing.seal_audit_events(actor=SystemActor("sealer"), checkpoint_events=4), [(), (), ()]
    )
    assert errors == [None, None, None]
    sequences = list(AuditCheckpoint.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    assert sum(r.events for r in results) == AuditEvent.objects.count() == 41  # and the marketplace's creation
    assert sealing.verify_audit_chain().ok


@pytest.mark.postgres
def test_an_insert_in_flight_holds_the_seal_back_until_it_commits(committed, write_events, monkeypatch):
    """The in-flight transaction drew its id before the sealer looks; sealing past it would
    later show its event as inserted into a sealed range. The sealer waits, then skips."""
    write_events(2)
    inserted, finish = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            ids = write_events(1)
            inserted.set()
            finish.wait(timeout=10)
        return ids

    monkeypatch.setattr(sealing, "SEAL_LOCK_TIMEOUT_MS", 200)
    written: dict = {}

    def writer():
        try:
            written["ids"] = slow_writer()
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inserted.wait(timeout=10)
        held_back = sealing.seal_audit_events(actor=SystemActor("sealer"))
    finally:
        finish.set()
        thread.join(timeout=20)
    [late_id] = written["ids"]

    assert (held_back.skipped, held_back.checkpoints) == ("busy", [])
    assert not AuditCheckpoint.objects.exists()
    sealed = sealing.seal_audit_events(actor=SystemActor("sealer"))
    assert sealed.events == AuditEvent.objects.count() and sealed.checkpoints[0].last_event_id == late_id
    assert sealing.verify_audit_chain().ok


@pytest.mark.postgres
@pytest.mark.database_owner
def test_the_command_exits_with_status_1_on_a_mismatch(committed, write_events):
    write_events(3)
    sealing.seal_audit_events(actor=SystemActor("sealer"))
    db = connection.settings_dict
    url = (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
        f"@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "backoffice.settings_test"}

    def verify_audit() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    matching = verify_audit()
    assert matching.returncode == 0, matching.stderr
    assert "The audit trail matches its seal." in matching.stdout

    with transaction.atomic():
        tamper("UPDATE moderation_auditevent SET reason = 'rewritten' WHERE id = %s", [event_ids()[1]])
    broken = verify_audit()

    assert broken.returncode == 1
    assert "First checkpoint that does not match: #1." in broken.stderr
    assert list(AuditVerification.objects.order_by("id").values_list("ok", flat=True)) == [True, False]
