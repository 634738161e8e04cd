"""Reads for the operations page: the background work that failed or stopped moving.

Everything comes from the project's own rows (removals, scans, notices, statements), not
from Celery's result backend: the rows are what a retry changes, and they outlive any
result. The definitions of "stuck" live here, and the retry services use the same ones,
so a row the page offers to retry is exactly a row the service accepts.

The page costs a fixed number of queries whatever the backlog: each list is capped at
``OPERATIONS_ROWS`` rows with a total beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from moderation.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditVerb,
    AuditVerification,
    CategoryRemoval,
    Notice,
    PolicyScan,
    RemovalChunk,
    StatementSubmission,
)

if TYPE_CHECKING:
    # django-stubs' type of a model row with annotations (a dev dependency: imported for mypy only).
    from django_stubs_ext import WithAnnotations

# Rows shown per list. A mail or DSA outage can fail thousands at once: the page shows the
# oldest ones and the total, and "retry all" works through the rest in batches.
OPERATIONS_ROWS = 50

FAILED, STUCK = "failed", "stuck"


def stuck_after() -> timedelta:
    # Read on every call, not at import: an operator's change (and a test's) applies at once.
    return timedelta(minutes=getattr(settings, "STUCK_AFTER_MINUTES", 15))


def stuck_cutoff(now: datetime | None = None) -> datetime:
    """Work whose last sign of progress is older than this is stuck."""
    return (now or timezone.now()) - stuck_after()


# --- Removals ------------------------------------------------------------------------------


class LastMoved(TypedDict):
    last_moved_at: datetime


def removals_with_last_moved() -> QuerySet[WithAnnotations[CategoryRemoval, LastMoved]]:
    """Removals annotated with ``last_moved_at``: when one last really moved.

    Not ``last_progress_at``: the beat sweep that re-queues a stalled removal's chunks
    (``requeue_stalled_removals``, every minute once two minutes pass) bumps it each time,
    so while beat runs a removal that never advances would never look idle. What counts
    here is its start, its last finished chunk, and the last time someone resumed it (so a
    retry gives the removal a fresh period before it is called stuck again, and a second
    press of the same button is refused).
    """
    last_chunk = (
        RemovalChunk.objects.filter(removal=OuterRef("pk"), finished_at__isnull=False)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    last_resumed = (
        AuditEvent.objects.filter(
            # Uses audit_target_idx: a removal's own events are a handful.
            target_type=ContentType.objects.get_for_model(CategoryRemoval),
            target_id=OuterRef("pk"),
            verb=AuditVerb.REMOVAL_RESUMED,
        )
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    # Each term falls back to started_at: SQLite's MAX() of a NULL is NULL, PostgreSQL's
    # GREATEST skips it; with no NULL both agree.
    return CategoryRemoval.objects.annotate(
        last_moved_at=Greatest(
            Coalesce(Subquery(last_chunk), F("started_at")),
            Coalesce(Subquery(last_resumed), F("started_at")),
        )
    )


def failed_or_stuck_removals(cutoff: datetime) -> QuerySet[CategoryRemoval]:
    """Failed removals, and running ones that have not moved since ``cutoff``."""
    return (
        removals_with_last_moved()
        .filter(
            Q(status=CategoryRemoval.Status.FAILED) | Q(status=CategoryRemoval.Status.RUNNING, last_moved_at__lt=cutoff)
        )
        .select_related("policy")
    )


# --- Policy scans --------------------------------------------------------------------------


def stuck_scan_q(cutoff: datetime) -> Q:
    # Only chunks, a start and a resume write a scan's last_progress_at (no sweep touches it).
    return Q(status=PolicyScan.Status.RUNNING) & (
        Q(last_progress_at__lt=cutoff) | Q(last_progress_at__isnull=True, started_at__lt=cutoff)
    )


def failed_or_stuck_scans(cutoff: datetime) -> QuerySet[PolicyScan]:
    return PolicyScan.objects.filter(Q(status=PolicyScan.Status.FAILED) | stuck_scan_q(cutoff)).select_related("policy")


# --- Notices -------------------------------------------------------------------------------


def failed_notice_q() -> Q:
    return Q(email_status=Notice.EmailStatus.FAILED)


def stuck_notice_q(cutoff: datetime) -> Q:
    """Unsent, due since before ``cutoff``, and nobody holds it.

    A notice in its back-off (``email_claimed_until`` ahead) or under a live claim is
    waiting as designed; one whose wait or claim ended more than the stuck time ago, or
    that was never picked up, means the mailer sweep is not running.
    """
    return (
        Q(email_status__in=[Notice.EmailStatus.PENDING, Notice.EmailStatus.SENDING])
        & Q(created_at__lt=cutoff)
        & (Q(email_claimed_until__isnull=True) | Q(email_claimed_until__lt=cutoff))
    )


def failed_or_stuck_notices(cutoff: datetime) -> QuerySet[Notice]:
    return Notice.objects.filter(failed_notice_q() | stuck_notice_q(cutoff))


# --- DSA statements ------------------------------------------------------------------------


def failed_statements() -> QuerySet[StatementSubmission]:
    return StatementSubmission.objects.filter(status=StatementSubmission.Status.FAILED)


# --- The audit trail's seal ---------------------------------------------------------------


@dataclass
class AuditSeal:
    """Where the seal stands: the last checkpoint, the last verification, and the backlog."""

    last_checkpoint: AuditCheckpoint | None
    last_verification: AuditVerification | None
    events_unsealed: int

    @property
    def tampered(self) -> bool:
        """The last verification found the trail does not match its seal."""
        return self.last_verification is not None and not self.last_verification.ok


def audit_seal_status() -> AuditSeal:
    """Three queries: the last checkpoint and the last verification (each on its unique index),
    and the events past the checkpoint (a range of the primary key: the last minute's)."""
    last = AuditCheckpoint.objects.order_by("-sequence").first()
    verification = AuditVerification.objects.select_related("verified_through").order_by("-id").first()
    unsealed = AuditEvent.objects.filter(pk__gt=last.last_event_id) if last else AuditEvent.objects.all()
    return AuditSeal(last_checkpoint=last, last_verification=verification, events_unsealed=unsealed.count())


# --- The page ------------------------------------------------------------------------------


@dataclass
class Problems:
    """One list of the page: the oldest rows and how many there are of each problem."""

    rows: list
    failed: int
    stuck: int

    @property
    def total(self) -> int:
        return self.failed + self.stuck

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


@dataclass
class OperationsOverview:
    now: datetime
    stuck_after_minutes: int
    removals: Problems
    scans: Problems
    notices: Problems
    statements: Problems
    beat_last_tick: datetime | None
    audit_seal: AuditSeal

    @property
    def all_clear(self) -> bool:
        return not (
            self.removals.total
            or self.scans.total
            or self.notices.total
            or self.statements.total
            or self.audit_seal.tampered
        )


def _problem(queryset: QuerySet, failed: Q) -> QuerySet:
    """Each row says which list it is on: ``problem`` is "failed" or "stuck"."""
    return queryset.annotate(problem=Case(When(failed, then=Value(FAILED)), default=Value(STUCK)))


def beat_last_tick() -> datetime | None:
    """Beat's last tick as the database scheduler recorded it, or None (beat never ran here)."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]


def operations_overview(*, now: datetime | None = None, rows: int = OPERATIONS_ROWS) -> OperationsOverview:
    """Everything the operations page lists, in ten queries whatever the backlog.

    Removals and scans are few (one row per run): listed whole, counted in Python. Notices
    and statements may be thousands after an outage: the oldest ``rows`` of each and a count.
    """
    now = now or timezone.now()
    cutoff = stuck_cutoff(now)

    removal_rows = list(
        _problem(failed_or_stuck_removals(cutoff), Q(status=CategoryRemoval.Status.FAILED)).order_by("pk")
    )
    scan_rows = list(_problem(failed_or_stuck_scans(cutoff), Q(status=PolicyScan.Status.FAILED)).order_by("pk"))

    notices = failed_or_stuck_notices(cutoff)
    notice_rows = list(
        _problem(notices, failed_notice_q())
        .select_related("merchant")
        .defer("body", "transparency")
        .order_by("created_at", "pk")[:rows]
    )
    notice_counts = notices.aggregate(
        failed=Count("pk", filter=failed_notice_q()), stuck=Count("pk", filter=~failed_notice_q())
    )

    statements = failed_statements()
    statement_rows = list(
        statements.select_related("notice__merchant")
        .defer("notice__body", "notice__transparency")
        .order_by("pk")[:rows]
    )
    statement_count = statements.count()

    return OperationsOverview(
        now=now,
        stuck_after_minutes=int(stuck_after().total_seconds() // 60),
        removals=Problems(
            rows=removal_rows,
            failed=sum(1 for r in removal_rows if r.problem == FAILED),
            stuck=sum(1 for r in removal_rows if r.problem == STUCK),
        ),
        scans=Problems(
            rows=scan_rows,
            failed=sum(1 for s in scan_rows if s.problem == FAILED),
            stuck=sum(1 for s in scan_rows if s.problem == STUCK),
        ),
        notices=Problems(rows=notice_rows, failed=notice_counts["failed"], stuck=notice_counts["stuck"]),
        statements=Problems(rows=statement_rows, failed=statement_count, stuck=0),
        beat_last_tick=beat_last_tick(),
        audit_seal=audit_seal_status(),
    )
