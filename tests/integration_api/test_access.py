"""Who may call the integration API, and what a service account may reach: its marketplace only.

A service account's key opens nothing of the sellers' API or the back office; a seller's key, a
staff session, an expired key and a revoked account's key open nothing here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sellers.integration.accounts import revoke_service_account
from sellers.models import Listing, MarketplaceServiceKey
from tests.api.conftest import api_key_for
from tests.integration_api.conftest import (
    BATCH,
    CHECK,
    deletion_event,
    key_client,
    listing_event,
    merchant_event,
    results,
    send,
)

pytestmark = pytest.mark.django_db

INTEGRATION_READS = [
    "/api/v1/integration/categories/retired",
    "/api/v1/integration/policies",
    "/api/v1/integration/listings/L-1/",
    "/api/v1/integration/merchants/M-1/",
]


@pytest.fixture
def synced(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), listing_event("L-1"))
    return Listing.objects.get(external_id="L-1")


def assert_nothing_open(client) -> None:
    for path in INTEGRATION_READS:
        assert client.get(path).status_code in (401, 403), path
    assert client.post(BATCH, {"events": [deletion_event("L-1", 99)]}, format="json").status_code in (401, 403)
    assert client.post(CHECK, {"title": "x"}, format="json").status_code in (401, 403)
    assert Listing.objects.get(external_id="L-1").status == "live"


def test_a_service_account_reads_its_own_marketplace(alibaba, synced):
    for path in INTEGRATION_READS:
        assert alibaba.get(path).status_code == 200, path
    listing = alibaba.get("/api/v1/integration/listings/L-1/").json()
    assert {key: listing[key] for key in ("id", "version", "merchant", "category", "status", "visible")} == {
        "id": "L-1",
        "version": 1,
        "merchant": "M-1",
        "category": "graphics-cards",
        "status": "live",
        "visible": True,
    }


def test_another_marketplaces_listing_and_merchant_do_not_exist_for_it(aliexpress, synced):
    assert aliexpress.get("/api/v1/integration/listings/L-1/").status_code == 404
    assert aliexpress.get("/api/v1/integration/merchants/M-1/").status_code == 404
    # Its events name its own objects: Alibaba.com's are out of reach.
    answer = send(aliexpress, deletion_event("L-1", 99), listing_event("L-2", merchant="M-1"))
    assert results(answer) == [("ignored", "unknown"), ("refused", "")]
    assert answer["results"][1]["errors"] == {
        "merchant": ["No merchant of this marketplace has this id: sync the merchant first."]
    }
    check = aliexpress.post(
        CHECK, {"merchant": "M-1", "category": "graphics-cards", "title": "RTX 4070"}, format="json"
    )
    assert check.status_code == 400 and set(check.json()) == {"merchant"}
    assert Listing.objects.get(external_id="L-1").status == "live"


def test_the_same_ids_on_two_marketplaces_are_two_objects(alibaba, aliexpress, synced):
    send(aliexpress, merchant_event("M-1", store_name="AliExpress store"), listing_event("L-1", title="Other"))
    assert Listing.objects.filter(external_id="L-1").count() == 2
    assert aliexpress.get("/api/v1/integration/listings/L-1/").json()["title"] == "Other"
    assert alibaba.get("/api/v1/integration/listings/L-1/").json()["title"] == "Graphics card RTX 4070 L-1"


def test_a_sellers_key_and_a_staff_session_open_nothing_here(synced, merchant_a, merchant_user_a, policy_admin):
    assert_nothing_open(key_client(api_key_for(merchant_user_a)))
    assert_nothing_open(key_client(None))
    session = key_client(None)
    session.force_login(policy_admin)
    assert_nothing_open(session)


def test_a_service_key_opens_nothing_of_the_sellers_api_or_the_back_office(alibaba, synced, client, service_account):
    for path in ("/api/v1/listings/", "/api/v1/decisions/", "/api/v1/notices/", "/api/v1/tokens/"):
        assert alibaba.get(path).status_code == 401, path
    assert alibaba.post("/api/v1/listings/", {"title": "x"}, format="json").status_code == 401
    _account, key = service_account
    for path in ("/backoffice/", "/backoffice/queue/", "/admin/"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 302 and "login" in response["Location"], path
    # Its user cannot sign in with a password either.
    account = service_account[0]
    assert not account.user.is_active and not account.user.has_usable_password()


def test_an_expired_key_is_refused(alibaba, synced, service_account):
    MarketplaceServiceKey.objects.filter(account=service_account[0]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    response = alibaba.get("/api/v1/integration/policies")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert_nothing_open(alibaba)


def test_a_revoked_accounts_key_is_refused_at_once(alibaba, synced, service_account, policy_admin):
    revoke_service_account(actor=policy_admin, account=service_account[0])
    assert_nothing_open(alibaba)


def test_a_malformed_key_is_refused_before_any_query(synced, django_assert_num_queries):
    client = key_client("mk_\x00" + "a" * 5)
    with django_assert_num_queries(0):
        assert client.get("/api/v1/integration/policies").status_code == 401
