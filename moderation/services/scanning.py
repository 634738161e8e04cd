"""Detection: scan listings with a policy's rules and queue the matches for review.

- ``start_policy_scan``: every live listing in the policy's marketplaces, when it takes
  effect, in chunks over id ranges that several workers can run at once;
- ``scan_listing``: one listing after it is created or edited (queued on commit).

Idempotent: a chunk is one transaction and runs once (its row is locked and marked
done); an item opens at most once per listing and policy (a partial unique index); a
listing a moderator dismissed is not queued again unless it changed since.
"""

from __future__ import annotations

from collections import Counter

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation.bulk import plan_listing_ranges
from moderation.detection import MatchResult, PolicyMatcher
from moderation.models import AuditVerb, Policy, PolicyScan, ReviewItem, ScanChunk
from moderation.selectors.detection import policy_matcher
from moderation.services.audit import Actor, SystemActor, actor_label, record_event
from moderation.services.queue import Detection, open_review_items
from sellers.models import Category, Listing

SCAN_ACTOR = SystemActor("scan")
# 5,000 listings' texts are a few MB in the worker, and matching them all takes 50-100 ms
# of RE2 and normalisation: the chunk's time is mostly reading its rows.
SCAN_CHUNK_SIZE = 5000


def effective_policies_for_marketplace(marketplace_id: int) -> list[Policy]:
    """Policies whose rules apply now on the marketplace (announced and past their effective date)."""
    return list(
        Policy.objects.filter(
            status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT],
            effective_at__lte=timezone.now(),
            marketplaces=marketplace_id,
        ).order_by("pk")
    )


def effective_policies_for(listing: Listing) -> list[Policy]:
    return effective_policies_for_marketplace(listing.merchant.marketplace_id)


def detection_of(result: MatchResult) -> Detection:
    """What a moderator sees: the words as the listing wrote them ("ＡＮＴＭＩＮＥＲ", "110TH/s")
    and the rules' labels, never their patterns (an expression means nothing to a moderator,
    and is not for a seller's eyes)."""
    spans = {field: [list(span) for span in found] for field, found in result.spans.items()}
    return Detection(
        score=result.score,
        terms=result.terms,
        spans=spans,
        rule_ids=result.rule_ids,
        shadow_rule_ids=result.shadow_rule_ids,
        clause=result.clause,
    )


def _recently_dismissed(policy: Policy, listings: list[Listing]) -> set[int]:
    """Listings a moderator dismissed under this policy and that have not changed since."""
    decided = ReviewItem.objects.filter(
        policy=policy,
        listing_id__in=[listing.pk for listing in listings],
        decision=ReviewItem.Decision.DISMISSED,
    ).values_list("listing_id", "decided_at")
    updated = {listing.pk: listing.updated_at for listing in listings}
    # A dismissed item has its decision time (the constraint review_decided_is_complete).
    return {
        listing_id for listing_id, decided_at in decided if decided_at is not None and decided_at >= updated[listing_id]
    }


def scan_listings(
    *,
    policy: Policy,
    listings: list[Listing],
    source: str = ReviewItem.Source.DETECTION,
    matcher: PolicyMatcher | None = None,
    scored: dict[int, MatchResult] | None = None,
) -> int:
    """Match the listings against the policy's rules and queue the flagged ones. Returns items opened.

    ``scored``: results the caller has already, by listing id (a bulk scan's chunk), not computed again.
    """
    matcher = matcher or policy_matcher(policy)
    scored = scored or {}
    flagged = []
    for listing in listings:
        # Scored once: the highlights are worked out only for the flagged ones, when queued.
        result = scored.get(listing.pk) or matcher.score(
            title=listing.title, description=listing.description, attributes=listing.attributes
        )
        if result.flagged:
            flagged.append((listing, detection_of(result)))
    return _queue_flagged(policy=policy, flagged=flagged, source=source)


def _queue_flagged(*, policy: Policy, flagged: list[tuple[Listing, Detection]], source: str) -> int:
    if not flagged:
        return 0
    dismissed = _recently_dismissed(policy, [listing for listing, _ in flagged])
    detections = [(listing, found) for listing, found in flagged if listing.pk not in dismissed]
    return open_review_items(policy=policy, detections=detections, source=source)


def scan_listing(*, listing_id: int) -> int:
    """Scan one new or edited listing under every policy in effect on its marketplace."""
    listing = Listing.objects.select_related("merchant", "category").filter(pk=listing_id).first()
    if listing is None or listing.status != Listing.Status.LIVE or listing.category.is_retired:
        return 0  # gone, not live, or being delisted with its category: nothing to review
    return sum(scan_listings(policy=policy, listings=[listing]) for policy in effective_policies_for(listing))


def _scope(policy: Policy) -> tuple[str, list]:
    marketplace_ids = list(policy.marketplaces.values_list("pk", flat=True)) or [0]
    placeholders = ", ".join(["%s"] * len(marketplace_ids))
    where = (
        f"status = 'live' AND merchant_id IN (SELECT id FROM sellers_merchant WHERE marketplace_id IN ({placeholders}))"
    )
    return where, marketplace_ids


def start_policy_scan(*, policy: Policy, actor: Actor = SCAN_ACTOR) -> PolicyScan | None:
    """Plan a bulk scan and queue its chunks after commit. None if one is already running."""
    with transaction.atomic():
        # Lock the policy: beat, a redelivered task and an admin's click start one scan.
        Policy.objects.select_for_update().get(pk=policy.pk)
        if PolicyScan.objects.filter(policy=policy, status=PolicyScan.Status.RUNNING).exists():
            return None
        where, params = _scope(policy)
        total, ranges = plan_listing_ranges(where=where, params=params, chunk_size=SCAN_CHUNK_SIZE)
        now = timezone.now()
        scan = PolicyScan.objects.create(
            policy=policy,
            chunk_size=SCAN_CHUNK_SIZE,
            listings_total=total,
            chunks_total=len(ranges),
            started_by=actor_label(actor),
            started_at=now,
            last_progress_at=now,
        )
        ScanChunk.objects.bulk_create(
            ScanChunk(scan=scan, number=n, first_id=first, last_id=last)
            for n, (first, last) in enumerate(ranges, start=1)
        )
        record_event(
            actor=actor,
            verb=AuditVerb.SCAN_STARTED,
            target=scan,
            policy=policy,
            after={"listings": total, "chunks": len(ranges)},
        )
        scan_id = scan.pk
        transaction.on_commit(lambda: queue_pending_scan_chunks(scan_id=scan_id))
    return scan


def queue_pending_scan_chunks(*, scan_id: int) -> int:
    from moderation.tasks import run_scan_chunk

    pending = list(
        ScanChunk.objects.filter(scan_id=scan_id, status=ScanChunk.Status.PENDING).values_list("pk", flat=True)
    )
    for chunk_id in pending:
        run_scan_chunk.delay(chunk_id)
    if not pending:
        finish_scan_if_done(scan_id=scan_id)
    return len(pending)


def run_scan_chunk(*, chunk_id: int) -> int:
    """Scan one id range and queue its matches, all in one transaction. Returns items opened.

    A second delivery finds the chunk done and only tries the finish again (it may have
    failed after the last chunk committed).
    """
    opened = 0
    with transaction.atomic():
        chunk = (
            ScanChunk.objects.select_for_update(of=("self",)).select_related("scan__policy").filter(pk=chunk_id).first()
        )
        if chunk is None:
            return 0
        scan = chunk.scan
        if chunk.status == ScanChunk.Status.PENDING and scan.status == PolicyScan.Status.RUNNING:
            opened = _scan_chunk(chunk)
    finish_scan_if_done(scan_id=scan.pk)
    return opened


def _scan_chunk(chunk: ScanChunk) -> int:
    """Inside the chunk's transaction, with its row locked: match, queue, count.

    Every listing of the range is read and matched here: disguises (look-alike letters,
    split words, leetspeak…) are undone only by the normaliser, so the database cannot
    rule a listing out first. Rows are read as tuples (no model instances): reading is
    most of a chunk's time.
    """
    scan = chunk.scan
    policy = scan.policy
    # What the scan planned on (``_scope``): the live listings of the policy's marketplaces.
    looked_at = Listing.objects.filter(
        pk__range=(chunk.first_id, chunk.last_id),
        status=Listing.Status.LIVE,
        merchant__marketplace__in=policy.marketplaces.all(),
    )
    # A retired category's listings come down with it: no moderator needed, so they are
    # skipped, and counted as skipped: the scan's figures must add up to what it looked at.
    in_range = looked_at.filter(category__status=Category.Status.ACTIVE)
    skipped = looked_at.exclude(category__status=Category.Status.ACTIVE).count()
    matcher = policy_matcher(policy)
    rule_hits: Counter[int] = Counter()
    flagged: dict[int, MatchResult] = {}
    scanned = 0
    for listing_id, title, description, attributes in in_range.values_list("id", "title", "description", "attributes"):
        scanned += 1
        result = matcher.score(title=title, description=description, attributes=attributes)
        if not result.rules and not result.shadow_rules:
            continue
        rule_hits.update(result.rule_ids + result.shadow_rule_ids)
        if result.flagged:
            flagged[listing_id] = result
    # The flagged ones as rows (a few per chunk), with what the loop above found in them.
    opened = scan_listings(
        policy=policy,
        listings=list(Listing.objects.filter(pk__in=list(flagged)).select_related("merchant")),
        matcher=matcher,
        scored=flagged,
    )
    now = timezone.now()
    ScanChunk.objects.filter(pk=chunk.pk).update(
        status=ScanChunk.Status.DONE,
        scanned=scanned,
        skipped=skipped,
        opened=opened,
        error="",
        rule_hits={str(rule_id): hits for rule_id, hits in sorted(rule_hits.items())},
    )
    PolicyScan.objects.filter(pk=scan.pk).update(
        listings_done=F("listings_done") + scanned + skipped,
        listings_skipped=F("listings_skipped") + skipped,
        chunks_done=F("chunks_done") + 1,
        items_opened=F("items_opened") + opened,
        last_progress_at=now,
    )
    return opened


def finish_scan_if_done(*, scan_id: int) -> bool:
    with transaction.atomic():
        finished = (
            PolicyScan.objects.filter(pk=scan_id, status=PolicyScan.Status.RUNNING)
            .exclude(chunks__status__in=[ScanChunk.Status.PENDING, ScanChunk.Status.FAILED])
            # The total becomes what the scan looked at: listings that left the scope while it
            # ran (taken down, deleted) or joined it would leave "1735 / 1949" under "Completed".
            .update(status=PolicyScan.Status.COMPLETED, finished_at=timezone.now(), listings_total=F("listings_done"))
        )
        if finished != 1:
            return False
        scan = PolicyScan.objects.select_related("policy").get(pk=scan_id)
        record_event(
            actor=SCAN_ACTOR,
            verb=AuditVerb.SCAN_COMPLETED,
            target=scan,
            policy=scan.policy,
            after={
                "listings": scan.listings_done,
                "read": scan.listings_read,
                "skipped": scan.listings_skipped,
                "items_opened": scan.items_opened,
            },
        )
    return True


def record_scan_chunk_failure(*, chunk_id: int, error: BaseException, give_up: bool) -> None:
    with transaction.atomic():
        ScanChunk.objects.filter(pk=chunk_id).update(attempts=F("attempts") + 1, error=repr(error)[:2000])
        if not give_up:
            return
        chunk = ScanChunk.objects.select_related("scan__policy").get(pk=chunk_id)
        # Only a chunk still to do can fail: a done one stays done (its counts are in).
        ScanChunk.objects.filter(pk=chunk_id, status=ScanChunk.Status.PENDING).update(status=ScanChunk.Status.FAILED)
        message = f"Chunk {chunk.number} (ids {chunk.first_id}–{chunk.last_id}): {error}"[:5000]
        if PolicyScan.objects.filter(pk=chunk.scan_id, status=PolicyScan.Status.RUNNING).update(
            status=PolicyScan.Status.FAILED, error=message, finished_at=timezone.now()
        ):
            record_event(
                actor=SCAN_ACTOR,
                verb=AuditVerb.SCAN_FAILED,
                target=chunk.scan,
                policy=chunk.scan.policy,
                after={"status": PolicyScan.Status.FAILED},
                reason=message[:2000],
            )


@transaction.atomic
def resume_policy_scan(*, actor: Actor, scan: PolicyScan) -> PolicyScan:
    """Run a failed scan's remaining chunks; done chunks stay done."""
    # One running scan per policy (a constraint): say so rather than fail on it.
    running = PolicyScan.objects.filter(policy_id=scan.policy_id, status=PolicyScan.Status.RUNNING)
    if running.exclude(pk=scan.pk).exists():
        raise ValidationError(
            _("Another scan of this policy is running; scan #%(id)s can be retried when it ends.") % {"id": scan.pk}
        )
    if not PolicyScan.objects.filter(pk=scan.pk, status=PolicyScan.Status.FAILED).update(
        status=PolicyScan.Status.RUNNING, error="", finished_at=None, last_progress_at=timezone.now()
    ):
        raise ValidationError(_("Only a failed scan can be resumed."))
    ScanChunk.objects.filter(scan=scan, status=ScanChunk.Status.FAILED).update(
        status=ScanChunk.Status.PENDING, attempts=0
    )
    scan.refresh_from_db()
    record_event(actor=actor, verb=AuditVerb.SCAN_STARTED, target=scan, policy=scan.policy, reason="Resumed.")
    scan_id = scan.pk
    transaction.on_commit(lambda: queue_pending_scan_chunks(scan_id=scan_id))
    return scan
