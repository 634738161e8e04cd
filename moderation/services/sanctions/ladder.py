"""The ladder: the pure decision of which sanction a merchant is due, and the set-based writer.

``decide`` reads only a ledger row (``moderation.selectors.ledger``) and the policy's ladder;
``write_sanctions`` issues what was decided for a whole range of merchants in a fixed number
of statements. The sweep that feeds them is ``sweep.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, F, Value, When
from django.utils.encoding import force_str

from moderation.bulk import insert_rows
from moderation.models import SUSPENSION_KINDS, AuditVerb, EscalationStep, Policy, Sanction, SanctionKind
from moderation.selectors.ledger import HeldSanction, LedgerRow, counted_violations_by_merchant
from moderation.services import outbox
from moderation.services.audit import Actor, EventRow, SystemActor, actor_label, actor_user, record_events
from moderation.services.notices import create_notices
from moderation.services.sanctions.notice import sanction_notice
from moderation.services.sanctions.status import iso_times, recompute_enforcement_status
from sellers.models import Listing

ESCALATION_ACTOR = SystemActor("run_escalation")
# Merchants per claimed range: their ledger, decisions and notices fit in memory at once.
ESCALATION_CHUNK_SIZE = 5000
# When a ladder has no warning step, the warning issued before a suspension gives this long to comply.
PRIOR_WARNING_DAYS = 3


# --- Deciding -------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    merchant_id: int
    step: EscalationStep
    points: int
    previous: Sanction | HeldSanction | None  # HeldSanction: decided on a ledger read without models
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
    current = row.overturned_threshold
    if position is not None:
        assert position.step is not None  # the ledger's position is a sanction on a ladder step
        current = max(position.step.threshold, current)
    by_points = next((step for step in reversed(ladder) if step.threshold <= row.points), None)
    target = by_points if by_points and by_points.threshold > current else None
    noncompliance = False
    deadline = position.compliance_deadline if position else None
    if position and deadline and at >= deadline and _non_compliant(row, deadline, position.starts_at):
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
    # What is written is decided on a ledger read with models (the sweep's second read, under lock).
    assert not isinstance(due.previous, HeldSanction)
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
    outbox.sanction_delistings(sanction_ids=[sanction.pk for sanction in by_merchant.values()], policy=policy, at=at)
    return counts


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
    record_events(
        actor=actor,
        verb=AuditVerb.SANCTION_ISSUED,
        target_type=Sanction,
        at=at,
        rows=(
            EventRow(
                target_id=sanction.pk,
                target_repr=sanction_repr(sanction),
                merchant_id=sanction.merchant_id,
                policy_id=policy.pk,
                after=iso_times(
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
        ),
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
