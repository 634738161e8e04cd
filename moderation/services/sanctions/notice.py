"""What a sanction's notice says: the context of its text and its statement of reasons.

The statement's restriction fields follow the DSA Transparency Database (dsa.md: how our
decisions map); the notice's text is ``templates/notices/<language>/<kind>.txt``.
"""

from __future__ import annotations

from typing import Any

from moderation.models import EscalationStep, Notice, Policy, Sanction, SanctionKind
from moderation.services.notices import NoticeDraft
from moderation.services.transparency import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_TERMINATED,
    MONETARY_SUSPENSION,
    PROVISION_TOTAL_SUSPENSION,
    PROVISION_TOTAL_TERMINATION,
    VISIBILITY_REMOVED,
    statement_fields,
)


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
        fields: dict[str, Any] = {
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
