"""Scheduled category removals: schedule, cancel, start, delist in chunks, finish, fail, resume.

The work is set-based and crash-safe:
- every transition is a conditional UPDATE whose row count is checked, so two beat
  ticks or two workers never start, finish or fail a removal twice;
- the listings are delisted in chunks over id ranges; a chunk is one transaction (one
  UPDATE of the listings and one INSERT … SELECT of their audit events), so a worker
  killed mid-chunk leaves nothing half done and the chunk simply runs again;
- the removal finishes (notices included) in one transaction after its last chunk.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text
from moderation.bulk import delist_listing_range, plan_listing_ranges, skip_wal_flush_at_commit
from moderation.models import (
    AuditVerb,
    CategoryRemoval,
    Notice,
    Policy,
    PolicyClause,
    RemovalChunk,
)
from moderation.selectors.removals import is_stalled, removal_dry_run, stalled_removal_ids
from moderation.services import outbox
from moderation.services.audit import Actor, SystemActor, actor_label, actor_user, record_event
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.transparency import VISIBILITY_REMOVED, statement_fields
from sellers.models import Category
from sellers.selectors import category_subtree

REMOVAL_ACTOR = SystemActor("run_removal")


def _local_day(policy: Policy, moment: datetime) -> str:
    return f"{policy.local(moment):%Y-%m-%d %H:%M} ({policy.timezone})"


def removal_time_error(policy: Policy, scheduled_for: datetime) -> str | None:
    """Why a removal cannot run at this time, or None. Nothing comes down before the effective date."""
    if scheduled_for < policy.effective_at:
        return _("“%(policy)s” takes effect on %(day)s; nothing may be removed before then.") % {
            "policy": policy,
            "day": _local_day(policy, policy.effective_at),
        }
    return None


@transaction.atomic
def schedule_removal(
    *,
    actor: Actor,
    policy: Policy,
    categories: list[Category],
    scheduled_for: datetime | None = None,
    clause: PolicyClause | None = None,
    override_reason: str = "",
) -> CategoryRemoval:
    """Schedule the retirement of categories (and everything under them) under a policy.

    Refused, with field-level messages: no category; a draft or retired policy; a time
    before the policy's effective date; a category retired already or already part of
    another removal that has not finished (the categories are locked first, so two admins
    confirming at once schedule one). A category the policy does not name, or whose live
    listings the policy's rules mostly do not flag, needs ``override_reason``: an innocent
    category retired by mistake takes down every listing in it.
    """
    scheduled_for = scheduled_for or policy.effective_at
    errors: dict[str, str] = {}
    # Serialise with any other scheduling of these categories: the overlap check below then sees it.
    list(Category.objects.select_for_update().filter(pk__in=[c.pk for c in categories]).values_list("pk"))
    if policy.status not in {Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT}:
        errors["policy"] = _("“%(policy)s” is %(status)s: announce it first.") % {
            "policy": policy,
            "status": policy.get_status_display().lower(),
        }
    time_error = removal_time_error(policy, scheduled_for)
    if time_error:
        errors["scheduled_for"] = time_error
    if not categories:
        errors["categories"] = _("Choose at least one category.")
    else:
        scope = category_subtree(categories)
        retired = [c.name for c in scope if c.is_retired]
        if retired:
            errors["categories"] = _("Already retired: %(categories)s.") % {"categories": ", ".join(retired)}
        scope_ids = {c.pk for c in scope}
        unfinished = CategoryRemoval.objects.filter(
            status__in=[CategoryRemoval.Status.SCHEDULED, CategoryRemoval.Status.RUNNING]
        ).prefetch_related("categories")
        # Overlap either way: a parent of ours, or a subcategory of theirs, in another removal.
        clash = next(
            (other for other in unfinished if scope_ids & {c.pk for c in category_subtree(other.categories.all())}),
            None,
        )
        if clash:
            errors["categories"] = _("Part of these categories is already in removal #%(number)s.") % {
                "number": clash.pk
            }
    if clause is None:
        clause = policy.clauses.order_by("number").first()
    elif clause.policy_id != policy.pk:
        errors["clause"] = _("Choose a clause of this policy.")
    if errors:
        raise ValidationError(errors)
    dry_run = removal_dry_run(categories, policy=policy)
    override = _override_needed(dry_run)
    if override and not has_visible_text(override_reason):
        raise ValidationError({"override_reason": override})
    removal = CategoryRemoval.objects.create(
        policy=policy,
        clause=clause,
        scheduled_for=scheduled_for,
        created_by=actor_user(actor),
        dry_run=dry_run,
        chunk_size=settings.REMOVAL_CHUNK_SIZE,
    )
    removal.categories.set(categories)
    record_event(
        actor=actor,
        verb=AuditVerb.REMOVAL_SCHEDULED,
        target=removal,
        policy=policy,
        after={
            "categories": sorted(c.slug for c in categories),
            "scheduled_for": scheduled_for,
            "listings": removal.dry_run["listings"],
            "merchants": removal.dry_run["merchants"],
            "not_named_by_policy": dry_run.get("not_named", []),
            "flagged_share": dry_run.get("flagged_share"),
            "override": bool(override),
        },
        reason=override_reason.strip() if override else "",
    )
    return removal


def _override_needed(dry_run: dict) -> str:
    """Why scheduling these categories needs a stated reason; "" when it does not."""
    reasons = []
    if dry_run.get("not_named"):
        reasons.append(_("the policy does not name %(categories)s") % {"categories": ", ".join(dry_run["not_named"])})
    if dry_run.get("rules_disagree"):
        reasons.append(
            _("its rules flag only %(share)s of the listings sampled") % {"share": f"{dry_run['flagged_share']:.0%}"}
        )
    if not reasons:
        return ""
    return _("Say why these categories go: %(why)s.") % {"why": "; ".join(reasons)}


@transaction.atomic
def cancel_removal(*, actor: Actor, removal: CategoryRemoval, reason: str = "") -> CategoryRemoval:
    """Cancel a scheduled removal; the reason is kept in the trail (the merchants were told of the date)."""
    if not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why the removal is cancelled.")})
    now = timezone.now()
    cancelled = CategoryRemoval.objects.filter(pk=removal.pk, status=CategoryRemoval.Status.SCHEDULED).update(
        status=CategoryRemoval.Status.CANCELLED, cancelled_at=now
    )
    if cancelled != 1:
        removal.refresh_from_db()
        raise ValidationError(
            _("Removal #%(number)s is %(status)s: only a scheduled one can be cancelled.")
            % {"number": removal.pk, "status": removal.get_status_display().lower()}
        )
    removal.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.REMOVAL_CANCELLED,
        target=removal,
        policy=removal.policy,
        before={"status": CategoryRemoval.Status.SCHEDULED},
        after={"status": removal.status},
        reason=reason,
    )
    return removal


def due_removal_ids() -> list[int]:
    return list(
        CategoryRemoval.objects.filter(
            status=CategoryRemoval.Status.SCHEDULED, scheduled_for__lte=timezone.now()
        ).values_list("pk", flat=True)
    )


def plan_chunks(scope_ids: list[int], chunk_size: int) -> tuple[int, list[tuple[int, int]]]:
    """The live listings of the scope as id ranges (through the partial index of live listings by category)."""
    if not scope_ids:
        return 0, []
    placeholders = ", ".join(["%s"] * len(scope_ids))
    return plan_listing_ranges(
        where=f"status = 'live' AND category_id IN ({placeholders})", params=list(scope_ids), chunk_size=chunk_size
    )


def start_removal(*, removal_id: int, actor: Actor = REMOVAL_ACTOR) -> bool:
    """Claim a due removal, retire its categories and plan its chunks; queue them after commit.

    1. Conditional UPDATE scheduled → running (False: someone else started it, or it
       was cancelled, or it is not due).
    2. Retire every category of the scope, recording which removal did it.
    3. Plan the id ranges and store them as pending chunks.
    All in one transaction: a worker that dies here leaves the removal scheduled, and the
    next beat tick starts it again.
    """
    with transaction.atomic():
        now = timezone.now()
        claimed = CategoryRemoval.objects.filter(
            pk=removal_id, status=CategoryRemoval.Status.SCHEDULED, scheduled_for__lte=now
        ).update(status=CategoryRemoval.Status.RUNNING, started_at=now, last_progress_at=now)
        if claimed != 1:
            return False
        removal = CategoryRemoval.objects.select_related("policy").get(pk=removal_id)
        policy = removal.policy
        if not policy.is_effective(now):
            # The policy was retired or replaced after scheduling: delist nothing, say why.
            _mark_failed(removal, actor=actor, error=f"“{policy}” is not in effect ({policy.get_status_display()}).")
            return True
        scope = list(category_subtree(removal.categories.all()))
        for category in scope:
            if category.is_retired:
                continue
            Category.objects.filter(pk=category.pk, status=Category.Status.ACTIVE).update(
                status=Category.Status.RETIRED, retired_at=now, retired_by_removal=removal
            )
            record_event(
                actor=actor,
                verb=AuditVerb.CATEGORY_RETIRED,
                target=category,
                policy=policy,
                before={"status": Category.Status.ACTIVE},
                after={"status": Category.Status.RETIRED, "removal": removal.pk},
            )
        outbox.categories_retired(removal=removal, at=now)
        scope_ids = [c.pk for c in scope]
        total, ranges = plan_chunks(scope_ids, removal.chunk_size)
        RemovalChunk.objects.bulk_create(
            RemovalChunk(removal=removal, number=n, first_id=first, last_id=last)
            for n, (first, last) in enumerate(ranges, start=1)
        )
        CategoryRemoval.objects.filter(pk=removal.pk).update(
            scope_category_ids=scope_ids, listings_total=total, chunks_total=len(ranges)
        )
        record_event(
            actor=actor,
            verb=AuditVerb.REMOVAL_STARTED,
            target=removal,
            policy=policy,
            before={"status": CategoryRemoval.Status.SCHEDULED},
            after={"status": CategoryRemoval.Status.RUNNING, "listings": total, "chunks": len(ranges)},
        )
        transaction.on_commit(lambda: queue_pending_chunks(removal_id=removal_id))
    return True


def queue_pending_chunks(*, removal_id: int) -> int:
    """Send a task per pending chunk; with none pending, try to finish instead."""
    from moderation.tasks import run_removal_chunk

    pending = list(
        RemovalChunk.objects.filter(removal_id=removal_id, status=RemovalChunk.Status.PENDING)
        .order_by("number")  # paced, the chunks then go in id order, as the bar reads
        .values_list("pk", flat=True)
    )
    pause = settings.REMOVAL_CHUNK_PAUSE_SECONDS
    for position, chunk_id in enumerate(pending):
        if pause:
            # The demo's pace: the n-th chunk waits n pauses in the worker (an ETA, not a
            # sleep holding a worker), so a small removal fills its bar over a minute. Each
            # chunk still records progress, so the pause must stay well below STALL_AFTER.
            run_removal_chunk.apply_async((chunk_id,), countdown=position * pause)
        else:
            run_removal_chunk.delay(chunk_id)
    if not pending:
        finish_removal_if_done(removal_id=removal_id)
    return len(pending)


def _delisted_reason(removal: CategoryRemoval) -> str:
    policy = removal.policy
    clause = f", clause {removal.clause.number}" if removal.clause else ""
    return (
        f"Category closed under “{policy}”{clause} (removal #{removal.pk}, "
        f"effective {_local_day(policy, policy.effective_at)})."
    )


def _delist_range(*, removal: CategoryRemoval, chunk: RemovalChunk, now: datetime, actor: Actor) -> dict[str, int]:
    """Delist the live listings of one id range, with their audit events.

    Returns how many listings it took from each merchant (merchant id → count): the
    chunk keeps that tally, and the removal's notices are written from the chunks' tallies
    instead of re-reading a million listings at the end.
    """
    return delist_listing_range(
        first_id=chunk.first_id,
        last_id=chunk.last_id,
        category_ids=removal.scope_category_ids,
        at=now,
        reason=_delisted_reason(removal),
        removal_id=removal.pk,
        actor_name=actor_label(actor),
        verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL,
        policy_id=removal.policy_id,
    )


def run_removal_chunk(*, chunk_id: int, actor: Actor = REMOVAL_ACTOR) -> int:
    """Delist one chunk, all or nothing, then finish the removal if it was the last one.

    The chunk row is locked first: a second delivery of the same chunk waits, then finds
    it done and does nothing.
    """
    with transaction.atomic():
        chunk = (
            RemovalChunk.objects.select_for_update(of=("self",))
            .select_related("removal__policy", "removal__clause")
            .filter(pk=chunk_id)
            .first()
        )
        if chunk is None:
            return 0  # a message for a chunk this database does not hold: nothing to do
        removal = chunk.removal
        done_already = chunk.status != RemovalChunk.Status.PENDING or removal.status != CategoryRemoval.Status.RUNNING
        if not done_already:
            now = timezone.now()
            # Don't wait for this commit's WAL flush. Safe here: if the database server
            # crashes, a lost chunk loses its listings, audit rows and "done" mark
            # together, and the stalled-removal sweep runs it again. The final commit
            # that writes the notices keeps the normal durable commit.
            skip_wal_flush_at_commit()
            merchant_counts = _delist_range(removal=removal, chunk=chunk, now=now, actor=actor)
            delisted = sum(merchant_counts.values())
            RemovalChunk.objects.filter(pk=chunk.pk).update(
                status=RemovalChunk.Status.DONE,
                delisted=delisted,
                merchant_counts=merchant_counts,
                finished_at=now,
                error="",
            )
            # Progress is counted in the database, atomically, by the chunk that did the work.
            CategoryRemoval.objects.filter(pk=removal.pk).update(
                listings_done=F("listings_done") + delisted, chunks_done=F("chunks_done") + 1, last_progress_at=now
            )
    # A second delivery finds the work done but maybe not the finish (it failed after the
    # last chunk committed): try it again either way.
    finish_removal_if_done(removal_id=removal.pk, actor=actor)
    return 0 if done_already else delisted


def finish_removal_if_done(*, removal_id: int, actor: Actor = REMOVAL_ACTOR) -> bool:
    """After the last chunk: mark the removal completed and notify each merchant it hit, once.

    The conditional UPDATE lets exactly one worker through; notices are written in the
    same transaction, so a crash here leaves the removal running, to be finished again.
    """
    counts = CategoryRemoval.objects.filter(pk=removal_id).values("status", "chunks_done", "chunks_total").first()
    if not counts or counts["status"] != CategoryRemoval.Status.RUNNING:
        return False
    if counts["chunks_done"] < counts["chunks_total"]:
        return False  # the cheap check first: most chunks are not the last one
    with transaction.atomic():
        now = timezone.now()
        finished = (
            CategoryRemoval.objects.filter(pk=removal_id, status=CategoryRemoval.Status.RUNNING)
            .exclude(chunks__status__in=[RemovalChunk.Status.PENDING, RemovalChunk.Status.FAILED])
            .update(status=CategoryRemoval.Status.COMPLETED, finished_at=now, last_progress_at=now)
        )
        if finished != 1:
            return False
        removal = CategoryRemoval.objects.select_related("policy", "clause").get(pk=removal_id)
        notified = notify_merchants_of_removal(removal=removal, now=now)
        CategoryRemoval.objects.filter(pk=removal_id).update(merchants_notified=notified)
        removal.refresh_from_db()
        record_event(
            actor=actor,
            verb=AuditVerb.REMOVAL_COMPLETED,
            target=removal,
            policy=removal.policy,
            before={"status": CategoryRemoval.Status.RUNNING},
            after={
                "status": removal.status,
                "listings_delisted": removal.listings_done,
                "merchants_notified": notified,
            },
        )
    return True


def notify_merchants_of_removal(*, removal: CategoryRemoval, now: datetime) -> int:
    """One notice with a statement of reasons per merchant the removal delisted listings of."""
    policy, clause = removal.policy, removal.clause
    categories = list(Category.objects.filter(pk__in=removal.scope_category_ids).order_by("path"))
    top_depth = min((c.depth for c in categories), default=0)
    top_names = [c.name for c in categories if c.depth == top_depth]
    category_names = ", ".join(f"“{name}”" for name in top_names)
    appeal_deadline = policy.appeal_deadline(now)
    # The chunks' own tallies: a few thousand small JSON objects, not a million listings.
    counts: Counter[int] = Counter()
    for chunk_counts in RemovalChunk.objects.filter(removal=removal).values_list("merchant_counts", flat=True):
        counts.update({int(merchant_id): n for merchant_id, n in chunk_counts.items()})
    tallies = [{"merchant_id": merchant_id, "listings": counts[merchant_id]} for merchant_id in sorted(counts)]

    def drafts():
        for tally in tallies:
            facts = (
                f"{tally['listings']} of your listings in {category_names} were removed on "
                f"{_local_day(policy, now)} because the category was closed under “{policy}”."
            )
            yield NoticeDraft(
                merchant_id=tally["merchant_id"],
                kind=Notice.Kind.LISTINGS_DELISTED,
                dedupe_key=f"removal:{removal.pk}:merchant:{tally['merchant_id']}",
                policy=policy,
                clause=clause,
                restricts=True,
                appeal_deadline=appeal_deadline,
                context={
                    "listings": tally["listings"],
                    "categories": category_names,
                    # The names one by one: each language lists them with its own separator ("、").
                    "category_names": top_names,
                    "removal": removal,
                    "decided_at": policy.local(now),
                },
                transparency=statement_fields(
                    policy=policy,
                    clause=clause,
                    facts=facts,
                    content_date=removal.started_at or now,
                    application_date=now,
                    automated_detection=True,
                    automated_decision="AUTOMATED_DECISION_PARTIALLY",
                    visibility=[VISIBILITY_REMOVED],
                ),
            )

    create_notices(drafts())
    return len(tallies)


def record_chunk_failure(*, chunk_id: int, error: BaseException) -> int:
    """Count a failed attempt of a chunk (its own transaction: the chunk's rolled back). Returns attempts."""
    with transaction.atomic():
        RemovalChunk.objects.filter(pk=chunk_id).update(attempts=F("attempts") + 1, error=repr(error)[:2000])
        return RemovalChunk.objects.filter(pk=chunk_id).values_list("attempts", flat=True).first() or 0


def fail_removal(*, chunk_id: int, error: BaseException, actor: Actor = REMOVAL_ACTOR) -> bool:
    """A chunk ran out of retries: the removal stops as ``failed``, resumable from its page."""
    with transaction.atomic():
        chunk = RemovalChunk.objects.select_related("removal__policy").get(pk=chunk_id)
        RemovalChunk.objects.filter(pk=chunk_id, status=RemovalChunk.Status.PENDING).update(
            status=RemovalChunk.Status.FAILED
        )
        return _mark_failed(
            chunk.removal,
            actor=actor,
            error=f"Chunk {chunk.number} (ids {chunk.first_id}–{chunk.last_id}): {error}",
        )


def _mark_failed(removal: CategoryRemoval, *, actor: Actor, error: str) -> bool:
    failed = CategoryRemoval.objects.filter(pk=removal.pk, status=CategoryRemoval.Status.RUNNING).update(
        status=CategoryRemoval.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )
    if failed:
        record_event(
            actor=actor,
            verb=AuditVerb.REMOVAL_FAILED,
            target=removal,
            policy=removal.policy,
            before={"status": CategoryRemoval.Status.RUNNING},
            after={"status": CategoryRemoval.Status.FAILED},
            reason=error[:2000],
        )
    return bool(failed)


@transaction.atomic
def resume_removal(*, actor: Actor, removal: CategoryRemoval) -> CategoryRemoval:
    """Run a failed (or stalled) removal again from where it stopped; done chunks stay done."""
    removal = CategoryRemoval.objects.select_for_update().get(pk=removal.pk)
    if removal.status != CategoryRemoval.Status.FAILED and not is_stalled(removal):
        raise ValidationError(
            _("Removal #%(number)s is %(status)s: only a failed or stalled one resumes.")
            % {"number": removal.pk, "status": removal.get_status_display().lower()}
        )
    before = removal.status
    now = timezone.now()
    if not removal.scope_category_ids:
        # It failed before it retired anything (its policy was not in effect): put it back
        # on the schedule so the next start checks the policy again.
        CategoryRemoval.objects.filter(pk=removal.pk).update(
            status=CategoryRemoval.Status.SCHEDULED, error="", started_at=None, finished_at=None
        )
    else:
        RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.FAILED).update(
            status=RemovalChunk.Status.PENDING, attempts=0
        )
        CategoryRemoval.objects.filter(pk=removal.pk).update(
            status=CategoryRemoval.Status.RUNNING, error="", finished_at=None, last_progress_at=now
        )
        removal_id = removal.pk
        transaction.on_commit(lambda: queue_pending_chunks(removal_id=removal_id))
    removal.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.REMOVAL_RESUMED,
        target=removal,
        policy=removal.policy,
        before={"status": before},
        after={"status": removal.status},
    )
    return removal


def requeue_stalled_removals(*, now: datetime | None = None) -> int:
    """Beat's safety net: re-send the pending chunks of removals that stopped moving.

    Covers a message lost between commit and send, or a whole worker killed with its
    unacknowledged task: a chunk already done is skipped, so re-sending is harmless.
    """
    count = 0
    for removal_id in stalled_removal_ids(now=now):
        CategoryRemoval.objects.filter(pk=removal_id).update(last_progress_at=timezone.now())
        count += queue_pending_chunks(removal_id=removal_id)
    return count
