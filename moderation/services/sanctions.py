"""Sanctions: the ladder applied after the deadlines, manual sanctions, expiry, and the merchant's status.

The sweep (``run_escalation``; beat, ``manage.py run_escalation``, and a merchant's own
run queued when a violation adds points) walks each policy's merchants in id ranges.
Per range it reads the ledger without locks (as values: in most ranges nobody is due),
claims the merchants that are due (``FOR UPDATE SKIP LOCKED``: a concurrent sweep skips
them), reads their ledger again under the claim, decides in memory, and writes the
sanctions, their links to the violations, their audit events, their notices, the
delistings of an account freeze and the merchants' new status in a fixed number of
statements. A sanction's ``cause`` is unique, so whatever races past the claim still
issues it once.

``Merchant.enforcement_status`` is written only by ``recompute_enforcement_status``,
from the active sanctions, whenever one starts, ends or is overturned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, Max, Min, OuterRef, Q, Sum, Value, When, prefetch_related_objects
from django.utils import timezone, translation
from django.utils.encoding import force_str

from backoffice.roles import Role, has_role
from backoffice.text import has_visible_text
from moderation.models import (
    SUSPENSION_KINDS,
    Appeal,
    AuditEvent,
    AuditVerb,
    EscalationStep,
    Notice,
    PointsRule,
    Policy,
    PolicyClause,
    ReviewItem,
    Sanction,
    SanctionKind,
    Violation,
)
from moderation.models.sanctions import SEVERITY
from moderation.services.audit import Actor, SystemActor, actor_label, actor_user, record_event
from moderation.services.notices import NoticeDraft, create_notices, insert_rows
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

    Call inside the transaction that started, ended or overturned the sanctions. Four
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
    changed: list[tuple[int, tuple, tuple]] = []  # (merchant, (status, until, held) before, after)
    for merchant_id, *before in Merchant.objects.filter(pk__in=merchant_ids).values_list(
        "pk", "enforcement_status", "enforcement_until", "payouts_held"
    ):
        after = _status_from(active.get(merchant_id, []))
        if tuple(before) != after:
            changed.append((merchant_id, tuple(before), after))
    if not changed:
        return 0
    _write_statuses([(merchant_id, *after) for merchant_id, _, after in changed])
    merchant_type = ContentType.objects.get_for_model(Merchant)
    now = timezone.now()
    user = actor_user(actor)
    insert_rows(
        AuditEvent,
        [
            {
                "occurred_at": now,
                "actor_id": user.pk if user else None,
                "actor_name": actor_label(actor),
                "verb": AuditVerb.ENFORCEMENT_STATUS_CHANGED,
                "target_type_id": merchant_type.pk,
                "target_id": merchant_id,
                "target_repr": f"Merchant #{merchant_id}",
                "merchant_id": merchant_id,
                "before": _json({"status": before[0], "until": before[1]}),
                "after": _json({"status": after[0], "until": after[1], "payouts_held": after[2]}),
                "reason": reason,
            }
            for merchant_id, before, after in changed
        ],
    )
    return len(changed)


def _write_statuses(statuses: list[tuple[int, str, datetime | None, bool]]) -> None:
    """(merchant, status, until, payouts held), in one UPDATE for all: on PostgreSQL from unnested arrays
    (a CASE per merchant, as bulk_update writes it, costs seconds for a few thousand merchants)."""
    if connection.vendor != "postgresql":
        Merchant.objects.bulk_update(
            [
                Merchant(pk=pk, enforcement_status=status, enforcement_until=until, payouts_held=held)
                for pk, status, until, held in statuses
            ],
            ["enforcement_status", "enforcement_until", "payouts_held"],
        )
        return
    ids, status, until, held = zip(*statuses, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sellers_merchant AS m
            SET enforcement_status = new.status, enforcement_until = new.until, payouts_held = new.held
            FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::boolean[]) AS new(id, status, until, held)
            WHERE m.id = new.id
            """,
            [list(ids), list(status), list(until), list(held)],
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


SANCTION_KIND_LABELS = dict(SanctionKind.choices)
VIOLATION_KINDS = dict(Violation.Kind.choices)


def _kind_label(kind: str) -> str:
    """What ``get_kind_display()`` gives, without rebuilding the (lazy) choices on every call."""
    return force_str(SANCTION_KIND_LABELS.get(kind, kind), strings_only=True)


def sanction_repr(sanction: Sanction) -> str:
    """``str(sanction)``, for thousands of audit events: ``get_kind_display()`` rebuilds the lazy choices each call."""
    return f"{_kind_label(sanction.kind)} of merchant #{sanction.merchant_id}"


def _ladder_reason(due: Due, policy: Policy) -> str:
    """Why the ladder applies this step, as the merchant reads it after "On <date> "."""
    held = f"your account held {due.points} penalty points under “{policy}”"
    if due.prior_warning:
        return f"{held}; a formal warning comes first, before any suspension (the marketplace's penalty ladder)."
    if due.noncompliance:
        return (
            f"{held}, and the deadline to comply with the previous measure had passed while listings the policy "
            f"bans remained or were re-listed: the ladder moves one step up, to “{_kind_label(due.step.kind)}”."
        )
    return f"{held}: the marketplace's penalty ladder applies “{_kind_label(due.step.kind)}” at {due.step.threshold}."


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
        delisted_version=F("version"),
        delisted_at=at,
        delisted_reason=f"All listings removed with the account freeze under “{policy}”.",
        delisted_by_sanction=Case(
            *[When(merchant_id=merchant_id, then=Value(s.pk)) for merchant_id, s in by_merchant.items()]
        ),
        updated_at=at,
    )
    return counts


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


def write_sanctions(
    dues: list[Due], *, policy: Policy, ladder: list[EscalationStep], at: datetime, actor: Actor
) -> list[Sanction]:
    """Issue the due sanctions with their effects, audit events and notices. Inside the caller's transaction.

    A fixed number of statements for any number of merchants: one INSERT of sanctions
    (a cause already issued is skipped by its unique index, and not returned), one read
    of their violations, one INSERT of the links, the freezes' delistings, one INSERT of
    audit events, the notices in batches, the new statuses.
    """
    if not dues:
        return []
    drafts = {due.cause: _new_sanction(due, policy=policy, at=at, actor=actor) for due in dues}
    inserted = insert_rows(
        Sanction,
        [_sanction_row(sanction) for sanction in drafts.values()],
        returning=("id", "cause"),
        skip_existing="cause",
    )
    if not inserted:
        return []
    created = []
    for pk, cause in inserted:
        sanction = drafts[cause]
        sanction.pk, sanction._state.adding, sanction._state.db = pk, False, Sanction.objects.db  # as bulk_create
        created.append(sanction)
    merchant_ids = [sanction.merchant_id for sanction in created]
    violations = counted_violations_by_merchant(policy=policy, at=at, merchant_ids=merchant_ids)
    insert_rows(
        Sanction.violations.through,
        [{"sanction_id": s.pk, "violation_id": v.pk} for s in created for v in violations[s.merchant_id]],
    )
    delisted = _delist_all(created, policy=policy, at=at)
    sanction_type = ContentType.objects.get_for_model(Sanction)
    user = actor_user(actor)
    insert_rows(
        AuditEvent,
        [
            {
                "occurred_at": at,
                "actor_id": user.pk if user else None,
                "actor_name": actor_label(actor),
                "verb": AuditVerb.SANCTION_ISSUED,
                "target_type_id": sanction_type.pk,
                "target_id": sanction.pk,
                "target_repr": sanction_repr(sanction)[:200],
                "merchant_id": sanction.merchant_id,
                "policy_id": policy.pk,
                "after": _json(
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
                "reason": sanction.reason,
            }
            for sanction in created
        ],
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


def _sanction_row(sanction: Sanction) -> dict:
    return {field.attname: getattr(sanction, field.attname) for field in Sanction._meta.concrete_fields}


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
    """Inclusive merchant-id ranges of ``chunk_size`` merchants holding points or sanctions under the policy.

    One query: the database numbers the merchants and sends back only where ranges start
    and end, not every id (the plan runs before any range can start).
    """
    with_points = counted_violations(policy=policy, at=at).order_by().values_list("merchant_id", flat=True)
    with_sanctions = (
        Sanction.objects.filter(policy__slug=policy.slug, status__in=STANDING)
        .order_by()
        .values_list("merchant_id", flat=True)
    )
    points_sql, points_params = with_points.query.sql_with_params()
    sanctions_sql, sanctions_params = with_sanctions.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT merchant_id, position, total FROM (
                SELECT merchant_id, ROW_NUMBER() OVER (ORDER BY merchant_id) AS position, COUNT(*) OVER () AS total
                FROM ({points_sql} UNION {sanctions_sql}) AS merchants
            ) AS numbered
            WHERE (position - 1) %% %s = 0 OR position %% %s = 0 OR position = total
            ORDER BY merchant_id
            """,
            [*points_params, *sanctions_params, chunk_size, chunk_size],
        )
        bounds = cursor.fetchall()
    firsts = [merchant_id for merchant_id, position, _ in bounds if (position - 1) % chunk_size == 0]
    lasts = [merchant_id for merchant_id, position, total in bounds if position % chunk_size == 0 or position == total]
    return list(zip(firsts, lasts, strict=True))


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
    rows = read_ledger(policy=policy, merchant_ids=merchant_ids, id_range=id_range, at=at, models=False)
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


@translation.override(settings.LANGUAGE_CODE)  # stored text (audit names, reasons) stays in English
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
                # The English label the templates branch on ("sanction lifted"), made a string under
                # this function's English: left lazy, it was rendered in the merchant's language and
                # matched no branch (a Chinese notice then said "该措施已结束。说明：Its time has passed.").
                "ended_because": str(verb.label),
                "reason": reason,
                "ended_at": sanction.policy.local(at),
            },
        )
        for sanction in sanctions
        # A warning restricts nothing, so its running out needs no notice; but a lifted one is
        # taken off the merchant's record (it no longer counts as the warning a suspension
        # needs first), and the page promises the merchant is told why.
        if sanction.kind != SanctionKind.WARNING or verb == AuditVerb.SANCTION_LIFTED
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
    if len(reason.strip()) < 20 or not has_visible_text(reason):
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
    # What is stored (the statement's facts, audit names) is written in English, whatever the
    # language of the senior moderator's page; the notice itself is in the merchant's.
    with translation.override(settings.LANGUAGE_CODE):
        return _issue_manual_sanction(
            actor=actor, merchant=merchant, policy=policy, kind=kind, reason=reason, duration_days=duration_days
        )


def _issue_manual_sanction(*, actor, merchant, policy, kind, reason, duration_days) -> Sanction:
    temporary = kind in {SanctionKind.LISTING_RESTRICTION, SanctionKind.STORE_BLOCK, SanctionKind.ACCOUNT_FREEZE}
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
    if len(reason.strip()) < 10 or not has_visible_text(reason):
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
