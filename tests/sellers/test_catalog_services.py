"""The catalog's services: each writes its rows and exactly one audit event, or refuses
with a field-level ValidationError and changes nothing."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from moderation.models import AuditEvent, AuditVerb
from sellers import services as catalog
from sellers.models import Category, Listing, Marketplace, Merchant

pytestmark = pytest.mark.django_db


@contextmanager
def new_events():
    """Collect the audit events written inside the block, oldest first."""
    last_id = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    events: list[AuditEvent] = []
    yield events
    events.extend(AuditEvent.objects.filter(id__gt=last_id).order_by("id"))


def retire(category: Category) -> Category:
    Category.objects.filter(pk=category.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    category.refresh_from_db()
    return category


# Marketplaces, categories, merchants


def test_it_creates_a_marketplace_with_one_event(superuser):
    with new_events() as events:
        marketplace = catalog.create_marketplace(
            actor=superuser, code="lazada", name="Lazada", timezone_name="Asia/Singapore"
        )
    [event] = events
    assert event.verb == AuditVerb.MARKETPLACE_CREATED
    assert (event.actor, event.actor_name) == (superuser, "root")
    assert (event.target_id, event.target_repr, event.merchant) == (marketplace.pk, "Lazada", None)
    assert event.before is None
    assert event.after == {"code": "lazada", "name": "Lazada", "timezone": "Asia/Singapore"}


def test_it_refuses_a_marketplace_in_an_unknown_timezone_and_changes_nothing(superuser):
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.create_marketplace(actor=superuser, code="mars", name="Mars", timezone_name="Mars/Olympus")
    assert set(refused.value.message_dict) == {"timezone"}
    assert events == []
    assert not Marketplace.objects.exists()


def test_it_creates_a_category_tree_with_paths_and_depths(system):
    with new_events() as events:
        electronics = catalog.create_category(actor=system, name="Consumer Electronics")
        miners = catalog.create_category(actor=system, name="Blockchain Miners", parent=electronics)
    assert (electronics.path, electronics.depth) == ("/consumer-electronics/", 0)
    assert (miners.path, miners.depth) == ("/consumer-electronics/blockchain-miners/", 1)
    assert miners.slug == "blockchain-miners"
    assert [event.verb for event in events] == [AuditVerb.CATEGORY_CREATED, AuditVerb.CATEGORY_CREATED]
    assert all(event.actor is None and event.actor_name == "task:tests" for event in events)
    assert events[1].target_id == miners.pk
    assert events[1].after == {
        "name": "Blockchain Miners",
        "slug": "blockchain-miners",
        "parent": electronics.pk,
        "path": "/consumer-electronics/blockchain-miners/",
    }


def test_it_takes_an_explicit_slug(system, electronics):
    asic = catalog.create_category(actor=system, name="ASIC 矿机", parent=electronics, slug="asic")
    assert asic.path == "/consumer-electronics/asic/"


def test_it_refuses_a_category_under_a_retired_parent(system, electronics, miners):
    retire(miners)
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.create_category(actor=system, name="ASIC Miners", parent=miners)
    assert refused.value.message_dict == {"parent": ["“Blockchain Miners” is retired and takes no new subcategories."]}
    assert events == []
    assert not Category.objects.filter(name="ASIC Miners").exists()


def test_it_refuses_a_category_name_without_letters_or_digits(system):
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.create_category(actor=system, name="!!!")
    assert set(refused.value.message_dict) == {"name"}
    assert events == []


def test_it_refuses_the_same_category_name_twice_under_one_parent(system, electronics, miners):
    with new_events() as events, pytest.raises(ValidationError):
        catalog.create_category(actor=system, name="Blockchain Miners", parent=electronics, slug="miners-2")
    assert events == []
    assert Category.objects.filter(name="Blockchain Miners").count() == 1


def test_it_accepts_the_same_category_name_under_two_parents(system, electronics):
    home = catalog.create_category(actor=system, name="Home & Garden")
    catalog.create_category(actor=system, name="Accessories", parent=electronics)
    accessories = catalog.create_category(actor=system, name="Accessories", parent=home)
    assert accessories.path == "/home-garden/accessories/"


def test_it_registers_a_merchant_with_one_event(superuser, marketplace, merchant_user_a):
    with new_events() as events:
        merchant = catalog.register_merchant(
            actor=superuser,
            marketplace=marketplace,
            store_name="Hashpower",
            company_name="Hashpower Ltd.",
            country="CN",
            contact_email="sales@hashpower.example",
            user=merchant_user_a,
        )
    [event] = events
    assert event.verb == AuditVerb.MERCHANT_REGISTERED
    assert (event.actor, event.actor_name, event.merchant) == (superuser, "root", merchant)
    assert event.after == {
        "marketplace": marketplace.pk,
        "store_name": "Hashpower",
        "company_name": "Hashpower Ltd.",
        "country": "CN",
        "user": merchant_user_a.pk,
    }
    assert merchant.enforcement_status == Merchant.EnforcementStatus.ACTIVE


def test_it_refuses_a_merchant_with_a_bad_country_and_changes_nothing(system, marketplace):
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name="Hashpower",
            company_name="Hashpower Ltd.",
            country="China",
            contact_email="sales@hashpower.example",
        )
    assert set(refused.value.message_dict) == {"country"}
    assert events == []
    assert not Merchant.objects.exists()


# Listings


def test_it_creates_a_listing_with_one_event(merchant_user_a, merchant_a, miners):
    with new_events() as events:
        listing = catalog.create_listing(
            actor=merchant_user_a,
            merchant=merchant_a,
            category=miners,
            title="Antminer S19 Pro",
            price=Decimal("2399.00"),
            attributes={"hashrate": "110TH/s"},
        )
    [event] = events
    assert event.verb == AuditVerb.LISTING_CREATED
    assert (event.actor, event.actor_name) == (merchant_user_a, "merchant-a")
    assert (event.target_id, event.merchant) == (listing.pk, merchant_a)
    assert event.before is None
    assert event.after == {
        "title": "Antminer S19 Pro",
        "description": "",
        "attributes": {"hashrate": "110TH/s"},
        "price": "2399.00",
        "currency": "USD",
        "category": miners.pk,
        "status": "live",
        "version": 1,
    }
    assert listing.status == Listing.Status.LIVE
    assert listing.created_at == listing.updated_at


def test_it_refuses_a_listing_in_a_retired_category_and_changes_nothing(merchant_a, miners, make_listing):
    retire(miners)
    with new_events() as events, pytest.raises(ValidationError) as refused:
        make_listing(merchant_a, miners)
    assert refused.value.message_dict == {
        "category": ["The category “Blockchain Miners” was retired and accepts no listings."]
    }
    assert events == []
    assert not Listing.objects.exists()


def test_it_refuses_a_category_retired_after_the_caller_loaded_it(merchant_a, miners, make_listing):
    # The request loaded the category, then the removal retired it before the save.
    Category.objects.filter(pk=miners.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    with pytest.raises(ValidationError):
        make_listing(merchant_a, miners)
    assert not Listing.objects.exists()


def test_it_refuses_a_listing_with_a_negative_price_and_changes_nothing(merchant_a, miners, make_listing):
    with new_events() as events, pytest.raises(ValidationError) as refused:
        make_listing(merchant_a, miners, price=Decimal("-1"))
    assert set(refused.value.message_dict) == {"price"}
    assert events == []
    assert not Listing.objects.exists()


def test_it_edits_a_listing_with_one_event_holding_before_and_after(
    superuser, merchant_a, graphics_cards, miner_accessories, make_listing
):
    listing = make_listing(merchant_a, graphics_cards, title="RTX 3090", price=Decimal("999.00"))
    with new_events() as events:
        edited = catalog.edit_listing(
            actor=superuser,
            listing=listing,
            title="RTX 3090 (used for mining)",
            price=Decimal("650.00"),
            category=miner_accessories,
        )
    [event] = events
    assert event.verb == AuditVerb.LISTING_EDITED
    assert (event.actor, event.actor_name, event.merchant) == (superuser, "root", merchant_a)
    assert event.before == {
        "title": "RTX 3090",
        "description": "",
        "attributes": {},
        "price": "999.00",
        "currency": "USD",
        "category": graphics_cards.pk,
        "status": "live",
        "version": 1,
    }
    assert event.after == {
        **event.before,
        "title": "RTX 3090 (used for mining)",
        "price": "650.00",
        "category": miner_accessories.pk,
        "version": 2,
    }
    stored = Listing.objects.get(pk=listing.pk)
    assert (stored.title, stored.price, stored.category) == (
        edited.title,
        Decimal("650.00"),
        miner_accessories,
    )
    assert stored.updated_at > stored.created_at


def test_it_refuses_to_move_a_listing_into_a_retired_category(merchant_a, graphics_cards, miners, make_listing, system):
    listing = make_listing(merchant_a, graphics_cards, title="RTX 3090")
    retire(miners)
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, category=miners, title="RTX 3090 miner")
    assert refused.value.message_dict == {
        "category": ["The category “Blockchain Miners” was retired and accepts no listings."]
    }
    assert events == []
    stored = Listing.objects.get(pk=listing.pk)
    assert (stored.category, stored.title) == (graphics_cards, "RTX 3090")


@pytest.mark.parametrize("field", ["status", "merchant", "delisted_at", "created_at"])
def test_it_refuses_to_edit_a_field_that_is_not_editable(merchant_a, miners, make_listing, system, field):
    listing = make_listing(merchant_a, miners)
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, title="changed", **{field: None})
    assert refused.value.message_dict == {field: ["This field cannot be edited."]}
    assert events == []
    assert Listing.objects.get(pk=listing.pk).title == listing.title


def test_a_refused_edit_changes_nothing(merchant_a, miners, make_listing, system):
    listing = make_listing(merchant_a, miners)
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, title="changed", price=Decimal("-5"))
    assert set(refused.value.message_dict) == {"price"}
    assert events == []
    stored = Listing.objects.get(pk=listing.pk)
    assert (stored.title, stored.price, stored.updated_at) == (
        listing.title,
        listing.price,
        listing.updated_at,
    )


def test_the_seller_removes_a_live_listing_with_one_event(merchant_user_a, merchant_a, miners, make_listing):
    listing = make_listing(merchant_a, miners)
    with new_events() as events:
        removed = catalog.remove_listing_by_seller(actor=merchant_user_a, listing=listing)
    [event] = events
    assert event.verb == AuditVerb.LISTING_REMOVED_BY_SELLER
    assert (event.actor, event.actor_name, event.merchant) == (merchant_user_a, "merchant-a", merchant_a)
    assert (event.before, event.after) == ({"status": "live"}, {"status": "removed_by_seller"})
    assert removed.status == Listing.objects.get(pk=listing.pk).status == Listing.Status.REMOVED_BY_SELLER


@pytest.mark.parametrize("status", ["removed_by_seller", "delisted"])
def test_the_seller_removes_only_a_live_listing(merchant_user_a, merchant_a, miners, make_listing, status):
    listing = make_listing(merchant_a, miners)
    Listing.objects.filter(pk=listing.pk).update(
        status=status,
        delisted_at=timezone.now() if status == "delisted" else None,
        previous_status="live" if status == "delisted" else "",
        delisted_reason="Prohibited product" if status == "delisted" else "",
    )
    with new_events() as events, pytest.raises(ValidationError) as refused:
        catalog.remove_listing_by_seller(actor=merchant_user_a, listing=listing)
    assert refused.value.message_dict == {
        "status": ["Only a live listing, or one held for review, can be removed by its seller."]
    }
    assert events == []
    assert Listing.objects.get(pk=listing.pk).status == status


# Bulk import


def feed(merchant, category, count):
    return (Listing(merchant=merchant, category=category, title=f"Row {n}", price=Decimal(n)) for n in range(count))


def test_it_imports_listings_with_one_event_per_batch(system, marketplace, merchant_a, graphics_cards):
    with new_events() as events:
        total = catalog.import_listings(
            actor=system, marketplace=marketplace, rows=feed(merchant_a, graphics_cards, 7), batch_size=3
        )
    assert total == 7
    imported = list(Listing.objects.order_by("id"))
    assert [listing.title for listing in imported] == [f"Row {n}" for n in range(7)]
    assert [event.verb for event in events] == [AuditVerb.LISTINGS_IMPORTED] * 3
    assert all(event.target_id == marketplace.pk and event.actor_name == "task:tests" for event in events)
    ids = [listing.pk for listing in imported]
    assert [event.after for event in events] == [
        {"rows": 3, "first_id": ids[0], "last_id": ids[2]},
        {"rows": 3, "first_id": ids[3], "last_id": ids[5]},
        {"rows": 1, "first_id": ids[6], "last_id": ids[6]},
    ]


def test_it_imports_an_exact_number_of_batches_without_an_empty_one(system, marketplace, merchant_a, miners):
    with new_events() as events:
        total = catalog.import_listings(
            actor=system, marketplace=marketplace, rows=feed(merchant_a, miners, 6), batch_size=3
        )
    assert total == 6 == Listing.objects.count()
    assert [event.after["rows"] for event in events] == [3, 3]


def test_an_empty_feed_imports_nothing_and_records_nothing(system, marketplace):
    with new_events() as events:
        assert catalog.import_listings(actor=system, marketplace=marketplace, rows=[], batch_size=3) == 0
    assert events == []
