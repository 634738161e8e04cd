"""A policy that holds flagged listings for a moderator: saved unpublished, published only by a dismissal
that judged what the listing holds, taken down like any listing, and every step audited and told."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from moderation.models import AuditEvent, AuditVerb, Notice, OutboxEvent, Policy, ReviewItem, Violation
from moderation.services import queue
from moderation.services.undo import undo_decision
from moderation.services.violations import first_flagging
from sellers import services as catalog
from sellers.models import Listing

pytestmark = pytest.mark.django_db

BANNED = {"title": "Antminer S19 Pro 110TH/s", "description": "Bitcoin miner, new in box."}


@pytest.fixture
def holding_policy(in_grace, mining_rules, announced_policy):
    """The reference policy in effect (grace), holding flagged listings for review instead of refusing them.

    Set on the row: an announced policy is never edited (a draft's setting goes through the service,
    tested with the policy pages)."""
    Policy.objects.filter(pk=announced_policy.pk).update(flagged_listings=Policy.FlaggedListings.REVIEW)
    announced_policy.refresh_from_db()
    return announced_policy


@pytest.fixture
def held(holding_policy, merchant_b, merchant_user_b, graphics_cards):
    return catalog.create_listing(
        actor=merchant_user_b, merchant=merchant_b, category=graphics_cards, price=Decimal("2399"), **BANNED
    )


def item_of(listing, **filters) -> ReviewItem:
    return ReviewItem.objects.get(listing=listing, status__in=["open", "claimed"], **filters)


def events(verb, listing):
    return AuditEvent.objects.filter(verb=verb, target_type__model="listing", target_id=listing.pk)


def outbox_of(listing, event_type):
    return [
        event
        for event in OutboxEvent.objects.filter(event_type=event_type)
        if listing.pk in event.payload["listing_ids"]
    ]


def test_flagged_content_is_saved_unpublished_with_its_review_item_and_nothing_against_the_merchant(
    held, holding_policy, merchant_b
):
    assert held.status == Listing.Status.HELD
    assert not Listing.objects.get(pk=held.pk).is_visible
    item = item_of(held)
    assert (item.source, item.policy_id, item.version, item.clause.number) == ("held", holding_policy.pk, 1, 1)
    assert not Violation.objects.filter(merchant=merchant_b).exists()
    hold = events(AuditVerb.LISTING_HELD, held).get()
    assert hold.after["review_item"] == item.pk and hold.after["status"] == "held"
    assert events(AuditVerb.LISTING_CREATED, held).get().after["status"] == "held"
    # Never shown: the marketplace has nothing to hide.
    assert not outbox_of(held, OutboxEvent.Type.LISTINGS_DELISTED)


def test_the_merchant_gets_a_statement_of_reasons_that_names_the_clause_and_field_never_the_rules(
    held, holding_policy, merchant_b
):
    notice = Notice.objects.get(merchant=merchant_b, kind=Notice.Kind.LISTING_HELD)
    assert notice.restricts and notice.clause.number == 1
    assert notice.transparency["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    assert "until a moderator reviews it" in notice.body and "title" in notice.body
    # The listing's own words are quoted; nothing of the rules that matched (terms, weights, patterns).
    body = notice.body.replace(held.title, "").replace(notice.clause.text, "").lower()
    assert "bitcoin miner" not in body and "antminer" not in body and "weight" not in body and "score" not in body


def test_dismissing_publishes_it_tells_the_marketplace_and_the_merchant(held, holding_policy, moderator, merchant_b):
    queue.dismiss_item(actor=moderator, item=item_of(held), reason="A poster of a miner, not a miner.")
    held.refresh_from_db()
    assert held.status == Listing.Status.LIVE and held.is_visible
    published = events(AuditVerb.LISTING_PUBLISHED, held).get()
    assert published.actor_id == moderator.pk and published.before == {"status": "held"}
    (event,) = outbox_of(held, OutboxEvent.Type.LISTINGS_REINSTATED)
    assert event.payload["reason"] == "review_cleared" and event.payload["status"] == "live"
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_PUBLISHED).count() == 1


def test_taking_it_down_delists_it_as_any_listing_and_a_granted_appeal_can_publish_it(
    held, holding_policy, moderator, merchant_b
):
    violation = queue.take_down_listing(actor=moderator, item=item_of(held), reason="A miner.")
    held.refresh_from_db()
    assert (held.status, held.previous_status) == (Listing.Status.DELISTED, Listing.Status.LIVE)
    assert violation.automated_detection and violation.listing_id == held.pk
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_TAKEN_DOWN).count() == 1


def test_content_edited_while_it_waits_is_never_published_unseen(held, holding_policy, moderator, merchant_user_b):
    first = item_of(held)
    # The merchant swaps in other content while the moderator reads the first: not flagged, but not seen.
    catalog.edit_listing(actor=merchant_user_b, listing=held, title="Gaming PC, RTX 4070", description="")
    held.refresh_from_db()
    assert held.status == Listing.Status.HELD and held.version == 2
    queue.dismiss_item(actor=moderator, item=first, reason="The first version was a poster.")
    held.refresh_from_db()
    assert held.status == Listing.Status.HELD
    again = item_of(held)
    assert again.pk != first.pk and (again.source, again.version) == ("held", 2)
    queue.dismiss_item(actor=moderator, item=again, reason="A gaming PC.")
    held.refresh_from_db()
    assert held.status == Listing.Status.LIVE


def test_an_edit_into_flagged_content_takes_a_live_listing_down_until_reviewed(
    holding_policy, make_listing, merchant_b, merchant_user_b, graphics_cards
):
    listing = make_listing(merchant_b, graphics_cards, title="RTX 4070 graphics card")
    catalog.edit_listing(actor=merchant_user_b, listing=listing, **BANNED)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.HELD
    assert item_of(listing).version == listing.version
    (event,) = outbox_of(listing, OutboxEvent.Type.LISTINGS_DELISTED)
    assert event.payload["reason"] == "held_for_review" and event.payload["status"] == "held"
    notice = Notice.objects.get(merchant=merchant_b, kind=Notice.Kind.LISTING_HELD)
    assert "until then" in notice.body
    # Flagged again while it waits: no second item, no second notice.
    catalog.edit_listing(actor=merchant_user_b, listing=listing, title="Antminer S19j Pro")
    assert ReviewItem.objects.filter(listing=listing, status="open").count() == 1
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_HELD).count() == 1


def test_a_delisted_listing_edited_into_flagged_content_stays_delisted(
    holding_policy, make_listing, merchant_b, merchant_user_b, graphics_cards, moderator, open_item
):
    listing = make_listing(merchant_b, graphics_cards, title="RTX 4070 graphics card")
    queue.take_down_listing(actor=moderator, item=open_item(listing), reason="A miner in disguise.")
    catalog.edit_listing(actor=merchant_user_b, listing=listing, **BANNED)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DELISTED
    assert not events(AuditVerb.LISTING_HELD, listing).exists()


def test_another_open_review_keeps_it_held(held, holding_policy, moderator, open_item, policy_admin, marketplace):
    from moderation.services.policies import create_policy

    other = create_policy(
        actor=policy_admin,
        slug="second",
        title="Second",
        body="b",
        marketplaces=[marketplace],
        effective_at=holding_policy.effective_at,
        enforcement_starts_at=holding_policy.enforcement_starts_at,
    )
    open_item(held, policy=other, clause=None)
    queue.dismiss_item(actor=moderator, item=item_of(held, policy=holding_policy), reason="Allowed here.")
    held.refresh_from_db()
    assert held.status == Listing.Status.HELD


def test_a_category_retired_while_it_waits_takes_it_down_with_the_category(held, holding_policy, moderator):
    from sellers.models import Category

    Category.objects.filter(pk=held.category_id).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    queue.dismiss_item(actor=moderator, item=item_of(held), reason="Allowed, but the category closed.")
    held.refresh_from_db()
    assert held.status == Listing.Status.DELISTED and "retired while it waited" in held.delisted_reason
    assert not events(AuditVerb.LISTING_PUBLISHED, held).exists()


def test_undoing_the_dismissal_holds_it_again(held, holding_policy, moderator):
    item = item_of(held)
    queue.dismiss_item(actor=moderator, item=item, reason="Slip of the key.")
    undo_decision(actor=moderator, item=item)
    held.refresh_from_db()
    assert held.status == Listing.Status.HELD
    assert item_of(held).pk == item.pk
    assert [e.payload["reason"] for e in outbox_of(held, OutboxEvent.Type.LISTINGS_DELISTED)] == ["held_for_review"]


def test_undoing_the_take_down_holds_it_again_not_live(held, holding_policy, moderator):
    item = item_of(held)
    queue.take_down_listing(actor=moderator, item=item, reason="Slip of the key.")
    undo_decision(actor=moderator, item=item)
    held.refresh_from_db()
    assert held.status == Listing.Status.HELD
    assert not outbox_of(held, OutboxEvent.Type.LISTINGS_REINSTATED)


def test_the_seller_may_withdraw_a_held_listing_and_its_review_stays(held, holding_policy, merchant_user_b):
    catalog.remove_listing_by_seller(actor=merchant_user_b, listing=held)
    held.refresh_from_db()
    assert held.status == Listing.Status.REMOVED_BY_SELLER
    assert item_of(held).source == "held"


def test_a_retired_category_refuses_before_any_hold(holding_policy, merchant_b, merchant_user_b, graphics_cards):
    from sellers.models import Category

    Category.objects.filter(pk=graphics_cards.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    graphics_cards.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        catalog.create_listing(
            actor=merchant_user_b, merchant=merchant_b, category=graphics_cards, price=Decimal("1"), **BANNED
        )
    assert set(refused.value.message_dict) == {"category"}
    assert not Listing.objects.exists() and not ReviewItem.objects.exists()


def test_a_refusing_policy_comes_before_a_holding_one_whatever_their_order():
    def matcher(flagged: bool):
        return SimpleNamespace(score=lambda **texts: SimpleNamespace(flagged=flagged))

    holding = SimpleNamespace(holds_flagged_listings=True, name="holding")
    refusing = SimpleNamespace(holds_flagged_listings=False, name="refusing")
    choose = first_flagging([(holding, matcher(True)), (refusing, matcher(True))])
    assert choose(title="x")[0] is refusing
    assert first_flagging([(holding, matcher(True)), (refusing, matcher(False))])(title="x")[0] is holding
    assert first_flagging([(holding, matcher(False))])(title="x") == (None, None)


def test_the_sellers_api_answers_a_held_listing_as_held_and_not_visible(
    holding_policy, merchant_b, merchant_user_b, graphics_cards
):
    from tests.api.conftest import token_client

    client = token_client(merchant_user_b)
    response = client.post(
        "/api/v1/listings/", {**BANNED, "category": graphics_cards.slug, "price": "2399.00"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["visible"]) == ("held", False)
