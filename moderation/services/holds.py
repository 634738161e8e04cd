"""Listings held for a moderator before they are published (``Policy.flagged_listings`` = review).

A policy that holds flagged listings does not refuse them: the new or edited listing is saved
unpublished (``Listing.Status.HELD``), a review item opens on the version saved, and it goes
live only when a moderator finds it allowed. Nothing is recorded against the merchant until a
moderator takes it down (then the take-down's own violation, notice and appeal).

- ``hold_listing``: in the transaction that saved the listing as held (sellers' API or sync).
- ``publish_after_review``: a moderator dismissed an item of a held listing. It goes live only
  if that item judged the listing's current content and no other review of it is open: content
  edited while it waited is put before a moderator again, never published unseen.
- ``hold_again``: the moderator undoes that dismissal within the undo window.

The merchant is told of a hold with the policy, the clause and the field, never the words or
rules that matched (a seller would test disguises against them), and of the publication.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation.models import AuditEvent, AuditVerb, Notice, ReviewItem
from moderation.services import outbox
from moderation.services.audit import Actor, SystemActor, record_event
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.transparency import statement_fields
from moderation.services.violations import FIELD_NAMES, ContentHold, clause_that_applies
from sellers.models import Listing

HOLD_ACTOR = SystemActor("listing_hold")
OPEN = [ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED]


def held_message(policy, clause, field: str) -> str:
    """What the merchant (or the marketplace's check and sync) is told of a hold: the policy, its clause
    and the field, as a refusal names them."""
    values = {"policy": policy, "field": FIELD_NAMES[field]}
    if clause is not None:
        return _(
            "Held for review under the policy “%(policy)s”, clause %(number)s (“%(clause)s”): see its %(field)s. "
            "It is not published until a moderator allows it."
        ) % {**values, "number": clause.number, "clause": clause.title}
    return (
        _(
            "Held for review under the policy “%(policy)s”: see its %(field)s. "
            "It is not published until a moderator allows it."
        )
        % values
    )


def hold_listing(*, actor: Actor, listing: Listing, hold: ContentHold, previous_status: str, at: datetime) -> int:
    """The caller saved ``listing`` as held, in this transaction: open its review item, record the hold,
    tell the marketplace if it was showing the listing, give the merchant a statement of reasons.

    ``previous_status``: the listing's status before (a new listing: ""). A listing held already only
    gets its item (if none of the policy is open): the merchant was told when it was first held.
    Returns the open item's id.
    """
    from moderation.services.queue import open_review_items
    from moderation.services.scanning import detection_of

    policy = hold.policy
    open_review_items(
        policy=policy,
        detections=[(listing, detection_of(hold.result))],
        source=ReviewItem.Source.HELD,
        actor=HOLD_ACTOR,
    )
    item_id, due_at = (
        ReviewItem.objects.filter(listing=listing, policy=policy, status__in=OPEN).values_list("pk", "due_at").get()
    )
    if previous_status == Listing.Status.HELD:
        return item_id
    clause = clause_that_applies(policy, hold.result.clause)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_HELD,
        target=listing,
        merchant=listing.merchant_id,
        policy=policy,
        before={"status": previous_status} if previous_status else None,
        after={"status": listing.status, "version": listing.version, "review_item": item_id, "field": hold.field},
        reason="The rules flag its content; the policy holds such listings for a moderator.",
    )
    if previous_status == Listing.Status.LIVE:
        outbox.listing_delisted(listing, reason="held_for_review", policy=policy, at=at)
    facts = (
        f"The marketplace's automated checks flagged the {hold.field} of your listing “{listing.title[:200]}” "
        f"(#{listing.pk}) on {policy.local(at):%Y-%m-%d %H:%M} ({policy.timezone}). It is held unpublished "
        "until a moderator reviews it."
    )
    create_notices(
        [
            NoticeDraft(
                merchant_id=listing.merchant_id,
                kind=Notice.Kind.LISTING_HELD,
                dedupe_key=f"held:{listing.pk}:v{listing.version}",
                policy=policy,
                clause=clause,
                restricts=True,
                context={
                    "listing": listing,
                    "field": hold.field,
                    "held_at": policy.local(at),
                    "due_at": policy.local(due_at),
                    "was_live": previous_status == Listing.Status.LIVE,
                },
                transparency=statement_fields(
                    policy=policy,
                    clause=clause,
                    facts=facts,
                    content_date=listing.created_at,
                    application_date=at,
                    automated_detection=True,
                    automated_decision="AUTOMATED_DECISION_FULLY",
                    visibility=["DECISION_VISIBILITY_OTHER"],
                    visibility_other="Held unpublished until a moderator reviews it.",
                ),
            )
        ]
    )
    return item_id


def publish_after_review(*, actor, item: ReviewItem, now: datetime) -> dict[str, Any]:
    """After ``item`` was dismissed: publish its held listing if the item judged what it holds now.

    Returns what happened, for the dismissal's audit event ({} when the listing is not held).
    """
    listing = Listing.objects.select_for_update().select_related("category", "merchant").get(pk=item.listing_id)
    if listing.status != Listing.Status.HELD:
        return {}
    if ReviewItem.objects.filter(listing=listing, status__in=OPEN).exclude(pk=item.pk).exists():
        # Another policy's review (or this one's, reopened) still has to find it allowed.
        return {"listing": listing.pk, "listing_status": listing.status, "waits_for": "another review"}
    if listing.version != item.version:
        return _review_again(item, listing=listing)
    if listing.category.is_retired:
        return _delist_with_its_category(item, actor=actor, listing=listing, now=now)
    listing.status = Listing.Status.LIVE
    listing.updated_at = now
    listing.save(update_fields=["status", "updated_at"])
    outbox.listing_reinstated(listing, reason="review_cleared", policy=item.policy, at=now)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_PUBLISHED,
        target=listing,
        merchant=listing.merchant_id,
        policy=item.policy,
        before={"status": Listing.Status.HELD},
        after={"status": listing.status, "version": listing.version, "review_item": item.pk},
    )
    create_notices(
        [
            NoticeDraft(
                merchant_id=listing.merchant_id,
                kind=Notice.Kind.LISTING_PUBLISHED,
                dedupe_key=f"published:{listing.pk}:review:{item.pk}",
                policy=item.policy,
                context={"listing": listing, "published_at": item.policy.local(now)},
            )
        ]
    )
    return {"listing": listing.pk, "listing_status": listing.status}


def _review_again(item: ReviewItem, *, listing: Listing) -> dict[str, Any]:
    """The listing was edited while it waited: its current content goes before a moderator, flagged or not."""
    from moderation.selectors.detection import policy_matcher
    from moderation.services.queue import open_review_items
    from moderation.services.scanning import detection_of

    result = policy_matcher(item.policy).score(
        title=listing.title, description=listing.description, attributes=listing.attributes
    )
    open_review_items(
        policy=item.policy,
        detections=[(listing, detection_of(result))],
        source=ReviewItem.Source.HELD,
        actor=HOLD_ACTOR,
    )
    return {"listing": listing.pk, "listing_status": listing.status, "waits_for": f"version {listing.version}"}


def _delist_with_its_category(item: ReviewItem, *, actor, listing: Listing, now: datetime) -> dict[str, Any]:
    """Its category was retired while it waited: it comes down as the category's listings did
    (a granted appeal of the removal's decisions, or the category's return, is not for this item)."""
    category = listing.category
    listing.status = Listing.Status.DELISTED
    listing.previous_status = Listing.Status.LIVE
    listing.delisted_at = now
    listing.delisted_version = listing.version
    listing.delisted_by_removal_id = category.retired_by_removal_id
    listing.delisted_reason = f"Its category “{category.name}” was retired while it waited for review."
    listing.updated_at = now
    listing.save(
        update_fields=[
            "status",
            "previous_status",
            "delisted_at",
            "delisted_version",
            "delisted_by_removal",
            "delisted_reason",
            "updated_at",
        ]
    )
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL,
        target=listing,
        merchant=listing.merchant_id,
        policy=item.policy,
        before={"status": Listing.Status.HELD},
        after={"status": listing.status, "removal": category.retired_by_removal_id, "review_item": item.pk},
        reason=listing.delisted_reason,
    )
    return {"listing": listing.pk, "listing_status": listing.status}


def hold_again(item: ReviewItem, *, now: datetime | None = None) -> dict[str, Any]:
    """Undoing the dismissal that published a held listing: it is held again, for the item reopened."""
    now = now or timezone.now()
    listing = Listing.objects.select_for_update().get(pk=item.listing_id)
    published_by_this = AuditEvent.objects.filter(
        verb=AuditVerb.LISTING_PUBLISHED,
        target_type=ContentType.objects.get_for_model(Listing),
        target_id=listing.pk,
        after__review_item=item.pk,
    ).exists()
    if listing.status != Listing.Status.LIVE or not published_by_this:
        return {}  # not published by this dismissal (or down again since): nothing of it to take back
    listing.status = Listing.Status.HELD
    listing.updated_at = now
    listing.save(update_fields=["status", "updated_at"])
    outbox.listing_delisted(listing, reason="held_for_review", policy=item.policy, at=now)
    return {"listing": listing.pk, "listing_status": listing.status}
