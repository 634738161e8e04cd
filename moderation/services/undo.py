"""Undo: a moderator takes back their own take-down or dismissal within a few minutes.

A slip of the keyboard (``t`` on the wrong item) should not need an appeal. Within
``REVIEW_UNDO_MINUTES`` of the decision, the moderator who took it (or a senior moderator)
reverses it as a granted appeal would (the violation overturned, the sanctions its points
alone reached ended, the listing back as it was, the merchant told) and the item goes
back to the queue, open, to be decided again. After the window only an appeal can.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.roles import Role, has_role
from moderation.models import Appeal, AuditVerb, Notice, ReviewItem, Violation
from moderation.models.appeals import OPEN_STATUSES
from moderation.selectors.ledger import merchant_points
from moderation.services import holds, outbox
from moderation.services.appeals import Reversal, Step, overturn_violation, step_in_english
from moderation.services.audit import record_event
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.sanctions import recompute_enforcement_status
from sellers.models import Listing, Merchant


def undo_window() -> timedelta:
    return timedelta(minutes=settings.REVIEW_UNDO_MINUTES)


def undo_deadline(item: ReviewItem) -> datetime | None:
    """Until when the item's decision can be undone; None for an item not decided."""
    if item.status != ReviewItem.Status.DECIDED or item.decided_at is None:
        return None
    return item.decided_at + undo_window()


def undo_refusal(*, actor, item: ReviewItem, now: datetime | None = None) -> str | None:
    """Why ``actor`` may not undo the item's decision now, or None if they may.

    The one statement of the rule: the service enforces it, the pages ask it before
    offering the button.
    """
    now = now or timezone.now()
    deadline = undo_deadline(item)
    if deadline is None:
        return _("This item has no decision to undo.")
    if item.decided_by_id != actor.pk and not has_role(actor, Role.SENIOR_MODERATOR):
        return _("Only the moderator who took a decision, or a senior moderator, can undo it.")
    if now > deadline:
        return _(
            "A decision can be undone for %(minutes)s minutes only; this one was taken at %(when)s UTC. "
            "Only an appeal can reverse it now."
        ) % {"minutes": int(undo_window().total_seconds() // 60), "when": f"{item.decided_at:%H:%M}"}
    return None


@transaction.atomic
def undo_decision(*, actor, item: ReviewItem) -> ReviewItem:
    """Reverse the item's take-down or dismissal and put the item back in the queue, open.

    1. Lock the item; refuse unless the actor may undo its decision now (``undo_refusal``).
    2. A take-down: overturn its violation (and the sanctions resting on it alone), put the
       listing back as it was if this decision delisted it, recompute the merchant's status,
       and withdraw the decision in a notice, since the merchant got one.
    3. A dismissal that put live a listing held after a granted appeal, or held before its
       publication: it is held again.
    4. The item goes back to open with its decision cleared, in a conditional UPDATE: of two
       undos at once, one wins and the other finds nothing to undo.
    """
    item = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("listing", "policy", "merchant__marketplace")
        .get(pk=item.pk)
    )
    now = timezone.now()
    refusal = undo_refusal(actor=actor, item=item, now=now)
    if refusal:
        raise ValidationError(refusal)
    before = {
        "status": item.status,
        "decision": item.decision,
        "decided_by": item.decided_by_id,
        "decided_at": item.decided_at,
        "reason": item.decision_reason,
    }
    after: dict = {"status": ReviewItem.Status.OPEN}
    if item.decision == ReviewItem.Decision.TAKEN_DOWN:
        after.update(_reverse_take_down(item, actor=actor, now=now))
    elif item.appeal_id is not None:
        after.update(_hold_again(item, actor=actor, now=now))
    else:
        after.update(holds.hold_again(item, now=now))
    _reopen(item, before=before)
    item.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.REVIEW_DECISION_UNDONE,
        target=item,
        merchant=item.merchant,
        policy=item.policy,
        before=before,
        after=after,
    )
    return item


def _reopen(item: ReviewItem, *, before: dict) -> None:
    try:
        with transaction.atomic():  # a savepoint: the unique index may refuse, see below
            reopened = ReviewItem.objects.filter(
                pk=item.pk, status=ReviewItem.Status.DECIDED, decided_at=before["decided_at"]
            ).update(
                status=ReviewItem.Status.OPEN,
                decision="",
                decided_by=None,
                decided_at=None,
                decision_reason="",
                claimed_by=None,
                claimed_until=None,
            )
    except IntegrityError as error:
        # Another item on the same listing and policy opened since (a rescan, a relisting).
        raise ValidationError(_("Another review of this listing is open: decide it there.")) from error
    if reopened != 1:  # the row is locked above: only a bug gets here
        raise ValidationError(_("This decision has been undone already."))


def _reverse_take_down(item: ReviewItem, *, actor, now: datetime) -> dict:
    violation = Violation.objects.select_related("policy").get(review_item=item, status=Violation.Status.ACTIVE)
    if Appeal.objects.filter(decision_key=f"violation-{violation.pk}", status__in=OPEN_STATUSES).exists():
        raise ValidationError(_("The merchant has appealed this decision: the appeal decides it now."))
    # The merchant's row first, as a grant does: sanctions and status are recomputed under it.
    Merchant.objects.select_for_update().filter(pk=item.merchant_id).values_list("pk", flat=True).first()
    reversal = Reversal(
        merchant=item.merchant,
        policy=item.policy,
        cites={"review_item": item.pk, "undone": True},
        because=f"The take-down of review #{item.pk} was undone by its moderator.",
    )
    reversed_steps = overturn_violation(violation, actor=actor, reversal=reversal, now=now)
    relisted = _relist_if_delisted_by(item, actor=actor, now=now)
    recompute_enforcement_status(
        [item.merchant_id], actor=actor, reason=f"The take-down of review #{item.pk} was undone."
    )
    notified = _withdraw_notice(item, violation=violation, relisted=relisted, steps=reversed_steps, now=now)
    # The audit trail is written in English: the steps as sentences, as a granted appeal records them.
    reversed_in_words = [step_in_english(step) for step in reversed_steps]
    return {"violation": violation.pk, "relisted": relisted, "reversed": reversed_in_words, "notified": notified}


def _relist_if_delisted_by(item: ReviewItem, *, actor, now: datetime) -> bool:
    """The listing goes back live if this decision took it down (and nothing else holds it since)."""
    listing = Listing.objects.select_for_update().select_related("category").get(pk=item.listing_id)
    delisted_by_this = (
        item.appeal_id is None  # a listing held after an appeal was down before: it stays down
        and listing.status == Listing.Status.DELISTED
        and listing.delisted_at == item.decided_at
        and listing.delisted_by_removal_id is None
        and listing.delisted_by_sanction_id is None
    )
    if not delisted_by_this or listing.category.is_retired:
        return False
    before = {"status": listing.status}
    listing.save(update_fields=listing.relist(at=now))
    if item.source == ReviewItem.Source.HELD:
        # Taken down while held before its publication: it waits for the item, reopened, again.
        listing.status = Listing.Status.HELD
        listing.save(update_fields=["status"])
    if listing.status == Listing.Status.LIVE:
        outbox.listing_reinstated(listing, reason="decision_undone", policy=item.policy, at=now)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_RESTORED,
        target=listing,
        merchant=item.merchant,
        policy=item.policy,
        before=before,
        after={"status": listing.status, "review_item": item.pk, "undone": True},
    )
    return True


def _withdraw_notice(item: ReviewItem, *, violation: Violation, relisted: bool, steps: list[Step], now) -> bool:
    """Tell the merchant the decision is withdrawn, if they were told of it. Returns whether."""
    if not Notice.objects.filter(merchant_id=item.merchant_id, dedupe_key=f"violation:{violation.pk}").exists():
        return False
    policy = item.policy
    create_notices(
        [
            NoticeDraft(
                merchant_id=item.merchant_id,
                kind=Notice.Kind.DECISION_WITHDRAWN,
                dedupe_key=f"violation:{violation.pk}:withdrawn",
                policy=policy,
                context={
                    "listing": item.listing,
                    "violation": violation,
                    "relisted": relisted,
                    "sanctions_overturned": any(step["what"] == "sanction_overturned" for step in steps),
                    "decided_at": policy.local(violation.decided_at),
                    "withdrawn_at": policy.local(now),
                    "points_now": merchant_points(item.merchant_id, policy=policy, at=now),
                },
            )
        ]
    )
    return True


def _hold_again(item: ReviewItem, *, actor, now: datetime) -> dict:
    """Undoing the dismissal of a listing held after a granted appeal: it waits for review again,
    down, as it did before the dismissal put it live."""
    listing = Listing.objects.select_for_update().get(pk=item.listing_id)
    if listing.status != Listing.Status.LIVE:
        return {}
    listing.previous_status = listing.status
    listing.status = Listing.Status.DELISTED
    listing.delisted_at = now
    listing.delisted_version = item.version or listing.version
    listing.delisted_reason = f"Back to review after appeal #{item.appeal_id} before it is live again."
    listing.updated_at = now
    listing.save(
        update_fields=["status", "previous_status", "delisted_at", "delisted_version", "delisted_reason", "updated_at"]
    )
    outbox.listing_delisted(listing, reason="held_for_review", policy=item.policy, at=now)
    return {"listing": listing.pk, "listing_status": listing.status}
