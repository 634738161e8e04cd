"""The Django admin is a second window onto the catalog's services and a read-only window
onto the audit trail."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from moderation.models import ACCESS_VERBS, AuditEvent, AuditVerb
from sellers.models import Category, Listing, Marketplace, Merchant

CATALOG = [Marketplace, Category, Merchant, Listing]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def client_as_root(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def catalog_rows(marketplace, miners, merchant_a, make_listing):
    return {
        Marketplace: marketplace,
        Category: miners,
        Merchant: merchant_a,
        Listing: make_listing(merchant_a, miners),
    }


def listing_form(merchant, category, **fields):
    return {
        "merchant": merchant.pk,
        "category": category.pk,
        "title": "Antminer L7 9500MH/s",
        "description": "Litecoin and Dogecoin miner",
        "attributes": "{}",
        "price": "8999.00",
        "currency": "USD",
        **fields,
    }


# Every page loads


@pytest.mark.parametrize("model", CATALOG, ids=lambda model: model.__name__)
@pytest.mark.parametrize("view", ["changelist", "add"])
def test_the_catalog_list_and_add_pages_load(client_as_root, catalog_rows, model, view):
    assert client_as_root.get(admin_url(model, view)).status_code == 200


@pytest.mark.parametrize("model", CATALOG, ids=lambda model: model.__name__)
def test_the_catalog_change_pages_load(client_as_root, catalog_rows, model):
    row = catalog_rows[model]
    response = client_as_root.get(admin_url(model, "change", row.pk))
    assert response.status_code == 200
    assert str(row) in response.content.decode()


def test_the_audit_trail_pages_load(client_as_root, catalog_rows):
    response = client_as_root.get(admin_url(AuditEvent, "changelist"))
    assert response.status_code == 200
    event = AuditEvent.objects.filter(verb=AuditVerb.LISTING_CREATED).get()
    response = client_as_root.get(admin_url(AuditEvent, "change", event.pk))
    assert response.status_code == 200
    assert "Antminer S19 Pro" in response.content.decode()


# Search and filters


def test_the_merchant_list_searches_and_filters(client_as_root, merchant_a, merchant_b):
    response = client_as_root.get(admin_url(Merchant, "changelist"), {"q": "hashpower"})
    assert list(response.context["cl"].result_list) == [merchant_a]

    Merchant.objects.filter(pk=merchant_b.pk).update(enforcement_status=Merchant.EnforcementStatus.FROZEN)
    response = client_as_root.get(admin_url(Merchant, "changelist"), {"enforcement_status__exact": "frozen"})
    assert list(response.context["cl"].result_list) == [merchant_b]


def test_the_category_list_searches_and_filters(client_as_root, electronics, miners, graphics_cards):
    response = client_as_root.get(admin_url(Category, "changelist"), {"q": "miners"})
    assert list(response.context["cl"].result_list) == [miners]

    Category.objects.filter(pk=miners.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    response = client_as_root.get(admin_url(Category, "changelist"), {"status__exact": "retired"})
    assert list(response.context["cl"].result_list) == [miners]
    response = client_as_root.get(admin_url(Category, "changelist"), {"depth": "1"})
    assert set(response.context["cl"].result_list) == {miners, graphics_cards}


def test_the_listing_list_searches_and_filters(
    client_as_root, merchant_a, merchant_b, miners, graphics_cards, make_listing
):
    miner = make_listing(merchant_a, miners)
    card = make_listing(merchant_b, graphics_cards, title="RTX 3090")
    response = client_as_root.get(admin_url(Listing, "changelist"), {"q": "antminer"})
    assert list(response.context["cl"].result_list) == [miner]
    response = client_as_root.get(admin_url(Listing, "changelist"), {"q": "Guangzhou"})
    assert list(response.context["cl"].result_list) == [card]
    response = client_as_root.get(admin_url(Listing, "changelist"), {"category__id__exact": graphics_cards.pk})
    assert list(response.context["cl"].result_list) == [card]


def test_the_marketplace_list_searches(client_as_root, marketplace, other_marketplace):
    response = client_as_root.get(admin_url(Marketplace, "changelist"), {"q": "aliexpress"})
    assert list(response.context["cl"].result_list) == [other_marketplace]


def test_the_audit_trail_searches_and_filters(client_as_root, merchant_a, miners, make_listing):
    make_listing(merchant_a, miners)
    response = client_as_root.get(admin_url(AuditEvent, "changelist"), {"q": "Antminer"})
    assert [event.verb for event in response.context["cl"].result_list] == [AuditVerb.LISTING_CREATED]
    response = client_as_root.get(admin_url(AuditEvent, "changelist"), {"verb__exact": AuditVerb.MERCHANT_REGISTERED})
    assert [event.merchant for event in response.context["cl"].result_list] == [merchant_a]


# Writing through the admin goes through the services


def test_adding_a_listing_calls_the_service_and_records_the_superuser(
    client_as_root, superuser, merchant_a, graphics_cards
):
    response = client_as_root.post(admin_url(Listing, "add"), listing_form(merchant_a, graphics_cards))
    assert response.status_code == 302, response.context["adminform"].form.errors
    listing = Listing.objects.get()
    assert (listing.title, listing.category, listing.merchant) == (
        "Antminer L7 9500MH/s",
        graphics_cards,
        merchant_a,
    )
    event = AuditEvent.objects.get(verb=AuditVerb.LISTING_CREATED)
    assert (event.actor, event.actor_name) == (superuser, "root")
    assert (event.target_id, event.merchant) == (listing.pk, merchant_a)


def test_adding_a_listing_into_a_retired_category_shows_the_error_and_creates_nothing(
    client_as_root, merchant_a, miners
):
    Category.objects.filter(pk=miners.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    events_before = AuditEvent.objects.count()
    response = client_as_root.post(admin_url(Listing, "add"), listing_form(merchant_a, miners))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "category": ["The category “Blockchain Miners” was retired and accepts no listings."]
    }
    assert "was retired and accepts no listings" in response.content.decode()
    assert not Listing.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_editing_a_listing_calls_the_service_with_before_and_after(
    client_as_root, superuser, merchant_a, graphics_cards, make_listing
):
    listing = make_listing(merchant_a, graphics_cards, title="RTX 3090")
    response = client_as_root.post(
        admin_url(Listing, "change", listing.pk),
        listing_form(merchant_a, graphics_cards, title="RTX 3090 Ti", price="2399.00"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(verb=AuditVerb.LISTING_EDITED)
    assert (event.actor, event.before["title"], event.after["title"]) == (
        superuser,
        "RTX 3090",
        "RTX 3090 Ti",
    )
    assert Listing.objects.get(pk=listing.pk).title == "RTX 3090 Ti"


def test_adding_a_marketplace_calls_the_service(client_as_root, superuser):
    response = client_as_root.post(
        admin_url(Marketplace, "add"), {"code": "taobao", "name": "Taobao", "timezone": "Asia/Shanghai"}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(verb=AuditVerb.MARKETPLACE_CREATED)
    assert (event.actor, event.target_id) == (superuser, Marketplace.objects.get(code="taobao").pk)


def test_adding_a_category_under_a_parent_calls_the_service(client_as_root, superuser, electronics):
    response = client_as_root.post(
        admin_url(Category, "add"),
        {"name": "Graphics Cards", "slug": "graphics-cards", "parent": electronics.pk},
    )
    assert response.status_code == 302
    category = Category.objects.get(slug="graphics-cards")
    assert (category.path, category.depth) == ("/consumer-electronics/graphics-cards/", 1)
    event = AuditEvent.objects.get(verb=AuditVerb.CATEGORY_CREATED, target_id=category.pk)
    assert event.actor == superuser


# The audit trail is read-only, superusers included


def test_the_audit_trail_has_no_add_page(client_as_root):
    assert client_as_root.get(admin_url(AuditEvent, "add")).status_code == 403
    response = client_as_root.post(admin_url(AuditEvent, "add"), {"actor_name": "forged", "verb": 101})
    assert response.status_code == 403
    assert not AuditEvent.objects.exclude(verb__in=ACCESS_VERBS).exists()


def test_the_audit_event_page_is_read_only(client_as_root, marketplace):
    event = AuditEvent.objects.exclude(verb__in=ACCESS_VERBS).get()  # not the admin's own sign-in
    response = client_as_root.get(admin_url(AuditEvent, "change", event.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["adminform"].form.fields == {}
    assert 'name="_save"' not in response.content.decode()

    response = client_as_root.post(
        admin_url(AuditEvent, "change", event.pk), {"actor_name": "forged", "reason": "rewritten"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert (event.actor_name, event.reason) == ("task:tests", "")


def test_the_audit_trail_cannot_be_deleted_from_the_admin(client_as_root, marketplace):
    event = AuditEvent.objects.exclude(verb__in=ACCESS_VERBS).get()  # not the admin's own sign-in
    assert client_as_root.get(admin_url(AuditEvent, "delete", event.pk)).status_code == 403
    assert client_as_root.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code == 403

    changelist = client_as_root.get(admin_url(AuditEvent, "changelist"))
    assert "delete_selected" not in changelist.content.decode()
    client_as_root.post(
        admin_url(AuditEvent, "changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_registering_a_merchant_calls_the_service(client_as_root, superuser, marketplace):
    response = client_as_root.post(
        admin_url(Merchant, "add"),
        {
            "marketplace": marketplace.pk,
            "store_name": "Xiamen Rig Parts",
            "company_name": "Xiamen Rig Parts Co., Ltd.",
            "country": "CN",
            "contact_email": "parts@rigs.example",
            "language": "zh-hans",
            "user": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    merchant = Merchant.objects.get(store_name="Xiamen Rig Parts")
    assert merchant.enforcement_status == Merchant.EnforcementStatus.ACTIVE
    event = AuditEvent.objects.get(verb=AuditVerb.MERCHANT_REGISTERED)
    assert (event.actor, event.merchant) == (superuser, merchant)
