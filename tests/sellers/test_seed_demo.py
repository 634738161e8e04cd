"""``manage.py seed_demo``: the reference case as data, deterministic, refusing to seed twice."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from backoffice.roles import Role, user_roles
from moderation import demo
from moderation.models import AuditEvent, AuditVerb
from sellers.models import Category, Listing, Marketplace, Merchant

BANNED = demo.BANNED_CATEGORY_SLUGS


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", listings=options.pop("listings", 300), stdout=out, **options)
    return out.getvalue()


def catalog_content() -> list[tuple]:
    return list(
        Listing.objects.order_by("id").values_list(
            "title",
            "category__slug",
            "merchant__store_name",
            "merchant__marketplace__code",
            "price",
            "attributes",
        )
    )


def test_it_seeds_the_five_marketplaces(db):
    seed()

    assert dict(Marketplace.objects.values_list("code", "timezone")) == {
        "alibaba": "Asia/Shanghai",
        "aliexpress": "Asia/Shanghai",
        "taobao": "Asia/Shanghai",
        "xianyu": "Asia/Shanghai",
        "lazada": "Asia/Singapore",
    }
    assert Marketplace.objects.get(code="alibaba").name == "Alibaba.com"


def test_it_puts_both_banned_categories_under_consumer_electronics(db):
    seed()

    electronics = Category.objects.get(slug="consumer-electronics", parent=None)
    miners = Category.objects.get(slug="blockchain-miners")
    accessories = Category.objects.get(slug="blockchain-miner-accessories")
    assert (miners.name, miners.parent) == ("Blockchain Miners", electronics)
    assert (accessories.name, accessories.parent) == ("Blockchain Miner Accessories", electronics)
    assert miners.path == "/consumer-electronics/blockchain-miners/"
    # The tree around them holds the categories banned products hide in.
    for slug in ("graphics-cards", "power-supplies", "server-racks", "computer-science", "online-courses"):
        assert Category.objects.filter(slug=slug).exists(), slug


def test_it_creates_the_people_in_their_groups_with_the_password(db):
    output = seed(password="s3cret-demo")

    expected = {
        "policyadmin": {Role.POLICY_ADMIN},
        "moderator": {Role.MODERATOR},
        "senior": {Role.SENIOR_MODERATOR},
        "merchant-a": set(),
        "merchant-b": set(),
    }
    for username, roles in expected.items():
        user = User.objects.get(username=username)
        assert user_roles(user) == roles, username
        assert user.check_password("s3cret-demo"), username
        assert not user.is_superuser
        assert username in output
    assert User.objects.get(username="policyadmin").is_staff
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("s3cret-demo")
    assert "http://127.0.0.1:8000/backoffice/" in output
    assert "http://127.0.0.1:8000/admin/" in output
    assert "s3cret-demo" in output


def test_it_gives_each_merchant_user_a_store_with_banned_listings(db):
    seed()

    for username in ("merchant-a", "merchant-b"):
        merchant = Merchant.objects.get(user__username=username)
        assert merchant.listings.filter(category__slug__in=BANNED).exists(), username
        assert merchant.listings.exclude(category__slug__in=BANNED).exists(), username
    assert Merchant.objects.get(user__username="merchant-a").language == Merchant.Language.CHINESE
    assert Merchant.objects.get(user__username="merchant-b").language == Merchant.Language.ENGLISH


def test_it_lists_banned_products_outside_the_banned_categories(db):
    seed()

    elsewhere = Listing.objects.exclude(category__slug__in=BANNED)
    assert elsewhere.filter(category__slug="server-racks", title__icontains="Antminer").exists()
    assert elsewhere.filter(category__slug="online-courses", title__contains="挖矿教程").exists()
    assert elsewhere.filter(category__slug="graphics-cards", title__icontains="mining rig frame").exists()


def test_it_adds_look_alikes_that_must_not_be_caught(db):
    seed()

    assert Listing.objects.filter(
        category__slug="computer-science", title__startswith="Data Mining: Concepts and Techniques"
    ).exists()
    assert Listing.objects.filter(category__slug="mining-safety", title__icontains="helmet").exists()
    assert Listing.objects.filter(category__slug="graphics-cards", title__icontains="RTX 3080").exists()


def test_it_seeds_the_listings_asked_for_with_a_realistic_mix(db):
    output = seed(listings=1000)

    assert Listing.objects.count() == 1000
    assert Merchant.objects.count() == 100
    banned_share = Listing.objects.filter(category__slug__in=BANNED).count() / 1000
    assert 0.08 < banned_share < 0.18
    assert Listing.objects.filter(title__regex=r"[\u4e00-\u9fff]").exists()  # Chinese
    assert Listing.objects.filter(title__regex=r"^[ -~]+$").exists()  # English
    assert set(Merchant.objects.values_list("country", flat=True)) >= {"CN", "HK", "MY", "SG"}
    miner = Listing.objects.filter(category__slug="blockchain-miners", attributes__has_key="hashrate").first()
    assert set(miner.attributes) == {"hashrate", "algorithm", "power", "coin"}
    assert set(Listing.objects.values_list("currency", flat=True)) == {"USD"}
    assert "1,000 listings" in output


def test_it_seeds_at_least_twenty_merchants(db):
    seed(listings=50)

    assert Listing.objects.count() == 50
    assert Merchant.objects.count() == 20


@pytest.mark.database_owner
def test_it_gives_the_same_catalog_for_the_same_seed(db):
    seed(seed=7)
    first = catalog_content()

    seed(seed=7, reset=True)

    assert catalog_content() == first


@pytest.mark.database_owner
def test_it_gives_another_catalog_for_another_seed(db):
    seed(seed=7)
    first = catalog_content()

    seed(seed=8, reset=True)

    assert catalog_content() != first


def test_it_refuses_to_seed_twice_without_reset(db):
    seed()
    listings = Listing.objects.count()

    with pytest.raises(CommandError, match="--reset"):
        seed()

    assert Listing.objects.count() == listings
    assert User.objects.filter(username="moderator").count() == 1


def test_it_refuses_when_only_demo_users_exist(db):
    User.objects.create_user("moderator", password="x")

    with pytest.raises(CommandError, match="--reset"):
        seed()

    assert not Marketplace.objects.exists()


@pytest.mark.database_owner
def test_it_resets_the_demo_data_but_keeps_other_users(db):
    someone = User.objects.create_user("someone-else", password="x")
    seed(listings=300)

    seed(listings=120, reset=True)

    assert Listing.objects.count() == 120
    assert Marketplace.objects.count() == 5
    assert User.objects.filter(username="merchant-a").count() == 1
    assert User.objects.filter(pk=someone.pk).exists()
    # The trail starts again with the new seed: nothing of the first run remains.
    imported = AuditEvent.objects.filter(verb=AuditVerb.LISTINGS_IMPORTED)
    assert sum(event.after["rows"] for event in imported) == 120


def test_it_records_the_seeding_in_the_audit_trail(db):
    seed(listings=300)

    events = AuditEvent.objects.all()
    assert events.filter(verb=AuditVerb.MARKETPLACE_CREATED).count() == 5
    assert events.filter(verb=AuditVerb.CATEGORY_CREATED).count() == Category.objects.count()
    registered = events.filter(verb=AuditVerb.MERCHANT_REGISTERED)
    one_by_one = registered.exclude(merchant=None)
    assert sorted(one_by_one.values_list("merchant__user__username", flat=True)) == [
        "merchant-a",
        "merchant-b",
    ]
    in_batches = sum(event.after["rows"] for event in registered.filter(merchant=None))
    assert in_batches + 2 == Merchant.objects.count()
    imported = events.filter(verb=AuditVerb.LISTINGS_IMPORTED)
    assert sum(event.after["rows"] for event in imported) == Listing.objects.count() == 300
    catalog_verbs = [AuditVerb.MARKETPLACE_CREATED, AuditVerb.CATEGORY_CREATED, AuditVerb.LISTINGS_IMPORTED]
    assert set(events.filter(verb__in=catalog_verbs).values_list("actor_name", flat=True)) == {"task:seed_demo"}
    # The reference policy is written by the policy admin, as in the back office.
    assert events.get(verb=AuditVerb.POLICY_ANNOUNCED).actor_name == "policyadmin"
    assert events.get(verb=AuditVerb.REMOVAL_SCHEDULED).actor_name == "policyadmin"
