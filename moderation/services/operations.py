"""Retries from the operations page: failed or stuck background work, sent round again.

Each retry changes the row first, under a conditional UPDATE or a row lock, and only then
queues its task after commit, so two operators pressing the same button retry once: the
second finds the row no longer failed or stuck and is refused with a message. "Failed" and
"stuck" mean what the page shows (``moderation.selectors.operations``).

Removals and scans reuse their own resume services; a stuck one has its chunks re-sent
(done chunks skip themselves, so re-sending is harmless). Notices and DSA statements go
back to ``pending`` for their usual sweep, which is queued at once.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation.models import (
    AuditVerb,
    CategoryRemoval,
    Notice,
    PolicyScan,
    RemovalChunk,
    StatementSubmission,
)
from moderation.selectors.operations import (
    failed_notice_q,
    failed_statements,
    removals_with_last_moved,
    stuck_after,
    stuck_cutoff,
    stuck_notice_q,
    stuck_scan_q,
)
from moderation.services import removals as removal_services
from moderation.services import scanning
from moderation.services.audit import Actor, EventRow, record_event, record_events

# Rows one press of "retry all" takes: 500 notices or statements and their 500 audit rows
# are one short transaction; a bigger backlog takes a few presses (the page says how many remain).
RETRY_BATCH = 500

# Audit reasons are written in English, like every other service's: they are records, and
# whoever reads the trail later should not find them in the language of whoever pressed.
NOTICE_RETRY_VERB = AuditVerb.NOTICE_DELIVERY_RETRIED
STATEMENT_RETRY_VERB = AuditVerb.STATEMENT_RETRIED


def _minutes() -> int:
    return int(stuck_after().total_seconds() // 60)


# --- Removals ------------------------------------------------------------------------------


@transaction.atomic
def retry_removal(*, actor: Actor, removal: CategoryRemoval) -> CategoryRemoval:
    """Send a failed or stuck removal on from where it stopped.

    1. Lock the removal's row: a second press waits here for the first to commit.
    2. Read, after the lock, when it last moved (the first press's resume counts).
    3. Failed: ``resume_removal`` (failed chunks pending again, done chunks stay done).
       Running without moving for the stuck time: re-send its chunks, record the resume.
       Anything else: refused, nothing changes.
    """
    CategoryRemoval.objects.select_for_update().filter(pk=removal.pk).values_list("pk", flat=True).get()
    # A statement of its own, after the lock: on PostgreSQL it sees what the first press committed.
    current = removals_with_last_moved().select_related("policy").get(pk=removal.pk)
    cutoff = stuck_cutoff()
    if current.status == CategoryRemoval.Status.FAILED:
        return removal_services.resume_removal(actor=actor, removal=current)
    if current.status == CategoryRemoval.Status.RUNNING and current.last_moved_at < cutoff:
        now = timezone.now()
        # The beat sweep reads this heartbeat too: it now leaves the removal alone for its own wait.
        CategoryRemoval.objects.filter(pk=current.pk).update(last_progress_at=now)
        record_event(
            actor=actor,
            verb=AuditVerb.REMOVAL_RESUMED,
            target=current,
            policy=current.policy,
            before={"status": current.status, "last_moved_at": current.last_moved_at},
            after={"status": current.status},
            reason=f"No progress for {_minutes()} minutes: its remaining chunks were queued again.",
        )
        removal_id = current.pk
        transaction.on_commit(lambda: resend_removal_chunks(removal_id=removal_id))
        current.refresh_from_db()
        return current
    raise ValidationError(
        _(
            "Removal #%(id)s is not failed or stuck: only a failed removal, or a running one "
            "without progress for %(minutes)s minutes, can be retried."
        )
        % {"id": current.pk, "minutes": _minutes()}
    )


def resend_removal_chunks(*, removal_id: int) -> int:
    """Queue a task per pending chunk; with none pending, one done chunk again to finish the removal.

    Unlike ``queue_pending_chunks`` this never finishes the removal in the caller: the
    finish writes a notice per merchant hit (thousands), which belongs in a worker, not in
    the operator's request. A done chunk delivered again does nothing but try the finish.
    """
    from moderation.tasks import run_removal_chunk

    chunks = RemovalChunk.objects.filter(removal_id=removal_id)
    chunk_ids = list(chunks.filter(status=RemovalChunk.Status.PENDING).values_list("pk", flat=True))
    if not chunk_ids:
        last = chunks.order_by("-number").values_list("pk", flat=True).first()
        if last is None:
            # Nothing was ever to delist: finishing notifies nobody, cheap enough to do here.
            removal_services.finish_removal_if_done(removal_id=removal_id)
            return 0
        chunk_ids = [last]
    for chunk_id in chunk_ids:
        run_removal_chunk.delay(chunk_id)
    return len(chunk_ids)


# --- Policy scans --------------------------------------------------------------------------


@transaction.atomic
def retry_scan(*, actor: Actor, scan: PolicyScan) -> PolicyScan:
    """Send a failed or stuck policy scan on; refused when it is neither (any more)."""
    now = timezone.now()
    # Stuck: the conditional UPDATE moves its heartbeat, so a second press matches nothing.
    if PolicyScan.objects.filter(stuck_scan_q(stuck_cutoff(now)), pk=scan.pk).update(last_progress_at=now):
        scan = PolicyScan.objects.select_related("policy").get(pk=scan.pk)
        record_event(
            actor=actor,
            verb=AuditVerb.SCAN_STARTED,
            target=scan,
            policy=scan.policy,
            reason=f"No progress for {_minutes()} minutes: its remaining chunks were queued again.",
        )
        scan_id = scan.pk
        transaction.on_commit(lambda: scanning.queue_pending_scan_chunks(scan_id=scan_id))
        return scan
    not_retryable = ValidationError(
        _(
            "Scan #%(id)s is not failed or stuck: only a failed scan, or a running one without "
            "progress for %(minutes)s minutes, can be retried."
        )
        % {"id": scan.pk, "minutes": _minutes()}
    )
    current = PolicyScan.objects.select_related("policy").filter(pk=scan.pk).first()
    if current is None or current.status != PolicyScan.Status.FAILED:
        raise not_retryable
    # One running scan per policy (a constraint): say so rather than fail on it.
    running = PolicyScan.objects.filter(policy_id=current.policy_id, status=PolicyScan.Status.RUNNING)
    another_running = ValidationError(
        _("Another scan of this policy is running; scan #%(id)s can be retried when it ends.") % {"id": scan.pk}
    )
    if running.exclude(pk=current.pk).exists():
        raise another_running
    try:
        with transaction.atomic():  # a savepoint: a refused resume leaves this transaction usable
            return scanning.resume_policy_scan(actor=actor, scan=current)
    except ValidationError:
        raise not_retryable from None  # the other press resumed it first
    except IntegrityError:
        raise another_running from None  # a scan of the policy started since the check


# --- Notices -------------------------------------------------------------------------------


def retry_notice_delivery(*, actor: Actor, notice: Notice) -> int:
    """E-mail one failed or stuck notice again; refused when it is neither."""
    if not _retry_notices(actor=actor, notices=Notice.objects.filter(pk=notice.pk), limit=1):
        raise ValidationError(
            _("The notice “%(subject)s” is not failed or stuck: there is nothing to retry.")
            % {"subject": notice.subject}
        )
    return 1


def retry_notice_deliveries(*, actor: Actor, limit: int | None = None) -> int:
    """E-mail again up to ``limit`` (``RETRY_BATCH``) failed or stuck notices, oldest first. Returns how many."""
    return _retry_notices(actor=actor, notices=Notice.objects.all(), limit=limit or RETRY_BATCH)


@transaction.atomic
def _retry_notices(*, actor: Actor, notices, limit: int) -> int:
    """Back to ``pending`` and due now, with an audit row each; the mailer's sweep is queued on commit.

    The rows are locked as they are chosen: a concurrent retry waits, then finds them no
    longer failed or stuck (``email_claimed_until`` is now) and retries nothing.
    """
    now = timezone.now()
    cutoff = stuck_cutoff(now)
    chosen = list(
        notices.filter(failed_notice_q() | stuck_notice_q(cutoff))
        .select_for_update()
        .order_by("created_at", "pk")
        .values("pk", "merchant_id", "policy_id", "subject", "email_status", "email_attempts")[:limit]
    )
    if not chosen:
        return 0
    failed_ids = [row["pk"] for row in chosen if row["email_status"] == Notice.EmailStatus.FAILED]
    stuck_ids = [row["pk"] for row in chosen if row["email_status"] != Notice.EmailStatus.FAILED]
    # Due now (the mailer claims what is not held past now) and not stuck again for the stuck time.
    if failed_ids:
        # A fresh set of attempts: it had used them all up.
        Notice.objects.filter(pk__in=failed_ids).update(
            email_status=Notice.EmailStatus.PENDING, email_attempts=0, email_claimed_until=now
        )
    if stuck_ids:
        Notice.objects.filter(pk__in=stuck_ids).update(email_status=Notice.EmailStatus.PENDING, email_claimed_until=now)
    reason = "E-mail delivery retried from the operations page."
    record_events(
        actor=actor,
        verb=NOTICE_RETRY_VERB,
        target_type=Notice,
        at=now,
        rows=(
            EventRow(
                target_id=row["pk"],
                target_repr=row["subject"],
                merchant_id=row["merchant_id"],
                policy_id=row["policy_id"],
                before={"email_status": row["email_status"], "email_attempts": row["email_attempts"]},
                after={"email_status": Notice.EmailStatus.PENDING},
                reason=reason,
            )
            for row in chosen
        ),
    )
    from moderation.tasks import send_pending_notices

    transaction.on_commit(send_pending_notices.delay)
    return len(chosen)


# --- DSA statements ------------------------------------------------------------------------


def retry_statement(*, actor: Actor, submission: StatementSubmission) -> int:
    """Submit one failed statement again; refused when it is not failed (any more)."""
    if not _retry_statements(actor=actor, submissions=failed_statements().filter(pk=submission.pk), limit=1):
        raise ValidationError(
            _("Statement %(puid)s is not failed: there is nothing to retry.") % {"puid": submission.puid}
        )
    return 1


def retry_statements(*, actor: Actor, limit: int | None = None) -> int:
    """Submit again up to ``limit`` (``RETRY_BATCH``) failed statements, oldest first. Returns how many."""
    return _retry_statements(actor=actor, submissions=failed_statements(), limit=limit or RETRY_BATCH)


@transaction.atomic
def _retry_statements(*, actor: Actor, submissions, limit: int) -> int:
    """Back to ``pending``, due now, with a fresh set of attempts; the submitter is queued on commit.

    A statement the database refused as invalid will most likely be refused again, unless
    what was wrong has been fixed meanwhile (a setting, the API): that is the operator's call.
    """
    now = timezone.now()
    chosen = list(
        # Only the statements' rows: the notices they name are not being changed.
        submissions.select_for_update(of=("self",))
        .order_by("pk")
        .values("pk", "puid", "attempts", "last_error", "notice__merchant_id", "notice__policy_id")[:limit]
    )
    if not chosen:
        return 0
    StatementSubmission.objects.filter(pk__in=[row["pk"] for row in chosen]).update(
        status=StatementSubmission.Status.PENDING, attempts=0, next_attempt_at=now, claimed_until=None
    )
    reason = "Submission to the DSA Transparency Database retried from the operations page."
    record_events(
        actor=actor,
        verb=STATEMENT_RETRY_VERB,
        target_type=StatementSubmission,
        at=now,
        rows=(
            EventRow(
                target_id=row["pk"],
                target_repr=f"Statement {row['puid']}",
                merchant_id=row["notice__merchant_id"],
                policy_id=row["notice__policy_id"],
                before={
                    "status": StatementSubmission.Status.FAILED,
                    "attempts": row["attempts"],
                    "last_error": row["last_error"][:500],
                },
                after={"status": StatementSubmission.Status.PENDING, "attempts": 0},
                reason=reason,
            )
            for row in chosen
        ),
    )
    from moderation.tasks import submit_statements

    transaction.on_commit(submit_statements.delay)
    return len(chosen)
