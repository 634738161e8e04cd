"""Reads about sanctions: what restricts a merchant now, and its enforcement record for the merchant page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from moderation.models import AuditEvent, AuditVerb, EscalationStep, Notice, Policy, Sanction, SanctionKind, Violation
from moderation.models.sanctions import SEVERITY
from moderation.selectors.ledger import counted_violations
from sellers.models import Merchant

SELLING_BLOCKED_BY = [
    SanctionKind.LISTING_RESTRICTION,
    SanctionKind.STORE_BLOCK,
    SanctionKind.ACCOUNT_FREEZE,
    SanctionKind.ACCOUNT_CLOSURE,
]


def restricting_sanction(merchant: Merchant) -> Sanction | None:
    """The most severe active sanction that stops the merchant creating or editing listings, if any."""
    if (
        merchant.enforcement_status == Merchant.EnforcementStatus.ACTIVE
        and not Sanction.objects.filter(
            merchant=merchant, status=Sanction.Status.ACTIVE, kind=SanctionKind.LISTING_RESTRICTION
        ).exists()
    ):
        return None
    active = Sanction.objects.filter(
        merchant=merchant, status=Sanction.Status.ACTIVE, kind__in=SELLING_BLOCKED_BY
    ).select_related("policy")
    return max(active, key=lambda sanction: (SEVERITY[sanction.kind], sanction.pk), default=None)


@dataclass
class LadderPosition:
    policy: Policy
    points: int
    steps: list[EscalationStep]
    reached: EscalationStep | None
    next_step: EscalationStep | None


def ladder_positions(merchant: Merchant, *, at: datetime | None = None) -> list[LadderPosition]:
    """Per policy the merchant has a record under: current points, the step reached, the next one."""
    at = at or timezone.now()
    policy_ids = set(Violation.objects.filter(merchant=merchant).values_list("policy_id", flat=True))
    policy_ids |= set(Sanction.objects.filter(merchant=merchant).values_list("policy_id", flat=True))
    newest: dict[str, Policy] = {}
    for policy in Policy.objects.filter(slug__in=Policy.objects.filter(pk__in=policy_ids).values("slug")).order_by(
        "slug", "-version"
    ):
        if policy.status != Policy.Status.DRAFT:
            newest.setdefault(policy.slug, policy)
    positions = []
    for policy in newest.values():
        points = counted_violations(policy=policy, at=at).filter(merchant=merchant).aggregate(t=Sum("points"))["t"] or 0
        steps = list(policy.escalation_steps.order_by("threshold"))
        standing = (
            Sanction.objects.filter(
                merchant=merchant,
                policy__slug=policy.slug,
                step__isnull=False,
                status__in=[Sanction.Status.ACTIVE, Sanction.Status.EXPIRED],
                starts_at__gte=policy.points_counted_since(at),
            )
            .select_related("step")
            .order_by("-step__threshold")
            .first()
        )
        reached = standing.step if standing else None
        above = reached.threshold if reached else 0
        positions.append(
            LadderPosition(
                policy=policy,
                points=points,
                steps=steps,
                reached=reached,
                next_step=next((step for step in steps if step.threshold > above), None),
            )
        )
    return positions


def merchant_sanctions(merchant: Merchant) -> QuerySet[Sanction]:
    return Sanction.objects.filter(merchant=merchant).select_related("policy", "step").order_by("-starts_at", "-id")


def merchant_violations(merchant: Merchant) -> QuerySet[Violation]:
    return (
        Violation.objects.filter(merchant=merchant)
        .select_related("policy", "clause", "listing")
        .order_by("-decided_at", "-id")
    )


def merchant_timeline(merchant: Merchant, *, limit: int = 200) -> list[dict]:
    """Notices, violations, sanctions and audit events of one merchant, newest first, in one list."""
    entries: list[dict[str, Any]] = []
    for notice in Notice.objects.filter(merchant=merchant).only(
        "pk", "kind", "subject", "created_at", "email_status", "merchant_id"
    )[:limit]:
        entries.append({"at": notice.created_at, "type": "notice", "object": notice})
    for violation in merchant_violations(merchant)[:limit]:
        entries.append({"at": violation.decided_at, "type": "violation", "object": violation})
    for sanction in merchant_sanctions(merchant)[:limit]:
        entries.append({"at": sanction.starts_at, "type": "sanction", "object": sanction})
    events = (
        AuditEvent.objects.filter(Q(merchant=merchant))
        .exclude(verb__in=[AuditVerb.NOTICE_CREATED, AuditVerb.NOTICE_DELIVERED])  # the notices are listed themselves
        .order_by("-occurred_at", "-id")[:limit]
    )
    for event in events:
        entries.append({"at": event.occurred_at, "type": "event", "object": event})
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return entries[:limit]


def merchant_search(*, query: str = "", status: str = "") -> QuerySet[Merchant]:
    """Merchants by store or company name (or #id), restricted ones first when no status is chosen."""
    merchants = Merchant.objects.select_related("marketplace")
    if query:
        condition = Q(store_name__icontains=query) | Q(company_name__icontains=query)
        if query.lstrip("#").isdecimal():
            condition |= Q(pk=int(query.lstrip("#")))
        merchants = merchants.filter(condition)
    if status in Merchant.EnforcementStatus.values:
        merchants = merchants.filter(enforcement_status=status)
    elif not query:
        merchants = merchants.exclude(enforcement_status=Merchant.EnforcementStatus.ACTIVE)
    return merchants.order_by("store_name", "pk")
