"""Assignment: a moderator hands an open review item to a named moderator.

An assignment is a pointer, not a lock: the assignee finds the item under "Assigned to
me" and their "claim next" offers it first, but anyone of the item's tier may still claim
and decide it (an assignee who is away must not hold the queue up).

A claim held by someone else is never taken away silently: while a third person's lease
runs the assignment is refused, with who holds it and until when. The assigner's own claim
(or a lapsed one) is released on the way, and the audit event says so.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.roles import Role, has_role
from moderation.models import AuditVerb, ReviewItem
from moderation.services.audit import record_event
from moderation.tiers import may_work_tier


def may_assign(user) -> bool:
    """The one statement of who assigns: moderators and seniors (the pages ask it too)."""
    return has_role(user, Role.MODERATOR)


def assignee_refusal(*, assignee, item: ReviewItem) -> str | None:
    """Why ``assignee`` cannot be handed ``item``, or None if they can."""
    if not assignee.is_active or not has_role(assignee, Role.MODERATOR):
        return _("%(name)s is not a moderator: only moderators and senior moderators can be assigned items.") % {
            "name": assignee
        }
    if not may_work_tier(assignee, item.tier):
        return _("This item was escalated: only a senior moderator can be assigned it.")
    return None


def _lock_open_item(*, actor, item: ReviewItem) -> ReviewItem:
    if not may_assign(actor):
        raise PermissionDenied("Only moderators assign review items.")
    item = ReviewItem.objects.select_for_update(of=("self",)).select_related("merchant", "policy").get(pk=item.pk)
    if item.status == ReviewItem.Status.DECIDED:
        raise ValidationError(_("This item has been decided already."))
    if not may_work_tier(actor, item.tier):
        raise ValidationError(_("This item was escalated: only senior moderators decide it."))
    return item


def _state(item: ReviewItem) -> dict:
    return {"assigned_to": item.assigned_to_id, "status": item.status, "claimed_by": item.claimed_by_id}


@transaction.atomic
def assign_item(*, actor, item: ReviewItem, assignee) -> ReviewItem:
    """Assign the open item to ``assignee``; returns the item as it is now.

    1. Lock the item; refuse a decided item, or an escalated one for an actor who is not a senior.
    2. Refuse an assignee who is not an active moderator, or not a senior for an escalated item.
    3. A claim: the assignee's own stays; the actor's own, or one whose lease ran out, is
       released (the item goes back to open, for the assignee to claim); a third person's
       running lease refuses the assignment (their work is not taken away silently).
    4. Write the assignment and its audit event, saying when a claim was released.
    Assigning to the current assignee again changes nothing and writes nothing.
    """
    item = _lock_open_item(actor=actor, item=item)
    if refusal := assignee_refusal(assignee=assignee, item=item):
        raise ValidationError({"assignee": refusal})
    if item.assigned_to_id == assignee.pk:
        return item
    before = _state(item)
    release = False
    claimer = None
    if item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id != assignee.pk:
        lapsed = item.claimed_until is None or item.claimed_until < timezone.now()
        if item.claimed_by_id != actor.pk and not lapsed:
            raise ValidationError(
                _(
                    "%(moderator)s is working on this item until %(until)s UTC: "
                    "assign it when they are done or their claim ends."
                )
                % {"moderator": item.claimed_by, "until": f"{item.claimed_until:%H:%M}"}
            )
        release = True
        claimer = item.claimed_by
    changes = {"assigned_to": assignee}
    if release:
        changes.update(status=ReviewItem.Status.OPEN, claimed_by=None, claimed_until=None)
    ReviewItem.objects.filter(pk=item.pk).update(**changes)
    item.refresh_from_db()
    # The trail is English whoever acts (as record_event's target names are).
    reason = f"Assigned to {assignee.get_username()}."
    if release:
        assert claimer is not None  # a claimed item has its claimer (the constraint review_claim_has_owner)
        reason += f" The claim of {claimer.get_username()} was released: the item is open again, for the assignee."
    record_event(
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_ASSIGNED,
        target=item,
        merchant=item.merchant,
        policy=item.policy,
        before=before,
        after=_state(item),
        reason=reason,
    )
    return item


@transaction.atomic
def unassign_item(*, actor, item: ReviewItem) -> ReviewItem:
    """Withdraw the item's assignment (any moderator who may assign it may); a claim is left alone."""
    item = _lock_open_item(actor=actor, item=item)
    if item.assigned_to_id is None:
        raise ValidationError(_("This item is not assigned to anyone."))
    before = _state(item)
    previous = item.assigned_to
    assert previous is not None  # assigned_to_id was checked above
    ReviewItem.objects.filter(pk=item.pk).update(assigned_to=None)
    item.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.REVIEW_ITEM_ASSIGNED,
        target=item,
        merchant=item.merchant,
        policy=item.policy,
        before=before,
        after=_state(item),
        reason=f"Unassigned from {previous.get_username()}.",
    )
    return item
