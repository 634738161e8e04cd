"""The end of sanctions: expiry when their time has passed, and the record of any ending.

An ending (expired, lifted, overturned) is audited, told to the merchant when it restricted
something, and followed by the merchant's status.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from moderation.models import AuditVerb, Notice, Sanction, SanctionKind
from moderation.services.audit import Actor, EventRow, actor_label, record_events
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.sanctions.ladder import ESCALATION_ACTOR, ESCALATION_CHUNK_SIZE
from moderation.services.sanctions.status import recompute_enforcement_status


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
            record_endings(batch, verb=AuditVerb.SANCTION_EXPIRED, actor=actor, reason="Its time has passed.", at=at)
            expired += len(batch)


@translation.override(settings.LANGUAGE_CODE)  # stored text (audit names, reasons) stays in English
def record_endings(sanctions: list[Sanction], *, verb: AuditVerb, actor: Actor, reason: str, at: datetime) -> None:
    """Audit, notify and follow with the merchants' status the end of these sanctions (already written)."""
    ended_status = {AuditVerb.SANCTION_EXPIRED: "expired", AuditVerb.SANCTION_LIFTED: "lifted"}.get(verb, "overturned")
    record_events(
        actor=actor,
        verb=verb,
        target_type=Sanction,
        at=at,
        rows=(
            EventRow(
                target_id=sanction.pk,
                target_repr=str(sanction),
                merchant_id=sanction.merchant_id,
                policy_id=sanction.policy_id,
                before={"status": Sanction.Status.ACTIVE},
                after={"status": ended_status},
                reason=reason,
            )
            for sanction in sanctions
        ),
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
