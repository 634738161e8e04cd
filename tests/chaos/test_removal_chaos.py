"""A category removal on two real workers that are killed mid-run, and one whose broker restarts."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from moderation.models import AuditEvent, AuditVerb, CategoryRemoval, Notice, RemovalChunk
from moderation.selectors.removals import STALL_AFTER
from moderation.services import removals
from moderation.services.audit import SystemActor
from moderation.services.policies import announce_policy, create_policy, put_due_policies_in_effect
from moderation.tasks import send_pending_notices, start_due_removals
from sellers import services as catalog
from sellers.models import Category, Listing, Merchant
from tests.chaos.conftest import assert_each_notice_mailed_once, kill_during, resend_after_lease, settle, wait_for
from tests.moderation.conftest import ANNOUNCED, EFFECTIVE, ENFORCEMENT, REFERENCE_CLAUSES

pytestmark = [pytest.mark.chaos, pytest.mark.broker, pytest.mark.postgres]

DOOMED = 3000
CHUNK_SIZE = 200
CHUNKS = math.ceil(DOOMED / CHUNK_SIZE)
MERCHANTS = 40
KILLS = 3


@pytest.fixture
def retiring_catalog(transactional_db, rng):
    """The reference policy in effect, and 3,000 live listings of 40 merchants in its two categories.

    Interleaved by id with what must stay as it is (graphics cards, listings their sellers
    removed, listings taken down before), so every chunk's id range holds some of them. The
    listings come in through the catalog's bulk import (one audit event per batch), as a feed would.
    """
    system = SystemActor("tests")
    marketplace = catalog.create_marketplace(
        actor=system, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    electronics = catalog.create_category(actor=system, name="Consumer Electronics")
    miners = catalog.create_category(actor=system, name="Blockchain Miners", parent=electronics)
    asic = catalog.create_category(actor=system, name="ASIC Miners", parent=miners)
    accessories = catalog.create_category(actor=system, name="Blockchain Miner Accessories", parent=electronics)
    graphics = catalog.create_category(actor=system, name="Graphics Cards", parent=electronics)
    policy = create_policy(
        actor=system,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Virtual currency mining machines are prohibited on the marketplace.",
        marketplaces=[marketplace],
        categories=[miners, accessories],
        clauses=REFERENCE_CLAUSES,
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
    )
    policy = announce_policy(actor=system, policy=policy, announced_at=ANNOUNCED)
    # In effect before any listing exists: its bulk scan has nothing to scan.
    put_due_policies_in_effect(actor=system)
    policy.refresh_from_db()
    merchants = [
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Hashpower Store {n}",
            company_name=f"Hashpower Trading {n} Co., Ltd.",
            country="CN",
            contact_email=f"store{n}@hashpower.example",
            language=Merchant.Language.CHINESE if n % 2 else Merchant.Language.ENGLISH,
        )
        for n in range(MERCHANTS)
    ]
    now = timezone.now()
    rows = []
    for n in range(DOOMED):
        category = rng.choice([miners, miners, asic, accessories])
        rows.append(("doomed", rng.choice(merchants), category, f"Antminer S19 Pro #{n}", {}))
    for n in range(300):
        rows.append(("kept", rng.choice(merchants), graphics, f"RTX 3080 graphics card #{n}", {}))
    for n in range(60):
        removed = {"status": Listing.Status.REMOVED_BY_SELLER}
        rows.append(("not_live", rng.choice(merchants), miners, f"Antminer L3+ (sold out) #{n}", removed))
    for n in range(40):
        earlier = {
            "status": Listing.Status.DELISTED,
            "previous_status": Listing.Status.LIVE,
            "delisted_at": now - timedelta(days=1),
            "delisted_reason": "Taken down by a moderator before the removal.",
        }
        rows.append(("not_live", rng.choice(merchants), asic, f"Innosilicon A10 (taken down) #{n}", earlier))
    rng.shuffle(rows)
    catalog.import_listings(
        actor=system,
        marketplace=marketplace,
        rows=(
            Listing(merchant=merchant, category=category, title=title, price=Decimal("2399.00"), **extra)
            for _, merchant, category, title, extra in rows
        ),
        batch_size=1000,
    )
    ids = {group: [] for group in ("doomed", "kept", "not_live")}
    by_title = dict(Listing.objects.values_list("title", "pk"))
    for group, _, _, title, _ in rows:
        ids[group].append(by_title[title])
    doomed_per_merchant = Counter(merchant.pk for group, merchant, *_ in rows if group == "doomed")
    return {
        "policy": policy,
        "categories": [miners, accessories],
        "scope": {miners.pk, asic.pk, accessories.pk},
        "doomed_ids": sorted(ids["doomed"]),
        "untouched": dict(Listing.objects.exclude(pk__in=ids["doomed"]).values_list("pk", "status")),
        "doomed_per_merchant": doomed_per_merchant,
    }


def removal_state(removal_id: int) -> dict:
    return CategoryRemoval.objects.filter(pk=removal_id).values("status", "chunks_done", "chunks_total").get()


def complete_removal(workers, removal_id: int) -> list[int]:
    """Let the workers finish, beat's sweeps recovering what they lost, until the removal is done.

    Beat is not running: this process plays its two sweeps. ``requeue_stalled_removals`` re-sends
    the pending chunks of a removal that made no progress for ``STALL_AFTER`` (the clock moved on
    by that much); ``send_pending_notices`` mails what nobody was told to send; then the e-mail
    claims a killed worker held are sent once their lease has passed. Returns those notices.
    """
    for _ in range(3):
        settle(workers)
        if removal_state(removal_id)["status"] == CategoryRemoval.Status.COMPLETED:
            break
        later = timezone.now() + STALL_AFTER + timedelta(seconds=1)
        print(f"stalled at {removal_state(removal_id)}: beat re-sends {removals.requeue_stalled_removals(now=later)}")
    send_pending_notices.delay()
    settle(workers)
    return resend_after_lease()


def assert_delisted_exactly_once(catalog_data: dict, removal_id: int) -> dict:
    removal = CategoryRemoval.objects.get(pk=removal_id)
    doomed = catalog_data["doomed_ids"]
    per_merchant = catalog_data["doomed_per_merchant"]

    # The removal is complete, with the right counts, and no chunk is left half done.
    assert removal.status == CategoryRemoval.Status.COMPLETED, removal.error
    assert removal.listings_total == removal.listings_done == len(doomed) == DOOMED
    assert removal.chunks_total == removal.chunks_done == CHUNKS
    assert Counter(removal.chunks.values_list("status", flat=True)) == {RemovalChunk.Status.DONE: CHUNKS}
    assert sum(removal.chunks.values_list("delisted", flat=True)) == DOOMED
    assert removal.merchants_notified == len(per_merchant)

    # Every listing of the retired categories delisted by this removal, each with one audit event.
    delisted = Listing.objects.filter(pk__in=doomed)
    assert Counter(delisted.values_list("status", "previous_status", "delisted_by_removal")) == {
        ("delisted", "live", removal_id): DOOMED
    }
    events = AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL)
    assert Counter(events.values_list("target_id", flat=True)) == Counter(doomed)
    # Nothing else touched: other categories, listings not live when the removal ran.
    untouched = catalog_data["untouched"]
    assert dict(Listing.objects.exclude(pk__in=doomed).values_list("pk", "status")) == untouched
    assert not Listing.objects.filter(category_id__in=catalog_data["scope"], status=Listing.Status.LIVE).exists()

    # Each transition of the removal once; each category retired once, by it.
    once = [AuditVerb.REMOVAL_STARTED, AuditVerb.REMOVAL_COMPLETED]
    assert Counter(AuditEvent.objects.filter(verb__in=once, target_id=removal_id).values_list("verb", flat=True)) == (
        Counter({int(verb): 1 for verb in once})
    )
    assert not AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_FAILED).exists()
    completed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_COMPLETED, target_id=removal_id)
    assert completed.after == {
        "status": "completed",
        "listings_delisted": DOOMED,
        "merchants_notified": len(per_merchant),
    }
    retired_by_it = Category.objects.filter(retired_by_removal=removal_id).values_list("pk", flat=True)
    assert set(retired_by_it) == catalog_data["scope"]
    retired = AuditEvent.objects.filter(verb=AuditVerb.CATEGORY_RETIRED).values_list("target_id", flat=True)
    assert Counter(retired) == Counter(catalog_data["scope"])

    # One notice per merchant hit, telling it how many of its listings came down, with its audit event.
    notices = Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED)
    assert Counter(notices.values_list("merchant_id", flat=True)) == Counter(dict.fromkeys(per_merchant, 1))
    for merchant_id, facts in notices.values_list("merchant_id", "transparency__decision_facts"):
        assert facts.startswith(f"{per_merchant[merchant_id]} of your listings in "), facts
    created = AuditEvent.objects.filter(verb=AuditVerb.NOTICE_CREATED).values_list("target_id", flat=True)
    assert Counter(created) == Counter(notices.values_list("pk", flat=True))
    return {"listings": DOOMED, "chunks": CHUNKS, "notices": notices.count()}


def test_workers_killed_mid_removal_delist_each_listing_exactly_once(workers, rng, settings, retiring_catalog):
    settings.REMOVAL_CHUNK_SIZE = CHUNK_SIZE
    removal = removals.schedule_removal(
        actor=SystemActor("tests"), policy=retiring_catalog["policy"], categories=retiring_catalog["categories"]
    )
    workers.start_both()
    began = time.monotonic()
    start_due_removals.delay()

    def finished():
        return removal_state(removal.pk)["status"] == CategoryRemoval.Status.COMPLETED

    kills = kill_during(
        workers,
        rng,
        kills=KILLS,
        progress=lambda: removal_state(removal.pk)["chunks_done"],
        total=CHUNKS,
        finished=finished,
    )
    interrupted = complete_removal(workers, removal.pk)
    print(f"removal done {time.monotonic() - began:.1f} s after it was queued; kills {kills}")

    assert len(workers.kills) == KILLS
    assert_delisted_exactly_once(retiring_catalog, removal.pk)
    mailed = assert_each_notice_mailed_once(
        Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED), workers, interrupted=interrupted
    )
    print(f"e-mail: {mailed}")


def test_a_removal_completes_after_its_broker_restarts(workers, private_redis, rng, settings, retiring_catalog):
    """Redis dies mid-removal (SIGKILL, no persistence: every queued task is lost) and comes back.

    The workers reconnect on their own; beat's stalled-removal sweep re-sends the chunks the
    broker lost, and the removal completes exactly as it would have.
    """
    settings.REMOVAL_CHUNK_SIZE = CHUNK_SIZE
    removal = removals.schedule_removal(
        actor=SystemActor("tests"), policy=retiring_catalog["policy"], categories=retiring_catalog["categories"]
    )
    workers.start_both()
    start_due_removals.delay()
    threshold = rng.randrange(1, CHUNKS // 3)
    wait_for(lambda: removal_state(removal.pk)["chunks_done"] >= threshold, what="the first chunks", every=0.005)
    private_redis.kill()
    at = removal_state(removal.pk)
    down = rng.uniform(0.5, 3)
    print(f"broker killed at {at['chunks_done']}/{CHUNKS} chunks, down for {down:.1f} s")
    time.sleep(down)
    private_redis.start()

    # Both workers come back to the new broker by themselves: nobody restarts them.
    interrupted = complete_removal(workers, removal.pk)
    assert not workers.kills and len(workers.history) == 2
    assert at["status"] == CategoryRemoval.Status.RUNNING

    assert_delisted_exactly_once(retiring_catalog, removal.pk)
    assert_each_notice_mailed_once(
        Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED), workers, interrupted=interrupted
    )
