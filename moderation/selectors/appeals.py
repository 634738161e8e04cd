"""Reads for the appeal queue: the list a moderator works, and one appeal beside the decision it contests."""

from __future__ import annotations

from django.db.models import QuerySet

from moderation.models import Appeal, AuditEvent, Notice, Sanction
from moderation.tiers import tiers_for


def appeal_queue(user) -> QuerySet[Appeal]:
    """Appeals this moderator's tier sees (seniors see both), due first."""
    return (
        Appeal.objects.filter(tier__in=tiers_for(user))
        .select_related("merchant__marketplace", "policy", "claimed_by", "decided_by")
        .order_by("due_at", "id")
    )


def appeal_detail(appeal_id: int) -> Appeal:
    return Appeal.objects.select_related(
        "merchant__marketplace",
        "policy",
        "listing__category",
        "removal",
        "violation__clause",
        "violation__review_item",
        "violation__listing__category",
        "sanction__step",
        "original_decider",
        "claimed_by",
        "decided_by",
        "filed_by",
    ).get(pk=appeal_id)


def appeal_evidence(appeal: Appeal) -> dict:
    """What the original decision rested on, for the moderator to weigh against the grounds."""
    evidence: dict = {"notices": [], "violations": [], "events": []}
    if appeal.sanction is not None:
        evidence["violations"] = list(
            appeal.sanction.violations.select_related("clause", "listing").order_by("decided_at")
        )
    notice_keys_by_kind: dict[str, list[str]] = {
        Appeal.Kind.VIOLATION: [f"violation:{appeal.violation_id}"],
        Appeal.Kind.SANCTION: [f"sanction:{appeal.sanction_id}"],
        Appeal.Kind.DELISTING: [f"removal:{appeal.removal_id}:merchant:{appeal.merchant_id}"],
    }
    notice_keys = notice_keys_by_kind[appeal.kind]
    evidence["notices"] = list(
        Notice.objects.filter(dedupe_key__in=notice_keys).only("pk", "subject", "body", "created_at")
    )
    evidence["events"] = list(
        AuditEvent.objects.filter(target_id=appeal.pk, target_type__model="appeal").order_by("occurred_at", "id")
    )
    evidence["earlier_appeals"] = list(
        Appeal.objects.filter(decision_key=appeal.decision_key).exclude(pk=appeal.pk).order_by("-filed_at")
    )
    evidence["active_sanctions"] = list(
        Sanction.objects.filter(merchant_id=appeal.merchant_id, status=Sanction.Status.ACTIVE).order_by("-starts_at")
    )
    return evidence
