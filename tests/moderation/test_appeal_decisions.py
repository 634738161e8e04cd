"""Deciding appeals: what a grant reverses row by row, what a rejection keeps, who may decide, leases, races."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from backoffice.roles import Role
from moderation.models import Appeal, AuditEvent, AuditVerb, Notice, Sanction, Violation
from moderation.selectors.ledger import merchant_points
from moderation.services import appeals
from moderation.services.appeals import AppealConflict
from moderation.services.sanctions import run_escalation
from sellers.models import Listing, Merchant
from tests.api.conftest import decisions_of  # noqa: F401
from tests.concurrency import race
from tests.conftest import make_user
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403 - announced_policy (with the ladder), take_down, violate

GROUNDS = "The listing is a graphics card dock: it has no hashing chips and mines nothing."
REASON = "The photos show a GPU dock without hashing boards: not a mining machine."
REJECTION = "The listing's own description offers 110 TH/s of SHA-256 hashing: a miner."


def file(merchant_user, merchant, kind: str, object_id: int, **plan) -> Appeal:
    return appeals.file_appeal(
        actor=merchant_user, merchant=merchant, kind=kind, object_id=object_id, grounds=GROUNDS, **plan
    )


def events(verb, **filters):
    return AuditEvent.objects.filter(verb=verb, **filters)


def target_events(verb, obj):
    return events(verb, target_type__model=obj._meta.model_name, target_id=obj.pk)


def decided_notice(appeal: Appeal) -> Notice:
    return Notice.objects.get(dedupe_key=f"appeal:{appeal.pk}:decided")


def snapshot(merchant) -> dict:
    """Everything a refused decision must leave exactly as it was."""
    return {
        "appeals": list(Appeal.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status")),
        "listings": list(
            Listing.objects.filter(merchant=merchant)
            .order_by("pk")
            .values_list("pk", "status", "category_id", "delisted_by_removal_id", "delisted_by_sanction_id")
        ),
        "violations": list(Violation.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status")),
        "sanctions": list(Sanction.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status")),
        "merchant": Merchant.objects.filter(pk=merchant.pk).values_list("enforcement_status", "payouts_held").get(),
        "events": AuditEvent.objects.count(),
        "notices": Notice.objects.count(),
    }


@pytest.fixture
def now_after_grace(travel, announced_policy):
    travel.to(AFTER_GRACE)
    return travel


@pytest.fixture
def taken_down(now_after_grace, take_down, merchant_a):
    """A keyword-evasion take-down of merchant A's live listing by ``moderator``: 4 points."""
    return take_down(merchant_a, kind="keyword_evasion")


@pytest.fixture
def violation_appeal(taken_down, merchant_a, merchant_user_a):
    return file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, taken_down.pk)


@pytest.fixture
def blocked(travel, announced_policy, merchant_a, violate):
    """Merchant A on the reference ladder: warned at 8 points, store blocked at 12 (step 12)."""
    travel.to(AFTER_GRACE)
    first = violate(merchant_a, 8)
    run_escalation()
    warning = Sanction.objects.get(merchant=merchant_a)
    assert (warning.kind, warning.step.threshold) == ("warning", 6)
    travel.by(timedelta(days=4))  # past the warning's three days to comply
    last = violate(merchant_a, 4)
    run_escalation()
    block = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (block.kind, block.step.threshold, block.status) == ("store_block", 12, "active")
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.STORE_BLOCKED
    assert merchant_points(merchant_a, policy=announced_policy) == 12
    return {"warning": warning, "block": block, "violations": first + last}


# --- 1. granting a violation appeal -----------------------------------------------------------------------


def test_granting_a_violation_appeal_restores_the_listing_and_takes_the_points_away(
    now_after_grace,
    announced_policy,
    merchant_a,
    taken_down,
    violation_appeal,
    other_moderator,
    moderator,
):
    listing = taken_down.listing
    listing.refresh_from_db()
    assert (listing.status, listing.previous_status) == ("delisted", "live")
    assert merchant_points(merchant_a, policy=announced_policy) == 4
    assert (violation_appeal.tier, violation_appeal.original_decider) == ("moderator", moderator)
    now_after_grace.by(timedelta(hours=2))

    granted = appeals.grant_appeal(actor=other_moderator, appeal=violation_appeal, reason=REASON)

    now = now_after_grace.now()
    listing.refresh_from_db()
    assert listing.status == Listing.Status.LIVE
    assert (listing.previous_status, listing.delisted_at, listing.delisted_reason) == ("", None, "")
    assert (listing.delisted_by_removal_id, listing.delisted_by_sanction_id) == (None, None)
    assert listing.updated_at == now
    taken_down.refresh_from_db()
    assert (taken_down.status, taken_down.overturned_at) == (Violation.Status.OVERTURNED, now)
    assert merchant_points(merchant_a, policy=announced_policy) == 0

    granted.refresh_from_db()
    assert granted.status == Appeal.Status.GRANTED
    assert (granted.decided_by, granted.decided_at, granted.decision_note) == (other_moderator, now, REASON)
    assert (granted.claimed_by, granted.claimed_until) == (None, None)

    restored_event = target_events(AuditVerb.LISTING_RESTORED, listing).get()
    assert restored_event.actor == other_moderator
    assert restored_event.before == {"status": "delisted", "category": listing.category_id}
    assert restored_event.after == {"status": "live", "category": listing.category_id, "appeal": granted.pk}
    overturned_event = target_events(AuditVerb.VIOLATION_OVERTURNED, taken_down).get()
    assert overturned_event.before == {"status": "active", "points": 4}
    assert overturned_event.after == {"status": "overturned", "appeal": granted.pk}
    granted_event = target_events(AuditVerb.APPEAL_GRANTED, granted).get()
    assert granted_event.reason == REASON and granted_event.merchant_id == merchant_a.pk
    restored_lines = granted_event.after["restored"]
    assert restored_lines == [
        f"Violation #{taken_down.pk} no longer counts: its 4 points are removed.",
        f"Listing #{listing.pk} “{listing.title}” is live again.",
    ]
    # Points unchanged in status terms: no sanction, so no status change to record.
    assert not events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant_id=merchant_a.pk).exists()

    notice = decided_notice(granted)
    assert notice.merchant_id == merchant_a.pk and notice.kind == Notice.Kind.APPEAL_DECIDED
    assert notice.language == "zh-hans"  # merchant A reads Chinese
    # The same steps, in the merchant's language: the audit trail's English stays out of the notice.
    assert f"违规记录 #{taken_down.pk} 不再计入，其 4 分扣分已撤销。" in notice.body
    assert f"商品 #{listing.pk}“{listing.title}”已重新上架。" in notice.body
    assert "no longer counts" not in notice.body
    assert REASON in notice.body
    assert "0 分" in notice.body  # the points now


def test_a_violation_that_put_the_merchant_on_the_ladder_takes_the_sanction_resting_on_it_along(
    travel,
    announced_policy,
    merchant_a,
    merchant_user_a,
    blocked,
    other_moderator,
):
    warning, block = blocked["warning"], blocked["block"]
    appealed = blocked["violations"][-1]  # one of the four behind the block
    assert block.violations.filter(pk=appealed.pk).exists()
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, appealed.pk)
    travel.by(timedelta(hours=1))

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)

    assert merchant_points(merchant_a, policy=announced_policy) == 8
    block.refresh_from_db()
    assert block.status == Sanction.Status.OVERTURNED
    assert block.ended_at == travel.now()
    assert block.end_reason == f"Appeal #{appeal.pk} granted."
    warning.refresh_from_db()
    assert warning.status == Sanction.Status.ACTIVE  # 8 points still reach the warning's 6
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.enforcement_until, merchant_a.payouts_held) == (
        "active",
        None,
        False,
    )
    changed = events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant_id=merchant_a.pk).latest("id")
    assert changed.before["status"] == "store_blocked" and changed.after["status"] == "active"
    assert changed.reason == f"Appeal #{appeal.pk} granted."
    assert target_events(AuditVerb.SANCTION_OVERTURNED, block).count() == 1
    assert f"“屏蔽店铺”（处罚编号 #{block.pk}）已撤销。" in decided_notice(appeal).body


# --- 2. granting a sanction appeal --------------------------------------------------------------------------


def test_granting_an_appeal_against_a_store_block_holds_the_merchants_place_on_the_ladder(
    travel,
    announced_policy,
    merchant_a,
    merchant_user_a,
    blocked,
    other_moderator,
    violate,
):
    block = blocked["block"]
    appeal = file(
        merchant_user_a,
        merchant_a,
        Appeal.Kind.SANCTION,
        block.pk,
        plan_root_cause="A supplier feed copied mining listings.",
        plan_corrections="Every listing from that feed is removed.",
        plan_prevention="The feed is filtered on mining keywords.",
    )
    assert appeal.tier == Appeal.Tier.MODERATOR  # a ladder store block is the system's, not a person's
    assert appeal.original_decider is None
    travel.by(timedelta(hours=1))

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)

    block.refresh_from_db()
    assert (block.status, block.ended_at, block.ended_by_name) == ("overturned", travel.now(), "moderator-2")
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.enforcement_until, merchant_a.payouts_held) == (
        "active",
        None,
        False,
    )
    # The violations stand: their points still count.
    assert merchant_points(merchant_a, policy=announced_policy) == 12
    assert set(Violation.objects.filter(merchant=merchant_a).values_list("status", flat=True)) == {"active"}
    assert target_events(AuditVerb.SANCTION_OVERTURNED, block).count() == 1
    assert events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant_id=merchant_a.pk).latest("id").after["status"] == (
        "active"
    )

    # The overturned step keeps the merchant's place: the same 12 points do not block the store again…
    assert run_escalation()["issued"] == 0
    travel.by(timedelta(days=1))
    assert run_escalation()["issued"] == 0
    assert Sanction.objects.filter(merchant=merchant_a).count() == 2
    # … but new points crossing the next threshold do escalate.
    violate(merchant_a, 12)  # 24
    assert run_escalation()["issued"] == 1
    next_block = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (next_block.kind, next_block.step.threshold, next_block.status) == ("store_block", 24, "active")
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.STORE_BLOCKED


def test_granting_an_appeal_against_an_account_freeze_brings_the_delisted_listings_back(
    travel,
    announced_policy,
    merchant_a,
    merchant_user_a,
    make_listing,
    graphics_cards,
    violate,
    other_moderator,
    other_senior,
):
    travel.to(AFTER_GRACE)
    live = [make_listing(merchant_a, graphics_cards, title=f"RTX 3080 #{n}") for n in range(3)]
    gone_before = make_listing(merchant_a, graphics_cards, title="RTX 2080 (sold out)")
    Listing.objects.filter(pk=gone_before.pk).update(status=Listing.Status.REMOVED_BY_SELLER)
    violate(merchant_a, 8)
    run_escalation()  # the warning
    travel.by(timedelta(days=4))
    violate(merchant_a, 28)  # 36
    run_escalation()
    freeze = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (freeze.kind, freeze.step.threshold, freeze.delists_all) == ("account_freeze", 36, True)
    for listing in live:
        listing.refresh_from_db()
        assert (listing.status, listing.delisted_by_sanction_id) == ("delisted", freeze.pk)
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.payouts_held) == ("frozen", True)
    taken_down_ids = set(
        Violation.objects.filter(merchant=merchant_a).values_list("listing_id", flat=True)
    )  # delisted by their own take-downs, not by the freeze

    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.SANCTION, freeze.pk)
    assert appeal.tier == Appeal.Tier.SENIOR  # a suspension of the account goes to the seniors
    with pytest.raises(ValidationError):
        appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)
    assert appeals.claim_next_appeal(actor=other_moderator) is None
    travel.by(timedelta(hours=1))

    appeals.grant_appeal(actor=other_senior, appeal=appeal, reason=REASON)

    freeze.refresh_from_db()
    assert freeze.status == Sanction.Status.OVERTURNED and freeze.ended_at == travel.now()
    for listing in live:
        listing.refresh_from_db()
        assert listing.status == Listing.Status.LIVE
        assert (listing.previous_status, listing.delisted_at, listing.delisted_reason) == ("", None, "")
        assert listing.delisted_by_sanction_id is None
        assert target_events(AuditVerb.LISTING_RESTORED, listing).count() == 1
    gone_before.refresh_from_db()
    assert gone_before.status == Listing.Status.REMOVED_BY_SELLER
    assert set(Listing.objects.filter(pk__in=taken_down_ids).values_list("status", flat=True)) == {
        "delisted"
    }  # the take-downs themselves were not appealed
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.enforcement_until, merchant_a.payouts_held) == (
        "active",
        None,
        False,
    )
    body = decided_notice(appeal).body
    assert f"“冻结账户”（处罚编号 #{freeze.pk}）已撤销。" in body
    for listing in live:
        assert f"商品 #{listing.pk}“{listing.title}”已重新上架。" in body

    assert run_escalation()["issued"] == 0  # 36 points: the overturned freeze holds the place
    violate(merchant_a, 12)  # 48
    assert run_escalation()["issued"] == 1
    closure = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (closure.kind, closure.step.threshold) == ("account_closure", 48)


def test_granting_an_appeal_against_an_expired_store_block_marks_it_overturned_and_keeps_its_end(
    travel, announced_policy, merchant_a, merchant_user_a, blocked, other_moderator
):
    block = blocked["block"]
    travel.by(timedelta(days=8))
    assert run_escalation()["expired"] == 1
    block.refresh_from_db()
    assert block.status == Sanction.Status.EXPIRED and block.ended_at == block.ends_at
    status_events = events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant_id=merchant_a.pk).count()
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.SANCTION, block.pk)
    travel.by(timedelta(hours=1))

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)

    block.refresh_from_db()
    assert (block.status, block.ended_at) == (Sanction.Status.OVERTURNED, block.ends_at)
    assert target_events(AuditVerb.SANCTION_OVERTURNED, block).get().before == {"status": "expired"}
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.ACTIVE
    assert events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant_id=merchant_a.pk).count() == status_events
    assert run_escalation()["issued"] == 0  # still 12 points: the overturned step holds the place


def test_a_reversed_decision_cannot_be_appealed_again_but_a_rejected_one_can(
    merchant_a, merchant_user_a, taken_down, violation_appeal, other_moderator, other_senior
):
    with pytest.raises(AppealConflict):
        file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, taken_down.pk)  # one open appeal per decision
    appeals.reject_appeal(actor=other_moderator, appeal=violation_appeal, reason=REJECTION)

    second = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, taken_down.pk)
    assert second.decision_key == violation_appeal.decision_key == f"violation-{taken_down.pk}"
    appeals.grant_appeal(actor=other_senior, appeal=second, reason=REASON)

    before = snapshot(merchant_a)
    with pytest.raises(ValidationError) as refused:
        file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, taken_down.pk)
    assert "reversed already" in refused.value.message_dict["decision"][0]
    assert snapshot(merchant_a) == before


# --- 3. granting a delisting appeal --------------------------------------------------------------------------


def test_a_granted_delisting_appeal_leaves_the_listing_down_while_its_category_is_closed(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
    other_moderator,
):
    (decisions,) = decisions_of(merchant_a)
    listing = decisions.delisted
    assert listing.status == Listing.Status.DELISTED and listing.category.is_retired
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.DELISTING, listing.pk)

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)

    refreshed = Listing.objects.get(pk=listing.pk)
    assert refreshed.status == Listing.Status.DELISTED
    assert refreshed.delisted_by_removal_id == listing.delisted_by_removal_id
    assert not target_events(AuditVerb.LISTING_RESTORED, listing).exists()
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.GRANTED
    body = decided_notice(appeal).body
    assert f"商品 #{listing.pk} 仍保持下架：其所属类目“{listing.category.name}”已依据该规则关闭。" in body
    with pytest.raises(ValidationError, match="reversed already"):  # granted: nothing left to appeal
        file(merchant_user_a, merchant_a, Appeal.Kind.DELISTING, listing.pk)


def test_a_granted_delisting_appeal_restores_the_listing_into_the_open_category_chosen(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
    other_moderator,
    graphics_cards,
):
    (decisions,) = decisions_of(merchant_a)
    listing = decisions.delisted
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.DELISTING, listing.pk)

    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON, move_to=graphics_cards)

    refreshed = Listing.objects.get(pk=listing.pk)
    assert (refreshed.status, refreshed.category_id) == ("live", graphics_cards.pk)
    assert (refreshed.previous_status, refreshed.delisted_at, refreshed.delisted_reason) == ("", None, "")
    assert refreshed.delisted_by_removal_id is None
    restored = target_events(AuditVerb.LISTING_RESTORED, listing).get()
    assert restored.before == {"status": "delisted", "category": listing.category_id}
    assert restored.after == {"status": "live", "category": graphics_cards.pk, "appeal": appeal.pk}
    assert f"商品 #{listing.pk}“{listing.title}”已移至类目“{graphics_cards.name}”，并重新上架。" in (
        decided_notice(appeal).body
    )


def test_moving_a_delisted_listing_into_another_closed_category_is_refused_and_changes_nothing(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
    other_moderator,
    asic_miners,
):
    (decisions,) = decisions_of(merchant_a)
    asic_miners.refresh_from_db()
    assert asic_miners.is_retired  # retired with its parent by the removal
    listing = decisions.delisted
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.DELISTING, listing.pk)
    before = snapshot(merchant_a)

    with pytest.raises(ValidationError) as refused:
        appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON, move_to=asic_miners)

    assert list(refused.value.message_dict) == ["move_to"]
    assert snapshot(merchant_a) == before


# --- 4. rejecting -------------------------------------------------------------------------------------------


def test_rejecting_keeps_the_decision_and_tells_the_merchant_why(
    now_after_grace,
    announced_policy,
    merchant_a,
    taken_down,
    violation_appeal,
    other_moderator,
):
    appeals.reject_appeal(actor=other_moderator, appeal=violation_appeal, reason=f"  {REJECTION}  ")

    violation_appeal.refresh_from_db()
    assert violation_appeal.status == Appeal.Status.REJECTED
    assert (violation_appeal.decided_by, violation_appeal.decision_note) == (other_moderator, REJECTION)
    assert violation_appeal.decided_at == now_after_grace.now()
    taken_down.refresh_from_db()
    assert taken_down.status == Violation.Status.ACTIVE and taken_down.overturned_at is None
    assert Listing.objects.get(pk=taken_down.listing_id).status == Listing.Status.DELISTED
    assert merchant_points(merchant_a, policy=announced_policy) == 4
    rejected = target_events(AuditVerb.APPEAL_REJECTED, violation_appeal).get()
    assert (rejected.actor, rejected.reason) == (other_moderator, REJECTION)
    assert not events(AuditVerb.LISTING_RESTORED).exists() and not events(AuditVerb.VIOLATION_OVERTURNED).exists()
    notice = decided_notice(violation_appeal)
    assert REJECTION in notice.body and "驳回" in notice.subject


@pytest.mark.parametrize("decide", ["grant", "reject"])
@pytest.mark.parametrize("reason", ["", "too short", "   short   \n"])
def test_a_reason_under_ten_characters_is_refused_on_the_reason_field_and_changes_nothing(
    decide, reason, merchant_a, violation_appeal, other_moderator
):
    before = snapshot(merchant_a)
    service = appeals.grant_appeal if decide == "grant" else appeals.reject_appeal
    with pytest.raises(ValidationError) as refused:
        service(actor=other_moderator, appeal=violation_appeal, reason=reason)
    assert list(refused.value.message_dict) == ["reason"]
    assert snapshot(merchant_a) == before


# --- 5. the reviewer is not the decider --------------------------------------------------------------------


def test_the_moderator_who_took_the_listing_down_cannot_decide_its_appeal(
    merchant_a, violation_appeal, moderator, other_moderator
):
    before = snapshot(merchant_a)
    for attempt in (
        lambda: appeals.claim_appeal(actor=moderator, appeal=violation_appeal),
        lambda: appeals.grant_appeal(actor=moderator, appeal=violation_appeal, reason=REASON),
        lambda: appeals.reject_appeal(actor=moderator, appeal=violation_appeal, reason=REJECTION),
    ):
        with pytest.raises(ValidationError, match="another moderator must decide it"):
            attempt()
    assert snapshot(merchant_a) == before
    assert appeals.claim_next_appeal(actor=moderator) is None  # skipped, not offered
    assert appeals.claim_next_appeal(actor=other_moderator) == violation_appeal


def test_an_appeal_against_a_seniors_sanction_is_for_another_senior(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
    moderator,
    other_moderator,
    senior,
    other_senior,
):
    (decisions,) = decisions_of(merchant_a)
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.SANCTION, decisions.sanction.pk)
    assert (appeal.tier, appeal.original_decider) == (Appeal.Tier.SENIOR, senior)
    before = snapshot(merchant_a)
    for plain in (moderator, other_moderator):
        assert appeals.claim_next_appeal(actor=plain) is None
        for attempt in (
            lambda user=plain: appeals.claim_appeal(actor=user, appeal=appeal),
            lambda user=plain: appeals.grant_appeal(actor=user, appeal=appeal, reason=REASON),
            lambda user=plain: appeals.reject_appeal(actor=user, appeal=appeal, reason=REJECTION),
        ):
            with pytest.raises(ValidationError, match="for the senior moderators"):
                attempt()
    # The senior who issued the warning is not offered it either; another senior is.
    assert appeals.claim_next_appeal(actor=senior) is None
    with pytest.raises(ValidationError, match="another moderator must decide it"):
        appeals.grant_appeal(actor=senior, appeal=appeal, reason=REASON)
    assert snapshot(merchant_a) == before
    assert appeals.claim_next_appeal(actor=other_senior) == appeal
    appeals.grant_appeal(actor=other_senior, appeal=appeal, reason=REASON)
    decisions.sanction.refresh_from_db()
    assert decisions.sanction.status == Sanction.Status.OVERTURNED


# --- 6. claims are leases ------------------------------------------------------------------------------------


def test_claims_are_leases_released_when_they_run_out(
    now_after_grace,
    merchant_a,
    merchant_user_a,
    take_down,
    other_moderator,
    other_senior,
):
    first = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, take_down(merchant_a).pk)
    now_after_grace.by(timedelta(minutes=1))
    second = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, take_down(merchant_a).pk)
    assert first.due_at < second.due_at
    in_review = Notice.objects.filter(kind=Notice.Kind.APPEAL_IN_REVIEW)
    assert not in_review.exists()

    claimed_first = appeals.claim_next_appeal(actor=other_moderator)
    claimed_second = appeals.claim_next_appeal(actor=other_senior)
    assert (claimed_first, claimed_second) == (first, second)  # due first, and never the same one
    lease = timedelta(minutes=settings.REVIEW_CLAIM_LEASE_MINUTES)
    assert claimed_first.status == Appeal.Status.IN_REVIEW
    assert (claimed_first.claimed_by, claimed_first.claimed_until) == (other_moderator, now_after_grace.now() + lease)
    assert sorted(in_review.values_list("dedupe_key", flat=True)) == sorted(
        [f"appeal:{first.pk}:in_review", f"appeal:{second.pk}:in_review"]
    )
    third = make_user("moderator-3", Role.MODERATOR)
    assert appeals.claim_next_appeal(actor=third) is None
    with pytest.raises(ValidationError, match="is working on this appeal"):
        appeals.claim_appeal(actor=third, appeal=first)
    with pytest.raises(ValidationError, match="is working on this appeal"):
        appeals.grant_appeal(actor=third, appeal=first, reason=REASON)

    now_after_grace.by(lease)  # the lease ends at this instant: still held
    assert appeals.release_expired_appeal_claims() == 0
    now_after_grace.by(timedelta(seconds=1))
    assert appeals.release_expired_appeal_claims() == 2

    for appeal, holder in ((first, other_moderator), (second, other_senior)):
        appeal.refresh_from_db()
        assert (appeal.status, appeal.claimed_by, appeal.claimed_until) == ("in_review", None, None)
        released = target_events(AuditVerb.APPEAL_RELEASED, appeal).get()
        assert released.before == {"claimed_by": holder.pk} and released.actor_name.endswith("appeals")
    assert appeals.release_expired_appeal_claims() == 0

    # Free again: the next one to claim gets it; the merchant is not told "in review" a second time.
    assert appeals.claim_next_appeal(actor=third) == first
    assert target_events(AuditVerb.APPEAL_CLAIMED, first).count() == 2
    assert in_review.count() == 2
    # A lapsed claim does not hold anyone off either.
    appeals.claim_appeal(actor=other_moderator, appeal=second)
    second.refresh_from_db()
    assert second.claimed_by == other_moderator


def test_the_claim_holder_decides_within_the_lease(
    now_after_grace,
    merchant_a,
    taken_down,
    violation_appeal,
    other_moderator,
):
    appeals.claim_appeal(actor=other_moderator, appeal=violation_appeal)
    appeals.claim_appeal(actor=other_moderator, appeal=violation_appeal)  # renewing one's own claim is fine
    assert Notice.objects.filter(kind=Notice.Kind.APPEAL_IN_REVIEW).count() == 1
    appeals.grant_appeal(actor=other_moderator, appeal=violation_appeal, reason=REASON)
    violation_appeal.refresh_from_db()
    assert (violation_appeal.status, violation_appeal.claimed_by) == ("granted", None)


# --- 7. conflicts and races ---------------------------------------------------------------------------------


def test_deciding_an_appeal_twice_is_a_conflict_and_changes_nothing(
    merchant_a, taken_down, violation_appeal, other_moderator, other_senior
):
    appeals.grant_appeal(actor=other_moderator, appeal=violation_appeal, reason=REASON)
    before = snapshot(merchant_a)
    for attempt in (
        lambda: appeals.grant_appeal(actor=other_senior, appeal=violation_appeal, reason=REASON),
        lambda: appeals.reject_appeal(actor=other_senior, appeal=violation_appeal, reason=REJECTION),
        lambda: appeals.grant_appeal(actor=other_moderator, appeal=violation_appeal, reason=REASON),
        lambda: appeals.withdraw_appeal(actor=violation_appeal.filed_by, appeal=violation_appeal),
    ):
        with pytest.raises(AppealConflict):
            attempt()
    assert snapshot(merchant_a) == before
    assert target_events(AuditVerb.APPEAL_GRANTED, violation_appeal).count() == 1


def test_deciding_a_withdrawn_appeal_is_a_conflict(
    merchant_a, merchant_user_a, taken_down, violation_appeal, other_moderator
):
    appeals.withdraw_appeal(actor=merchant_user_a, appeal=violation_appeal)
    before = snapshot(merchant_a)
    with pytest.raises(AppealConflict, match="withdrew"):
        appeals.grant_appeal(actor=other_moderator, appeal=violation_appeal, reason=REASON)
    with pytest.raises(AppealConflict, match="withdrew"):
        appeals.reject_appeal(actor=other_moderator, appeal=violation_appeal, reason=REJECTION)
    with pytest.raises(ValidationError, match="withdrawn"):
        appeals.claim_appeal(actor=other_moderator, appeal=violation_appeal)
    assert appeals.claim_next_appeal(actor=other_moderator) is None
    assert snapshot(merchant_a) == before
    assert Listing.objects.get(pk=taken_down.listing_id).status == Listing.Status.DELISTED


@pytest.mark.postgres
def test_two_moderators_granting_at_once_reverse_the_decision_once(
    transactional_db, merchant_a, taken_down, violation_appeal, other_moderator, other_senior
):
    listing = taken_down.listing

    def grant(user):
        return appeals.grant_appeal(actor=user, appeal=violation_appeal, reason=REASON)

    results, errors = race(grant, [(other_moderator,), (other_senior,)])

    assert sum(result is not None for result in results) == 1
    assert sum(isinstance(error, AppealConflict) for error in errors) == 1, errors
    winner = next(result for result in results if result is not None)
    violation_appeal.refresh_from_db()
    assert (violation_appeal.status, violation_appeal.decided_by) == ("granted", winner.decided_by)
    assert target_events(AuditVerb.APPEAL_GRANTED, violation_appeal).count() == 1
    assert target_events(AuditVerb.LISTING_RESTORED, listing).count() == 1
    assert target_events(AuditVerb.VIOLATION_OVERTURNED, taken_down).count() == 1
    assert Notice.objects.filter(dedupe_key=f"appeal:{violation_appeal.pk}:decided").count() == 1
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.LIVE


@pytest.mark.postgres
def test_two_moderators_claiming_next_at_once_get_different_appeals(
    transactional_db, now_after_grace, merchant_a, merchant_user_a, take_down, other_moderator, other_senior
):
    filed = [file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, take_down(merchant_a).pk) for _ in range(2)]

    results, errors = race(lambda user: appeals.claim_next_appeal(actor=user), [(other_moderator,), (other_senior,)])

    assert errors == [None, None]
    assert sorted(appeal.pk for appeal in results) == sorted(appeal.pk for appeal in filed)
    assert {appeal.claimed_by for appeal in results} == {other_moderator, other_senior}
    assert Notice.objects.filter(kind=Notice.Kind.APPEAL_IN_REVIEW).count() == 2
