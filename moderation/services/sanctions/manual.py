"""A senior moderator's hand: a sanction issued or lifted manually, with a reason the merchant reads.

Also ``end_sanction``, the ending of one active sanction now (lifted here, or overturned by a
granted appeal).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation

from backoffice.roles import Role, has_role
from backoffice.text import has_visible_text
from moderation.models import SUSPENSION_KINDS, AuditVerb, Policy, Sanction, SanctionKind
from moderation.selectors.ledger import counted_violations, ladder_of, read_ledger
from moderation.services.audit import Actor, actor_label, record_event
from moderation.services.notices import create_notices
from moderation.services.sanctions.expiry import record_endings
from moderation.services.sanctions.notice import sanction_notice
from moderation.services.sanctions.status import recompute_enforcement_status
from sellers.models import Merchant


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
    record_endings([sanction], verb=verb, actor=actor, reason=reason.strip(), at=now)
    return sanction
