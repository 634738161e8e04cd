"""Statements of reasons for the EU DSA Transparency Database (Art. 24(5)): the export and the submitter.

A statement is read from what the merchant was told (``Notice.transparency``, written with the
decision), never rebuilt from today's rows. Only the database's own fields leave, and the free
text is scrubbed of what names the merchant or its listings: the regulation wants statements
"without personal data".

Submission is at least once and idempotent on ``puid``: each restricting notice is queued once
(``StatementSubmission``), batches are claimed with SKIP LOCKED under a lease like the e-mail
of notices, and a statement the database already has (422, duplicate puid) counts as done. No
database transaction is held open across an HTTP request: a claim commits, the request goes
out, and its answer is recorded in a transaction of its own.

This module is the bookkeeping (the export, the queue, claims, what each answer changed); the
HTTP side, one POST and what its answer means, is ``moderation.services.transparency_client``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from moderation.models import AuditVerb, Notice, StatementBatch, StatementSubmission, Violation
from moderation.services.audit import Actor, SystemActor, record_event
from moderation.services.transparency_client import MAX_BATCH_SIZE, Answer, Verdict, judge_answer, post_statements

logger = logging.getLogger(__name__)

SUBMITTER = SystemActor("submit_statements")
# Notices read at once by the export: about 5 MB of rows and statements in memory.
EXPORT_CHUNK_SIZE = 1000
# Longer than a task may live (hard time limit): a claim never lapses while its worker posts.
# If it does lapse (a command run that outlived it), another worker re-sends: the database
# answers "duplicate puid" and the statement is done, so the cost is a request, not a duplicate.
STATEMENT_LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)

# The Transparency Database's statement attributes, and nothing else. Left out on purpose:
# ``source_identity`` (it names whoever sent the notice: personal data) and anything this
# project adds to ``Notice.transparency`` for its own use.
DSA_FIELDS = (
    "decision_visibility",
    "decision_visibility_other",
    "end_date_visibility_restriction",
    "decision_monetary",
    "decision_monetary_other",
    "end_date_monetary_restriction",
    "decision_provision",
    "end_date_service_restriction",
    "decision_account",
    "end_date_account_restriction",
    "account_type",
    "decision_ground",
    "decision_ground_reference_url",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "incompatible_content_illegal",
    "category",
    "category_addition",
    "category_specification",
    "category_specification_other",
    "content_type",
    "content_type_other",
    "content_language",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "territorial_scope",
)
# Free text written by people or templates: the fields a name or a title could slip into.
FREE_TEXT_FIELDS = frozenset(
    {
        "decision_visibility_other",
        "decision_monetary_other",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "category_specification_other",
        "content_type_other",
        "decision_facts",
    }
)
REDACTED = "[redacted]"
# Shorter values ("Li", "AB") would blank ordinary words out of the facts.
MIN_REDACTED_LENGTH = 3
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# --- The export ------------------------------------------------------------------------


def _owed() -> QuerySet[Notice]:
    """Every statement of reasons: the restricting notices that carry Transparency Database fields."""
    return Notice.objects.filter(restricts=True).exclude(transparency={})


def statement_of(notice: Notice) -> dict[str, Any]:
    """The notice's statement as the Transparency Database takes it: its fields and its puid only."""
    return statements_of([notice])[0]


def statements_of(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    """``statement_of`` for many notices, with one query for the listings they are about."""
    titles = _listing_titles(notices)
    return [_statement(notice, _personal_values(notice, titles.get(notice.pk, []))) for notice in notices]


def export_statements(since: datetime | None = None, until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The statements of the notices written in [since, until), oldest first, read in chunks."""
    notices = _owed().select_related("merchant__user").defer("body", "subject").order_by("id")
    if since is not None:
        notices = notices.filter(created_at__gte=since)
    if until is not None:
        notices = notices.filter(created_at__lt=until)
    chunk: list[Notice] = []
    for notice in notices.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        chunk.append(notice)
        if len(chunk) >= EXPORT_CHUNK_SIZE:
            yield from statements_of(chunk)
            chunk = []
    if chunk:
        yield from statements_of(chunk)


def _statement(notice: Notice, personal: re.Pattern | None) -> dict[str, Any]:
    recorded = notice.transparency or {}
    statement = {}
    for name in DSA_FIELDS:
        if name not in recorded:
            continue
        value = recorded[name]
        if name in FREE_TEXT_FIELDS and isinstance(value, str):
            value = _scrub(value, personal)
        statement[name] = value
    # The notice's own puid, not a copy: it is the key the database deduplicates on.
    statement["puid"] = notice.puid
    return statement


def _personal_values(notice: Notice, listing_titles: list[str]) -> re.Pattern | None:
    """What identifies this merchant or its listings, as one pattern (longest first, so it wins)."""
    merchant = notice.merchant
    values = [merchant.store_name, merchant.company_name, merchant.contact_email]
    if merchant.user is not None:
        user = merchant.user
        values += [user.username, user.email, user.first_name, user.last_name, user.get_full_name()]
    for title in listing_titles:
        # The facts quote a refused listing's title cut at 200 characters.
        values += [title, title[:200]]
    cleaned = {value.strip() for value in values if value and len(value.strip()) >= MIN_REDACTED_LENGTH}
    if not cleaned:
        return None
    return re.compile("|".join(re.escape(value) for value in sorted(cleaned, key=len, reverse=True)), re.IGNORECASE)


def _scrub(text: str, personal: re.Pattern | None) -> str:
    if personal is not None:
        text = personal.sub(REDACTED, text)
    return EMAIL_ADDRESS.sub(REDACTED, text)


def _listing_titles(notices: Sequence[Notice]) -> dict[int, list[str]]:
    """The titles of the listings each notice is about (a violation's notice quotes its listing's title).

    A violation's notice is keyed ``violation:<id>``; removals and sanctions quote no title.
    """
    violation_of: dict[int, int] = {}
    for notice in notices:
        cause, _, ident = notice.dedupe_key.partition(":")
        if cause == "violation" and ident.isdigit():
            violation_of[notice.pk] = int(ident)
    if not violation_of:
        return {}
    titles: dict[int, list[str]] = {}
    for violation in Violation.objects.filter(pk__in=set(violation_of.values())).select_related("listing"):
        found = [violation.listing.title] if violation.listing else []
        if isinstance(violation.evidence, dict) and violation.evidence.get("title"):
            found.append(str(violation.evidence["title"]))
        titles[violation.pk] = found
    return {notice_id: titles.get(violation_id, []) for notice_id, violation_id in violation_of.items()}


# --- The queue -------------------------------------------------------------------------


def queue_statements() -> int:
    """Queue every statement of reasons not queued yet, in one INSERT … SELECT. Returns how many.

    ON CONFLICT DO NOTHING: two runs queueing at once insert each notice once (``notice`` and
    ``puid`` are unique), the second quietly.
    """
    now = timezone.now()
    table = StatementSubmission._meta.db_table
    # Every concrete field has a column (that is what concrete means): the condition only tells mypy.
    column = {
        f.name: connection.ops.quote_name(f.column)
        for f in StatementSubmission._meta.concrete_fields
        if f.column is not None
    }
    at = StatementSubmission._meta.get_field("created_at").get_db_prep_value(now, connection)
    not_queued, params = (
        _owed().filter(statement_submission__isnull=True).order_by().values("id").query.sql_with_params()
    )
    notice_table = connection.ops.quote_name(Notice._meta.db_table)
    columns = ", ".join(
        column[name]
        for name in ("notice", "puid", "status", "attempts", "next_attempt_at", "duplicate", "last_error", "created_at")
    )
    sql = (
        f"INSERT INTO {connection.ops.quote_name(table)} ({columns}) "
        f"SELECT n.id, n.puid, %s, 0, %s, %s, '', %s FROM {notice_table} n "
        f"WHERE n.id IN ({not_queued}) ORDER BY n.id ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:  # one statement: atomic on its own
        cursor.execute(sql, [StatementSubmission.Status.PENDING, at, False, at, *params])
        queued = cursor.rowcount
    if queued:
        logger.info("Queued %d statements of reasons for the DSA Transparency Database.", queued)
    return queued


def _due(now: datetime) -> Q:
    # Pending and due, or sending under a lease that has run out (its worker died).
    return (
        Q(status__in=[StatementSubmission.Status.PENDING, StatementSubmission.Status.SENDING])
        & Q(next_attempt_at__lte=now)
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )


def count_statements_due() -> int:
    """How many statements a run now would send: those not queued yet and those queued and due."""
    return (
        _owed().filter(statement_submission__isnull=True).count()
        + StatementSubmission.objects.filter(_due(timezone.now())).count()
    )


# --- The submitter ---------------------------------------------------------------------


@dataclass
class _Claim:
    """A worker's batch: the rows it marked ``sending``; ``lease`` (their ``claimed_until``) names the claim."""

    lease: datetime
    rows: dict[str, StatementSubmission]


def submit_pending_statements(
    *, batch_size: int = MAX_BATCH_SIZE, actor: Actor = SUBMITTER, time_budget: float | None = None
) -> dict[str, Any]:
    """Queue what is owed, then post the due statements in batches. Safe to run on several workers at once.

    1. No ``DSA_TRANSPARENCY_URL``: log that submission is off and send nothing.
    2. Queue the restricting notices not queued yet (one INSERT … SELECT).
    3. Claim up to ``batch_size`` due statements (SKIP LOCKED, under a lease), post them, and
       record the answer: accepted or duplicate → submitted; invalid → failed; 5xx, another
       status or no answer → back off (``next_attempt_at`` doubles), failed after the last attempt.
    4. Repeat until nothing is due, the ``time_budget`` (seconds) is spent, or the database
       answered badly: then the rest waits for the next run instead of hammering it.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE} (the API's limit); got {batch_size}.")
    url, token = settings.DSA_TRANSPARENCY_URL, settings.DSA_TRANSPARENCY_TOKEN
    totals: Counter[str] = Counter()
    if not url:
        logger.info("DSA_TRANSPARENCY_URL is not set: statements of reasons are not submitted.")
        return {"configured": False, "queued": 0, "requests": 0}
    if not token:
        raise ImproperlyConfigured("DSA_TRANSPARENCY_TOKEN must be set when DSA_TRANSPARENCY_URL is.")
    totals["queued"] = queue_statements()
    deadline = time.monotonic() + time_budget if time_budget is not None else None
    stopped = False
    while deadline is None or time.monotonic() < deadline:
        claim = _claim(batch_size)
        if claim is None:
            break
        if not _send(claim, url=url, token=token, actor=actor, totals=totals):
            stopped = True
            break
    result = {
        "configured": True,
        "queued": totals["queued"],
        "requests": totals["requests"],
        "submitted": totals["submitted"],
        "duplicates": totals["duplicates"],
        "invalid": totals["invalid"],
        "retry_later": totals["retry_later"],
        "gave_up": totals["gave_up"],
        "stopped_on_error": stopped,
    }
    if result["requests"]:
        logger.info("DSA statements: %s", result)
    return result


def _claim(limit: int) -> _Claim | None:
    """Take a batch of due statements; SKIP LOCKED lets several workers share the backlog.

    A claim is a lease: a worker that dies mid-batch leaves its rows ``sending`` until the
    lease passes, then another worker sends them again (the puid makes that harmless).
    """
    now = timezone.now()
    lease = now + STATEMENT_LEASE
    with transaction.atomic():
        ids = list(
            StatementSubmission.objects.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return None
        StatementSubmission.objects.filter(pk__in=ids).update(
            status=StatementSubmission.Status.SENDING, claimed_until=lease
        )
    rows = StatementSubmission.objects.filter(pk__in=ids).select_related("notice__merchant__user").order_by("id")
    return _Claim(lease=lease, rows={row.puid: row for row in rows})


def _send(claim: _Claim, *, url: str, token: str, actor: Actor, totals: Counter[str]) -> bool:
    """Post a claimed batch until every statement in it is settled. False: the database answered badly."""
    statements = dict(zip(claim.rows, statements_of([row.notice for row in claim.rows.values()]), strict=True))
    groups = deque([list(claim.rows)])
    while groups:
        puids = groups.popleft()
        answer = post_statements(url, token, [statements[puid] for puid in puids])
        verdict = judge_answer(answer, puids)
        _record(claim, puids, answer, verdict, url=url, actor=actor, totals=totals)
        if verdict.back_off:
            # Whatever the batch still holds waits for the next run rather than a database in trouble.
            _release(claim, [puid for group in groups for puid in group])
            return False
        groups.extendleft(reversed(verdict.resend))
    return True


@transaction.atomic
def _record(
    claim: _Claim,
    puids: list[str],
    answer: Answer,
    verdict: Verdict,
    *,
    url: str,
    actor: Actor,
    totals: Counter[str],
) -> StatementBatch:
    """Write what one request sent and what came back: its batch row, its statements' rows, one audit event.

    Every row update is conditional on the claim (``sending`` under this lease): a worker whose
    lease ran out changes nothing that another worker has taken over since.
    """
    now = timezone.now()
    max_attempts = settings.DSA_TRANSPARENCY_MAX_ATTEMPTS
    retry_base = timedelta(minutes=settings.DSA_TRANSPARENCY_RETRY_MINUTES)
    backing_off: dict[int, list[str]] = {}
    for puid in verdict.back_off:
        backing_off.setdefault(claim.rows[puid].attempts + 1, []).append(puid)
    gave_up = sum(len(group) for attempts, group in backing_off.items() if attempts >= max_attempts)
    counts = {
        "submitted": len(verdict.submitted),
        "duplicates": len(verdict.duplicates),
        "invalid": len(verdict.invalid),
        "retry_later": len(verdict.back_off) - gave_up,
        "gave_up": gave_up,
    }
    batch = StatementBatch.objects.create(
        sent_at=now,
        endpoint=url[:500],
        size=len(puids),
        puids=puids,
        http_status=answer.status,
        error=verdict.error[:2000],
        **counts,
    )
    mine = StatementSubmission.objects.filter(status=StatementSubmission.Status.SENDING, claimed_until=claim.lease)
    done = {"claimed_until": None, "batch": batch, "response_status": answer.status}
    changed = 0
    if verdict.submitted:
        changed += mine.filter(puid__in=verdict.submitted).update(
            status=StatementSubmission.Status.SUBMITTED,
            submitted_at=now,
            duplicate=False,
            attempts=F("attempts") + 1,
            last_error="",
            **done,
        )
    if verdict.duplicates:
        changed += mine.filter(puid__in=verdict.duplicates).update(
            status=StatementSubmission.Status.SUBMITTED,
            submitted_at=now,
            duplicate=True,
            attempts=F("attempts") + 1,
            last_error="",
            **done,
        )
    for puid, reason in verdict.invalid.items():
        changed += mine.filter(puid=puid).update(
            status=StatementSubmission.Status.FAILED, attempts=F("attempts") + 1, last_error=reason, **done
        )
    for attempts, group in backing_off.items():
        if attempts >= max_attempts:
            changed += mine.filter(puid__in=group).update(
                status=StatementSubmission.Status.FAILED, attempts=attempts, last_error=verdict.error[:2000], **done
            )
        else:
            changed += mine.filter(puid__in=group).update(
                status=StatementSubmission.Status.PENDING,
                attempts=attempts,
                # 5, 10, 20 … minutes by default: an outage should not use up every attempt in an hour.
                next_attempt_at=now + retry_base * 2 ** (attempts - 1),
                last_error=verdict.error[:2000],
                **done,
            )
    settled = len(puids) - sum(len(group) for group in verdict.resend)
    if changed != settled:
        logger.warning(
            "DSA statements batch #%s: %d of %d rows were still ours to update (a lease ran out).",
            batch.pk,
            changed,
            settled,
        )
    record_event(
        actor=actor,
        verb=AuditVerb.STATEMENTS_SUBMITTED,
        target=batch,
        after={"endpoint": batch.endpoint, "statements": len(puids), "http_status": answer.status, **counts},
        reason=verdict.error[:2000],
    )
    totals["requests"] += 1
    totals.update(counts)
    if verdict.invalid:
        logger.warning("DSA statements refused as invalid: %s", verdict.invalid)
    if verdict.back_off:
        logger.warning("DSA statements batch #%s not accepted, will retry: %s", batch.pk, verdict.error)
    return batch


def _release(claim: _Claim, puids: list[str]) -> None:
    """Give back statements claimed but not posted: due again at once, no attempt counted."""
    if puids:
        StatementSubmission.objects.filter(
            puid__in=puids, status=StatementSubmission.Status.SENDING, claimed_until=claim.lease
        ).update(status=StatementSubmission.Status.PENDING, claimed_until=None)
