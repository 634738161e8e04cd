"""A decision that changes what a marketplace shows writes its event, in its own transaction, to that marketplace."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from moderation.models import Appeal, OutboxEvent, Sanction, WebhookDelivery
from moderation.services import appeals, policies, queue, removals
from moderation.services.sanctions import issue_manual_sanction, lift_sanction, run_escalation
from moderation.services.undo import undo_decision
from sellers.models import Listing, Merchant
from tests.moderation.conftest import AFTER_GRACE, EFFECTIVE
from tests.moderation.sanctions_fixtures import *  # noqa: F403 - announced_policy (with the ladder), take_down, violate
from tests.outbox.conftest import events_of

pytestmark = pytest.mark.postgres

Type = OutboxEvent.Type
REASON = "Repeated listings of Bitcoin mining machines after the ban took effect."


def delisted():
    return OutboxEvent.objects.filter(event_type=Type.LISTINGS_DELISTED)


@pytest.fixture
def listing(merchant_b, miners, make_listing):
    return make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")


@pytest.fixture
def item(in_grace, open_item, listing):
    return open_item(listing, score=12)


# --- a rolled-back decision leaves no event ----------------------------------------------------------


def test_a_take_down_writes_its_event_in_its_own_transaction_to_the_listings_marketplace(
    moderator, marketplace, other_marketplace, listing, item, endpoint_for
):
    here, _ = endpoint_for(marketplace)
    elsewhere, _ = endpoint_for(other_marketplace)

    # Synced from the marketplace: the event names the listing by the marketplace's own id too.
    Listing.objects.filter(pk=listing.pk).update(
        external_marketplace=marketplace, external_id="ali-1005004123", external_version=1
    )
    item.listing.refresh_from_db()
    queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")

    [event] = OutboxEvent.objects.exclude(event_type=Type.POLICY_ANNOUNCED)
    assert (event.marketplace, event.event_type, event.subject) == (
        marketplace,
        Type.LISTINGS_DELISTED,
        f"listing:{listing.pk}",
    )
    assert event.payload == {
        "listing_ids": [listing.pk],
        "external_ids": ["ali-1005004123"],
        "status": "delisted",
        "reason": "taken_down",
        "policy": {"slug": "virtual-currency-mining", "version": 1},
    }
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.endpoint, delivery.event, delivery.status, delivery.attempts) == (here, event, "pending", 0)
    assert not elsewhere.deliveries.exists()


def test_a_decision_rolled_back_leaves_no_event_and_no_delivery(moderator, marketplace, listing, item, endpoint_for):
    endpoint_for(marketplace)

    with pytest.raises(RuntimeError), transaction.atomic():
        queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")
        assert delisted().count() == 1  # written inside the decision's transaction…
        raise RuntimeError("the decision fails after its event was written")

    assert not delisted().exists()  # …and gone with it
    assert not WebhookDelivery.objects.exists()
    assert Listing.objects.get(pk=listing.pk).status == "live"


def test_a_refused_decision_writes_no_event(moderator, marketplace, listing, item, endpoint_for):
    endpoint_for(marketplace)
    item.clause = None
    item.save(update_fields=["clause"])

    with pytest.raises(ValidationError):
        queue.take_down_listing(actor=moderator, item=item)  # no clause chosen: refused

    assert not delisted().exists()


def test_the_senders_are_woken_after_commit_only(
    moderator, marketplace, listing, item, endpoint_for, django_capture_on_commit_callbacks
):
    endpoint, _ = endpoint_for(marketplace)
    with mock.patch("moderation.tasks_webhooks.deliver_webhooks.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")
        delay.assert_not_called()  # nothing is sent before the decision commits
        for callback in callbacks:
            callback()
    delay.assert_any_call(endpoint.pk)


# --- reinstatements ------------------------------------------------------------------------------------


def test_undoing_a_take_down_reinstates_the_listing_with_a_later_event(in_grace, moderator, marketplace, listing, item):
    queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")
    in_grace.by(timedelta(minutes=2))

    undo_decision(actor=moderator, item=item)

    delisted, reinstated = events_of(marketplace).exclude(event_type=Type.POLICY_ANNOUNCED)
    assert (delisted.event_type, reinstated.event_type) == (Type.LISTINGS_DELISTED, Type.LISTINGS_REINSTATED)
    assert reinstated.sequence > delisted.sequence
    assert reinstated.payload["listing_ids"] == [listing.pk]
    assert (reinstated.payload["reason"], reinstated.payload["status"]) == ("decision_undone", "live")


def test_a_granted_appeal_reinstates_the_listing(
    travel, take_down, merchant_a, merchant_user_a, marketplace, other_moderator
):
    travel.to(AFTER_GRACE)
    violation = take_down(merchant_a)
    appeal = appeals.file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind=Appeal.Kind.VIOLATION,
        object_id=violation.pk,
        grounds="The listing is a graphics card dock: it has no hashing chips and mines nothing.",
    )

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason="The photos show a GPU dock, not a miner.")

    reinstated = events_of(marketplace, Type.LISTINGS_REINSTATED).get()
    assert reinstated.payload["listing_ids"] == [violation.listing_id]
    assert reinstated.payload["reason"] == "appeal_granted"
    assert reinstated.subject == f"listing:{violation.listing_id}"


# --- a removal: one event per chunk and marketplace, the ids batched ----------------------------------------


@pytest.fixture
def small_chunks(settings):
    settings.REMOVAL_CHUNK_SIZE = 5


def test_a_removal_writes_one_event_per_chunk_and_marketplace_carrying_its_listing_ids(
    travel,
    policy_admin,
    announced_policy,
    miners,
    miner_accessories,
    removal_catalog,
    small_chunks,
    marketplace,
    other_marketplace,
    endpoint_for,
):
    alibaba, _ = endpoint_for(marketplace)
    aliexpress, _ = endpoint_for(other_marketplace)
    removal = removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )
    travel.to(EFFECTIVE + timedelta(seconds=30))
    with mock.patch.object(removals, "queue_pending_chunks"):
        assert removals.start_removal(removal_id=removal.pk)
    chunks = list(removal.chunks.order_by("number"))
    assert len(chunks) == 3  # 13 listings, 5 a chunk

    # The categories retired: to the policy's marketplace only (AliExpress is outside its scope).
    retired = OutboxEvent.objects.get(event_type=Type.CATEGORIES_RETIRED)
    assert (retired.marketplace, retired.subject) == (marketplace, f"removal:{removal.pk}")
    assert {c["slug"] for c in retired.payload["categories"]} == {
        "blockchain-miners",
        "asic-miners",
        "blockchain-miner-accessories",
    }

    # One doomed listing was synced from its marketplace: its event carries that id beside ours.
    synced = next(iter(removal_catalog["doomed"].values()))[0]
    Listing.objects.filter(pk=synced.pk).update(
        external_marketplace_id=synced.merchant.marketplace_id, external_id="ext-doomed-1", external_version=1
    )
    for chunk in chunks:
        removals.run_removal_chunk(chunk_id=chunk.pk)
    removals.run_removal_chunk(chunk_id=chunks[0].pk)  # a second delivery of a chunk's task: nothing more

    delisted = OutboxEvent.objects.filter(event_type=Type.LISTINGS_DELISTED).order_by("id")
    by_marketplace: dict[int, list[int]] = {}
    for event in delisted:
        assert event.subject == f"removal:{removal.pk}"
        assert event.payload["reason"] == "category_removed"
        assert event.payload["listing_ids"] == sorted(event.payload["listing_ids"])
        external = dict(zip(event.payload["listing_ids"], event.payload["external_ids"], strict=True))
        assert all(value == ("ext-doomed-1" if pk == synced.pk else None) for pk, value in external.items())
        by_marketplace.setdefault(event.marketplace_id, []).extend(event.payload["listing_ids"])
    # Listings go to their merchant's marketplace, wherever the policy applies: categories are shared.
    expected: dict[int, list[int]] = {}
    for merchant in Merchant.objects.filter(pk__in=list(removal_catalog["doomed"])):
        expected.setdefault(merchant.marketplace_id, []).extend(x.pk for x in removal_catalog["doomed"][merchant.pk])
    assert {place: sorted(ids) for place, ids in by_marketplace.items()} == {
        place: sorted(ids) for place, ids in expected.items()
    }
    assert set(expected) == {marketplace.pk, other_marketplace.pk}
    # At most one event per chunk and marketplace, never one per listing.
    assert delisted.count() <= len(chunks) * 2
    assert sum(len(ids) for ids in by_marketplace.values()) == len(removal_catalog["doomed_ids"])
    # Each event has one pending delivery for its marketplace's endpoint.
    assert {
        d.endpoint_id for d in WebhookDelivery.objects.filter(event__in=delisted, event__marketplace=marketplace)
    } == {alibaba.pk}
    assert WebhookDelivery.objects.filter(event__in=delisted).count() == delisted.count()
    assert aliexpress.deliveries.filter(event__event_type=Type.LISTINGS_DELISTED).exists()


def test_a_large_chunk_is_split_into_events_of_at_most_the_batch_size(
    travel, settings, policy_admin, announced_policy, miners, miner_accessories, removal_catalog, marketplace
):
    settings.REMOVAL_CHUNK_SIZE = 100
    settings.WEBHOOK_MAX_IDS_PER_EVENT = 4
    removal = removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )
    travel.to(EFFECTIVE + timedelta(seconds=30))
    with mock.patch.object(removals, "queue_pending_chunks"):
        removals.start_removal(removal_id=removal.pk)
    [chunk] = removal.chunks.all()
    removals.run_removal_chunk(chunk_id=chunk.pk)

    on_alibaba = events_of(marketplace, Type.LISTINGS_DELISTED)
    parts = [event.payload["listing_ids"] for event in on_alibaba]
    assert [len(part) for part in parts] == [4, 4, 3]  # merchant A's 7 and merchant B's 4
    flat = [listing_id for part in parts for listing_id in part]
    assert flat == sorted(flat)


# --- sanctions: the sweep's freezes, blocks and lifts ------------------------------------------------------


def test_a_sweep_freeze_delists_the_stores_listings_in_one_event_and_says_the_account_is_frozen(
    travel, announced_policy, merchant_b, violate, make_listing, graphics_cards, marketplace
):
    travel.to(AFTER_GRACE)
    shop = [make_listing(merchant_b, graphics_cards, title=f"RTX 3080 graphics card #{n}") for n in range(3)]
    violate(merchant_b, 8)
    travel.by(timedelta(minutes=1))
    run_escalation()  # the warning
    warning = Sanction.objects.get(merchant=merchant_b)
    travel.to(warning.compliance_deadline + timedelta(hours=1))
    violate(merchant_b, 28)  # 36 points: the freeze
    before = OutboxEvent.objects.count()

    assert run_escalation()["issued"] == 1

    new = OutboxEvent.objects.filter(pk__gt=OutboxEvent.objects.order_by("id")[before - 1].pk if before else 0)
    freeze = Sanction.objects.filter(merchant=merchant_b).latest("id")
    delisted = new.get(event_type=Type.LISTINGS_DELISTED)
    assert delisted.marketplace == marketplace
    assert delisted.payload["reason"] == "account_frozen"
    assert delisted.payload["listing_ids"] == sorted(listing.pk for listing in shop)
    assert delisted.subject == f"sanction:{freeze.pk}"
    status = new.get(event_type=Type.MERCHANTS_STATUS_CHANGED)
    assert status.payload["merchants"] == [
        {"id": merchant_b.pk, "external_id": None, "status": "frozen", "until": freeze.ends_at.isoformat()}
    ]
    assert status.sequence > delisted.sequence


def test_a_store_block_and_its_lift_each_tell_the_marketplace(
    travel, announced_policy, merchant_b, senior, take_down, marketplace, other_marketplace
):
    travel.to(AFTER_GRACE)
    take_down(merchant_b)
    issue_manual_sanction(actor=senior, merchant=merchant_b, policy=announced_policy, kind="warning", reason=REASON)
    assert not events_of(marketplace, Type.MERCHANTS_STATUS_CHANGED).exists()  # a warning changes nothing shown

    block = issue_manual_sanction(
        actor=senior, merchant=merchant_b, policy=announced_policy, kind="store_block", reason=REASON, duration_days=7
    )
    lift_sanction(actor=senior, sanction=block, reason="The merchant removed every mining product.")

    blocked, lifted = events_of(marketplace, Type.MERCHANTS_STATUS_CHANGED)
    assert blocked.payload["merchants"] == [
        {"id": merchant_b.pk, "external_id": None, "status": "store_blocked", "until": block.ends_at.isoformat()}
    ]
    assert lifted.payload["merchants"] == [
        {"id": merchant_b.pk, "external_id": None, "status": "active", "until": None}
    ]
    assert blocked.subject == lifted.subject == f"merchant:{merchant_b.pk}"
    assert not events_of(other_marketplace).exists()


# --- policies ------------------------------------------------------------------------------------------


def test_a_policy_announced_and_taking_effect_goes_to_every_marketplace_in_its_scope(
    travel, policy_admin, draft_policy, marketplace, other_marketplace, system
):
    from sellers import services as catalog

    lazada = catalog.create_marketplace(actor=system, code="lazada", name="Lazada", timezone_name="Asia/Singapore")
    draft_policy.marketplaces.add(other_marketplace)

    policy = policies.announce_policy(
        actor=policy_admin, policy=draft_policy, announced_at=EFFECTIVE - timedelta(days=11)
    )
    travel.to(EFFECTIVE + timedelta(minutes=1))
    policies.put_due_policies_in_effect(actor=system)
    policies.put_due_policies_in_effect(actor=system)  # a second beat tick: nothing more

    for place in (marketplace, other_marketplace):
        announced, in_effect = events_of(place)
        assert (announced.event_type, in_effect.event_type) == (Type.POLICY_ANNOUNCED, Type.POLICY_IN_EFFECT)
        assert announced.payload["policy"] == {
            "slug": policy.slug,
            "version": 1,
            "id": policy.pk,
            "title": policy.title,
        }
        assert announced.payload["categories"] == ["blockchain-miner-accessories", "blockchain-miners"]
        assert in_effect.payload["status"] == "in_effect"
    assert not events_of(lazada).exists()
