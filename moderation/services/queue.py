"""The review queue: open items, claim them, decide them (take down, dismiss, escalate).

Claims are leases: ``claim_next_item`` hands the highest-priority unclaimed item to one
moderator (``SELECT … FOR UPDATE SKIP LOCKED``, so two moderators never get the same one),
and a claim that outlives its lease goes back to the queue. Every decision is a
conditional UPDATE of the item, so two moderators deciding the same item have exactly one
winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text
from moderation.models import (
    Appeal,
    AuditVerb,
    Notice,
    Policy,
    PolicyClause,
    ReviewItem,
    ReviewItemRule,
    ReviewNote,
    Violation,
)
from moderation.search import search_text, with_store_name
from moderation.services import outbox
from moderation.services.audit import Actor, EventRow, SystemActor, record_event, record_events
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.transparency import VISIBILITY_REMOVED, statement_fields
from moderation.services.violations import merchant_points, record_violation
from moderation.tiers import may_work_tier, tiers_for
from sellers.models import Listing
from sellers.versions import ensure_versions

QUEUE_ACTOR = SystemActor("review_queue")
# A merchant's confirmed violations in this window raise the priority of its new items.
HISTORY_WINDOW = timedelta(days=365)
HISTORY_WEIGHT = 5
HISTORY_CAP = 50


@dataclass(frozen=True)
class Detection:
    """What a scan found on one listing under one policy."""

    score: Decimal
    terms: list[str]
    spans: dict
    rule_ids: list[int] = field(default_factory=list)
    shadow_rule_ids: list[int] = field(default_factory=list)
    clause: int | None = None  # the number of the clause the matching rules point to
    appeal: Appeal | None = None  # a granted appeal whose listing waits for this review


def _link_rules(created: list[tuple], found_by_listing: dict[int, Detection]) -> None:
    """Record which rules (and shadow rules) flagged each new item, for the rules' precision."""
    links = [
        ReviewItemRule(item_id=pk, rule_id=rule_id, shadow=shadow)
        for pk, listing_id, *_rest in created
        for rule_ids, shadow in (
            (found_by_listing[listing_id].rule_ids, False),
            (found_by_listing[listing_id].shadow_rule_ids, True),
        )
        for rule_id in rule_ids
    ]
    ReviewItemRule.objects.bulk_create(links, ignore_conflicts=True)


def lease() -> timedelta:
    return timedelta(minutes=settings.REVIEW_CLAIM_LEASE_MINUTES)


def priority_for(*, score: Decimal, confirmed_violations: int) -> int:
    """The score, plus a bonus for a merchant with a record: repeat sellers first."""
    return int(score) + min(confirmed_violations * HISTORY_WEIGHT, HISTORY_CAP)


def confirmed_violation_counts(merchant_ids: list[int], *, now: datetime) -> dict[int, int]:
    from django.db.models import Count

    rows = (
        Violation.objects.filter(
            merchant_id__in=merchant_ids,
            status=Violation.Status.ACTIVE,
            decided_at__gte=now - HISTORY_WINDOW,
        )
        .values("merchant_id")
        .annotate(n=Count("id"))
    )
    return {row["merchant_id"]: row["n"] for row in rows}


def open_review_items(
    *,
    policy: Policy,
    detections: list[tuple[Listing, Detection]],
    source: str = ReviewItem.Source.DETECTION,
    actor: Actor = QUEUE_ACTOR,
) -> int:
    """Queue listings for review, at most one open item per listing and policy. Returns how many are new.

    Set-based for bulk scans: one INSERT … ON CONFLICT DO NOTHING (the partial unique
    index refuses a second open item), then one INSERT of their audit events.
    """
    if not detections:
        return 0
    now = timezone.now()
    history = confirmed_violation_counts(sorted({listing.merchant_id for listing, _ in detections}), now=now)
    due = now + timedelta(hours=policy.review_due_hours)
    clauses: dict[int | None, int] = dict(policy.clauses.values_list("number", "pk"))  # no number: no clause
    candidates = [
        ReviewItem(
            listing=listing,
            policy=policy,
            merchant_id=listing.merchant_id,
            marketplace_id=listing.merchant.marketplace_id,
            category_id=listing.category_id,
            source=source,
            score=found.score,
            matched_terms=found.terms,
            clause_id=clauses.get(found.clause),
            version=listing.version,
            appeal=found.appeal,
            spans=found.spans,
            priority=priority_for(score=found.score, confirmed_violations=history.get(listing.merchant_id, 0)),
            due_at=due,
            created_at=now,
            search_text=search_text(
                store_name=listing.merchant.store_name, title=listing.title, description=listing.description
            ),
        )
        for listing, found in detections
    ]
    listing_ids = [listing.pk for listing, _ in detections]
    with transaction.atomic():
        already_open = list(
            ReviewItem.objects.filter(
                policy=policy,
                listing_id__in=listing_ids,
                status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED],
            ).values_list("pk", flat=True)
        )
        ReviewItem.objects.bulk_create(candidates, ignore_conflicts=True)
        # ignore_conflicts returns no ids: read back the items this call created.
        created = list(
            ReviewItem.objects.filter(
                policy=policy,
                created_at=now,
                listing_id__in=listing_ids,
                status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED],
            )
            .exclude(pk__in=already_open)
            .values_list("pk", "listing_id", "merchant_id", "score")
        )
        _link_rules(created, {listing.pk: found for listing, found in detections})
        # The content each new item judged, kept for the diff a moderator sees if the listing changes.
        opened = {listing_id for _pk, listing_id, *_rest in created}
        ensure_versions([listing for listing, _found in detections if listing.pk in opened])
        record_events(
            actor=actor,
            verb=AuditVerb.REVIEW_ITEM_OPENED,
            target_type=ReviewItem,
            at=now,
            rows=(
                EventRow(
                    target_id=pk,
                    target_repr=f"Review #{pk}: listing {listing_id}",
                    merchant_id=merchant_id,
                    policy_id=policy.pk,
                    after={"listing": listing_id, "score": str(score), "source": source},
                )
                for pk, listing_id, merchant_id, score in created
            ),
        )
        # Near-duplicate listings join their group now, as they arrive, not when a page is viewed.
        from moderation.services.duplicates import group_new_items  # it imports this module's services

        listings = {listing.pk: listing for listing, _found in detections}
        group_new_items(
            items=sorted((pk, listings[listing_id]) for pk, listing_id, *_rest in created),
            policy=policy,
            actor=actor,
            now=now,
        )
    return len(created)


def refresh_search_text(*, listing: Listing) -> int:
    """After the listing's title or description changed: its items' search text anew (every
    item, decided ones too: a search of the decided items reads the listing as it is now).

    Derived data, not a decision: the change that calls it is audited by its own service.
    """
    text = search_text(store_name=listing.merchant.store_name, title=listing.title, description=listing.description)
    return ReviewItem.objects.filter(listing_id=listing.pk).update(search_text=text)


def refresh_store_name_in_search_text(*, merchant) -> int:
    """After a store was renamed: the store name in its items' search text, in one UPDATE."""
    return ReviewItem.objects.filter(merchant_id=merchant.pk).update(search_text=with_store_name(merchant.store_name))


def _audit(item: ReviewItem, *, actor: Actor, verb: AuditVerb, before=None, after=None, reason: str = ""):
    return record_event(
        actor=actor,
        verb=verb,
        target=item,
        merchant=item.merchant_id,  # ids: the event needs no row loaded to be filed under them
        policy=item.policy_id,
        before=before,
        after=after,
        reason=reason,
    )


def _tiers_for(user) -> list[str]:
    return tiers_for(user)


def _claimable(now: datetime) -> Q:
    return Q(status=ReviewItem.Status.OPEN) | Q(status=ReviewItem.Status.CLAIMED, claimed_until__lt=now)


@transaction.atomic
def claim_next_item(*, actor, tier: str | None = None, filters: dict | None = None) -> ReviewItem | None:
    """Give the moderator the highest-priority claimable item of their tier, or None.

    ``filters`` narrows it the way the moderator narrowed the queue (policy, marketplace,
    category, source).

    Items assigned to the actor come first (``assign_item``), then everyone's by priority.

    ``FOR UPDATE SKIP LOCKED``: concurrent callers each lock a different row, so twenty
    moderators pressing "claim next" at once get twenty different items.
    """
    now = timezone.now()
    tiers = [tier] if tier else _tiers_for(actor)
    if tier is not None and not may_work_tier(actor, tier):
        raise ValidationError(_("Only senior moderators work the escalated queue."))
    claimable = ReviewItem.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        _claimable(now), tier__in=tiers, **(filters or {})
    )
    # Two queries, not one ORDER BY (assigned_to = actor) DESC: each keeps its index
    # (review_open_assigned_idx, then review_open_priority_idx) instead of sorting the queue.
    item = (
        claimable.filter(assigned_to=actor).order_by("-priority", "id").first()
        or claimable.order_by("-priority", "id").first()
    )
    if item is None:
        return None
    return _take_claim(item, actor=actor, now=now)


def _take_claim(item: ReviewItem, *, actor, now: datetime) -> ReviewItem:
    before = {"status": item.status, "claimed_by": item.claimed_by_id}
    # The row is locked (FOR UPDATE): what the UPDATE writes is what it holds, no need to read it back.
    item.status, item.claimed_by, item.claimed_until = ReviewItem.Status.CLAIMED, actor, now + lease()
    ReviewItem.objects.filter(pk=item.pk).update(status=item.status, claimed_by=actor, claimed_until=item.claimed_until)
    _audit(
        item,
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_CLAIMED,
        before=before,
        after={"status": item.status, "claimed_by": actor.pk, "claimed_until": item.claimed_until},
    )
    return item


def _claimed_by_other(item: ReviewItem) -> str:
    return _("%(moderator)s is working on this item until %(until)s UTC.") % {
        "moderator": item.claimed_by,
        "until": f"{item.claimed_until:%H:%M}",
    }


@transaction.atomic
def claim_item(*, actor, item: ReviewItem) -> ReviewItem:
    """Claim one item. Refused while another moderator's lease runs; renewing one's own is fine."""
    now = timezone.now()
    if not may_work_tier(actor, item.tier):
        raise ValidationError(_("This item was escalated: only senior moderators decide it."))
    # The tier is checked in the UPDATE too: the caller's copy may predate an escalation.
    claimed = ReviewItem.objects.filter(
        _claimable(now) | Q(status=ReviewItem.Status.CLAIMED, claimed_by=actor), pk=item.pk, tier__in=_tiers_for(actor)
    ).update(status=ReviewItem.Status.CLAIMED, claimed_by=actor, claimed_until=now + lease())
    if claimed != 1:
        item.refresh_from_db()
        if item.tier not in _tiers_for(actor):
            raise ValidationError(_("This item was escalated: only senior moderators decide it."))
        if item.status == ReviewItem.Status.DECIDED:
            raise ValidationError(_("This item has been decided already."))
        raise ValidationError(_claimed_by_other(item))
    item.refresh_from_db()
    _audit(
        item,
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_CLAIMED,
        after={"status": item.status, "claimed_by": actor.pk, "claimed_until": item.claimed_until},
    )
    return item


def release_expired_claims(*, actor: Actor = QUEUE_ACTOR) -> int:
    """Beat: leases that ran out go back to the queue (their moderator walked away)."""
    now = timezone.now()
    released = 0
    with transaction.atomic():
        expired = list(
            ReviewItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=ReviewItem.Status.CLAIMED, claimed_until__lt=now)
            .select_related("merchant", "policy")[:1000]
        )
        for item in expired:
            ReviewItem.objects.filter(pk=item.pk, status=ReviewItem.Status.CLAIMED).update(
                status=ReviewItem.Status.OPEN, claimed_by=None, claimed_until=None
            )
            _audit(
                item,
                actor=actor,
                verb=AuditVerb.REVIEW_ITEM_RELEASED,
                before={"status": ReviewItem.Status.CLAIMED, "claimed_by": item.claimed_by_id},
                after={"status": ReviewItem.Status.OPEN},
                reason="The claim's lease ran out.",
            )
            released += 1
    return released


def _lock_for_decision(*, actor, item: ReviewItem) -> ReviewItem:
    """The item, locked, if this moderator may decide it now; a clear refusal otherwise.

    Deciding an open item claims it on the way (like picking it up); an item claimed by
    someone else whose lease still runs is theirs.
    """
    now = timezone.now()
    locked = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("listing", "policy", "merchant__marketplace")
        .get(pk=item.pk)
    )
    if ReviewItem.policy.is_cached(item):
        # An item's policy never changes: keep the caller's, with what it loaded (its clauses).
        locked.policy = item.policy
    item = locked
    if item.status == ReviewItem.Status.DECIDED:
        raise ValidationError(_("This item has been decided already."))
    if not may_work_tier(actor, item.tier):
        raise ValidationError(_("This item was escalated: only senior moderators decide it."))
    held_by_other = (
        item.status == ReviewItem.Status.CLAIMED
        and item.claimed_by_id != actor.pk
        and item.claimed_until
        and item.claimed_until >= now
    )
    if held_by_other:
        raise ValidationError(_claimed_by_other(item))
    return item


def _mark_decided(item: ReviewItem, *, actor, decision: str, reason: str, now: datetime) -> None:
    updated = (
        ReviewItem.objects.filter(pk=item.pk)
        .exclude(status=ReviewItem.Status.DECIDED)
        .update(
            status=ReviewItem.Status.DECIDED,
            decision=decision,
            decided_by=actor,
            decided_at=now,
            decision_reason=reason,
            claimed_by=None,
            claimed_until=None,
        )
    )
    if updated != 1:
        raise ValidationError(_("This item has been decided already."))


@transaction.atomic
def take_down_listing(
    *,
    actor,
    item: ReviewItem,
    clause: PolicyClause | None = None,
    reason: str = "",
    kind: str = Violation.Kind.PROHIBITED_LISTING,
) -> Violation:
    """The listing breaks the policy: delist it, record the violation, tell the merchant why.

    The violation cites ``clause``, or else the clause the item's matching rules point to;
    with neither, the moderator must choose (no default: a statement of reasons quotes it).

    1. Lock the item; refuse if decided, escalated beyond the actor, or held by another.
    2. Delist the listing (keeping its previous status for a granted appeal).
    3. Record the Violation: it counts toward sanctions only after the grace period.
    4. A notice with the statement of reasons, e-mailed after commit.
    """
    item = _lock_for_decision(actor=actor, item=item)
    policy = item.policy
    clause = clause or item.clause
    if clause is None and policy.clauses.exists():
        # No rule pointed to a clause (a report, a rule without one): the moderator says which.
        raise ValidationError({"clause": _("Choose the clause the listing breaks.")})
    if clause is not None and clause.policy_id != policy.pk:
        raise ValidationError({"clause": _("Choose a clause of the item's policy.")})
    now = timezone.now()
    listing = Listing.objects.select_for_update().get(pk=item.listing_id)
    listing_before = {"status": listing.status}
    if listing.status in {Listing.Status.LIVE, Listing.Status.HELD}:
        # A held listing was never judged allowed: a granted appeal of this decision publishes it.
        listing.previous_status = Listing.Status.LIVE
        listing.status = Listing.Status.DELISTED
        listing.delisted_version = item.version or listing.version
        listing.delisted_at = now
        listing.delisted_reason = (
            f"Taken down by a moderator under “{policy}”" + (f", clause {clause.number}" if clause else "") + "."
        )
        listing.updated_at = now
        listing.save(
            update_fields=[
                "status",
                "previous_status",
                "delisted_version",
                "delisted_at",
                "delisted_reason",
                "updated_at",
            ]
        )
        outbox.listing_delisted(listing, reason="taken_down", policy=policy, at=now)
    elif listing.status == Listing.Status.DELISTED and item.appeal_id is not None:
        # Held for review after a granted appeal: it stays down, now for this decision.
        listing.delisted_version = item.version or listing.version
        listing.delisted_reason = f"Taken down by a moderator under “{policy}” after appeal #{item.appeal_id}."
        listing.save(update_fields=["delisted_version", "delisted_reason"])
    violation = record_violation(
        actor=actor,
        merchant_id=item.merchant_id,
        policy=policy,
        kind=kind,
        clause=clause,
        listing=listing,
        listing_version=item.version,
        review_item=item,
        automated_detection=item.source in {ReviewItem.Source.DETECTION, ReviewItem.Source.HELD},
        automated_decision=False,
        evidence={"title": listing.title, "terms": item.matched_terms, "score": str(item.score)},
        reason=reason,
        at=now,
    )
    counts = violation.counts_toward_sanctions
    _mark_decided(item, actor=actor, decision=ReviewItem.Decision.TAKEN_DOWN, reason=reason, now=now)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_TAKEN_DOWN,
        target=listing,
        merchant=item.merchant,
        policy=policy,
        before=listing_before,
        after={"status": listing.status, "review_item": item.pk, "violation": violation.pk},
        reason=reason,
    )
    facts = (
        f"Your listing “{listing.title}” (#{listing.pk}) was reviewed by a moderator and removed on "
        f"{policy.local(now):%Y-%m-%d %H:%M} ({policy.timezone})."
    )
    create_notices(
        [
            NoticeDraft(
                merchant_id=item.merchant_id,
                kind=Notice.Kind.LISTING_TAKEN_DOWN,
                dedupe_key=f"violation:{violation.pk}",
                policy=policy,
                clause=clause,
                restricts=True,
                appeal_deadline=policy.appeal_deadline(now),
                context={
                    "listing": listing,
                    "violation": violation,
                    "decided_at": policy.local(now),
                    "in_grace": not counts,
                    "total_points": merchant_points(item.merchant_id, policy=policy, at=now),
                    "detected_automatically": violation.automated_detection,
                },
                transparency=statement_fields(
                    policy=policy,
                    clause=clause,
                    facts=facts,
                    content_date=listing.created_at,
                    application_date=now,
                    automated_detection=violation.automated_detection,
                    automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
                    visibility=[VISIBILITY_REMOVED],
                ),
            )
        ]
    )
    return violation


@transaction.atomic
def dismiss_item(*, actor, item: ReviewItem, reason: str) -> ReviewItem:
    """A false positive: the listing stays (a listing held for review is published, see
    ``moderation.services.holds``); the reason is kept so the rules can be tuned."""
    if not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why this is not a violation (it is kept to tune the rules).")})
    item = _lock_for_decision(actor=actor, item=item)
    now = timezone.now()
    _mark_decided(item, actor=actor, decision=ReviewItem.Decision.DISMISSED, reason=reason, now=now)
    item.refresh_from_db()
    _audit(
        item,
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_DISMISSED,
        after={"decision": item.decision, "terms": item.matched_terms, "score": str(item.score)},
        reason=reason,
    )
    if item.appeal_id is not None:
        _reinstate(item, actor=actor, now=now)
    else:
        from moderation.services.holds import publish_after_review  # it opens items through this module

        publish_after_review(actor=actor, item=item, now=now)
    return item


def _reinstate(item: ReviewItem, *, actor, now) -> None:
    """A listing held for review after a granted appeal breaks no rule: it goes live again."""
    listing = Listing.objects.select_for_update().get(pk=item.listing_id)
    if listing.status != Listing.Status.DELISTED or listing.category.is_retired:
        return
    before = {"status": listing.status}
    listing.save(update_fields=listing.relist(at=now))
    outbox.listing_reinstated(listing, reason="review_cleared", policy=item.policy, at=now)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_RESTORED,
        target=listing,
        merchant=item.merchant,
        policy=item.policy,
        before=before,
        after={"status": listing.status, "appeal": item.appeal_id, "review_item": item.pk},
        reason="Reviewed after the appeal was granted: no rule broken.",
    )


@transaction.atomic
def escalate_item(*, actor, item: ReviewItem, note: str) -> ReviewItem:
    """Hand the item to the senior moderators, with a note saying what is unclear."""
    if not has_visible_text(note):
        raise ValidationError({"note": _("Tell the senior moderators what needs their judgement.")})
    item = _lock_for_decision(actor=actor, item=item)
    if item.tier == ReviewItem.Tier.SENIOR:
        raise ValidationError(_("This item is already with the senior moderators."))
    # An assignee who is not a senior can no longer decide it: the assignment goes with the tier.
    assignee = item.assigned_to
    drops_assignee = assignee is not None and not may_work_tier(assignee, ReviewItem.Tier.SENIOR)
    ReviewItem.objects.filter(pk=item.pk).update(
        tier=ReviewItem.Tier.SENIOR,
        status=ReviewItem.Status.OPEN,
        claimed_by=None,
        claimed_until=None,
        escalated_by=actor,
        **({"assigned_to": None} if drops_assignee else {}),
    )
    ReviewNote.objects.create(item=item, author=actor, text=note)
    item.refresh_from_db()
    _audit(
        item,
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_ESCALATED,
        before={
            "tier": ReviewItem.Tier.MODERATOR,
            **({"assigned_to": assignee.pk} if assignee and drops_assignee else {}),
        },
        after={"tier": item.tier, **({"assigned_to": None} if drops_assignee else {})},
        reason=note,
    )
    return item


@transaction.atomic
def add_review_note(*, actor, item: ReviewItem, text: str) -> ReviewNote:
    if not has_visible_text(text):
        raise ValidationError({"text": _("A note cannot be empty.")})
    note = ReviewNote.objects.create(item=item, author=actor, text=text.strip())
    _audit(item, actor=actor, verb=AuditVerb.REVIEW_NOTE_ADDED, after={"note": note.pk}, reason=text.strip()[:500])
    return note


@dataclass(frozen=True)
class BulkOutcome:
    item_id: int
    ok: bool
    message: str


def decide_in_bulk(*, actor, item_ids: list[int], decision: str, reason: str = "") -> list[BulkOutcome]:
    """Decide several items, each through the same service in its own transaction.

    One item refused (decided meanwhile, held by someone else) does not undo the others;
    the outcome of each is reported.
    """
    if decision not in {ReviewItem.Decision.TAKEN_DOWN, ReviewItem.Decision.DISMISSED}:
        raise ValidationError({"decision": _("Choose take down or dismiss.")})
    if decision == ReviewItem.Decision.DISMISSED and not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why these are not violations.")})
    outcomes = []
    for item in ReviewItem.objects.filter(pk__in=item_ids).order_by("id"):
        try:
            if decision == ReviewItem.Decision.TAKEN_DOWN:
                take_down_listing(actor=actor, item=item, reason=reason)
            else:
                dismiss_item(actor=actor, item=item, reason=reason)
        except (ValidationError, IntegrityError) as error:
            message = " ".join(getattr(error, "messages", [str(error)]))
            outcomes.append(BulkOutcome(item.pk, False, message))
        else:
            outcomes.append(BulkOutcome(item.pk, True, "done"))
    return outcomes
