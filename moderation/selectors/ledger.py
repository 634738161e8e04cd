"""A merchant's ledger under a policy: the points that count, the standing sanctions, the flagged listings.

What the ladder reads to decide (``moderation.services.sanctions``) and what the pages and the
appeal services show as a merchant's total. Reads only: set-based, a handful of queries for a
whole range of merchants.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet, Sum, prefetch_related_objects
from django.utils import timezone
from django.utils.encoding import force_str

from moderation.models import (
    Appeal,
    EscalationStep,
    Policy,
    PolicyClause,
    ReviewItem,
    Sanction,
    SanctionKind,
    Violation,
)
from sellers.models import Listing, Merchant

# A sanction that still stands on the merchant's record: the next step of the ladder builds on it.
STANDING = [Sanction.Status.ACTIVE, Sanction.Status.EXPIRED]
VIOLATION_KINDS = dict(Violation.Kind.choices)


def counted_violations(*, policy: Policy, at: datetime) -> QuerySet[Violation]:
    """Violations whose points still count at ``at``: active, after grace, within the period."""
    return Violation.objects.filter(
        policy__slug=policy.slug,
        status=Violation.Status.ACTIVE,
        counts_toward_sanctions=True,
        decided_at__gte=policy.points_counted_since(at),
        decided_at__lte=at,
    )


def merchant_points(merchant: Merchant | int, *, policy: Policy, at: datetime | None = None) -> int:
    """The merchant's current total under the policy (all its versions): one query."""
    at = at or timezone.now()
    merchant_id = merchant if isinstance(merchant, int) else merchant.pk
    total = counted_violations(policy=policy, at=at).filter(merchant_id=merchant_id).aggregate(total=Sum("points"))
    return total["total"] or 0


def ladder_of(policy: Policy) -> list[EscalationStep]:
    return list(EscalationStep.objects.filter(policy=policy).order_by("threshold"))


# --- The ledger the sweep decides on --------------------------------------------------------


@dataclass(slots=True)
class LedgerRow:
    """What the sweep knows of one merchant under one policy, read in a handful of set-based queries."""

    merchant_id: int
    points: int = 0
    last_relist_at: datetime | None = None
    flagged_since: datetime | None = None
    position: Sanction | HeldSanction | None = None  # the highest standing ladder sanction within the counting period
    latest_ladder_id: int = 0  # the newest ladder sanction of any age or status: part of the next one's cause
    warning: Sanction | HeldSanction | None = None  # the newest standing warning within the counting period
    overturned_threshold: int = 0  # the highest step reached but overturned on an appeal against it


# What the ledger loads of a standing sanction (the rest is deferred): enough to decide, and
# to cite it as the previous measure in the next sanction's notice.
LEDGER_SANCTION_FIELDS = (
    "id", "merchant_id", "policy_id", "step_id", "kind", "status", "starts_at", "compliance_deadline",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HeldSanction:
    """A standing sanction as a lock-free read of the ledger holds it: what ``decide`` reads of it."""

    pk: int
    kind: str
    step: EscalationStep | None
    starts_at: datetime
    compliance_deadline: datetime | None


def read_ledger(
    *, policy: Policy, merchant_ids: list[int] | None = None, id_range=None, at: datetime, models: bool = True
) -> dict[int, LedgerRow]:
    """The ledger of the given merchants (a list, or an inclusive id range): four queries.

    Sanctions are read as value tuples; only the one holding a merchant's position and
    its newest warning are kept, as model instances (``models``: the next sanction names
    them as its previous one), or as ``HeldSanction`` for a read that only decides who is
    due (building a model instance per merchant of a range cost more than reading it).
    """

    def scoped(queryset):
        if merchant_ids is not None:
            return queryset.filter(merchant_id__in=merchant_ids)
        return queryset.filter(merchant_id__gte=id_range[0], merchant_id__lte=id_range[1])

    rows: dict[int, LedgerRow] = {}
    for merchant_id, points, last_relist_at in (
        scoped(counted_violations(policy=policy, at=at))
        .order_by()
        .values("merchant_id")
        .annotate(points=Sum("points"), last_relist=Max("decided_at", filter=Q(kind=Violation.Kind.RELIST_ATTEMPT)))
        .values_list("merchant_id", "points", "last_relist")
    ):
        rows[merchant_id] = LedgerRow(merchant_id, points=points or 0, last_relist_at=last_relist_at)
    since = policy.points_counted_since(at)
    granted_appeal = Appeal.objects.filter(sanction=OuterRef("pk"), status=Appeal.Status.GRANTED)
    ladder_or_warning = Q(step__isnull=False) | Q(kind=SanctionKind.WARNING)
    held = scoped(Sanction.objects.filter(ladder_or_warning, policy__slug=policy.slug))
    positions: dict[int, tuple] = {}
    warnings: dict[int, tuple] = {}
    for values in (
        held.annotate(overturned_on_appeal=Exists(granted_appeal))
        .order_by("merchant_id", "id")
        .values_list(*LEDGER_SANCTION_FIELDS, "step__threshold", "overturned_on_appeal")
    ):
        pk, merchant_id, _, step_id, kind, status, starts_at, _, threshold, overturned_on_appeal = values
        row = rows.get(merchant_id) or rows.setdefault(merchant_id, LedgerRow(merchant_id))
        if step_id:
            row.latest_ladder_id = max(row.latest_ladder_id, pk)
        if starts_at < since:
            continue
        if step_id and overturned_on_appeal:
            # Overturned on an appeal against the sanction itself: the points it rested on stay,
            # and so does the merchant's place on the ladder (the same points do not issue it again).
            row.overturned_threshold = max(row.overturned_threshold, threshold)
        if status not in STANDING:
            continue
        position = positions.get(merchant_id)
        if step_id and (position is None or (threshold, pk) > (position[8], position[0])):
            positions[merchant_id] = values
        if kind == SanctionKind.WARNING:
            warnings[merchant_id] = values  # the newest: rows come in id order
    if positions or warnings:
        step_ids = {values[3] for values in (*positions.values(), *warnings.values()) if values[3]}
        steps = EscalationStep.objects.in_bulk(step_ids) if step_ids else {}
        instances: dict[int, Sanction | HeldSanction] = {}

        def instance(values: tuple) -> Sanction | HeldSanction:
            pk, _, _, step_id, kind, _, starts_at, compliance_deadline, *_ = values
            if pk in instances:
                return instances[pk]
            sanction: Sanction | HeldSanction
            if models:
                sanction = Sanction.from_db(held.db, LEDGER_SANCTION_FIELDS, values[: len(LEDGER_SANCTION_FIELDS)])
                if step_id:
                    sanction.step = steps[step_id]
            else:
                sanction = HeldSanction(pk, kind, steps.get(step_id), starts_at, compliance_deadline)
            instances[pk] = sanction
            return sanction

        for merchant_id, values in positions.items():
            rows[merchant_id].position = instance(values)
        for merchant_id, values in warnings.items():
            rows[merchant_id].warning = instance(values)
    if rows:
        flagged = ReviewItem.objects.filter(
            policy__slug=policy.slug,
            status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED],
            listing__status=Listing.Status.LIVE,
        )
        # A range is read by its bounds: a list of thousands of ids costs more to send than the few extra rows.
        flagged = scoped(flagged) if merchant_ids is None else flagged.filter(merchant_id__in=list(rows))
        earliest = flagged.order_by().values("merchant_id").annotate(since=Min("created_at"))
        for merchant_id, flagged_since in earliest.values_list("merchant_id", "since"):
            if merchant_id in rows:
                rows[merchant_id].flagged_since = flagged_since
    return rows


# --- The violations a sanction cites ---------------------------------------------------------


@dataclass(slots=True)
class CountedViolation:
    """A violation whose points count, as a sanction cites it (its notice lists them): read as values.

    Reads like the model where the notices and the statement of reasons look (``get_kind_display``,
    ``clause``, ``evidence``): building thousands of ``Violation`` instances per range cost more
    than reading them.
    """

    pk: int
    merchant_id: int
    listing_id: int | None
    kind: str
    points: int
    decided_at: datetime
    clause_id: int | None
    clause: PolicyClause | None
    automated_detection: bool
    evidence: dict

    def get_kind_display(self) -> str:
        return force_str(VIOLATION_KINDS.get(self.kind, self.kind), strings_only=True)


def counted_violations_by_merchant(
    *, policy: Policy, at: datetime, merchant_ids: list[int]
) -> dict[int, list[CountedViolation]]:
    """The violations still counting of each merchant, oldest first: two queries (with their clauses)."""
    rows = list(
        counted_violations(policy=policy, at=at)
        .filter(merchant_id__in=merchant_ids)
        .order_by("merchant_id", "decided_at", "id")
        .values_list(
            "pk", "merchant_id", "listing_id", "kind", "points", "decided_at", "clause_id", "automated_detection",
            "evidence",
        )
    )  # fmt: skip
    # One object per clause, shared by every violation citing it (their notices then share it too).
    prefetch_related_objects([policy], "clauses")
    clauses = {clause.pk: clause for clause in policy.clauses.all()}
    missing = {row[6] for row in rows if row[6] and row[6] not in clauses}  # clauses of an earlier version
    if missing:
        clauses |= PolicyClause.objects.in_bulk(missing)
    violations: dict[int, list[CountedViolation]] = defaultdict(list)
    for pk, merchant_id, listing_id, kind, points, decided_at, clause_id, automated, evidence in rows:
        violations[merchant_id].append(
            CountedViolation(
                pk, merchant_id, listing_id, kind, points, decided_at, clause_id, clauses.get(clause_id), automated,
                evidence,
            )
        )  # fmt: skip
    return violations


def sweep_policies(at: datetime) -> list[Policy]:
    """Per policy (all its versions), the newest version whose grace has ended: its ladder applies."""
    candidates = Policy.objects.filter(
        status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT],
        effective_at__lte=at,
        enforcement_starts_at__lte=at,
    ).order_by("slug", "-version")
    newest: dict[str, Policy] = {}
    for policy in candidates:
        newest.setdefault(policy.slug, policy)
    return list(newest.values())
