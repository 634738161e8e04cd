"""The catalog's invariants, held by the database itself.

Rows are written straight through the ORM here, on purpose: the services check these
rules too, but the point is that the database refuses them when a service is bypassed
(a bulk import, a data migration, a bug).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from sellers import services as catalog
from sellers.models import Category, Listing, Marketplace, Merchant, validate_timezone
from sellers.selectors import category_subtree, visible_listings


def refused_by_the_database(create):
    """Run ``create`` in a savepoint and check the database refuses it."""
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def new_listing(merchant, category, **fields):
    values = {"merchant": merchant, "category": category, "title": "Antminer S19", "price": Decimal("10")}
    return Listing.objects.create(**{**values, **fields})


def reload(listing: Listing) -> Listing:
    return Listing.objects.select_related("merchant", "category").get(pk=listing.pk)


# Listings


def test_it_refuses_a_negative_price(merchant_a, miners):
    refused_by_the_database(lambda: new_listing(merchant_a, miners, price=Decimal("-0.01")))
    assert not Listing.objects.exists()


def test_it_accepts_a_free_listing(merchant_a, miners):
    assert new_listing(merchant_a, miners, price=Decimal("0")).price == 0


@pytest.mark.parametrize(
    "missing",
    [
        {"delisted_at": None},
        {"previous_status": ""},
        {"delisted_reason": ""},
    ],
    ids=["without delisted_at", "without previous_status", "without reason"],
)
def test_it_refuses_a_delisting_that_is_not_explained(merchant_a, miners, missing):
    explained = {
        "status": Listing.Status.DELISTED,
        "delisted_at": timezone.now(),
        "previous_status": Listing.Status.LIVE,
        "delisted_reason": "Policy: virtual currency mining machines, clause 1",
    }
    refused_by_the_database(lambda: new_listing(merchant_a, miners, **{**explained, **missing}))
    assert not Listing.objects.exists()
    # The same row with every explanation is accepted.
    assert new_listing(merchant_a, miners, **explained).status == Listing.Status.DELISTED


def test_it_refuses_to_delist_an_existing_listing_without_explanation(merchant_a, miners, make_listing):
    listing = make_listing(merchant_a, miners)
    refused_by_the_database(lambda: Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.DELISTED))
    assert reload(listing).status == Listing.Status.LIVE


def test_it_refuses_delisted_as_the_previous_status(merchant_a, miners):
    refused_by_the_database(
        lambda: new_listing(
            merchant_a,
            miners,
            status=Listing.Status.DELISTED,
            delisted_at=timezone.now(),
            previous_status=Listing.Status.DELISTED,
            delisted_reason="twice",
        )
    )


def test_it_refuses_a_listing_status_outside_its_choices(merchant_a, miners):
    refused_by_the_database(lambda: new_listing(merchant_a, miners, status="hidden"))
    assert not Listing.objects.exists()


# Categories


def test_it_refuses_a_retired_category_without_its_retirement_time(electronics):
    refused_by_the_database(lambda: Category.objects.filter(pk=electronics.pk).update(status=Category.Status.RETIRED))
    electronics.refresh_from_db()
    assert electronics.status == Category.Status.ACTIVE


def test_it_refuses_an_active_category_with_a_retirement_time(electronics):
    refused_by_the_database(lambda: Category.objects.filter(pk=electronics.pk).update(retired_at=timezone.now()))
    electronics.refresh_from_db()
    assert electronics.retired_at is None


def test_it_accepts_a_retired_category_with_its_retirement_time(electronics):
    Category.objects.filter(pk=electronics.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    electronics.refresh_from_db()
    assert electronics.is_retired


def test_it_refuses_a_category_status_outside_its_choices(electronics):
    refused_by_the_database(lambda: Category.objects.filter(pk=electronics.pk).update(status="archived"))


def test_it_refuses_a_category_that_is_its_own_parent(electronics):
    refused_by_the_database(lambda: Category.objects.filter(pk=electronics.pk).update(parent=electronics))
    electronics.refresh_from_db()
    assert electronics.parent is None


def test_it_refuses_two_categories_of_the_same_name_under_one_parent(electronics, miners):
    refused_by_the_database(
        lambda: Category.objects.create(
            parent=electronics,
            name="Blockchain Miners",
            slug="blockchain-miners-2",
            path="/consumer-electronics/blockchain-miners-2/",
            depth=1,
        )
    )
    assert Category.objects.filter(name="Blockchain Miners").count() == 1


def test_it_accepts_the_same_name_under_different_parents(electronics, miners):
    Category.objects.create(
        parent=miners,
        name="Consumer Electronics",
        slug="miner-electronics",
        path="/consumer-electronics/blockchain-miners/miner-electronics/",
        depth=2,
    )
    assert Category.objects.filter(name="Consumer Electronics").count() == 2


def test_it_refuses_two_root_categories_of_the_same_name(electronics):
    refused_by_the_database(
        lambda: Category.objects.create(
            name="Consumer Electronics", slug="consumer-electronics-2", path="/consumer-electronics-2/"
        )
    )


# Merchants


def test_it_refuses_an_enforcement_status_outside_its_choices(merchant_a):
    refused_by_the_database(lambda: Merchant.objects.filter(pk=merchant_a.pk).update(enforcement_status="banned"))
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.ACTIVE


def test_it_refuses_an_active_merchant_with_an_end_of_restriction(merchant_a):
    refused_by_the_database(
        lambda: Merchant.objects.filter(pk=merchant_a.pk).update(enforcement_until=timezone.now() + timedelta(days=7))
    )
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_until is None


def test_it_accepts_a_blocked_store_with_an_end_of_restriction(merchant_a):
    until = timezone.now() + timedelta(days=7)
    Merchant.objects.filter(pk=merchant_a.pk).update(
        enforcement_status=Merchant.EnforcementStatus.STORE_BLOCKED, enforcement_until=until
    )
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_until == until
    assert not merchant_a.can_sell


def test_it_refuses_a_store_name_twice_in_one_marketplace(merchant_a, marketplace):
    refused_by_the_database(
        lambda: Merchant.objects.create(
            marketplace=marketplace,
            store_name=merchant_a.store_name,
            company_name="Another company",
            country="CN",
            contact_email="other@example.com",
        )
    )
    assert Merchant.objects.filter(store_name=merchant_a.store_name).count() == 1


def test_it_accepts_a_store_name_again_in_another_marketplace(merchant_a, other_marketplace):
    Merchant.objects.create(
        marketplace=other_marketplace,
        store_name=merchant_a.store_name,
        company_name=merchant_a.company_name,
        country="CN",
        contact_email="sales@hashpower.example",
    )
    assert Merchant.objects.filter(store_name=merchant_a.store_name).count() == 2


# Visibility is derived, never stored


@pytest.fixture
def live_listings(merchant_a, merchant_b, miners, graphics_cards, make_listing):
    return {
        "miner": make_listing(merchant_a, miners),
        "card": make_listing(merchant_a, graphics_cards, title="RTX 3090"),
        "other merchant": make_listing(merchant_b, graphics_cards, title="RX 6800"),
    }


def test_live_listings_of_active_merchants_in_active_categories_are_visible(live_listings):
    assert set(visible_listings()) == set(live_listings.values())
    assert all(reload(listing).is_visible for listing in live_listings.values())


def test_a_delisted_listing_is_not_visible(live_listings):
    miner = live_listings["miner"]
    Listing.objects.filter(pk=miner.pk).update(
        status=Listing.Status.DELISTED,
        delisted_at=timezone.now(),
        previous_status=Listing.Status.LIVE,
        delisted_reason="Prohibited: virtual currency mining machines",
    )
    assert not reload(miner).is_visible
    assert set(visible_listings()) == {live_listings["card"], live_listings["other merchant"]}


def test_a_listing_removed_by_its_seller_is_not_visible(live_listings):
    card = live_listings["card"]
    Listing.objects.filter(pk=card.pk).update(status=Listing.Status.REMOVED_BY_SELLER)
    assert not reload(card).is_visible
    assert card not in visible_listings()


@pytest.mark.parametrize(
    "status",
    [
        Merchant.EnforcementStatus.STORE_BLOCKED,
        Merchant.EnforcementStatus.FROZEN,
        Merchant.EnforcementStatus.CLOSED,
    ],
)
def test_listings_of_a_restricted_merchant_are_not_visible_and_not_rewritten(live_listings, merchant_a, status):
    # As the sanction services will: only the merchant's cached status changes.
    Merchant.objects.filter(pk=merchant_a.pk).update(enforcement_status=status)
    assert set(visible_listings()) == {live_listings["other merchant"]}
    assert not reload(live_listings["miner"]).is_visible
    assert not reload(live_listings["card"]).is_visible
    assert set(Listing.objects.filter(merchant=merchant_a).values_list("status", flat=True)) == {"live"}


def test_listings_of_a_retired_category_are_not_visible(live_listings, miners):
    Category.objects.filter(pk=miners.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    assert set(visible_listings()) == {live_listings["card"], live_listings["other merchant"]}
    assert not reload(live_listings["miner"]).is_visible
    assert reload(live_listings["miner"]).status == Listing.Status.LIVE


# The category tree


def test_a_subtree_is_the_category_and_its_descendants_only(
    system, electronics, miners, miner_accessories, graphics_cards
):
    asic = catalog.create_category(actor=system, name="ASIC Miners", parent=miners)
    # Its path starts with the same letters as /…/blockchain-miners/ but it is a sibling.
    lookalike = catalog.create_category(actor=system, name="Blockchain Miners Pro", parent=electronics)
    catalog.create_category(actor=system, name="Home & Garden")

    assert set(category_subtree([miners])) == {miners, asic}
    assert lookalike not in category_subtree([miners])
    assert set(category_subtree([miners, miner_accessories])) == {miners, asic, miner_accessories}
    assert set(category_subtree([electronics])) == {
        electronics,
        miners,
        asic,
        miner_accessories,
        graphics_cards,
        lookalike,
    }


def test_the_subtree_of_no_category_is_empty(electronics):
    assert list(category_subtree([])) == []


def test_a_breadcrumb_follows_the_path(miners):
    assert miners.breadcrumb() == "consumer electronics › blockchain miners"


# Marketplaces


def test_it_refuses_an_unknown_timezone(db):
    with pytest.raises(ValidationError, match="'Mars/Olympus' is not a known IANA timezone"):
        validate_timezone("Mars/Olympus")
    with pytest.raises(ValidationError) as refused:
        Marketplace(code="mars", name="Mars", timezone="Mars/Olympus").full_clean()
    assert set(refused.value.message_dict) == {"timezone"}


@pytest.mark.parametrize("name", ["Asia/Shanghai", "Asia/Kuala_Lumpur", "UTC"])
def test_it_accepts_an_iana_timezone(name):
    validate_timezone(name)
