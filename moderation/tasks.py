"""Celery tasks: ids in, one service call, nothing else. Every task is safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.db import connection

from backoffice.observability import current_request_id
from moderation.models import AuditEvent, Policy, RemovalChunk, ScanChunk
from moderation.services import appeals, notices, policies, queue, removals, sanctions, scanning, sealing, statements
from moderation.services.audit import SystemActor


class ChunkFinishFailed(Exception):
    """A chunk's work is committed and only what came after it failed (finishing its removal or
    scan): not retried with the chunk, which a retry would find done. The cause is chained."""


# The one retry policy, for the tasks that retry (a chunk of a removal or of a scan): any error
# of the chunk's work is tried again after 2, 4, 8 … seconds, at most a minute apart, without
# jitter (the delays the hand-written loops used). The chunk's row counts its failed attempts
# (they outlive a lost worker or a requeued message): past REMOVAL_CHUNK_MAX_RETRIES the task
# fails its removal or scan and returns instead of raising, so Celery's own bound, the same
# number, is reached only when even counting the failure failed.
RETRY_FAILED_CHUNK = {
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (ChunkFinishFailed,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": False,
    "max_retries": settings.REMOVAL_CHUNK_MAX_RETRIES,
}


@shared_task(name="moderation.ping")
def ping() -> dict:
    """Round-trip check for operators and tests: the worker is up and reaches the database.

    It also answers the request id it runs under, which shows the id crossed the broker."""
    return {
        "pong": True,
        "database": connection.vendor,
        "audit_events": AuditEvent.objects.count(),
        "request_id": current_request_id(),
    }


@shared_task(name="moderation.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Beat, every 30 seconds: beat is alive (``/healthz`` reads the heartbeat's age)."""
    from backoffice.health import record_beat_heartbeat

    record_beat_heartbeat()


@shared_task(name="moderation.start_due_removals")
def start_due_removals() -> list[int]:
    """Beat, every few seconds: start each removal whose time has come (each claims itself)."""
    actor = SystemActor("start_due_removals")
    policies.put_due_policies_in_effect(actor=actor)
    return [rid for rid in removals.due_removal_ids() if removals.start_removal(removal_id=rid, actor=actor)]


@shared_task(name="moderation.run_removal_chunk", **RETRY_FAILED_CHUNK)
def run_removal_chunk(chunk_id: int) -> int:
    """One id range of a removal. Retried as ``RETRY_FAILED_CHUNK`` says, then the removal fails."""
    try:
        return removals.run_removal_chunk(chunk_id=chunk_id)
    except Exception as error:
        if not RemovalChunk.objects.filter(pk=chunk_id, status=RemovalChunk.Status.PENDING).exists():
            # The chunk is done: only the finish failed; never fail a removal whose work is done.
            raise ChunkFinishFailed(f"Removal chunk {chunk_id}") from error
        if removals.record_chunk_failure(chunk_id=chunk_id, error=error) <= settings.REMOVAL_CHUNK_MAX_RETRIES:
            raise  # retried
        removals.fail_removal(chunk_id=chunk_id, error=error)
        return 0


@shared_task(name="moderation.requeue_stalled_removals")
def requeue_stalled_removals() -> int:
    return removals.requeue_stalled_removals()


@shared_task(name="moderation.send_pending_notices")
def send_pending_notices() -> int:
    return notices.send_pending_notices()


@shared_task(name="moderation.release_expired_claims")
def release_expired_claims() -> int:
    """Beat: review items and appeals whose claim's lease ran out go back to their queue."""
    return queue.release_expired_claims() + appeals.release_expired_appeal_claims()


@shared_task(name="moderation.scan_listing")
def scan_listing(listing_id: int) -> int:
    """A listing was created or edited: match it against the policies in effect."""
    return scanning.scan_listing(listing_id=listing_id)


@shared_task(name="moderation.start_policy_scan")
def start_policy_scan(policy_id: int) -> int | None:
    policy = Policy.objects.filter(pk=policy_id).first()
    scan = scanning.start_policy_scan(policy=policy) if policy else None
    return scan.pk if scan else None


@shared_task(name="moderation.run_scan_chunk", **RETRY_FAILED_CHUNK)
def run_scan_chunk(chunk_id: int) -> int:
    """One id range of a policy scan. Retried as ``RETRY_FAILED_CHUNK`` says, then the scan fails."""
    try:
        return scanning.run_scan_chunk(chunk_id=chunk_id)
    except Exception as error:
        if not ScanChunk.objects.filter(pk=chunk_id, status=ScanChunk.Status.PENDING).exists():
            # The chunk's work is done: only its finish failed; the retry of the message finishes.
            raise ChunkFinishFailed(f"Scan chunk {chunk_id}") from error
        # The scan's service counts the failure and fails the scan in one transaction, so it is
        # told beforehand whether this failure is the one past the limit.
        attempts = ScanChunk.objects.filter(pk=chunk_id).values_list("attempts", flat=True).first() or 0
        give_up = attempts + 1 > settings.REMOVAL_CHUNK_MAX_RETRIES
        scanning.record_scan_chunk_failure(chunk_id=chunk_id, error=error, give_up=give_up)
        if not give_up:
            raise  # retried
        return 0


@shared_task(name="moderation.run_escalation")
def run_escalation() -> dict:
    """Beat, every minute: expire what has ended, then queue each policy's ladder, range by range.

    The clock is read once: the expiries, the policies past their grace and their ranges are
    all as of the sweep's start (each queued range reads its own when it runs, as it always did).
    """
    return sanctions.run_escalation(queue_range=escalate_range.delay)


@shared_task(name="moderation.escalate_range")
def escalate_range(policy_id: int, first_id: int, last_id: int) -> int:
    """One range of merchants under one policy's ladder; a second delivery finds nothing due."""
    policy = Policy.objects.filter(pk=policy_id).first()
    return sanctions.escalate_range(policy=policy, first_id=first_id, last_id=last_id) if policy else 0


@shared_task(name="moderation.escalate_merchants")
def escalate_merchants(merchant_ids: list[int]) -> int:
    """A violation added points: apply the ladder to these merchants now rather than at the next sweep."""
    return sanctions.escalate_merchants(merchant_ids=merchant_ids)


@shared_task(name="moderation.submit_statements")
def submit_statements() -> dict:
    """Beat, every five minutes: queue new statements of reasons and post the due ones; overlapping runs share.

    Half the soft time limit for posting: a run stops claiming batches then, and the next picks up.
    """
    return statements.submit_pending_statements(
        actor=SystemActor("submit_statements"), time_budget=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2
    )


@shared_task(name="moderation.seal_audit_events")
def seal_audit_events() -> dict:
    """Beat, every minute: seal the trail's new events in chained checkpoints; nothing new writes nothing.

    Overlapping runs cannot fork the chain (one wins each checkpoint); a run stops starting
    batches at half the soft time limit (about 100,000 events a second) and the next goes on.
    """
    result = sealing.seal_audit_events(
        actor=SystemActor("seal_audit_events"), time_budget=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2
    )
    return {"checkpoints": len(result.checkpoints), "events": result.events, "skipped": result.skipped}


@shared_task(name="moderation.verify_audit_trail", soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def verify_audit_trail() -> dict:
    """Beat, daily: recompute the whole chain and record the result for the Operations page.

    One pass over every sealed event (about 10 s per million here): its own time limits,
    well past the default's five minutes.
    """
    result = sealing.verify_audit_chain(actor=SystemActor("verify_audit_trail"))
    return {"ok": result.ok, "checkpoints": result.checkpoints_checked, "problems": len(result.problems)}
