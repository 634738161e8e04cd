"""Sanctions: the ladder applied after the deadlines, manual sanctions, expiry, and the merchant's status.

By concern:

- ``ladder``: which sanction a merchant is due (``decide``, pure) and the set-based writer
  (``write_sanctions``: sanctions, their links, audit events, notices, an account freeze's
  delistings and the new statuses in a fixed number of statements);
- ``sweep``: every policy past its grace, range by range (``run_escalation``, ``escalate_range``,
  ``escalate_merchants``, ``escalation_chunks``);
- ``expiry``: sanctions whose time has passed, and the record of any ending;
- ``manual``: a senior moderator's sanction or lift (``issue_manual_sanction``, ``lift_sanction``);
- ``status``: ``Merchant.enforcement_status``, written only by ``recompute_enforcement_status``
  from the active sanctions, whenever one starts, ends or is overturned;
- ``notice``: what a sanction's notice says, and its DSA Transparency Database fields.

The ledger the ladder reads is a selector (``moderation.selectors.ledger``); the points table and
the ladder are policy data (``moderation.services.policies.set_penalty_rules``). Every name callers
used from the former single module is importable from here.
"""

from moderation.selectors.ledger import (
    LEDGER_SANCTION_FIELDS,
    STANDING,
    CountedViolation,
    HeldSanction,
    LedgerRow,
    counted_violations_by_merchant,
    ladder_of,
    read_ledger,
)
from moderation.services.policies import PointsText, StepText, copy_penalty_rules, set_penalty_rules
from moderation.services.sanctions.expiry import expire_sanctions, record_endings
from moderation.services.sanctions.ladder import (
    ESCALATION_ACTOR,
    ESCALATION_CHUNK_SIZE,
    PRIOR_WARNING_DAYS,
    Due,
    decide,
    sanction_repr,
    write_sanctions,
)
from moderation.services.sanctions.manual import end_sanction, issue_manual_sanction, lift_sanction
from moderation.services.sanctions.notice import measure_fields, sanction_notice
from moderation.services.sanctions.status import STATUS_FOR_KIND, recompute_enforcement_status
from moderation.services.sanctions.sweep import (
    escalate_merchants,
    escalate_range,
    escalation_chunks,
    run_escalation,
    sweep_policies,
)

__all__ = [
    "ESCALATION_ACTOR",
    "ESCALATION_CHUNK_SIZE",
    "LEDGER_SANCTION_FIELDS",
    "PRIOR_WARNING_DAYS",
    "STANDING",
    "STATUS_FOR_KIND",
    "CountedViolation",
    "Due",
    "HeldSanction",
    "LedgerRow",
    "PointsText",
    "StepText",
    "copy_penalty_rules",
    "counted_violations_by_merchant",
    "decide",
    "end_sanction",
    "escalate_merchants",
    "escalate_range",
    "escalation_chunks",
    "expire_sanctions",
    "issue_manual_sanction",
    "ladder_of",
    "lift_sanction",
    "measure_fields",
    "read_ledger",
    "recompute_enforcement_status",
    "record_endings",
    "run_escalation",
    "sanction_notice",
    "sanction_repr",
    "set_penalty_rules",
    "sweep_policies",
    "write_sanctions",
]
