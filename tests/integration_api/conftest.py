"""Fixtures of the integration API: service accounts of two marketplaces, clients with their keys, a batch helper.

The reference policy is in effect (the clock in its grace period) with its mining rules, so the
batch path and the check meet the same refusals as the sellers' API.
"""

from __future__ import annotations

from unittest import mock

import pytest
from rest_framework.test import APIClient

from sellers.integration.accounts import create_service_account
from tests.moderation.conftest import (  # noqa: F401 - fixtures
    draft_policy,
    in_grace,
    mining_rules,
    travel,
)
from tests.moderation.sanctions_fixtures import announced_policy  # noqa: F401 - a fixture

BATCH = "/api/v1/integration/listings/batch"
CHECK = "/api/v1/integration/check"


def key_client(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def service_account(policy_admin, marketplace):
    """Alibaba.com's catalog sync: (account, key)."""
    account, _row, key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Catalog sync")
    return account, key


@pytest.fixture
def other_service_account(policy_admin, other_marketplace):
    """AliExpress's catalog sync: (account, key)."""
    account, _row, key = create_service_account(actor=policy_admin, marketplace=other_marketplace, name="Catalog sync")
    return account, key


@pytest.fixture
def alibaba(service_account):
    return key_client(service_account[1])


@pytest.fixture
def aliexpress(other_service_account):
    return key_client(other_service_account[1])


@pytest.fixture
def rules_in_effect(in_grace, mining_rules):  # noqa: F811
    """The reference policy in effect on Alibaba.com (in its grace period) with its mining rules."""
    return mining_rules


@pytest.fixture
def retired_miners(announced_policy, miners, system, travel):  # noqa: F811
    """ "Blockchain Miners" retired by a completed removal under the reference policy (clock: grace)."""
    from moderation.models import RemovalChunk
    from moderation.services.removals import run_removal_chunk, schedule_removal, start_removal
    from tests.moderation.conftest import IN_GRACE

    travel.to(IN_GRACE)
    removal = schedule_removal(actor=system, policy=announced_policy, categories=[miners], scheduled_for=IN_GRACE)
    with mock.patch("moderation.services.removals.transaction.on_commit"):
        start_removal(removal_id=removal.pk, actor=system)
        for chunk in RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.PENDING):
            run_removal_chunk(chunk_id=chunk.pk, actor=system)
    miners.refresh_from_db()
    assert miners.is_retired
    return miners


def merchant_event(external_id="M-1", version=1, **fields):
    return {
        "type": "merchant.upserted",
        "id": external_id,
        "version": version,
        "store_name": fields.pop("store_name", f"Store {external_id}"),
        "company_name": fields.pop("company_name", f"Company {external_id} Ltd."),
        "country": fields.pop("country", "CN"),
        "contact_email": fields.pop("contact_email", f"{external_id.lower()}@shop.example"),
        **fields,
    }


def listing_event(external_id="L-1", version=1, merchant="M-1", **fields):
    return {
        "type": "listing.upserted",
        "id": external_id,
        "version": version,
        "merchant": merchant,
        "category": fields.pop("category", "graphics-cards"),
        "title": fields.pop("title", f"Graphics card RTX 4070 {external_id}"),
        "description": fields.pop("description", "Boxed, two-year warranty."),
        "attributes": fields.pop("attributes", {"memory": "12GB"}),
        "price": fields.pop("price", "599.00"),
        **fields,
    }


def deletion_event(external_id="L-1", version=2):
    return {"type": "listing.deleted", "id": external_id, "version": version}


def send(client, *events, status=200):
    response = client.post(BATCH, {"events": list(events)}, format="json")
    assert response.status_code == status, response.content[:2000]
    return response.json()


def results(answer) -> list[tuple]:
    return [(row["result"], row.get("reason", "")) for row in answer["results"]]
