"""Violations and the points ledger.

A violation's points come from its policy's table (``PointsRule``: per kind, per clause),
general violations confirmed on one day sharing the policy's daily cap; they are written
on the violation when it is recorded, with its audit event, so the ledger is the
violations themselves. A merchant's current total is one SUM over the violations still
counting; nothing keeps a running counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from moderation.models import AuditVerb, Notice, PointsRule, Policy, PolicyClause, ReviewItem, Violation
from moderation.selectors.ledger import merchant_points
from moderation.services.audit import Actor, SystemActor, actor_label, actor_user, record_event
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.transparency import statement_fields
from sellers.models import Listing, Merchant

REFUSAL_ACTOR = SystemActor("listing_refusal")


def points_rule_for(policy: Policy, *, kind: str, clause: PolicyClause | None) -> PointsRule | None:
    """The clause's own rule for this kind, else the policy's rule for the kind, else none (no points)."""
    rules = PointsRule.objects.filter(policy=policy, kind=kind).filter(Q(clause=clause) | Q(clause__isnull=True))
    return min(rules, key=lambda rule: rule.clause_id is None, default=None)


def local_day_bounds(policy: Policy, at: datetime) -> tuple[datetime, datetime]:
    """The calendar day around ``at`` as the policy means days (its timezone)."""
    local = policy.local(at)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def capped_points_today(*, merchant_id: int, policy: Policy, at: datetime) -> int:
    """Points already given today to this merchant's general violations under the policy."""
    start, end = local_day_bounds(policy, at)
    total = Violation.objects.filter(
        merchant_id=merchant_id,
        policy__slug=policy.slug,
        status=Violation.Status.ACTIVE,
        counts_toward_sanctions=True,
        points_capped=True,
        decided_at__gte=start,
        decided_at__lt=end,
    ).aggregate(total=Sum("points"))["total"]
    return total or 0


def points_for_violation(
    *, merchant_id: int, policy: Policy, kind: str, clause: PolicyClause | None, at: datetime
) -> tuple[int, bool]:
    """(points, whether the daily cap applies) for a violation recorded now. Zero during grace."""
    rule = points_rule_for(policy, kind=kind, clause=clause)
    if rule is None or not policy.counts_toward_sanctions(at):
        return 0, bool(rule and rule.daily_cap_applies)
    if not rule.daily_cap_applies or not policy.daily_points_cap:
        return rule.points, False
    room = max(policy.daily_points_cap - capped_points_today(merchant_id=merchant_id, policy=policy, at=at), 0)
    return min(rule.points, room), True


def record_violation(
    *,
    actor: Actor,
    merchant_id: int,
    policy: Policy,
    kind: str,
    clause: PolicyClause | None,
    listing: Listing | None = None,
    review_item: ReviewItem | None = None,
    listing_version: int | None = None,
    automated_detection: bool,
    automated_decision: bool,
    evidence: dict[str, Any],
    reason: str = "",
    at: datetime | None = None,
) -> Violation:
    """Record a confirmed breach with its points, and queue the merchant's escalation after commit.

    Call inside the caller's transaction. The merchant's row is locked so two violations
    confirmed at once share the daily cap correctly (and a sweep sees both or neither).
    """
    at = at or timezone.now()
    Merchant.objects.select_for_update().filter(pk=merchant_id).values_list("pk", flat=True).first()
    counts = policy.counts_toward_sanctions(at)
    points, capped = points_for_violation(merchant_id=merchant_id, policy=policy, kind=kind, clause=clause, at=at)
    violation = Violation.objects.create(
        merchant_id=merchant_id,
        listing=listing,
        listing_version=listing_version if listing_version is not None else (listing.version if listing else None),
        policy=policy,
        clause=clause,
        review_item=review_item,
        kind=kind,
        decided_by=actor_user(actor),
        decided_by_name=actor_label(actor),
        decided_at=at,
        automated_detection=automated_detection,
        automated_decision=automated_decision,
        points=points,
        points_capped=capped,
        counts_toward_sanctions=counts,
        evidence=evidence,
        reason=reason,
    )
    record_event(
        actor=actor,
        verb=AuditVerb.VIOLATION_RECORDED,
        target=violation,
        merchant=merchant_id,
        policy=policy,
        after={
            "kind": kind,
            "clause": clause.number if clause else None,
            "counts_toward_sanctions": counts,
            "points": points,
            "listing": listing.pk if listing else None,
        },
        reason=reason,
    )
    if counts and points:
        from moderation.tasks import escalate_merchants

        transaction.on_commit(lambda: escalate_merchants.delay([merchant_id]))
    return violation


def flagging_policy(*, merchant: Merchant, texts: dict[str, Any]):
    """The policy in effect on the merchant's marketplace whose rules flag this content, with the result.

    A policy that refuses flagged listings comes before one that holds them for review: content
    two policies ban is refused, whatever order they were made in. None, None when none flags it.
    """
    from moderation.selectors.detection import policy_matcher
    from moderation.services.scanning import effective_policies_for_marketplace

    return first_flagging(
        (policy, policy_matcher(policy)) for policy in effective_policies_for_marketplace(merchant.marketplace_id)
    )(**texts)


def first_flagging(policies_and_matchers):
    """``flagging_policy``'s choice over (policy, matcher) pairs in the policies' order, as a function of
    the texts: the first refusing policy that flags them, else the first holding one."""
    pairs = list(policies_and_matchers)

    def choose(**texts):
        held = None
        for policy, matcher in pairs:
            result = matcher.score(**texts)
            if not result.flagged:
                continue
            if not policy.holds_flagged_listings:
                return policy, result
            held = held or (policy, result)
        return held or (None, None)

    return choose


def clause_that_applies(policy: Policy, number: int | None):
    """The policy's clause of that number (the strongest matching rules' clause); the first one
    when no rule names a clause, as a policy without clauses per rule means them all."""
    clauses = policy.clauses.order_by("number")
    return (clauses.filter(number=number).first() if number is not None else None) or clauses.first()


@dataclass(frozen=True)
class ContentHold:
    """Flagged content a policy holds for a moderator instead of refusing it: the caller saves the
    listing unpublished (``Listing.Status.HELD``) and ``moderation.services.holds.hold_listing``
    opens its review item and tells the merchant."""

    policy: Policy
    result: Any  # moderation.detection.MatchResult
    field: str


def judge_listing_content(
    *, actor: Actor, merchant: Merchant, title: str, description: str, attributes: Any, listing: Listing | None = None
) -> ContentHold | None:
    """Whether a new or edited listing's content may be saved: None (nothing flags it, or a moderator
    cleared this very content of this listing), a ``ContentHold`` (the flagging policy holds such
    listings for review), or a ``ValidationError`` naming the policy (it refuses them).

    A refusal is recorded as an attempt to re-list a banned product (a violation decided by
    automated means, in its own transaction so it survives the refusal), and the merchant gets a
    statement of reasons; repeated attempts add up. A hold records nothing against the merchant:
    a moderator decides.
    """
    texts = {"title": title, "description": description or "", "attributes": attributes or {}}
    policy, result = flagging_policy(merchant=merchant, texts=texts)
    if policy is None:
        return None
    if listing is not None and _cleared_by_a_moderator(policy, listing, texts):
        # A moderator dismissed an item on exactly this content of this listing: not a violation.
        return None
    field = result.fields[0] if result.fields else "title"
    if policy.holds_flagged_listings:
        return ContentHold(policy=policy, result=result, field=field)
    with transaction.atomic():
        violation = record_relist_attempt(
            actor=REFUSAL_ACTOR,
            merchant=merchant,
            policy=policy,
            texts=texts,
            result=result,
            listing=listing,
            field=field,
        )
    clause = violation.clause
    # The policy, its clause and the field: never the words or rules that matched (a seller
    # would test disguises against them).
    if clause is not None:
        message = _(
            "This listing offers a product banned under the policy “%(policy)s”, clause %(number)s "
            "(“%(clause)s”): see its %(field)s. It was not saved; the attempt is recorded (violation #%(violation)s)."
        )
    else:
        message = _(
            "This listing offers a product banned under the policy “%(policy)s”: see its %(field)s. "
            "It was not saved; the attempt is recorded (violation #%(violation)s)."
        )
    values = {"policy": policy, "field": FIELD_NAMES[field], "violation": violation.pk}
    if clause is not None:
        values.update(number=clause.number, clause=clause.title)
    raise ValidationError({field: message % values})


FIELD_NAMES = {
    "title": gettext_lazy("title"),
    "description": gettext_lazy("description"),
    "attributes": gettext_lazy("attributes"),
}


def _cleared_by_a_moderator(policy: Policy, listing: Listing, texts: dict[str, Any]) -> bool:
    """Whether a moderator dismissed an item of this policy on a version of this listing with these texts.

    An edit is judged like a creation: content a creation would refuse is refused, unless a
    person has looked at that same content of that listing and found it allowed.
    """
    from sellers.models import ListingVersion

    seen = ReviewItem.objects.filter(
        policy=policy, listing=listing, decision=ReviewItem.Decision.DISMISSED, version__isnull=False
    ).values_list("version", flat=True)
    versions = ListingVersion.objects.filter(listing=listing, number__in=seen).values_list(
        "title", "description", "attributes"
    )
    wanted = (texts["title"], texts["description"], texts["attributes"])
    return any(found == wanted for found in versions)


def record_relist_attempt(
    *, actor: Actor, merchant: Merchant, policy: Policy, texts: dict, result, listing=None, field: str = "title"
):
    """The refused attempt as a violation, citing the clause the matching rules point to."""
    now = timezone.now()
    clause = clause_that_applies(policy, result.clause)
    violation = record_violation(
        actor=actor,
        merchant_id=merchant.pk,
        policy=policy,
        kind=Violation.Kind.RELIST_ATTEMPT,
        clause=clause,
        listing=listing,
        automated_detection=True,
        automated_decision=True,
        evidence={"title": texts["title"][:300], "terms": sorted(result.terms), "score": str(result.score)},
        reason="A listing of a banned product was refused.",
        at=now,
    )
    facts = (
        f"On {policy.local(now):%Y-%m-%d %H:%M} ({policy.timezone}) you tried to "
        f"{'change a listing so that it offers' if listing else 'list'} a product the policy bans "
        f"(“{texts['title'][:200]}”). The marketplace's automated checks refused it."
    )
    create_notices(
        [
            NoticeDraft(
                merchant_id=merchant.pk,
                kind=Notice.Kind.LISTING_REFUSED,
                dedupe_key=f"violation:{violation.pk}",
                policy=policy,
                clause=clause,
                restricts=True,
                appeal_deadline=policy.appeal_deadline(now),
                context={
                    "violation": violation,
                    "title": texts["title"],
                    "field": field,
                    "decided_at": policy.local(now),
                    "in_grace": not violation.counts_toward_sanctions,
                    "total_points": merchant_points(merchant, policy=policy, at=now),
                },
                transparency=statement_fields(
                    policy=policy,
                    clause=clause,
                    facts=facts,
                    content_date=now,
                    application_date=now,
                    automated_detection=True,
                    automated_decision="AUTOMATED_DECISION_FULLY",
                    visibility=["DECISION_VISIBILITY_CONTENT_DISABLED"],
                ),
            )
        ]
    )
    return violation
