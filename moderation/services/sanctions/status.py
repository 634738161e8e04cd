"""The merchant's enforcement status: written only here, from its active sanctions.

``Merchant.enforcement_status`` is a cache: ``recompute_enforcement_status`` writes it whenever
a sanction starts, ends or is overturned, inside the transaction that did it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from moderation.bulk import write_merchant_statuses
from moderation.models import AuditVerb, Sanction, SanctionKind
from moderation.models.sanctions import SEVERITY
from moderation.services import outbox
from moderation.services.audit import Actor, EventRow, record_events
from sellers.models import Merchant

STATUS_FOR_KIND: dict[str, Merchant.EnforcementStatus] = {
    SanctionKind.STORE_BLOCK: Merchant.EnforcementStatus.STORE_BLOCKED,
    SanctionKind.ACCOUNT_FREEZE: Merchant.EnforcementStatus.FROZEN,
    SanctionKind.ACCOUNT_CLOSURE: Merchant.EnforcementStatus.CLOSED,
}


def _status_from(sanctions: list[tuple[str, datetime | None]]) -> tuple[str, datetime | None, bool]:
    """(status, until, payouts held) from a merchant's active sanctions: the most severe decides."""
    restricting = [(kind, ends) for kind, ends in sanctions if kind in STATUS_FOR_KIND]
    if not restricting:
        return Merchant.EnforcementStatus.ACTIVE, None, False
    worst = max(SEVERITY[kind] for kind, _ in restricting)
    ends = [ends for kind, ends in restricting if SEVERITY[kind] == worst]
    bounded = [end for end in ends if end is not None]
    until = max(bounded) if len(bounded) == len(ends) else None  # one without an end keeps it open
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
    write_merchant_statuses([(merchant_id, *after) for merchant_id, _, after in changed])
    outbox.merchant_statuses_changed(
        [(merchant, *after[:2]) for merchant, before, after in changed if before[:2] != after[:2]]
    )
    record_events(
        actor=actor,
        verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED,
        target_type=Merchant,
        rows=(
            EventRow(
                target_id=merchant_id,
                target_repr=f"Merchant #{merchant_id}",
                merchant_id=merchant_id,
                before=iso_times({"status": before[0], "until": before[1]}),
                after=iso_times({"status": after[0], "until": after[1], "payouts_held": after[2]}),
                reason=reason,
            )
            for merchant_id, before, after in changed
        ),
    )
    return len(changed)


def iso_times(values: dict) -> dict:
    """``values`` with its times as ISO 8601 text, to the microsecond, as the sanctions' events store them."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}
