"""Scheduled category removals: schedule, dry run, cancel, run in chunks exactly once, fail, resume."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command

from moderation import tasks
from moderation.models import (
    AuditEvent,
    AuditVerb,
    CategoryRemoval,
    Notice,
    Policy,
    RemovalChunk,
)
from moderation.selectors.removals import STALL_AFTER, stalled_removal_ids
from moderation.services import removals
from moderation.services.transparency import VISIBILITY_REMOVED
from sellers import services as catalog
from sellers.models import Category, Listing
from tests.concurrency import run_in_threads
from tests.moderation.conftest import EFFECTIVE, ENFORCEMENT, SHANGHAI

# The removal runs at the effective date, midnight in Shanghai.
RUN_AT = datetime(2021, 10, 8, 0, 0, 30, tzinfo=SHANGHAI)


@pytest.fixture
def small_chunks(settings):
    settings.REMOVAL_CHUNK_SIZE = 3
    return 3


@pytest.fixture
def removal(policy_admin, announced_policy, miners, miner_accessories, removal_catalog, small_chunks):
    return removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )


@pytest.fixture
def started(travel, removal):
    """A removal started at its time, its chunks planned but none run (the on-commit queueing is dropped)."""
    travel.to(RUN_AT)
    with mock.patch.object(removals, "queue_pending_chunks") as queued:
        assert removals.start_removal(removal_id=removal.pk)
    queued.assert_not_called()  # on-commit callbacks of the test transaction never run
    removal.refresh_from_db()
    return removal


def run_every_chunk(removal):
    return [
        removals.run_removal_chunk(chunk_id=pk) for pk in removal.chunks.order_by("number").values_list("pk", flat=True)
    ]


def assert_delisted_exactly_once(removal, catalog_data):
    """The invariants of a completed removal: each listing once, each merchant told once."""
    removal.refresh_from_db()
    doomed = catalog_data["doomed_ids"]
    assert removal.status == CategoryRemoval.Status.COMPLETED
    assert removal.listings_total == removal.listings_done == len(doomed)
    assert removal.chunks_done == removal.chunks_total
    assert not removal.chunks.exclude(status=RemovalChunk.Status.DONE).exists()

    listings = Listing.objects.filter(pk__in=doomed)
    assert {(row.status, row.previous_status) for row in listings} == {("delisted", "live")}
    assert all("Virtual currency mining machines" in row.delisted_reason for row in listings)
    assert set(Listing.objects.filter(pk__in=catalog_data["kept_ids"]).values_list("status", flat=True)) == {"live"}
    assert sorted(Listing.objects.filter(pk__in=catalog_data["not_live_ids"]).values_list("status", flat=True)) == [
        "delisted",
        "removed_by_seller",
    ]

    events = AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL)
    assert Counter(events.values_list("target_id", flat=True)) == Counter(doomed)
    # Each delisted listing names the removal that took it down: the merchants' notices count those.
    marked = Listing.objects.filter(delisted_by_removal=removal)
    assert sorted(marked.values_list("pk", flat=True)) == doomed
    assert Counter(marked.values_list("merchant_id", flat=True)) == {
        merchant_id: len(rows) for merchant_id, rows in catalog_data["doomed"].items()
    }
    notices = Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED)
    per_merchant = Counter(notices.values_list("merchant_id", flat=True))
    assert per_merchant == Counter(dict.fromkeys(catalog_data["doomed"], 1))
    assert removal.merchants_notified == len(catalog_data["doomed"])
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_COMPLETED, target_id=removal.pk).count() == 1


# --- scheduling ----------------------------------------------------------------------------


def test_it_schedules_at_the_effective_date_by_default_with_the_dry_run(
    policy_admin, announced_policy, removal, asic_miners
):
    assert removal.status == CategoryRemoval.Status.SCHEDULED
    assert removal.scheduled_for == announced_policy.effective_at == datetime(2021, 10, 7, 16, tzinfo=UTC)
    assert removal.clause.number == 1
    assert removal.chunk_size == 3
    assert removal.dry_run["listings"] == 13 and removal.dry_run["merchants"] == 3
    event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_SCHEDULED)
    assert event.actor == policy_admin and event.policy == announced_policy and event.target_id == removal.pk
    assert event.after["categories"] == ["blockchain-miner-accessories", "blockchain-miners"]
    assert (event.after["listings"], event.after["merchants"]) == (13, 3)
    # Scheduling changes nothing in the catalog.
    assert not Category.objects.filter(status=Category.Status.RETIRED).exists()
    assert Listing.objects.filter(status=Listing.Status.LIVE).count() == 15


def test_the_dry_run_counts_per_marketplace_including_subcategories(
    announced_policy, miners, miner_accessories, removal_catalog
):
    from moderation.selectors.removals import removal_dry_run

    dry_run = removal_dry_run([miners, miner_accessories], policy=announced_policy)
    assert dry_run["per_marketplace"] == [
        {"marketplace": "AliExpress", "listings": 2, "merchants": 1, "in_scope": False},
        {"marketplace": "Alibaba.com", "listings": 11, "merchants": 2, "in_scope": True},
    ]
    assert (dry_run["listings"], dry_run["merchants"]) == (13, 3)
    assert dry_run["outside_scope"] == ["AliExpress"]
    assert set(dry_run["categories"]) == {"Blockchain Miners", "ASIC Miners", "Blockchain Miner Accessories"}


def schedule_refusal(policy_admin, **kwargs):
    before = (CategoryRemoval.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        removals.schedule_removal(actor=policy_admin, **kwargs)
    assert (CategoryRemoval.objects.count(), AuditEvent.objects.count()) == before
    return refused.value.message_dict


def test_it_refuses_a_removal_without_categories(policy_admin, announced_policy):
    errors = schedule_refusal(policy_admin, policy=announced_policy, categories=[])
    assert errors == {"categories": ["Choose at least one category."]}


def test_it_refuses_a_removal_under_a_draft_policy(policy_admin, draft_policy, miners):
    errors = schedule_refusal(policy_admin, policy=draft_policy, categories=[miners])
    assert list(errors) == ["policy"]
    assert "announce it first" in errors["policy"][0]


def test_it_refuses_a_removal_before_the_effective_date(policy_admin, announced_policy, miners):
    errors = schedule_refusal(
        policy_admin,
        policy=announced_policy,
        categories=[miners],
        scheduled_for=EFFECTIVE - timedelta(minutes=1),
    )
    assert list(errors) == ["scheduled_for"]
    assert "2021-10-08 00:00 (Asia/Shanghai)" in errors["scheduled_for"][0]


def test_it_refuses_a_clause_of_another_policy(policy_admin, announced_policy, miners, marketplace):
    from moderation.services.policies import ClauseText, create_policy

    other = create_policy(
        actor=policy_admin,
        slug="other",
        title="Other",
        body="…",
        marketplaces=[marketplace],
        clauses=[ClauseText(1, "Other", "…")],
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
    )
    errors = schedule_refusal(policy_admin, policy=announced_policy, categories=[miners], clause=other.clauses.get())
    assert list(errors) == ["clause"]


def test_it_refuses_categories_already_in_a_scheduled_removal(
    policy_admin, announced_policy, removal, miners, graphics_cards
):
    errors = schedule_refusal(policy_admin, policy=announced_policy, categories=[graphics_cards, miners])
    assert errors == {"categories": [f"Part of these categories is already in removal #{removal.pk}."]}


def test_it_refuses_a_subcategory_of_a_category_already_in_a_scheduled_removal(
    policy_admin, announced_policy, removal, asic_miners
):
    errors = schedule_refusal(policy_admin, policy=announced_policy, categories=[asic_miners])
    assert errors == {"categories": [f"Part of these categories is already in removal #{removal.pk}."]}


def test_a_cancelled_removal_does_not_block_its_categories(policy_admin, announced_policy, removal, miners):
    removals.cancel_removal(actor=policy_admin, removal=removal, reason="Scheduled by mistake.")
    again = removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners])
    assert again.status == CategoryRemoval.Status.SCHEDULED


def test_it_refuses_a_category_retired_already(
    django_capture_on_commit_callbacks, travel, policy_admin, announced_policy, removal, asic_miners
):
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    errors = schedule_refusal(
        policy_admin,
        policy=announced_policy,
        categories=[asic_miners],
        scheduled_for=RUN_AT + timedelta(days=1),
    )
    assert errors == {"categories": ["Already retired: ASIC Miners."]}


# --- cancelling ----------------------------------------------------------------------------


def test_a_cancelled_removal_never_starts(travel, policy_admin, removal, removal_catalog):
    removals.cancel_removal(actor=policy_admin, removal=removal, reason="Wrong categories.")
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.CANCELLED and removal.cancelled_at is not None
    event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_CANCELLED)
    assert event.actor == policy_admin and event.reason == "Wrong categories."

    travel.to(RUN_AT)
    assert removals.due_removal_ids() == []
    assert removals.start_removal(removal_id=removal.pk) is False
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.CANCELLED
    assert not Category.objects.filter(status=Category.Status.RETIRED).exists()
    assert Listing.objects.filter(pk__in=removal_catalog["doomed_ids"], status="live").count() == 13


def test_a_started_removal_cannot_be_cancelled(policy_admin, started):
    with pytest.raises(ValidationError, match="is running: only a scheduled one can be cancelled"):
        removals.cancel_removal(actor=policy_admin, removal=started, reason="Too late.")
    started.refresh_from_db()
    assert started.status == CategoryRemoval.Status.RUNNING
    assert not AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_CANCELLED).exists()


# --- the clock -----------------------------------------------------------------------------


def test_nothing_is_removed_before_the_effective_date(
    travel, removal, removal_catalog, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert removals.due_removal_ids() == []
        assert removals.start_removal(removal_id=removal.pk) is False
        assert tasks.start_due_removals() == []
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.SCHEDULED and removal.started_at is None
    assert not Category.objects.filter(status=Category.Status.RETIRED).exists()
    assert Listing.objects.filter(status=Listing.Status.LIVE).count() == 15

    travel.to(EFFECTIVE)
    assert removals.due_removal_ids() == [removal.pk]


def test_a_removal_whose_policy_was_retired_meanwhile_fails_without_delisting(
    travel, policy_admin, announced_policy, removal, removal_catalog
):
    from moderation.services.policies import retire_policy

    retire_policy(actor=policy_admin, policy=announced_policy, reason="Withdrawn.")
    travel.to(RUN_AT)
    assert removals.start_removal(removal_id=removal.pk) is True
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.FAILED
    assert "is not in effect" in removal.error
    assert not Category.objects.filter(status=Category.Status.RETIRED).exists()
    assert Listing.objects.filter(status=Listing.Status.LIVE).count() == 15
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_FAILED).count() == 1


# --- a full run ----------------------------------------------------------------------------


def test_a_due_removal_runs_end_to_end_in_chunks(
    travel,
    announced_policy,
    removal,
    removal_catalog,
    miners,
    asic_miners,
    miner_accessories,
    merchant_a,
    merchant_b,
    merchant_c,
    django_capture_on_commit_callbacks,
):
    moment = travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_due_removals() == [removal.pk]

    removal.refresh_from_db()
    assert_delisted_exactly_once(removal, removal_catalog)
    assert (removal.started_at, removal.finished_at) == (moment, moment)
    # 13 listings in chunks of 3: five chunks, each its own id range.
    assert removal.chunks_total == 5
    assert list(removal.chunks.values_list("delisted", flat=True)) == [3, 3, 3, 3, 1]
    # The id ranges span rows that are not the removal's; they were left alone (checked below).
    untouched = removal_catalog["kept_ids"] + removal_catalog["not_live_ids"]
    assert all(removal.chunks.filter(first_id__lte=pk, last_id__gte=pk).exists() for pk in untouched), (
        "the fixture should interleave"
    )
    assert removal.dry_run["listings"] == removal.listings_done
    assert removal.dry_run["merchants"] == removal.merchants_notified
    delisted_per_marketplace = Counter(
        Listing.objects.filter(pk__in=removal_catalog["doomed_ids"]).values_list(
            "merchant__marketplace__name", flat=True
        )
    )
    assert delisted_per_marketplace == {
        row["marketplace"]: row["listings"] for row in removal.dry_run["per_marketplace"]
    }

    listing = Listing.objects.get(pk=removal_catalog["doomed_ids"][0])
    assert listing.delisted_at == moment
    assert listing.delisted_reason == (
        f"Category closed under “Virtual currency mining machines”, clause 1 (removal #{removal.pk}, "
        "effective 2021-10-08 00:00 (Asia/Shanghai))."
    )

    # One audit event per listing, naming the merchant and the policy.
    for event in AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL):
        row = Listing.objects.get(pk=event.target_id)
        assert event.merchant_id == row.merchant_id
        assert event.policy_id == announced_policy.pk
        assert event.actor is None and event.actor_name == "task:run_removal"
        assert event.before == {"status": "live"}
        assert event.after == {"status": "delisted", "removal": removal.pk}
        assert event.target_repr == row.title

    # Every category of the scope is retired, by this removal, with one event each.
    for category in (miners, asic_miners, miner_accessories):
        category.refresh_from_db()
        assert category.status == Category.Status.RETIRED
        assert category.retired_by_removal_id == removal.pk
        assert category.retired_at == moment
    retired_events = AuditEvent.objects.filter(verb=AuditVerb.CATEGORY_RETIRED)
    assert sorted(retired_events.values_list("target_id", flat=True)) == sorted(
        [miners.pk, asic_miners.pk, miner_accessories.pk]
    )
    assert set(removal.scope_category_ids) == {miners.pk, asic_miners.pk, miner_accessories.pk}

    # One notice per merchant, with the right count, restricting, appealable for 180 days.
    counts = {merchant_a.pk: 7, merchant_b.pk: 4, merchant_c.pk: 2}
    for notice in Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED):
        assert notice.restricts is True
        assert notice.policy == announced_policy and notice.clause.number == 1
        assert notice.appeal_deadline == moment + timedelta(days=180)
        assert notice.dedupe_key == f"removal:{removal.pk}:merchant:{notice.merchant_id}"
        n = counts[notice.merchant_id]
        assert str(n) in notice.subject
        assert notice.transparency["decision_facts"].startswith(f"{n} of your listings in")
    english = Notice.objects.get(kind=Notice.Kind.LISTINGS_DELISTED, merchant=merchant_b)
    assert english.subject == "Statement of reasons: 4 listings removed under Virtual currency mining machines"
    assert "removed from Alibaba.com on 8 October 2021, 00:00 (Asia/Shanghai)" in english.body
    assert "You may appeal until 6 April 2022, 00:00 (Asia/Shanghai)" in english.body
    assert "clause 1: Mining hardware and software" in english.body

    # The e-mails went out after commit.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        ["sales@hashpower.example", "hello@gadgets.example", "rigs@outlet.example"]
    )

    completed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_COMPLETED)
    assert completed.after == {"status": "completed", "listings_delisted": 13, "merchants_notified": 3}
    started_event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_STARTED)
    assert started_event.after == {"status": "running", "listings": 13, "chunks": 5}


def test_the_delisting_time_is_stored_like_any_other_time(travel, removal, django_capture_on_commit_callbacks):
    moment = travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    assert Listing.objects.filter(delisted_at=moment).count() == 13
    assert AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL, occurred_at=moment).count() == 13


def test_listings_created_after_scheduling_are_counted_when_it_starts(
    travel, removal, removal_catalog, merchant_b, miners, make_listing, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE - timedelta(days=1))
    late = make_listing(merchant_b, miners, title="Antminer S19j, listed the day before")
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    removal.refresh_from_db()
    assert removal.dry_run["listings"] == 13
    assert removal.listings_total == removal.listings_done == 14
    late.refresh_from_db()
    assert late.status == Listing.Status.DELISTED
    notice = Notice.objects.get(kind=Notice.Kind.LISTINGS_DELISTED, merchant=merchant_b)
    assert notice.subject.startswith("Statement of reasons: 5 listings removed")


def test_the_statement_of_reasons_carries_the_transparency_fields_without_personal_data(
    travel, removal, merchant_a, merchant_b, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    notice = Notice.objects.get(kind=Notice.Kind.LISTINGS_DELISTED, merchant=merchant_b)
    fields = notice.transparency
    assert fields["decision_visibility"] == [VISIBILITY_REMOVED] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert fields["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert fields["content_type"] == ["CONTENT_TYPE_PRODUCT"]
    assert fields["automated_detection"] == "Yes"
    assert fields["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert fields["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert fields["incompatible_content_ground"] == (
        "Virtual currency mining machines, clause 1: Mining hardware and software"
    )
    assert fields["puid"] == notice.puid
    assert Notice.objects.filter(puid=notice.puid).count() == 1
    text = json.dumps(fields, ensure_ascii=False)
    for merchant in (merchant_a, merchant_b):
        for personal in (merchant.store_name, merchant.company_name, merchant.contact_email):
            assert personal not in text


def test_the_statement_of_reasons_is_in_chinese_for_a_chinese_merchant(
    travel, removal, merchant_a, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    notice = Notice.objects.get(kind=Notice.Kind.LISTINGS_DELISTED, merchant=merchant_a)
    assert notice.language == "zh-hans"
    assert notice.subject == "处理理由说明：依据《Virtual currency mining machines》下架 7 个商品"
    assert "已于 2021年10月8日 00:00（Asia/Shanghai）从 Alibaba.com 下架" in notice.body
    assert "您可在 2022年4月6日 00:00（Asia/Shanghai）之前" in notice.body
    assert "Statement of reasons" not in notice.body


def test_during_grace_a_removal_records_no_violation_or_sanction(
    travel, announced_policy, removal, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    assert announced_policy.in_grace()
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    for name in ("Violation", "Sanction"):
        try:
            model = apps.get_model("moderation", name)
        except LookupError:
            continue  # not built yet: nothing can have been recorded
        assert not model.objects.exists()
    body = Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED, language="en").first().body
    assert "This removal does not count toward sanctions." in body


def test_a_removal_with_no_live_listing_completes_with_no_notice(
    travel, policy_admin, announced_policy, graphics_cards, django_capture_on_commit_callbacks
):
    removal = removals.schedule_removal(
        actor=policy_admin,
        policy=announced_policy,
        categories=[graphics_cards],
        override_reason="Emptied by the sellers; retire it all the same.",
    )
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        assert removals.start_removal(removal_id=removal.pk)
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.COMPLETED
    assert (removal.listings_total, removal.chunks_total, removal.merchants_notified) == (0, 0, 0)
    assert removal.percent_done == 100.0
    assert not Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED).exists()


# --- idempotence ---------------------------------------------------------------------------


def test_running_everything_twice_changes_nothing_more(travel, started, removal_catalog):
    assert removals.start_removal(removal_id=started.pk) is False
    first = run_every_chunk(started)
    assert first == [3, 3, 3, 3, 1]
    assert removals.finish_removal_if_done(removal_id=started.pk) is False  # the last chunk finished it
    snapshot = (
        AuditEvent.objects.count(),
        Notice.objects.count(),
        list(Listing.objects.order_by("pk").values_list("status", "delisted_at", "updated_at")),
        CategoryRemoval.objects.values_list("listings_done", "chunks_done", "merchants_notified").get(),
    )

    assert removals.start_removal(removal_id=started.pk) is False
    assert run_every_chunk(started) == [0, 0, 0, 0, 0]
    assert removals.finish_removal_if_done(removal_id=started.pk) is False
    assert removals.queue_pending_chunks(removal_id=started.pk) == 0
    assert (
        AuditEvent.objects.count(),
        Notice.objects.count(),
        list(Listing.objects.order_by("pk").values_list("status", "delisted_at", "updated_at")),
        CategoryRemoval.objects.values_list("listings_done", "chunks_done", "merchants_notified").get(),
    ) == snapshot
    assert_delisted_exactly_once(started, removal_catalog)


def test_a_chunk_that_crashes_midway_leaves_nothing_behind_and_runs_again(travel, started, removal_catalog):
    chunks = list(started.chunks.order_by("number"))
    assert removals.run_removal_chunk(chunk_id=chunks[0].pk) == 3
    assert removals.run_removal_chunk(chunk_id=chunks[1].pk) == 3

    real_delist = removals._delist_range

    def delist_then_die(**kwargs):
        real_delist(**kwargs)  # the UPDATE and the INSERTs have run…
        raise OSError("worker killed")  # …and the process dies before the commit

    with (
        mock.patch.object(removals, "_delist_range", side_effect=delist_then_die),
        pytest.raises(OSError, match="worker killed"),
    ):
        removals.run_removal_chunk(chunk_id=chunks[2].pk)

    crashed = RemovalChunk.objects.get(pk=chunks[2].pk)
    assert crashed.status == RemovalChunk.Status.PENDING and crashed.delisted == 0
    in_range = Listing.objects.filter(
        pk__range=(crashed.first_id, crashed.last_id), pk__in=removal_catalog["doomed_ids"]
    )
    assert set(in_range.values_list("status", flat=True)) == {"live"}
    assert not AuditEvent.objects.filter(
        verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL, target_id__in=in_range.values("pk")
    ).exists()
    assert not in_range.filter(delisted_by_removal__isnull=False).exists()
    started.refresh_from_db()
    assert (started.status, started.listings_done, started.chunks_done) == ("running", 6, 2)
    assert not Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED).exists()

    # The operator's command picks up where it stopped.
    out = io.StringIO()
    call_command("run_due_removals", stdout=out)
    assert f"Removal #{started.pk}: completed, 7 delisted now, 13/13 in all, 3 merchants notified." in out.getvalue()
    assert_delisted_exactly_once(started, removal_catalog)


@pytest.fixture
def eager_retries():
    """Let eager Celery run a task's retries inline, as a worker would run them later.

    With ``task_eager_propagates`` (the test settings) the first ``self.retry`` would
    escape to the caller instead.
    """
    from backoffice.celery import app

    was = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = was


def test_a_chunk_that_keeps_failing_fails_the_removal_after_its_retries_then_resumes(
    travel, policy_admin, removal, removal_catalog, eager_retries, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    with (
        mock.patch.object(removals, "_delist_range", side_effect=OSError("disk full")) as delist,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert removals.start_removal(removal_id=removal.pk)

    attempts = django_settings.REMOVAL_CHUNK_MAX_RETRIES + 1
    assert delist.call_count == attempts  # the other chunks see a failed removal and do nothing
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.FAILED
    assert (
        removal.error == f"Chunk 1 (ids {removal.chunks.get(number=1).first_id}–"
        f"{removal.chunks.get(number=1).last_id}): disk full"
    )
    first = removal.chunks.get(number=1)
    assert (first.status, first.attempts) == (RemovalChunk.Status.FAILED, attempts)
    assert "disk full" in first.error
    assert set(removal.chunks.exclude(number=1).values_list("status", flat=True)) == {"pending"}
    failed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_FAILED)
    assert "disk full" in failed.reason and failed.target_id == removal.pk
    assert Listing.objects.filter(pk__in=removal_catalog["doomed_ids"], status="live").count() == 13
    assert not Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED).exists()
    # Categories stay retired: nothing new may be listed while the operator looks into it.
    assert Category.objects.filter(retired_by_removal=removal).count() == 3

    # The fault is gone: resuming runs every chunk left, once.
    with django_capture_on_commit_callbacks(execute=True):
        removals.resume_removal(actor=policy_admin, removal=removal)
    assert_delisted_exactly_once(removal, removal_catalog)
    resumed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_RESUMED)
    assert resumed.actor == policy_admin
    assert resumed.before == {"status": "failed"} and resumed.after == {"status": "running"}
    removal.refresh_from_db()
    assert removal.error == ""


def test_only_a_failed_or_stalled_removal_resumes(travel, policy_admin, started):
    with pytest.raises(ValidationError, match="only a failed or stalled one resumes"):
        removals.resume_removal(actor=policy_admin, removal=started)
    # Two minutes without progress: stalled, so it can be resumed.
    travel.by(STALL_AFTER + timedelta(seconds=1))
    assert stalled_removal_ids() == [started.pk]
    removals.resume_removal(actor=policy_admin, removal=started)
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_RESUMED).count() == 1


def test_the_beat_safety_net_requeues_the_chunks_of_a_stalled_removal(
    travel, started, removal_catalog, django_capture_on_commit_callbacks
):
    assert tasks.requeue_stalled_removals() == 0
    travel.by(STALL_AFTER + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.requeue_stalled_removals() == 5
    assert_delisted_exactly_once(started, removal_catalog)


# --- refusing listings in a closed category ------------------------------------------------


@pytest.fixture
def completed(travel, removal, django_capture_on_commit_callbacks):
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        removals.start_removal(removal_id=removal.pk)
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.COMPLETED
    return removal


def test_new_listings_are_allowed_before_the_effective_date(travel, removal, merchant_b, miners, make_listing):
    travel.to(EFFECTIVE - timedelta(hours=1))
    listing = make_listing(merchant_b, miners, title="Antminer S9")
    assert listing.status == Listing.Status.LIVE


def test_a_listing_in_a_retired_category_is_refused_naming_the_policy(completed, system, merchant_b, miners):
    before = Listing.objects.count()
    with pytest.raises(ValidationError) as refused:
        catalog.create_listing(
            actor=system, merchant=merchant_b, category=miners, title="Antminer S19", price=Decimal("10")
        )
    assert Listing.objects.count() == before
    assert "Virtual currency mining machines" in refused.value.message_dict["category"][0]


def test_moving_a_listing_into_a_retired_category_is_refused_naming_the_policy(
    completed, system, merchant_b, asic_miners, removal_catalog
):
    listing = Listing.objects.get(pk=removal_catalog["kept_ids"][1])
    with pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, category=asic_miners)
    listing.refresh_from_db()
    assert listing.category.slug == "graphics-cards"
    assert "Virtual currency mining machines" in refused.value.message_dict["category"][0]


def test_a_listing_in_a_retired_category_is_refused(
    completed, system, merchant_b, miners, asic_miners, removal_catalog
):
    before = (Listing.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        catalog.create_listing(
            actor=system, merchant=merchant_b, category=miners, title="Antminer S19", price=Decimal("10")
        )
    assert list(refused.value.message_dict) == ["category"]
    listing = Listing.objects.get(pk=removal_catalog["kept_ids"][1])
    with pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, category=asic_miners)
    assert list(refused.value.message_dict) == ["category"]
    assert (Listing.objects.count(), AuditEvent.objects.count()) == before
    with pytest.raises(ValidationError):
        catalog.create_category(actor=system, name="Immersion Miners", parent=miners)


# --- the operators' entry points -----------------------------------------------------------


def test_the_management_command_does_what_the_beat_task_does(travel, removal, removal_catalog):
    travel.to(EFFECTIVE - timedelta(minutes=5))
    out = io.StringIO()
    call_command("run_due_removals", stdout=out)
    assert out.getvalue() == "Started 0 removal(s): none due.\n"

    travel.to(RUN_AT)
    out = io.StringIO()
    call_command("run_due_removals", stdout=out)
    assert f"Started 1 removal(s): [{removal.pk}]." in out.getvalue()
    assert f"Removal #{removal.pk}: completed, 13 delisted now, 13/13 in all, 3 merchants notified." in (out.getvalue())
    assert_delisted_exactly_once(removal, removal_catalog)
    assert AuditEvent.objects.get(verb=AuditVerb.REMOVAL_STARTED).actor_name == "task:run_due_removals"
    # The policy took effect on the way.
    assert Policy.objects.get(pk=removal.policy_id).status == Policy.Status.IN_EFFECT

    out = io.StringIO()
    call_command("run_due_removals", stdout=out)
    assert out.getvalue() == "Started 0 removal(s): none due.\n"
    assert_delisted_exactly_once(removal, removal_catalog)


def test_the_management_command_can_leave_the_chunks_to_the_workers(travel, removal):
    travel.to(RUN_AT)
    out = io.StringIO()
    call_command("run_due_removals", "--queue", stdout=out)
    assert out.getvalue() == f"Started 1 removal(s): [{removal.pk}].\n"
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.RUNNING
    assert removal.chunks.filter(status=RemovalChunk.Status.PENDING).count() == 5


def test_the_beat_task_starts_due_removals_and_puts_policies_in_effect(
    travel, announced_policy, removal, removal_catalog, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_due_removals.delay().get() == [removal.pk]
    announced_policy.refresh_from_db()
    assert announced_policy.status == Policy.Status.IN_EFFECT
    assert_delisted_exactly_once(removal, removal_catalog)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_due_removals() == []


# --- concurrency (PostgreSQL: row locks) ---------------------------------------------------


@pytest.fixture
def committed_removal(transactional_db, travel, removal):
    travel.to(RUN_AT)
    return removal


@pytest.mark.postgres
def test_two_workers_starting_the_same_removal_start_it_once(committed_removal, removal_catalog):
    results = run_in_threads(lambda: removals.start_removal(removal_id=committed_removal.pk), [(), ()])
    assert sorted(results) == [False, True]
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_STARTED).count() == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.CATEGORY_RETIRED).count() == 3
    assert RemovalChunk.objects.count() == 5
    # The winner's chunks ran after its commit (eager Celery).
    assert_delisted_exactly_once(committed_removal, removal_catalog)


@pytest.fixture
def committed_started(committed_removal):
    with mock.patch.object(removals, "queue_pending_chunks"):
        assert removals.start_removal(removal_id=committed_removal.pk)
    committed_removal.refresh_from_db()
    return committed_removal


@pytest.mark.postgres
def test_several_workers_running_the_same_chunk_delist_it_once(committed_started, removal_catalog):
    chunk = committed_started.chunks.get(number=1)
    results = run_in_threads(lambda: removals.run_removal_chunk(chunk_id=chunk.pk), [()] * 4)
    assert sorted(results) == [0, 0, 0, 3]
    chunk.refresh_from_db()
    assert (chunk.status, chunk.delisted) == (RemovalChunk.Status.DONE, 3)
    assert Listing.objects.filter(delisted_by_removal=committed_started).count() == 3
    events = AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL)
    assert events.count() == 3 and len(set(events.values_list("target_id", flat=True))) == 3
    committed_started.refresh_from_db()
    assert (committed_started.listings_done, committed_started.chunks_done) == (3, 1)


@pytest.mark.postgres
def test_workers_running_different_chunks_at_once_finish_the_removal_once(committed_started, removal_catalog):
    chunk_ids = list(committed_started.chunks.order_by("number").values_list("pk", flat=True))
    # Each chunk twice, as at-least-once delivery may do, all at the same time.
    results = run_in_threads(lambda pk: removals.run_removal_chunk(chunk_id=pk), [(pk,) for pk in chunk_ids * 2])
    assert sum(results) == 13
    assert_delisted_exactly_once(committed_started, removal_catalog)
    assert len(mail.outbox) == 3


@pytest.mark.postgres
def test_a_listing_created_while_the_removal_starts_is_refused_or_delisted(
    committed_removal, removal_catalog, system, merchant_b, miners
):
    def create():
        try:
            return catalog.create_listing(
                actor=system, merchant=merchant_b, category=miners, title="Antminer E9", price=Decimal("99")
            ).pk
        except ValidationError:
            return None

    started, created = run_in_threads(
        lambda which: removals.start_removal(removal_id=committed_removal.pk) if which == "start" else create(),
        [("start",), ("create",)],
    )
    assert started is True
    # Never a live listing in a closed category: either refused, or planned into the removal.
    assert not Listing.objects.filter(category__status=Category.Status.RETIRED, status="live").exists()
    committed_removal.refresh_from_db()
    assert committed_removal.status == CategoryRemoval.Status.COMPLETED
    assert committed_removal.listings_done == 13 + (created is not None)


# --- the demo's pace ---------------------------------------------------------------------------


def test_the_demo_pace_queues_each_chunk_a_pause_after_the_one_before(started, settings):
    settings.REMOVAL_CHUNK_PAUSE_SECONDS = 2
    with (
        mock.patch("moderation.tasks.run_removal_chunk.apply_async") as paced,
        mock.patch("moderation.tasks.run_removal_chunk.delay") as at_once,
    ):
        assert removals.queue_pending_chunks(removal_id=started.pk) == 5

    chunk_ids = list(started.chunks.order_by("pk").values_list("pk", flat=True))
    assert [c.args for c in paced.call_args_list] == [((pk,),) for pk in chunk_ids]
    assert [c.kwargs for c in paced.call_args_list] == [{"countdown": 2 * n} for n in range(5)]
    at_once.assert_not_called()


def test_without_a_pace_every_chunk_is_queued_at_once(started, settings):
    settings.REMOVAL_CHUNK_PAUSE_SECONDS = 0
    with (
        mock.patch("moderation.tasks.run_removal_chunk.apply_async") as paced,
        mock.patch("moderation.tasks.run_removal_chunk.delay") as at_once,
    ):
        assert removals.queue_pending_chunks(removal_id=started.pk) == 5

    paced.assert_not_called()
    assert sorted(c.args[0] for c in at_once.call_args_list) == sorted(started.chunks.values_list("pk", flat=True))


def test_there_is_no_pace_unless_the_demo_sets_one():
    assert django_settings.REMOVAL_CHUNK_PAUSE_SECONDS == 0
