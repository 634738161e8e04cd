"""Detection scans: the bulk scan of a policy in chunks, the scan of each new or edited listing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from moderation import tasks
from moderation.models import AuditEvent, AuditVerb, Policy, PolicyScan, ReviewItem, ScanChunk, Violation
from moderation.services import queue, scanning
from moderation.services.policies import put_due_policies_in_effect
from sellers import services as catalog
from sellers.models import Category, Listing
from tests.concurrency import run_in_threads
from tests.moderation.conftest import EFFECTIVE, IN_GRACE


@pytest.fixture
def small_scan_chunks(monkeypatch):
    monkeypatch.setattr(scanning, "SCAN_CHUNK_SIZE", 3)
    return 3


@pytest.fixture
def catalog_to_scan(in_grace, mining_rules, removal_catalog):
    """The removal catalog, scanned with the mining rules.

    Flagged and in scope: merchant A's five Antminers and two Whatsminers. Flagged but not
    queued: the Avalons (AliExpress, outside the policy), an Antminer its seller removed,
    an Innosilicon taken down earlier. Not flagged: the PSUs and graphics cards.
    """
    live_alibaba = Listing.objects.filter(status="live", merchant__marketplace__code="alibaba")
    flagged = sorted(live_alibaba.filter(title__regex=r"^(Antminer|Whatsminer)").values_list("pk", flat=True))
    assert len(flagged) == 7 and live_alibaba.count() == 13
    return {"flagged_ids": flagged, "in_scope": live_alibaba.count()}


def start_and_run(policy, capture, actor=scanning.SCAN_ACTOR) -> PolicyScan:
    with capture(execute=True):
        scan = scanning.start_policy_scan(policy=policy, actor=actor)
    scan.refresh_from_db()
    return scan


def queued_listing_ids(policy) -> list[int]:
    return sorted(ReviewItem.objects.filter(policy=policy).values_list("listing_id", flat=True))


# --- the bulk scan -------------------------------------------------------------------------


def test_a_policy_scan_queues_exactly_the_flagged_live_listings_of_its_marketplaces(
    announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    scan = start_and_run(announced_policy, django_capture_on_commit_callbacks)

    assert queued_listing_ids(announced_policy) == catalog_to_scan["flagged_ids"]
    assert scan.status == PolicyScan.Status.COMPLETED and scan.finished_at is not None
    assert scan.listings_total == scan.listings_done == catalog_to_scan["in_scope"] == 13
    assert scan.chunk_size == 3 and scan.chunks_total == scan.chunks_done == 5
    assert scan.items_opened == 7
    assert sum(scan.chunks.values_list("opened", flat=True)) == 7
    assert set(scan.chunks.values_list("status", flat=True)) == {"done"}
    assert sum(scan.chunks.values_list("scanned", flat=True)) == 13
    items = ReviewItem.objects.filter(policy=announced_policy)
    assert set(items.values_list("source", "status", "tier")) == {("detection", "open", "moderator")}
    assert all(item.score >= 10 and item.matched_terms for item in items)
    assert AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_OPENED).count() == 7
    started = AuditEvent.objects.get(verb=AuditVerb.SCAN_STARTED)
    assert started.after == {"listings": 13, "chunks": 5} and started.actor_name == "task:scan"
    completed = AuditEvent.objects.get(verb=AuditVerb.SCAN_COMPLETED)
    assert completed.after == {"listings": 13, "read": 13, "skipped": 0, "items_opened": 7}


def test_the_bulk_scan_queues_what_the_matcher_flags_however_the_text_is_written(
    in_grace,
    announced_policy,
    mining_rules,
    merchant_a,
    merchant_b,
    miners,
    graphics_cards,
    make_listing,
    small_scan_chunks,
    django_capture_on_commit_callbacks,
):
    """Whatever the database does to rule listings out first, the scan misses nothing the rules flag."""
    from moderation.selectors.detection import policy_matcher

    variants = [
        ("ＡＮＴＭＩＮＥＲ Ｓ１９ full-width", ""),
        ("Ántminer S19 with an accent", ""),
        ("Ant\u200bminer S19 with a zero-width space", ""),
        ("ANTMINERS, two of them", ""),
        ("S19 Pro 110TH/s", "Genuine Antminer, a Bitcoin-miner, 3250 W."),
        ("比特币矿机 S19", ""),
        ("S19 Pro", ""),  # attributes only, below
        ("Data mining handbook", "Not a miner at all."),
        ("Antminer-shaped cake mould", ""),
    ]
    for n, (title, description) in enumerate(variants):
        attributes = {"型号": "矿机 L7"} if title == "S19 Pro" else {}
        make_listing(
            merchant_a if n % 2 else merchant_b, miners, title=title, description=description, attributes=attributes
        )
    make_listing(merchant_b, graphics_cards, title="RTX 3080", description="For gaming.")
    matcher = policy_matcher(announced_policy)
    expected = sorted(
        listing.pk
        for listing in Listing.objects.all()
        if matcher.score(title=listing.title, description=listing.description, attributes=listing.attributes).flagged
    )
    assert len(expected) == 8

    scan = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    assert queued_listing_ids(announced_policy) == expected
    assert (scan.listings_done, scan.items_opened) == (10, 8)


def test_the_matched_terms_and_spans_are_kept_for_the_moderator(
    announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    start_and_run(announced_policy, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(listing_id=catalog_to_scan["flagged_ids"][0])
    assert item.matched_terms == ["Antminer"]  # as the listing wrote it; the spans name the rule
    assert item.spans == {"title": [[0, 8, "antminer"]]}
    assert item.score == Decimal("10")


def test_scanning_again_after_it_completed_opens_nothing_more(
    in_grace, announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    first = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    in_grace.by(timedelta(hours=1))
    second = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    assert second.pk != first.pk
    assert second.status == PolicyScan.Status.COMPLETED
    assert second.items_opened == 0 and second.listings_done == 13
    assert ReviewItem.objects.count() == 7
    assert AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_OPENED).count() == 7


def test_a_second_scan_is_refused_while_one_runs(announced_policy, catalog_to_scan, small_scan_chunks):
    with mock.patch.object(scanning, "queue_pending_scan_chunks"):
        running = scanning.start_policy_scan(policy=announced_policy)
    assert running.status == PolicyScan.Status.RUNNING
    assert scanning.start_policy_scan(policy=announced_policy) is None
    assert PolicyScan.objects.count() == 1


def test_a_chunk_run_twice_does_nothing_the_second_time(announced_policy, catalog_to_scan, small_scan_chunks):
    scan = scanning.start_policy_scan(policy=announced_policy)  # chunks planned, none run (no commit)
    chunk_ids = list(scan.chunks.order_by("number").values_list("pk", flat=True))
    first = [scanning.run_scan_chunk(chunk_id=pk) for pk in chunk_ids]
    assert sum(first) == 7
    snapshot = (
        ReviewItem.objects.count(),
        AuditEvent.objects.count(),
        PolicyScan.objects.values_list("listings_done", "chunks_done", "items_opened", "status").get(),
    )
    assert [scanning.run_scan_chunk(chunk_id=pk) for pk in chunk_ids] == [0] * len(chunk_ids)
    assert tasks.run_scan_chunk.delay(chunk_ids[0]).get() == 0
    assert scanning.queue_pending_scan_chunks(scan_id=scan.pk) == 0
    assert (
        ReviewItem.objects.count(),
        AuditEvent.objects.count(),
        PolicyScan.objects.values_list("listings_done", "chunks_done", "items_opened", "status").get(),
    ) == snapshot
    assert snapshot[2] == (13, 5, 7, "completed")


def test_a_chunk_that_crashes_midway_leaves_nothing_and_runs_again(
    announced_policy, catalog_to_scan, small_scan_chunks
):
    scan = scanning.start_policy_scan(policy=announced_policy)
    chunk = scan.chunks.get(number=1)
    real_open = queue.open_review_items

    def open_then_die(**kwargs):
        real_open(**kwargs)
        raise OSError("worker killed")

    with mock.patch.object(scanning, "open_review_items", side_effect=open_then_die), pytest.raises(OSError):
        scanning.run_scan_chunk(chunk_id=chunk.pk)
    chunk.refresh_from_db()
    assert chunk.status == ScanChunk.Status.PENDING
    assert not ReviewItem.objects.exists()
    assert scanning.run_scan_chunk(chunk_id=chunk.pk) == 3


@pytest.fixture
def eager_retries():
    """Let eager Celery run a task's retries inline (see tests/moderation/test_removals.py)."""
    from backoffice.celery import app

    was = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = was


def test_a_chunk_that_keeps_failing_fails_the_scan_after_its_retries_and_resuming_completes_it(
    policy_admin,
    announced_policy,
    catalog_to_scan,
    small_scan_chunks,
    eager_retries,
    django_capture_on_commit_callbacks,
):
    with (
        mock.patch.object(scanning, "scan_listings", side_effect=OSError("matcher crashed")) as scan_listings,
        django_capture_on_commit_callbacks(execute=True),
    ):
        scan = scanning.start_policy_scan(policy=announced_policy)

    attempts = django_settings.REMOVAL_CHUNK_MAX_RETRIES + 1
    assert scan_listings.call_count == attempts  # the other chunks see a failed scan and do nothing
    scan.refresh_from_db()
    assert scan.status == PolicyScan.Status.FAILED and scan.finished_at is not None
    first = scan.chunks.get(number=1)
    assert (first.status, first.attempts) == (ScanChunk.Status.FAILED, attempts)
    assert "matcher crashed" in first.error
    assert scan.error == f"Chunk 1 (ids {first.first_id}–{first.last_id}): matcher crashed"
    assert set(scan.chunks.exclude(number=1).values_list("status", flat=True)) == {"pending"}
    assert not ReviewItem.objects.exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.SCAN_COMPLETED).exists()

    with django_capture_on_commit_callbacks(execute=True):
        scanning.resume_policy_scan(actor=policy_admin, scan=scan)
    scan.refresh_from_db()
    assert scan.status == PolicyScan.Status.COMPLETED and scan.error == ""
    assert (scan.chunks_done, scan.listings_done, scan.items_opened) == (5, 13, 7)
    assert queued_listing_ids(announced_policy) == catalog_to_scan["flagged_ids"]
    resumed = AuditEvent.objects.filter(verb=AuditVerb.SCAN_STARTED).order_by("pk").last()
    assert resumed.actor == policy_admin and resumed.reason == "Resumed."


def test_only_a_failed_scan_resumes(policy_admin, announced_policy, catalog_to_scan, small_scan_chunks):
    scan = scanning.start_policy_scan(policy=announced_policy)
    with pytest.raises(Exception, match="Only a failed scan can be resumed"):
        scanning.resume_policy_scan(actor=policy_admin, scan=scan)


def test_a_failed_scan_waits_while_another_scan_of_its_policy_runs(
    policy_admin, announced_policy, catalog_to_scan, small_scan_chunks
):
    failed = scanning.start_policy_scan(policy=announced_policy)
    PolicyScan.objects.filter(pk=failed.pk).update(status=PolicyScan.Status.FAILED, error="worker lost")
    scanning.start_policy_scan(policy=announced_policy)  # a new one runs meanwhile
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="Another scan of this policy is running"):
        scanning.resume_policy_scan(actor=policy_admin, scan=failed)
    failed.refresh_from_db()
    assert failed.status == PolicyScan.Status.FAILED and AuditEvent.objects.count() == events


# --- dismissed listings --------------------------------------------------------------------


def test_a_dismissed_listing_is_not_queued_again_unless_edited_since(
    in_grace,
    system,
    moderator,
    announced_policy,
    catalog_to_scan,
    small_scan_chunks,
    django_capture_on_commit_callbacks,
):
    start_and_run(announced_policy, django_capture_on_commit_callbacks)
    dismissed_id, kept_id = catalog_to_scan["flagged_ids"][:2]
    in_grace.by(timedelta(minutes=5))
    queue.dismiss_item(
        actor=moderator, item=ReviewItem.objects.get(listing_id=dismissed_id), reason="A poster of a miner."
    )
    queue.take_down_listing(actor=moderator, item=ReviewItem.objects.get(listing_id=kept_id))

    in_grace.by(timedelta(days=1))
    rescan = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    assert rescan.items_opened == 0
    assert ReviewItem.objects.filter(listing_id=dismissed_id).count() == 1
    assert scanning.scan_listing(listing_id=dismissed_id) == 0

    # The listing changes (the scan the edit queues is dropped here; the edit gets past the
    # refusal as a feed's import would): it is fair game again.
    in_grace.by(timedelta(hours=1))
    with mock.patch("sellers.services._judge_listing_content", return_value=None):
        catalog.edit_listing(
            actor=system, listing=Listing.objects.get(pk=dismissed_id), title="Antminer S19 Pro, the real thing"
        )
    in_grace.by(timedelta(hours=1))
    again = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    assert again.items_opened == 1
    assert ReviewItem.objects.filter(listing_id=dismissed_id, status="open").count() == 1


# --- new and edited listings ---------------------------------------------------------------


def test_a_new_flagged_listing_is_refused_naming_the_policy_and_the_attempt_is_recorded(
    in_grace, system, announced_policy, mining_rules, merchant_b, miners, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as refused:
        catalog.create_listing(
            actor=system, merchant=merchant_b, category=miners, title="Whatsminer M50S", price=Decimal("1999")
        )
    assert announced_policy.title in refused.value.message_dict["title"][0]
    assert not Listing.objects.filter(title="Whatsminer M50S").exists()
    assert not ReviewItem.objects.exists()
    attempt = Violation.objects.get()
    assert (attempt.kind, attempt.merchant, attempt.policy, attempt.listing) == (
        Violation.Kind.RELIST_ATTEMPT,
        merchant_b,
        announced_policy,
        None,
    )
    assert attempt.automated_detection and attempt.automated_decision
    assert (attempt.counts_toward_sanctions, attempt.points) == (False, 0)  # in grace: a warning, no points


def test_an_innocent_new_listing_is_not_queued(
    in_grace, system, mining_rules, merchant_b, graphics_cards, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        catalog.create_listing(
            actor=system, merchant=merchant_b, category=graphics_cards, title="RTX 3080", price=Decimal("699")
        )
    assert not ReviewItem.objects.exists()


def test_an_edit_that_brings_a_banned_product_in_is_refused_and_changes_nothing(
    in_grace, system, mining_rules, merchant_b, graphics_cards, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(merchant_b, graphics_cards, title="RTX 3080")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, description="Pairs well with an Antminer S19.")
    assert "description" in refused.value.message_dict
    listing.refresh_from_db()
    assert listing.description == ""
    assert not ReviewItem.objects.exists()
    assert Violation.objects.get().kind == Violation.Kind.RELIST_ATTEMPT


def test_an_edit_of_a_listing_flagged_already_is_judged_like_a_creation(
    in_grace, system, mining_rules, merchant_b, graphics_cards, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(merchant_b, graphics_cards, title="Antminer S19 box, empty")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        catalog.edit_listing(actor=system, listing=listing, description="Pairs well with an Antminer S19.")
    assert Listing.objects.get(pk=listing.pk).description == ""
    assert Violation.objects.get().kind == Violation.Kind.RELIST_ATTEMPT


def test_a_listing_on_a_marketplace_outside_the_policy_is_not_queued(
    in_grace, mining_rules, merchant_c, miners, make_listing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_listing(merchant_c, miners, title="Antminer S19")
    assert not ReviewItem.objects.exists()


def test_nothing_is_queued_before_the_effective_date(
    travel, announced_policy, mining_rules, merchant_b, miners, make_listing, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        listing = make_listing(merchant_b, miners, title="Antminer S19")
    assert not ReviewItem.objects.exists()
    travel.to(EFFECTIVE)
    assert scanning.scan_listing(listing_id=listing.pk) == 1


def test_a_draft_policy_queues_nothing(
    travel, policy_admin, draft_policy, merchant_b, miners, make_listing, django_capture_on_commit_callbacks
):
    from moderation.services.detection import create_detection_rule

    travel.to(IN_GRACE)

    create_detection_rule(actor=policy_admin, policy=draft_policy, kind="keyword", pattern="antminer", weight=10)
    with django_capture_on_commit_callbacks(execute=True):
        make_listing(merchant_b, miners, title="Antminer S19")
    assert not ReviewItem.objects.exists()


def test_a_listing_no_longer_live_is_not_scanned(in_grace, system, mining_rules, merchant_b, miners, make_listing):
    listing = make_listing(merchant_b, miners, title="Antminer S19")
    catalog.remove_listing_by_seller(actor=system, listing=listing)
    assert scanning.scan_listing(listing_id=listing.pk) == 0
    assert scanning.scan_listing(listing_id=10**9) == 0


# --- the policy takes effect ---------------------------------------------------------------


def test_the_bulk_scan_starts_when_the_policy_takes_effect(
    travel, system, announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert put_due_policies_in_effect(actor=system) == []
    assert not PolicyScan.objects.exists()

    travel.to(EFFECTIVE + timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert put_due_policies_in_effect(actor=system) == [announced_policy.pk]
    assert not PolicyScan.objects.exists()  # only once the transition is committed
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    scan = PolicyScan.objects.get()
    assert (scan.policy, scan.status, scan.items_opened) == (announced_policy, "completed", 7)
    assert Policy.objects.get(pk=announced_policy.pk).status == Policy.Status.IN_EFFECT
    assert queued_listing_ids(announced_policy) == catalog_to_scan["flagged_ids"]

    # The next beat tick changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert put_due_policies_in_effect(actor=system) == []
    assert PolicyScan.objects.count() == 1


def test_the_beat_task_puts_the_policy_in_effect_and_scans(
    travel, announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE + timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.start_due_removals.delay().get()
    assert PolicyScan.objects.get().status == "completed"
    assert ReviewItem.objects.count() == 7


# --- the pages -----------------------------------------------------------------------------


@pytest.fixture
def finished_scan(announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks):
    return start_and_run(announced_policy, django_capture_on_commit_callbacks)


def test_a_moderator_follows_a_scan_on_its_page_and_in_json(client, moderator, finished_scan):
    client.force_login(moderator)
    page = client.get(reverse("backoffice:scan-detail", args=[finished_scan.pk]))
    assert page.status_code == 200
    assert "Virtual currency mining machines" in page.content.decode()
    progress = client.get(reverse("backoffice:scan-progress", args=[finished_scan.pk])).json()
    assert progress["id"] == finished_scan.pk
    assert (progress["status"], progress["finished"], progress["percent"]) == ("completed", True, 100.0)
    assert (progress["listings_done"], progress["listings_total"]) == (13, 13)
    assert (progress["chunks_done"], progress["chunks_total"], progress["chunks_failed"]) == (5, 5, 0)
    assert progress["items_opened"] == 7


@pytest.mark.parametrize("person", [None, "merchant_user_a"])
def test_the_scan_pages_are_for_staff_only(client, finished_scan, person, request):
    if person:
        client.force_login(request.getfixturevalue(person))
    for name in ("backoffice:scan-detail", "backoffice:scan-progress"):
        response = client.get(reverse(name, args=[finished_scan.pk]))
        assert response.status_code == (403 if person else 302)


def test_a_policy_admin_starts_a_scan_from_the_policy(
    client, policy_admin, announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    client.force_login(policy_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("backoffice:policy-scan", args=[announced_policy.pk]))
    scan = PolicyScan.objects.get()
    assert response["Location"] == reverse("backoffice:scan-detail", args=[scan.pk])
    assert scan.started_by == "policyadmin"
    assert AuditEvent.objects.get(verb=AuditVerb.SCAN_STARTED).actor == policy_admin
    scan.refresh_from_db()
    assert (scan.status, scan.items_opened) == ("completed", 7)


def test_a_moderator_cannot_start_a_scan(client, moderator, announced_policy, catalog_to_scan):
    client.force_login(moderator)
    assert client.post(reverse("backoffice:policy-scan", args=[announced_policy.pk])).status_code == 403
    assert not PolicyScan.objects.exists()


def test_a_scan_before_the_effective_date_is_refused(client, travel, policy_admin, announced_policy):
    travel.to(EFFECTIVE - timedelta(days=1))
    client.force_login(policy_admin)
    response = client.post(reverse("backoffice:policy-scan", args=[announced_policy.pk]))
    assert response["Location"] == reverse("backoffice:policy-detail", args=[announced_policy.pk])
    assert not PolicyScan.objects.exists()


def test_starting_a_scan_while_one_runs_shows_the_running_one(
    client, policy_admin, announced_policy, catalog_to_scan, small_scan_chunks
):
    with mock.patch.object(scanning, "queue_pending_scan_chunks"):
        running = scanning.start_policy_scan(policy=announced_policy)
    client.force_login(policy_admin)
    response = client.post(reverse("backoffice:policy-scan", args=[announced_policy.pk]))
    assert response["Location"] == reverse("backoffice:scan-detail", args=[running.pk])
    assert PolicyScan.objects.count() == 1


def test_a_policy_admin_resumes_a_failed_scan_and_a_moderator_cannot(
    client,
    moderator,
    policy_admin,
    announced_policy,
    catalog_to_scan,
    small_scan_chunks,
    django_capture_on_commit_callbacks,
):
    scan = scanning.start_policy_scan(policy=announced_policy)
    chunk = scan.chunks.get(number=2)
    scanning.record_scan_chunk_failure(chunk_id=chunk.pk, error=OSError("boom"), give_up=True)
    url = reverse("backoffice:scan-resume", args=[scan.pk])
    client.force_login(moderator)
    assert client.post(url).status_code == 403
    client.force_login(policy_admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url)["Location"] == reverse("backoffice:scan-detail", args=[scan.pk])
    scan.refresh_from_db()
    assert (scan.status, scan.items_opened) == ("completed", 7)


# --- workers at once (PostgreSQL: row locks) -----------------------------------------------


@pytest.fixture
def committed_scan(transactional_db, removal_catalog, announced_policy, small_scan_chunks, policy_admin):
    """A scan planned and committed, its chunks not run, on the real clock (long after grace).

    The catalog is committed before the rules exist, so the scans its creation queued found
    nothing. The clock is not frozen: two workers never share an instant (see the xfail on
    ``open_review_items`` in test_queue_services.py for what happens when they do).
    """
    from moderation.services.detection import create_detection_rule
    from tests.moderation.conftest import MINING_RULES

    for kind, pattern, weight in MINING_RULES:
        create_detection_rule(actor=policy_admin, policy=announced_policy, kind=kind, pattern=pattern, weight=weight)
    assert not ReviewItem.objects.exists()
    with mock.patch.object(scanning, "queue_pending_scan_chunks"):
        return scanning.start_policy_scan(policy=announced_policy)


@pytest.mark.postgres
def test_workers_running_the_same_chunk_at_once_queue_its_listings_once(committed_scan):
    chunk = committed_scan.chunks.get(number=1)
    results = run_in_threads(lambda: scanning.run_scan_chunk(chunk_id=chunk.pk), [()] * 4)
    assert sorted(results) == [0, 0, 0, 3]
    assert ReviewItem.objects.count() == 3
    assert AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_OPENED).count() == 3
    committed_scan.refresh_from_db()
    assert (committed_scan.chunks_done, committed_scan.items_opened) == (1, 3)


@pytest.mark.postgres
def test_workers_running_every_chunk_twice_at_once_finish_the_scan_once(committed_scan, removal_catalog):
    chunk_ids = list(committed_scan.chunks.values_list("pk", flat=True))
    results = run_in_threads(lambda pk: scanning.run_scan_chunk(chunk_id=pk), [(pk,) for pk in chunk_ids * 2])
    assert sum(results) == 7
    committed_scan.refresh_from_db()
    assert committed_scan.status == PolicyScan.Status.COMPLETED
    assert (committed_scan.chunks_done, committed_scan.listings_done, committed_scan.items_opened) == (5, 13, 7)
    assert AuditEvent.objects.filter(verb=AuditVerb.SCAN_COMPLETED).count() == 1
    assert ReviewItem.objects.count() == 7


@pytest.mark.postgres
def test_a_listing_scanned_by_a_chunk_and_after_an_edit_at_once_gets_one_item(committed_scan, system):
    chunk = committed_scan.chunks.get(number=1)
    listing_id = Listing.objects.filter(pk__gte=chunk.first_id, title__startswith="Antminer").order_by("pk").first().pk
    results = run_in_threads(
        lambda which: (
            scanning.run_scan_chunk(chunk_id=chunk.pk)
            if which == "chunk"
            else scanning.scan_listing(listing_id=listing_id)
        ),
        [("chunk",), ("listing",)],
    )
    assert sum(results) == 3
    assert ReviewItem.objects.filter(listing_id=listing_id).count() == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_OPENED).count() == 3


def test_listings_of_a_retired_category_are_left_to_its_removal(
    in_grace, announced_policy, mining_rules, merchant_b, miners, make_listing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        listing = make_listing(merchant_b, miners, title="Whatsminer M50S")
    # The removal retires the category before its chunks delist the listing.
    Category.objects.filter(pk=miners.pk).update(status="retired", retired_at=timezone.now())

    assert scanning.scan_listing(listing_id=listing.pk) == 0
    scan = start_and_run(announced_policy, django_capture_on_commit_callbacks)
    assert scan.items_opened == 0
    assert not ReviewItem.objects.exists()
