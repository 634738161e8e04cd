"""Two batches at once on the same objects: one applies each object, the other finds it applied (PostgreSQL)."""

from __future__ import annotations

import pytest

from moderation.models import AuditEvent, AuditVerb
from sellers.integration.accounts import create_service_account
from sellers.integration.sync import apply_sync_batch
from sellers.models import Listing, Merchant
from tests.concurrency import race
from tests.integration_api.conftest import listing_event, merchant_event

pytestmark = pytest.mark.postgres


@pytest.fixture
def committed_account(transactional_db, policy_admin, marketplace, graphics_cards):
    account, _row, _key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Sync")
    apply_sync_batch(account=account, events=[merchant_event("M-1")])
    return account


def outcome(result) -> list[tuple[str, str]]:
    return [(row.result, row.reason) for row in result.outcomes]


def test_two_batches_creating_one_listing_at_once_create_it_once(committed_account):
    batch = [listing_event(f"L-{n}") for n in range(50)]
    results, errors = race(lambda: apply_sync_batch(account=committed_account, events=batch), [(), ()])
    assert errors == [None, None]
    assert sorted(outcome(result)[0] for result in results) == [("applied", ""), ("ignored", "stale")]
    assert Listing.objects.filter(external_id__isnull=False).count() == 50
    assert AuditEvent.objects.filter(verb=AuditVerb.LISTING_CREATED).count() == 50


def test_two_new_merchants_of_one_store_name_at_once_get_one_refusal(committed_account):
    results, errors = race(
        lambda external_id: apply_sync_batch(
            account=committed_account, events=[merchant_event(external_id, store_name="Same name")]
        ),
        [("M-2",), ("M-3",)],
    )
    assert errors == [None, None]
    assert sorted(outcome(result)[0][0] for result in results) == ["applied", "refused"]
    assert Merchant.objects.filter(store_name="Same name").count() == 1


def test_a_banned_listing_delivered_twice_at_once_is_recorded_once(
    committed_account, announced_policy, mining_rules, in_grace
):
    from moderation.models import Violation

    banned = [listing_event("L-1", title="Antminer S19 Pro 110TH/s"), listing_event("L-2")]
    results, errors = race(lambda: apply_sync_batch(account=committed_account, events=banned), [(), ()])
    assert errors == [None, None]
    assert [outcome(result)[0] for result in results] == [("refused", "")] * 2
    assert results[0].outcomes[0].errors == results[1].outcomes[0].errors
    assert Violation.objects.count() == 1
    assert sorted(outcome(result)[1] for result in results) == [("applied", ""), ("ignored", "stale")]
