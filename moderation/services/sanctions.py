"""Sanctions: the ladder applied after the deadlines, manual sanctions, expiry, and the merchant's status.

The sweep (``run_escalation``; beat, ``manage.py run_escalation``, and a merchant's own
run queued when a violation adds points) walks each policy's merchants in id ranges.
Per range it claims the merchants (``FOR UPDATE SKIP LOCKED``: a concurrent sweep skips
them), reads their ledger in two queries, decides in memory, and writes the sanctions,
their links to the violations, their audit events, their notices, the delistings of an
account freeze and the merchants' new status in a fixed number of statements. A
sanction's ``cause`` is unique, so whatever races past the claim still issues it once.

``Merchant.enforcement_status`` is written only by ``recompute_enforcement_status``,
from the active sanctions, whenever one starts, ends or is overturned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, Max, Min, OuterRef, Q, Sum, Value, When
from django.utils import timezone

from backoffice.roles import Role, has_role
from moderation.models import (
    SUSPENSION_KINDS,
    Appeal,
    AuditEvent,
    AuditVerb,
    EscalationStep,
    Notice,
    PointsRule,
    Policy,
    ReviewItem,
    Sanction,
    SanctionKind,
    Violation,
)
from moderation.models.sanctions import SEVERITY
from moderation.services.audit import Actor, SystemActor, actor_label, actor_user, record_event
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.transparency import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_TERMINATED,
    MONETARY_SUSPENSION,
    PROVISION_TOTAL_SUSPENSION,
    PROVISION_TOTAL_TERMINATION,
    VISIBILITY_REMOVED,
    statement_fields,
)
from moderation.services.violations import counted_violations
from sellers.models import Listing, Merchant

ESCALATION_ACTOR = SystemActor("run_escalation")
# Merchants per claimed range: their ledger, decisions and notices fit in memory at once.
ESCALATION_CHUNK_SIZE = 5000
# When a ladder has no warning step, the warning issued before a suspension gives this long to comply.
PRIOR_WARNING_DAYS = 3
STANDING = [Sanction.Status.ACTIVE, Sanction.Status.EXPIRED]

STATUS_FOR_KIND = {
    SanctionKind.STORE_BLOCK: Merchant.EnforcementStatus.STORE_BLOCKED,
    SanctionKind.ACCOUNT_FREEZE: Merchant.EnforcementStatus.FROZEN,
    SanctionKind.ACCOUNT_CLOSURE: Merchant.EnforcementStatus.CLOSED,
}


# --- The merchant's status -------------------------------------------------------------


def _status_from(sanctions: list[tuple[str, datetime | None]]) -> tuple[str, datetime | None, bool]:
    """(status, until, payouts held) from a merchant's active sanctions: the most severe decides."""
    restricting = [(kind, ends) for kind, ends in sanctions if kind in STATUS_FOR_KIND]
    if not restricting:
        return Merchant.EnforcementStatus.ACTIVE, None, False
    worst = max(SEVERITY[kind] for kind, _ in restricting)
    ends = [ends for kind, ends in restricting if SEVERITY[kind] == worst]
    until = None if any(end is None for end in ends) else max(ends)
    kind = next(kind for kind, _ in restricting if SEVERITY[kind] == worst)
    status = STATUS_FOR_KIND[kind]
    return status, until, status in {Merchant.EnforcementStatus.FROZEN, Merchant.EnforcementStatus.CLOSED}


def recompute_enforcement_status(merchant_ids, *, actor: Actor, reason: str = "") -> int:
    """Write each merchant's status from its active sanctions; audit the ones that changed. Returns how many.

    Call inside the transaction that started, ended or overturned the sanctions. Three
    queries and one event per changed merchant, whatever the number of merchants.
    """
    merchant_ids = list(merchant_ids)
    if not merchant_ids:
        return 0
    active: dict[int, list] = defaultdict(list)
    for merchant_id, kind, ends_at in Sanction.objects.filter(
        merchant_id__in=merchant_ids, status=Sanction.Status.ACTIVE, kind__in=list(STATUS_FOR_KIND)
    ).values_list("merchant_id", "kind", "ends_at"):
        active[merchant_id].append((kind, ends_at))
    changed = []
    for merchant in Merchant.objects.filter(pk__in=merchant_ids).only(
        "pk", "enforcement_status", "enforcement_until", "payouts_held"
    ):
        status, until, held = _status_from(active.get(merchant.pk, []))
        before = {"status": merchant.enforcement_status, "until": merchant.enforcement_until}
        if (merchant.enforcement_status, merchant.enforcement_until, merchant.payouts_held) == (status, until, held):
            continue
        merchant.enforcement_status, merchant.enforcement_until, merchant.payouts_held = status, until, held
        changed.append((merchant, before))
    if not changed:
        return 0
    _write_statuses([merchant for merchant, _ in changed])
    merchant_type = ContentType.objects.get_for_model(Merchant)
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=now,
            actor=actor_user(actor),
            actor_name=actor_label(actor),
            verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED,
            target_type=merchant_type,
            target_id=merchant.pk,
            target_repr=f"Merchant #{merchant.pk}",
            merchant_id=merchant.pk,
            before=_json(before),
            after=_json(
                {
                    "status": merchant.enforcement_status,
                    "until": merchant.enforcement_until,
                    "payouts_held": merchant.payouts_held,
                }
            ),
            reason=reason,
        )
        for merchant, before in changed
    )
    return len(changed)


def _write_statuses(merchants: list[Merchant]) -> None:
    """One UPDATE for all: on PostgreSQL from unnested arrays (a CASE per merchant, as bulk_update
    writes it, costs seconds for a few thousand merchants)."""
    if connection.vendor != "postgresql":
        Merchant.objects.bulk_update(merchants, ["enforcement_status", "enforcement_until", "payouts_held"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sellers_merchant AS m
            SET enforcement_status = new.status, enforcement_until = new.until, payouts_held = new.held
            FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::boolean[]) AS new(id, status, until, held)
            WHERE m.id = new.id
            """,
            [
                [m.pk for m in merchants],
                [m.enforcement_status for m in merchants],
                [m.enforcement_until for m in merchants],
                [m.payouts_held for m in merchants],
            ],
        )


def _json(values: dict) -> dict:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


# --- The statement of reasons of a sanction ----------------------------------------------


def measure_fields(sanction: Sanction, delisted: int = 0) -> dict:
    """The DSA Transparency Database restriction fields of a sanction (dsa.md: how our decisions map).

    End dates are days in the policy's timezone, as the notice's text gives them.
    """
    kind, ends = sanction.kind, sanction.policy.local(sanction.ends_at)
    if kind == SanctionKind.WARNING:
        return {
            "visibility": ["DECISION_VISIBILITY_OTHER"],
            "visibility_other": "Formal warning recorded against the account; no content or service restricted yet.",
        }
    if kind == SanctionKind.LISTING_RESTRICTION:
        return {"provision": "DECISION_PROVISION_PARTIAL_SUSPENSION", "provision_end": ends}
    if kind == SanctionKind.STORE_BLOCK:
        return {"provision": PROVISION_TOTAL_SUSPENSION, "provision_end": ends}
    if kind == SanctionKind.ACCOUNT_FREEZE:
        fields = {
            "provision": PROVISION_TOTAL_SUSPENSION,
            "provision_end": ends,
            "monetary": MONETARY_SUSPENSION,
            "monetary_end": ends,
            "account": ACCOUNT_SUSPENDED,
            "account_end": ends,
        }
        if sanction.delists_all and delisted:
            fields["visibility"] = [VISIBILITY_REMOVED]
        return fields
    return {
        "provision": PROVISION_TOTAL_TERMINATION,
        "monetary": MONETARY_SUSPENSION,
        "account": ACCOUNT_TERMINATED,
    }


def _facts(sanction: Sanction, policy: Policy, delisted: int) -> str:
    when = f"{policy.local(sanction.starts_at):%Y-%m-%d %H:%M} ({policy.timezone})"
    if sanction.automated:
        basis = f"On {when} {sanction.reason}"
    else:
        basis = f"On {when} a senior moderator applied “{sanction.get_kind_display()}”: {sanction.reason}"
    if delisted:
        basis += f" All {delisted} live listings of the store were removed."
    return basis


def sanction_notice(
    sanction: Sanction, *, policy: Policy, ladder: list[EscalationStep], violations: list, delisted: int = 0
) -> NoticeDraft:
    clause = next((v.clause for v in violations if v.clause_id), None) if violations else None
    automated_detection = any(v.automated_detection for v in violations)
    return NoticeDraft(
        merchant_id=sanction.merchant_id,
        kind=Notice.Kind.WARNING if sanction.kind == SanctionKind.WARNING else Notice.Kind.SANCTION,
        dedupe_key=f"sanction:{sanction.pk}",
        policy=policy,
        clause=clause,
        restricts=True,
        appeal_deadline=policy.appeal_deadline(sanction.starts_at),
        context={
            "sanction": sanction,
            "starts_at": policy.local(sanction.starts_at),
            "ends_at": policy.local(sanction.ends_at),
            "compliance_deadline": policy.local(sanction.compliance_deadline),
            "violations": violations,
            "ladder": ladder,
            "delisted": delisted,
            "detected_automatically": automated_detection,
            "next_step": next(
                (
                    step
                    for step in ladder
                    if step.threshold > (sanction.step.threshold if sanction.step else sanction.points)
                ),
                None,
            ),
        },
        transparency=statement_fields(
            policy=policy,
            clause=clause,
            facts=_facts(sanction, policy, delisted),
            content_date=min((v.decided_at for v in violations), default=sanction.starts_at),
            application_date=sanction.starts_at,
            automated_detection=automated_detection,
            automated_decision="AUTOMATED_DECISION_PARTIALLY"
            if sanction.automated
            else "AUTOMATED_DECISION_NOT_AUTOMATED",
            **measure_fields(sanction, delisted),
        ),
    )


# --- Reading the ledger ---------------------------------------------------------------


@dataclass
class LedgerRow:
    """What the sweep knows of one merchant under one policy, read in a handful of set-based queries."""

    merchant_id: int
    points: int = 0
    last_relist_at: datetime | None = None
    flagged_since: datetime | None = None
    position: Sanction | None = None  # the highest standing ladder sanction within the counting period
    latest_ladder_id: int = 0  # the newest ladder sanction of any age or status: part of the next one's cause
    warning: Sanction | None = None  # the newest standing warning within the counting period
    overturned_threshold: int = 0  # the highest step reached but overturned on an appeal against it


def read_ledger(
    *, policy: Policy, merchant_ids: list[int] | None = None, id_range=None, at: datetime
) -> dict[int, LedgerRow]:
    """The ledger of the given merchants (a list, or an inclusive id range): three queries."""

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
    for sanction in (
        scoped(Sanction.objects.filter(ladder_or_warning, policy__slug=policy.slug))
        .annotate(overturned_on_appeal=Exists(granted_appeal))
        .select_related("step")
        .order_by("merchant_id", "id")
    ):
        row = rows.setdefault(sanction.merchant_id, LedgerRow(sanction.merchant_id))
        if sanction.step_id:
            row.latest_ladder_id = max(row.latest_ladder_id, sanction.pk)
        if sanction.starts_at < since:
            continue
        if sanction.step_id and sanction.overturned_on_appeal:
            # Overturned on an appeal against the sanction itself: the points it rested on stay,
            # and so does the merchant's place on the ladder (the same points do not issue it again).
            row.overturned_threshold = max(row.overturned_threshold, sanction.step.threshold)
        if sanction.status not in STANDING:
            continue
        if sanction.step_id and (
            row.position is None
            or (sanction.step.threshold, sanction.pk) > (row.position.step.threshold, row.position.pk)
        ):
            row.position = sanction
        if sanction.kind == SanctionKind.WARNING:
            row.warning = sanction
    if rows:
        flagged = (
            ReviewItem.objects.filter(
                merchant_id__in=list(rows),
                policy__slug=policy.slug,
                status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED],
                listing__status=Listing.Status.LIVE,
            )
            .order_by()
            .values("merchant_id")
            .annotate(since=Min("created_at"))
            .values_list("merchant_id", "since")
        )
        for merchant_id, flagged_since in flagged:
            rows[merchant_id].flagged_since = flagged_since
    return rows


# --- Deciding -------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    merchant_id: int
    step: EscalationStep
    points: int
    previous: Sanction | None
    cause: str
    prior_warning: bool = False  # a warning issued because a suspension found none on record
    noncompliance: bool = False  # one step up for not complying by the current measure's deadline


def _non_compliant(row: LedgerRow, deadline: datetime, started: datetime) -> bool:
    """Still had, at the deadline, a live listing the rules flag, or tried to re-list since the measure."""
    flagged = row.flagged_since is not None and row.flagged_since <= deadline
    relisted = row.last_relist_at is not None and row.last_relist_at >= started
    return flagged or relisted


def decide(row: LedgerRow, *, policy: Policy, ladder: list[EscalationStep], at: datetime) -> Due | None:
    """The one sanction this merchant is due now, if any. Pure: reads only the row and the ladder."""
    position = row.position
    current = max(position.step.threshold if position else 0, row.overturned_threshold)
    by_points = next((step for step in reversed(ladder) if step.threshold <= row.points), None)
    target = by_points if by_points and by_points.threshold > current else None
    noncompliance = False
    deadline = position.compliance_deadline if position else None
    if deadline and at >= deadline and _non_compliant(row, deadline, position.starts_at):
        above = next((step for step in ladder if step.threshold > current), None)
        if above and (target is None or above.threshold > target.threshold):
            target, noncompliance = above, True
    if target is None:
        return None
    cause = f"ladder:{policy.slug}:{row.merchant_id}:{target.threshold}:after:{row.latest_ladder_id}"
    if target.kind in SUSPENSION_KINDS:
        # DSA Art. 23: no suspension without a prior warning, and time to act on it.
        warning = row.warning
        if warning is None:
            warning_step = next((step for step in ladder if step.kind == SanctionKind.WARNING), None)
            if warning_step is None or warning_step.threshold <= current:
                warning_step = EscalationStep(
                    policy=policy, threshold=current or 1, kind=SanctionKind.WARNING, compliance_days=PRIOR_WARNING_DAYS
                )
            cause = f"warning:{policy.slug}:{row.merchant_id}:before:{target.threshold}:after:{row.latest_ladder_id}"
            return Due(row.merchant_id, warning_step, row.points, position, cause, prior_warning=True)
        if warning.compliance_deadline and at < warning.compliance_deadline:
            return None  # the warning's time to comply is still running
    return Due(row.merchant_id, target, row.points, position, cause, noncompliance=noncompliance)


# --- Writing ----------------------------------------------------------------------------


def _new_sanction(due: Due, *, policy: Policy, at: datetime, actor: Actor) -> Sanction:
    step = due.step
    return Sanction(
        merchant_id=due.merchant_id,
        policy=policy,
        step=step if step.pk else None,
        kind=step.kind,
        starts_at=at,
        ends_at=at + timedelta(days=step.duration_days) if step.duration_days else None,
        compliance_deadline=at + timedelta(days=step.compliance_days) if step.compliance_days else None,
        points=due.points,
        delists_all=step.delists_all,
        previous=due.previous,
        cause=due.cause,
        issued_by=actor_user(actor),
        issued_by_name=actor_label(actor),
        automated=True,
        reason=_ladder_reason(due, policy),
    )


def _ladder_reason(due: Due, policy: Policy) -> str:
    """Why the ladder applies this step, as the merchant reads it after "On <date> "."""
    held = f"your account held {due.points} penalty points under “{policy}”"
    if due.prior_warning:
        return f"{held}; a formal warning comes first, before any suspension (the marketplace's penalty ladder)."
    if due.noncompliance:
        return (
            f"{held}, and the deadline to comply with the previous measure had passed while listings the policy "
            f"bans remained or were re-listed: the ladder moves one step up, to “{due.step.get_kind_display()}”."
        )
    return f"{held}: the marketplace's penalty ladder applies “{due.step.get_kind_display()}” at {due.step.threshold}."


def _delist_all(sanctions: list[Sanction], *, policy: Policy, at: datetime) -> dict[int, int]:
    """Delist every live listing of the merchants these sanctions freeze; returns how many per merchant."""
    by_merchant = {sanction.merchant_id: sanction for sanction in sanctions if sanction.delists_all}
    if not by_merchant:
        return {}
    counts = dict(
        Listing.objects.filter(merchant_id__in=list(by_merchant), status=Listing.Status.LIVE)
        .order_by()
        .values("merchant_id")
        .annotate(n=Count("id"))
        .values_list("merchant_id", "n")
    )
    Listing.objects.filter(merchant_id__in=list(by_merchant), status=Listing.Status.LIVE).update(
        previous_status=F("status"),
        status=Listing.Status.DELISTED,
        delisted_at=at,
        delisted_reason=f"All listings removed with the account freeze under “{policy}”.",
        delisted_by_sanction=Case(
            *[When(merchant_id=merchant_id, then=Value(s.pk)) for merchant_id, s in by_merchant.items()]
        ),
        updated_at=at,
    )
    return counts


def write_sanctions(
    dues: list[Due], *, policy: Policy, ladder: list[EscalationStep], at: datetime, actor: Actor
) -> list[Sanction]:
    """Issue the due sanctions with their effects, audit events and notices. Inside the caller's transaction.

    A fixed number of statements for any number of merchants: one INSERT of sanctions
    (a cause already issued is skipped), one of their violation links, the freezes'
    delistings, one INSERT of audit events, the notices in batches, the new statuses.
    """
    if not dues:
        return []
    causes = [due.cause for due in dues]
    issued_before = set(Sanction.objects.filter(cause__in=causes).values_list("cause", flat=True))
    Sanction.objects.bulk_create(
        [_new_sanction(due, policy=policy, at=at, actor=actor) for due in dues if due.cause not in issued_before],
        ignore_conflicts=True,
    )
    created = list(
        Sanction.objects.filter(cause__in=causes, starts_at=at)
        .exclude(cause__in=issued_before)
        .select_related("step", "previous")
    )
    if not created:
        return []
    for sanction in created:
        sanction.policy = policy  # the notices read it: not one query per sanction
    merchant_ids = [sanction.merchant_id for sanction in created]
    violations: dict[int, list[Violation]] = defaultdict(list)
    for violation in (
        counted_violations(policy=policy, at=at)
        .filter(merchant_id__in=merchant_ids)
        .select_related("clause")
        .order_by("merchant_id", "decided_at", "id")
    ):
        violations[violation.merchant_id].append(violation)
    Link = Sanction.violations.through
    Link.objects.bulk_create(
        [Link(sanction_id=s.pk, violation_id=v.pk) for s in created for v in violations[s.merchant_id]],
        ignore_conflicts=True,
    )
    delisted = _delist_all(created, policy=policy, at=at)
    sanction_type = ContentType.objects.get_for_model(Sanction)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=at,
            actor=actor_user(actor),
            actor_name=actor_label(actor),
            verb=AuditVerb.SANCTION_ISSUED,
            target_type=sanction_type,
            target_id=sanction.pk,
            target_repr=str(sanction)[:200],
            merchant_id=sanction.merchant_id,
            policy=policy,
            after=_json(
                {
                    "kind": sanction.kind,
                    "step": sanction.step.threshold if sanction.step else None,
                    "points": sanction.points,
                    "ends_at": sanction.ends_at,
                    "compliance_deadline": sanction.compliance_deadline,
                    "previous": sanction.previous_id,
                    "violations": [v.pk for v in violations[sanction.merchant_id]],
                    "listings_delisted": delisted.get(sanction.merchant_id, 0),
                }
            ),
            reason=sanction.reason,
        )
        for sanction in created
    )
    create_notices(
        sanction_notice(
            sanction,
            policy=policy,
            ladder=ladder,
            violations=violations[sanction.merchant_id],
            delisted=delisted.get(sanction.merchant_id, 0),
        )
        for sanction in created
    )
    recompute_enforcement_status(merchant_ids, actor=actor, reason="A sanction started.")
    return created


# --- The sweep ----------------------------------------------------------------------------


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


def ladder_of(policy: Policy) -> list[EscalationStep]:
    return list(EscalationStep.objects.filter(policy=policy).order_by("threshold"))


def escalation_chunks(
    *, policy: Policy, at: datetime, chunk_size: int = ESCALATION_CHUNK_SIZE
) -> list[tuple[int, int]]:
    """Inclusive merchant-id ranges of ``chunk_size`` merchants holding points or sanctions under the policy."""
    with_points = counted_violations(policy=policy, at=at).order_by().values_list("merchant_id", flat=True)
    with_sanctions = (
        Sanction.objects.filter(policy__slug=policy.slug, status__in=STANDING)
        .order_by()
        .values_list("merchant_id", flat=True)
    )
    ids = sorted(set(with_points.distinct()) | set(with_sanctions.distinct()))
    return [(ids[i], ids[min(i + chunk_size, len(ids)) - 1]) for i in range(0, len(ids), chunk_size)]


def escalate_range(
    *, policy: Policy, first_id: int, last_id: int, at: datetime | None = None, actor: Actor = ESCALATION_ACTOR
) -> int:
    """Apply what the ladder says to the merchants in one id range. Returns the sanctions issued."""
    return _escalate(policy=policy, at=at or timezone.now(), actor=actor, id_range=(first_id, last_id))


def escalate_merchants(*, merchant_ids: list[int], at: datetime | None = None, actor: Actor = ESCALATION_ACTOR) -> int:
    """The same for a few named merchants (a violation just added points): every policy past its grace."""
    at = at or timezone.now()
    return sum(_escalate(policy=policy, at=at, actor=actor, merchant_ids=merchant_ids) for policy in sweep_policies(at))


def _escalate(*, policy: Policy, at: datetime, actor: Actor, id_range=None, merchant_ids=None) -> int:
    ladder = ladder_of(policy)
    if not ladder:
        return 0
    # First a read without locks: in most ranges nobody is due, and nothing is locked.
    rows = read_ledger(policy=policy, merchant_ids=merchant_ids, id_range=id_range, at=at)
    due_ids = [row.merchant_id for row in rows.values() if decide(row, policy=policy, ladder=ladder, at=at)]
    if not due_ids:
        return 0
    with transaction.atomic():
        # The claim: a concurrent sweep holding some of these merchants keeps them; the
        # rest are read again under lock, so what is decided is what is committed.
        claimed = list(
            Merchant.objects.select_for_update(skip_locked=True)
            .filter(pk__in=due_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not claimed:
            return 0
        rows = read_ledger(policy=policy, merchant_ids=claimed, at=at)
        dues = [due for row in rows.values() if (due := decide(row, policy=policy, ladder=ladder, at=at))]
        return len(write_sanctions(dues, policy=policy, ladder=ladder, at=at, actor=actor))


def expire_sanctions(
    *, at: datetime | None = None, actor: Actor = ESCALATION_ACTOR, batch_size: int = ESCALATION_CHUNK_SIZE
) -> int:
    """Sanctions whose end has come expire, the merchants' status follows, and they are told. Returns how many."""
    at = at or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                Sanction.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=Sanction.Status.ACTIVE, ends_at__lte=at)
                .select_related("policy")
                .order_by("ends_at", "id")[:batch_size]
            )
            if not batch:
                return expired
            Sanction.objects.filter(pk__in=[s.pk for s in batch], status=Sanction.Status.ACTIVE).update(
                status=Sanction.Status.EXPIRED, ended_at=F("ends_at"), ended_by_name=actor_label(actor)
            )
            _record_endings(batch, verb=AuditVerb.SANCTION_EXPIRED, actor=actor, reason="Its time has passed.", at=at)
            expired += len(batch)


def _record_endings(sanctions: list[Sanction], *, verb: AuditVerb, actor: Actor, reason: str, at: datetime) -> None:
    sanction_type = ContentType.objects.get_for_model(Sanction)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=at,
            actor=actor_user(actor),
            actor_name=actor_label(actor),
            verb=verb,
            target_type=sanction_type,
            target_id=sanction.pk,
            target_repr=str(sanction)[:200],
            merchant_id=sanction.merchant_id,
            policy_id=sanction.policy_id,
            before={"status": Sanction.Status.ACTIVE},
            after={
                "status": {AuditVerb.SANCTION_EXPIRED: "expired", AuditVerb.SANCTION_LIFTED: "lifted"}.get(
                    verb, "overturned"
                )
            },
            reason=reason,
        )
        for sanction in sanctions
    )
    create_notices(
        NoticeDraft(
            merchant_id=sanction.merchant_id,
            kind=Notice.Kind.SANCTION_ENDED,
            dedupe_key=f"sanction:{sanction.pk}:ended",
            policy=sanction.policy,
            context={
                "sanction": sanction,
                "ended_because": verb.label,
                "reason": reason,
                "ended_at": sanction.policy.local(at),
            },
        )
        for sanction in sanctions
        if sanction.kind != SanctionKind.WARNING
    )
    recompute_enforcement_status(
        {s.merchant_id for s in sanctions}, actor=actor, reason=f"A sanction ended ({verb.label})."
    )


def run_escalation(
    *, at: datetime | None = None, actor: Actor = ESCALATION_ACTOR, chunk_size: int = ESCALATION_CHUNK_SIZE
) -> dict:
    """The whole sweep, inline: expiries, then every policy's ladder range by range. Returns the counts."""
    at = at or timezone.now()
    expired = expire_sanctions(at=at, actor=actor)
    issued = 0
    for policy in sweep_policies(at):
        for first_id, last_id in escalation_chunks(policy=policy, at=at, chunk_size=chunk_size):
            issued += escalate_range(policy=policy, first_id=first_id, last_id=last_id, at=at, actor=actor)
    return {"expired": expired, "issued": issued}


# --- A senior moderator's hand --------------------------------------------------------------


def _require_senior(actor) -> None:
    if not has_role(actor, Role.SENIOR_MODERATOR):
        raise ValidationError("Only senior moderators issue or lift sanctions.")


@transaction.atomic
def issue_manual_sanction(
    *, actor, merchant: Merchant, policy: Policy, kind: str, reason: str, duration_days: int | None = None
) -> Sanction:
    """A senior moderator's sanction, with a reason. A suspension needs a warning on record first."""
    _require_senior(actor)
    errors = {}
    if kind not in SanctionKind.values:
        errors["kind"] = "Choose a kind of sanction."
    if len(reason.strip()) < 20:
        errors["reason"] = "Explain the sanction to the merchant in at least 20 characters."
    temporary = kind in {SanctionKind.LISTING_RESTRICTION, SanctionKind.STORE_BLOCK, SanctionKind.ACCOUNT_FREEZE}
    if temporary and not duration_days:
        errors["duration_days"] = "Say for how many days (1 to 365)."
    elif duration_days and not 1 <= duration_days <= 365:
        errors["duration_days"] = "Between 1 and 365 days."
    if not temporary and duration_days:
        errors["duration_days"] = "A warning or a closure has no duration."
    if policy.status not in {Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT} or not policy.is_effective():
        errors["policy"] = "Sanctions apply only under a policy in effect."
    if errors:
        raise ValidationError(errors)
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    now = timezone.now()
    if kind in SUSPENSION_KINDS:
        row = read_ledger(policy=policy, merchant_ids=[merchant.pk], at=now).get(merchant.pk)
        if row is None or row.warning is None:
            raise ValidationError(
                {
                    "kind": "No warning is on record for this merchant under this policy: "
                    "issue a warning first (DSA Art. 23)."
                }
            )
    if kind == SanctionKind.ACCOUNT_CLOSURE and merchant.enforcement_status == Merchant.EnforcementStatus.CLOSED:
        raise ValidationError({"kind": "This account is closed already."})
    sanction = Sanction.objects.create(
        merchant=merchant,
        policy=policy,
        kind=kind,
        starts_at=now,
        ends_at=now + timedelta(days=duration_days) if temporary else None,
        points=counted_violations(policy=policy, at=now).filter(merchant=merchant).aggregate(t=Sum("points"))["t"] or 0,
        cause=f"manual:{uuid.uuid4()}",
        issued_by=actor,
        issued_by_name=actor.get_username(),
        automated=False,
        reason=reason.strip(),
    )
    violations = list(counted_violations(policy=policy, at=now).filter(merchant=merchant).select_related("clause"))
    sanction.violations.set(violations)
    record_event(
        actor=actor,
        verb=AuditVerb.SANCTION_ISSUED,
        target=sanction,
        merchant=merchant,
        policy=policy,
        after={"kind": kind, "ends_at": sanction.ends_at, "points": sanction.points, "manual": True},
        reason=sanction.reason,
    )
    create_notices([sanction_notice(sanction, policy=policy, ladder=ladder_of(policy), violations=violations)])
    recompute_enforcement_status([merchant.pk], actor=actor, reason=sanction.reason)
    return sanction


@transaction.atomic
def lift_sanction(*, actor, sanction: Sanction, reason: str) -> Sanction:
    """A senior moderator ends an active sanction early, with a reason the merchant is told."""
    _require_senior(actor)
    if len(reason.strip()) < 10:
        raise ValidationError({"reason": "Say why the sanction is lifted (at least 10 characters)."})
    return end_sanction(
        actor=actor, sanction=sanction, status=Sanction.Status.LIFTED, verb=AuditVerb.SANCTION_LIFTED, reason=reason
    )


def end_sanction(*, actor: Actor, sanction: Sanction, status: str, verb: AuditVerb, reason: str) -> Sanction:
    """End one active sanction now (lifted, or overturned by a granted appeal). Inside the caller's transaction."""
    now = timezone.now()
    Merchant.objects.select_for_update().filter(pk=sanction.merchant_id).values_list("pk", flat=True).first()
    ended = Sanction.objects.filter(pk=sanction.pk, status=Sanction.Status.ACTIVE).update(
        status=status, ended_at=now, ended_by_name=actor_label(actor), end_reason=reason.strip()
    )
    if ended != 1:
        raise ValidationError("This sanction is not active any more.")
    sanction = Sanction.objects.select_related("policy").get(pk=sanction.pk)
    _record_endings([sanction], verb=verb, actor=actor, reason=reason.strip(), at=now)
    return sanction


# --- The ladder and the points table, as policy data ----------------------------------------


@dataclass(frozen=True)
class PointsText:
    kind: str
    points: int
    daily_cap_applies: bool = True
    clause_number: int | None = None


@dataclass(frozen=True)
class StepText:
    threshold: int
    kind: str
    duration_days: int | None = None
    compliance_days: int | None = None
    delists_all: bool = False


@transaction.atomic
def set_penalty_rules(*, actor: Actor, policy: Policy, points: list[PointsText], ladder: list[StepText]) -> None:
    """Replace a draft policy's points table and ladder (announced policies change by a new version)."""
    if not policy.is_editable:
        raise ValidationError("Only a draft's penalty rules can change: announce a new version instead.")
    errors = {}
    thresholds = [step.threshold for step in ladder]
    if len(set(thresholds)) != len(thresholds) or any(t < 1 for t in thresholds):
        errors["ladder"] = "Each step needs its own threshold of at least 1 point."
    if any(step.kind not in SanctionKind.values for step in ladder):
        errors["ladder"] = "Each step needs a kind of sanction."
    clauses = {clause.number: clause for clause in policy.clauses.all()}
    if any(row.clause_number is not None and row.clause_number not in clauses for row in points):
        errors["points"] = "A points rule names a clause the policy does not have."
    if errors:
        raise ValidationError(errors)
    policy.points_rules.all().delete()
    policy.escalation_steps.all().delete()
    PointsRule.objects.bulk_create(
        PointsRule(
            policy=policy,
            kind=row.kind,
            clause=clauses.get(row.clause_number) if row.clause_number else None,
            points=row.points,
            daily_cap_applies=row.daily_cap_applies,
        )
        for row in points
    )
    EscalationStep.objects.bulk_create(
        EscalationStep(
            policy=policy,
            threshold=step.threshold,
            kind=step.kind,
            duration_days=step.duration_days,
            compliance_days=step.compliance_days,
            delists_all=step.delists_all,
        )
        for step in ladder
    )
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_EDITED,
        target=policy,
        policy=policy,
        after={
            "points": [
                f"{row.kind}{f' §{row.clause_number}' if row.clause_number else ''}: {row.points}" for row in points
            ],
            "ladder": [f"{step.threshold}: {step.kind} {step.duration_days or ''}".strip() for step in ladder],
        },
    )


def copy_penalty_rules(*, actor: Actor, source: Policy, target: Policy) -> None:
    set_penalty_rules(
        actor=actor,
        policy=target,
        points=[
            PointsText(rule.kind, rule.points, rule.daily_cap_applies, rule.clause.number if rule.clause else None)
            for rule in source.points_rules.select_related("clause")
        ],
        ladder=[
            StepText(step.threshold, step.kind, step.duration_days, step.compliance_days, step.delists_all)
            for step in source.escalation_steps.all()
        ],
    )
