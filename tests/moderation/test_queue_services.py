"""The review queue's services: open items, claim them under a lease, decide them once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from backoffice.roles import Role
from moderation.models import AuditEvent, AuditVerb, Notice, Policy, ReviewItem, ReviewNote, Violation
from moderation.services import queue
from moderation.services.queue import Detection, open_review_items
from moderation.services.transparency import VISIBILITY_REMOVED
from sellers.models import Listing
from tests.concurrency import race
from tests.conftest import make_user
from tests.moderation.conftest import ENFORCEMENT

LEASE = timedelta(minutes=django_settings.REVIEW_CLAIM_LEASE_MINUTES)


def found(score=12, terms=("antminer",), spans=None, clause=1) -> Detection:
    """What a scan finds: the matching rules point to clause 1 (mining hardware)."""
    return Detection(score=Decimal(score), terms=list(terms), spans=spans or {}, clause=clause)


def events(verb, **filters):
    return AuditEvent.objects.filter(verb=verb, **filters)


@pytest.fixture
def listing(merchant_b, miners, make_listing):
    return make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")


@pytest.fixture
def item(in_grace, open_item, listing):
    return open_item(listing, score=12)


def refused(call, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    return error.value


# --- opening items -------------------------------------------------------------------------


def test_it_opens_one_item_per_listing_with_score_terms_priority_and_due_time(
    in_grace, announced_policy, merchant_a, merchant_b, miners, make_listing
):
    first = make_listing(merchant_a, miners, title="Antminer S19")
    second = make_listing(merchant_b, miners, title="Whatsminer M30S")
    spans = {"title": [[0, 8, "antminer"]]}
    opened = open_review_items(
        policy=announced_policy,
        detections=[(first, found(12.5, spans=spans)), (second, found(20, terms=["whatsminer"]))],
    )
    assert opened == 2
    item = ReviewItem.objects.get(listing=first)
    assert (item.policy, item.merchant, item.marketplace, item.category) == (
        announced_policy,
        merchant_a,
        merchant_a.marketplace,
        miners,
    )
    assert (item.status, item.tier, item.source) == ("open", "moderator", "detection")
    assert item.score == Decimal("12.50") and item.matched_terms == ["antminer"] and item.spans == spans
    assert item.priority == 12  # int(score), no record yet
    assert item.created_at == in_grace.now()
    assert item.due_at == item.created_at + timedelta(hours=announced_policy.review_due_hours)
    assert ReviewItem.objects.get(listing=second).priority == 20
    opened_events = events(AuditVerb.REVIEW_ITEM_OPENED)
    assert opened_events.count() == 2
    event = opened_events.get(target_id=item.pk)
    assert event.after == {"listing": first.pk, "score": "12.50", "source": "detection"}
    assert (event.merchant_id, event.policy_id, event.actor_name) == (
        merchant_a.pk,
        announced_policy.pk,
        "task:review_queue",
    )


def test_the_due_time_follows_the_policys_service_level(in_grace, announced_policy, open_item, listing):
    Policy.objects.filter(pk=announced_policy.pk).update(review_due_hours=4)
    announced_policy.refresh_from_db()
    item = open_item(listing)
    assert item.due_at - item.created_at == timedelta(hours=4)


def test_opening_the_same_listing_again_opens_nothing(in_grace, announced_policy, listing):
    assert open_review_items(policy=announced_policy, detections=[(listing, found())]) == 1
    in_grace.by(timedelta(minutes=5))
    assert open_review_items(policy=announced_policy, detections=[(listing, found(30))]) == 0
    assert ReviewItem.objects.filter(listing=listing).count() == 1
    assert ReviewItem.objects.get(listing=listing).score == 12  # the first detection stands
    assert events(AuditVerb.REVIEW_ITEM_OPENED).count() == 1


def test_opening_the_same_listing_again_in_the_same_instant_opens_nothing(in_grace, announced_policy, listing):
    assert open_review_items(policy=announced_policy, detections=[(listing, found())]) == 1
    assert open_review_items(policy=announced_policy, detections=[(listing, found())]) == 0
    assert events(AuditVerb.REVIEW_ITEM_OPENED).count() == 1


def test_the_database_holds_one_open_item_per_listing_and_policy(in_grace, announced_policy, open_item, listing):
    item = open_item(listing)
    duplicate = ReviewItem(
        listing=listing,
        policy=announced_policy,
        merchant=item.merchant,
        marketplace=item.marketplace,
        category=item.category,
        due_at=item.due_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_decided_listing_can_be_queued_again(in_grace, moderator, announced_policy, open_item, listing):
    first = open_item(listing)
    queue.dismiss_item(actor=moderator, item=first, reason="A picture of a miner, sold as a poster.")
    in_grace.by(timedelta(minutes=1))
    assert open_review_items(policy=announced_policy, detections=[(listing, found())]) == 1
    assert ReviewItem.objects.filter(listing=listing).count() == 2


def test_a_merchant_with_confirmed_violations_gets_a_higher_priority(
    in_grace, moderator, announced_policy, open_item, merchant_a, merchant_b, miners, make_listing
):
    earlier = open_item(make_listing(merchant_a, miners, title="Antminer S9"))
    queue.take_down_listing(actor=moderator, item=earlier)
    in_grace.by(timedelta(minutes=1))
    repeat = make_listing(merchant_a, miners, title="Antminer S19")
    first_time = make_listing(merchant_b, miners, title="Antminer S19")
    open_review_items(policy=announced_policy, detections=[(repeat, found(12)), (first_time, found(12))])
    assert ReviewItem.objects.get(listing=repeat).priority == 12 + queue.HISTORY_WEIGHT
    assert ReviewItem.objects.get(listing=first_time).priority == 12
    # The bonus is capped: a long record does not bury every first offence.
    assert queue.priority_for(score=Decimal("12.9"), confirmed_violations=1000) == 12 + queue.HISTORY_CAP


# --- claiming ------------------------------------------------------------------------------


@pytest.fixture
def three_items(in_grace, open_item, merchant_b, miners, make_listing):
    """Scores 12, 30 and 20, opened in that order."""
    return [
        open_item(make_listing(merchant_b, miners, title=f"Antminer #{score}"), score=score) for score in (12, 30, 20)
    ]


def test_claim_next_gives_the_highest_priority_first_and_skips_claimed_items(
    in_grace, moderator, other_moderator, three_items
):
    low, high, middle = three_items
    claimed = queue.claim_next_item(actor=moderator)
    assert claimed.pk == high.pk
    assert (claimed.status, claimed.claimed_by, claimed.claimed_until) == ("claimed", moderator, in_grace.now() + LEASE)
    assert queue.claim_next_item(actor=other_moderator).pk == middle.pk
    assert queue.claim_next_item(actor=moderator).pk == low.pk
    assert queue.claim_next_item(actor=other_moderator) is None
    claims = events(AuditVerb.REVIEW_ITEM_CLAIMED).order_by("pk")
    assert [(event.target_id, event.actor) for event in claims] == [
        (high.pk, moderator),
        (middle.pk, other_moderator),
        (low.pk, moderator),
    ]


def test_a_moderator_never_gets_the_senior_tier_but_a_senior_does(
    in_grace, moderator, other_moderator, senior, open_item, listing, merchant_b, miners, make_listing
):
    hard = open_item(listing, score=50)
    queue.escalate_item(actor=other_moderator, item=hard, note="Is a mining-rig frame a miner?")
    easy = open_item(make_listing(merchant_b, miners, title="Antminer S9"), score=12)

    assert queue.claim_next_item(actor=moderator).pk == easy.pk
    assert queue.claim_next_item(actor=moderator) is None
    error = refused(queue.claim_next_item, actor=moderator, tier=ReviewItem.Tier.SENIOR)
    assert "senior" in error.messages[0]
    assert queue.claim_next_item(actor=senior).pk == hard.pk


def test_a_senior_gets_escalated_items_before_a_higher_scored_ordinary_one_only_by_priority(
    in_grace, moderator, senior, open_item, listing, merchant_b, miners, make_listing
):
    escalated = open_item(listing, score=15)
    queue.escalate_item(actor=moderator, item=escalated, note="Unclear.")
    ordinary = open_item(make_listing(merchant_b, miners, title="Antminer S9"), score=40)
    # A senior works both tiers, by priority; the senior tier alone on request.
    assert queue.claim_next_item(actor=senior, tier=ReviewItem.Tier.SENIOR).pk == escalated.pk
    assert queue.claim_next_item(actor=senior).pk == ordinary.pk


def test_a_claim_whose_lease_ran_out_can_be_claimed_by_another_moderator(in_grace, moderator, other_moderator, item):
    assert queue.claim_next_item(actor=moderator).pk == item.pk
    in_grace.by(LEASE - timedelta(seconds=1))
    assert queue.claim_next_item(actor=other_moderator) is None
    in_grace.by(timedelta(seconds=2))
    taken = queue.claim_next_item(actor=other_moderator)
    assert taken.pk == item.pk
    assert (taken.claimed_by, taken.claimed_until) == (other_moderator, in_grace.now() + LEASE)


def test_release_expired_claims_puts_them_back_to_open_with_an_audit_event(in_grace, moderator, item):
    queue.claim_next_item(actor=moderator)
    assert queue.release_expired_claims() == 0
    in_grace.by(LEASE + timedelta(seconds=1))
    assert queue.release_expired_claims() == 1
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.claimed_until) == ("open", None, None)
    released = events(AuditVerb.REVIEW_ITEM_RELEASED).get()
    assert released.target_id == item.pk and released.actor is None
    assert released.before == {"status": "claimed", "claimed_by": moderator.pk}
    assert released.after == {"status": "open"}
    assert "lease" in released.reason
    assert queue.release_expired_claims() == 0


def test_the_beat_task_releases_expired_claims(in_grace, moderator, item):
    from moderation import tasks

    queue.claim_item(actor=moderator, item=item)
    in_grace.by(LEASE + timedelta(minutes=1))
    assert tasks.release_expired_claims.delay().get() == 1
    item.refresh_from_db()
    assert item.status == "open"


def test_claim_item_is_refused_while_another_moderators_lease_runs(in_grace, moderator, other_moderator, item):
    queue.claim_item(actor=moderator, item=item)
    before = events(AuditVerb.REVIEW_ITEM_CLAIMED).count()
    error = refused(queue.claim_item, actor=other_moderator, item=item)
    assert "moderator" in error.messages[0] and "working on this item" in error.messages[0]
    item.refresh_from_db()
    assert item.claimed_by == moderator
    assert events(AuditVerb.REVIEW_ITEM_CLAIMED).count() == before

    # The holder renews their own lease; once it runs out, someone else may take it.
    in_grace.by(timedelta(minutes=10))
    renewed = queue.claim_item(actor=moderator, item=item)
    assert renewed.claimed_until == in_grace.now() + LEASE
    in_grace.by(LEASE + timedelta(seconds=1))
    assert queue.claim_item(actor=other_moderator, item=item).claimed_by == other_moderator


def test_a_moderator_cannot_claim_an_escalated_item(in_grace, moderator, other_moderator, item):
    queue.escalate_item(actor=other_moderator, item=item, note="Needs a senior.")
    error = refused(queue.claim_item, actor=moderator, item=ReviewItem.objects.get(pk=item.pk))
    assert "senior" in error.messages[0]


def test_a_moderator_cannot_claim_an_item_escalated_since_they_loaded_it(in_grace, moderator, other_moderator, item):
    loaded_before = ReviewItem.objects.get(pk=item.pk)
    queue.escalate_item(actor=other_moderator, item=item, note="Needs a senior.")
    with pytest.raises(ValidationError):
        queue.claim_item(actor=moderator, item=loaded_before)
    item.refresh_from_db()
    assert (item.tier, item.status, item.claimed_by) == ("senior", "open", None)


# --- taking down ---------------------------------------------------------------------------


def test_taking_down_in_grace_delists_records_an_uncounted_violation_and_tells_the_merchant(
    in_grace, moderator, announced_policy, merchant_b, listing, item, django_capture_on_commit_callbacks
):
    queue.claim_item(actor=moderator, item=item)
    notices_before = set(Notice.objects.values_list("pk", flat=True))
    clause = announced_policy.clauses.get(number=1)

    with django_capture_on_commit_callbacks(execute=True):
        violation = queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")

    moment = in_grace.now()
    listing.refresh_from_db()
    assert (listing.status, listing.previous_status, listing.delisted_at) == ("delisted", "live", moment)
    assert "Virtual currency mining machines" in listing.delisted_reason and "clause 1" in listing.delisted_reason

    assert (violation.merchant, violation.listing, violation.policy, violation.clause) == (
        merchant_b,
        listing,
        announced_policy,
        clause,
    )
    assert violation.review_item_id == item.pk
    assert (violation.counts_toward_sanctions, violation.points) == (False, 0)
    assert (violation.automated_detection, violation.automated_decision) == (True, False)
    assert (violation.decided_by, violation.decided_by_name, violation.decided_at) == (moderator, "moderator", moment)
    assert violation.reason == "A Bitcoin miner."
    assert violation.evidence["title"] == listing.title and violation.evidence["terms"] == ["antminer"]

    item.refresh_from_db()
    assert (item.status, item.decision, item.decided_by, item.decided_at) == (
        "decided",
        "taken_down",
        moderator,
        moment,
    )
    assert (item.claimed_by, item.claimed_until) == (None, None)

    taken = events(AuditVerb.LISTING_TAKEN_DOWN).get()
    assert (taken.target_id, taken.actor, taken.merchant, taken.policy) == (
        listing.pk,
        moderator,
        merchant_b,
        announced_policy,
    )
    assert taken.before == {"status": "live"}
    assert taken.after == {"status": "delisted", "review_item": item.pk, "violation": violation.pk}
    recorded = events(AuditVerb.VIOLATION_RECORDED).get()
    assert recorded.target_id == violation.pk
    assert recorded.after == {
        "kind": "prohibited_listing",
        "clause": violation.clause.number,
        "counts_toward_sanctions": False,
        "points": 0,
        "listing": listing.pk,
    }

    new_notices = Notice.objects.exclude(pk__in=notices_before)
    notice = new_notices.get()  # exactly one, and nothing else
    assert (notice.kind, notice.merchant, notice.policy, notice.clause) == (
        Notice.Kind.LISTING_TAKEN_DOWN,
        merchant_b,
        announced_policy,
        clause,
    )
    assert notice.restricts is True
    assert notice.appeal_deadline == moment + timedelta(days=announced_policy.appeal_window_days)
    assert notice.dedupe_key == f"violation:{violation.pk}"
    assert notice.language == "en"
    assert notice.transparency["decision_visibility"] == [VISIBILITY_REMOVED]
    assert notice.transparency["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert notice.transparency["automated_detection"] == "Yes"
    assert notice.transparency["incompatible_content_ground"] == (
        "Virtual currency mining machines, clause 1: Mining hardware and software"
    )
    assert notice.subject == f"Statement of reasons: your listing “{listing.title}” was removed"
    assert "grace" in notice.body
    assert "15 October 2021, 00:00" in notice.body  # the end of grace, in the policy's timezone
    assert "automated detection" in notice.body
    assert "terms" not in notice.body  # nothing of the rules reaches the merchant
    assert "taken by a person, not by automated means" in notice.body
    assert [message.to for message in mail.outbox] == [["hello@gadgets.example"]]


def test_taking_down_does_nothing_else(in_grace, moderator, item, django_capture_on_commit_callbacks):
    before = {
        "notices": Notice.objects.count(),
        "violations": Violation.objects.count(),
        "listings": list(Listing.objects.exclude(pk=item.listing_id).values_list("pk", "status")),
        "last_event": AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first(),
    }
    with django_capture_on_commit_callbacks(execute=True):
        queue.take_down_listing(actor=moderator, item=item)
    assert Notice.objects.count() == before["notices"] + 1
    assert Violation.objects.count() == before["violations"] + 1
    assert list(Listing.objects.exclude(pk=item.listing_id).values_list("pk", "status")) == before["listings"]
    for name in ("Sanction", "PointsEntry"):
        try:
            model = apps.get_model("moderation", name)
        except LookupError:
            continue  # not built yet: nothing can have been recorded
        assert not model.objects.exists()
    verbs = sorted(AuditEvent.objects.filter(pk__gt=before["last_event"]).values_list("verb", flat=True))
    assert verbs == [
        AuditVerb.LISTING_TAKEN_DOWN,
        AuditVerb.VIOLATION_RECORDED,
        AuditVerb.NOTICE_CREATED,
    ]
    assert len(mail.outbox) == 1  # the notice's e-mail, after commit


def test_a_chinese_merchant_gets_the_statement_in_chinese(
    in_grace, moderator, open_item, merchant_a, miners, make_listing
):
    item = open_item(make_listing(merchant_a, miners, title="比特币矿机 Antminer S19"), terms=["矿机"])
    violation = queue.take_down_listing(actor=moderator, item=item)
    notice = Notice.objects.get(kind=Notice.Kind.LISTING_TAKEN_DOWN, dedupe_key=f"violation:{violation.pk}")
    assert notice.language == "zh-hans"
    assert notice.subject == "处理理由说明：您的商品“比特币矿机 Antminer S19”已被下架"
    assert "宽限期" in notice.body and "2021年10月15日 00:00" in notice.body
    assert "Statement of reasons" not in notice.body


def test_after_grace_the_violation_counts_toward_sanctions(after_grace, moderator, open_item, listing):
    item = open_item(listing)
    violation = queue.take_down_listing(actor=moderator, item=item)
    assert violation.counts_toward_sanctions is True
    assert violation.points == 0  # this policy has no points table: a violation costs nothing
    recorded = events(AuditVerb.VIOLATION_RECORDED).get()
    assert recorded.after["counts_toward_sanctions"] is True
    notice = Notice.objects.get(kind=Notice.Kind.LISTING_TAKEN_DOWN)
    assert "added 0 penalty points" in notice.body and "holds 0 points" in notice.body
    assert "grace" not in notice.body


def test_grace_ends_at_midnight_in_shanghai(
    travel, announced_policy, moderator, open_item, listing, merchant_b, miners, make_listing
):
    travel.to(ENFORCEMENT - timedelta(seconds=1))
    last_in_grace = queue.take_down_listing(actor=moderator, item=open_item(listing))
    travel.to(ENFORCEMENT)
    first_counted = queue.take_down_listing(
        actor=moderator, item=open_item(make_listing(merchant_b, miners, title="Antminer S9"))
    )
    assert (last_in_grace.counts_toward_sanctions, first_counted.counts_toward_sanctions) == (False, True)


def test_a_reported_item_is_not_an_automated_detection(in_grace, moderator, open_item, listing):
    item = open_item(listing, source=ReviewItem.Source.REPORT)
    violation = queue.take_down_listing(actor=moderator, item=item)
    assert violation.automated_detection is False
    notice = Notice.objects.get(kind=Notice.Kind.LISTING_TAKEN_DOWN)
    assert notice.transparency["automated_detection"] == "No"


def test_taking_down_under_a_clause_of_another_policy_is_refused(in_grace, moderator, policy_admin, marketplace, item):
    from moderation.services.policies import ClauseText, create_policy

    other = create_policy(
        actor=policy_admin,
        slug="other",
        title="Other",
        body="…",
        marketplaces=[marketplace],
        clauses=[ClauseText(1, "Other", "…")],
        effective_at=item.policy.effective_at,
        enforcement_starts_at=item.policy.enforcement_starts_at,
    )
    error = refused(queue.take_down_listing, actor=moderator, item=item, clause=other.clauses.get())
    assert list(error.message_dict) == ["clause"]
    item.refresh_from_db()
    assert item.status == "open" and not Violation.objects.exists()


def test_taking_down_an_item_another_moderator_holds_is_refused(in_grace, moderator, other_moderator, item):
    queue.claim_item(actor=other_moderator, item=item)
    error = refused(queue.take_down_listing, actor=moderator, item=item)
    assert "moderator-2 is working on this item" in error.messages[0]
    assert not Violation.objects.exists()
    assert Listing.objects.get(pk=item.listing_id).status == "live"


# --- dismissing ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_dismissing_needs_a_reason_and_changes_nothing_without_one(in_grace, moderator, item, reason):
    before = AuditEvent.objects.count()
    error = refused(queue.dismiss_item, actor=moderator, item=item, reason=reason)
    assert list(error.message_dict) == ["reason"]
    item.refresh_from_db()
    assert (item.status, item.decision, item.decided_by) == ("open", "", None)
    assert AuditEvent.objects.count() == before


def test_dismissing_keeps_the_listing_and_records_the_reason(in_grace, moderator, item, listing):
    notices = Notice.objects.count()
    dismissed = queue.dismiss_item(actor=moderator, item=item, reason="An ASIC shoe, not a miner.")
    assert (dismissed.status, dismissed.decision, dismissed.decided_by) == ("decided", "dismissed", moderator)
    assert dismissed.decision_reason == "An ASIC shoe, not a miner."
    listing.refresh_from_db()
    assert listing.status == "live"
    event = events(AuditVerb.REVIEW_ITEM_DISMISSED).get()
    assert (event.target_id, event.actor, event.reason) == (item.pk, moderator, "An ASIC shoe, not a miner.")
    assert event.after == {"decision": "dismissed", "terms": ["antminer"], "score": "12.00"}
    assert not Violation.objects.exists()
    assert Notice.objects.count() == notices


# --- escalating ----------------------------------------------------------------------------


def test_escalating_needs_a_note(in_grace, moderator, item):
    error = refused(queue.escalate_item, actor=moderator, item=item, note="  ")
    assert list(error.message_dict) == ["note"]
    item.refresh_from_db()
    assert item.tier == "moderator" and not ReviewNote.objects.exists()


def test_an_escalated_item_goes_to_the_seniors_and_only_they_decide_it(in_grace, moderator, senior, item):
    queue.claim_item(actor=moderator, item=item)
    escalated = queue.escalate_item(actor=moderator, item=item, note="A frame for GPUs: is it a miner?")
    assert (escalated.tier, escalated.status, escalated.claimed_by, escalated.escalated_by) == (
        "senior",
        "open",
        None,
        moderator,
    )
    note = ReviewNote.objects.get()
    assert (note.item_id, note.author, note.text) == (item.pk, moderator, "A frame for GPUs: is it a miner?")
    event = events(AuditVerb.REVIEW_ITEM_ESCALATED).get()
    assert event.before == {"tier": "moderator"} and event.after == {"tier": "senior"}
    assert event.reason == "A frame for GPUs: is it a miner?"

    error = refused(queue.take_down_listing, actor=moderator, item=item)
    assert "only senior moderators" in error.messages[0]
    refused(queue.dismiss_item, actor=moderator, item=item, reason="Fine after all.")
    assert not Violation.objects.exists()

    violation = queue.take_down_listing(actor=senior, item=item)
    assert violation.decided_by == senior
    item.refresh_from_db()
    assert (item.status, item.decided_by) == ("decided", senior)


def test_an_escalated_item_cannot_be_escalated_again(in_grace, moderator, senior, item):
    queue.escalate_item(actor=moderator, item=item, note="Unclear.")
    error = refused(queue.escalate_item, actor=senior, item=item, note="Still unclear.")
    assert "already with the senior moderators" in error.messages[0]


def test_a_note_is_kept_and_audited_and_an_empty_one_refused(in_grace, moderator, item):
    refused(queue.add_review_note, actor=moderator, item=item, text=" ")
    note = queue.add_review_note(actor=moderator, item=item, text="  Seller says it is a heater.  ")
    assert note.text == "Seller says it is a heater."
    assert events(AuditVerb.REVIEW_NOTE_ADDED).get().after == {"note": note.pk}


# --- a decision is final -------------------------------------------------------------------


def test_deciding_a_decided_item_is_refused(in_grace, moderator, senior, item):
    queue.take_down_listing(actor=moderator, item=item)
    snapshot = (Violation.objects.count(), Notice.objects.count(), AuditEvent.objects.count())
    for call, kwargs in [
        (queue.take_down_listing, {}),
        (queue.dismiss_item, {"reason": "Changed my mind."}),
        (queue.escalate_item, {"note": "Second thoughts."}),
        (queue.claim_item, {}),
    ]:
        error = refused(call, actor=senior, item=item, **kwargs)
        assert "decided already" in error.messages[0]
    assert (Violation.objects.count(), Notice.objects.count(), AuditEvent.objects.count()) == snapshot
    item.refresh_from_db()
    assert (item.decision, item.decided_by) == ("taken_down", moderator)


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_decisions_go_one_by_one_and_report_the_refused_without_undoing_the_others(
    in_grace, moderator, other_moderator, open_item, merchant_a, merchant_b, miners, make_listing
):
    items = [
        open_item(make_listing(merchant, miners, title=f"Antminer S19 #{n}"))
        for n, merchant in enumerate([merchant_a, merchant_b, merchant_a, merchant_b])
    ]
    queue.dismiss_item(actor=other_moderator, item=items[1], reason="A poster.")  # decided meanwhile
    queue.claim_item(actor=other_moderator, item=items[3])  # someone else is on it

    outcomes = queue.decide_in_bulk(
        actor=moderator, item_ids=[item.pk for item in items], decision=ReviewItem.Decision.TAKEN_DOWN
    )

    assert [(outcome.item_id, outcome.ok) for outcome in outcomes] == [
        (items[0].pk, True),
        (items[1].pk, False),
        (items[2].pk, True),
        (items[3].pk, False),
    ]
    assert "decided already" in outcomes[1].message
    assert "moderator-2 is working on this item" in outcomes[3].message
    assert sorted(Violation.objects.values_list("review_item_id", flat=True)) == [items[0].pk, items[2].pk]
    statuses = dict(Listing.objects.filter(review_items__in=items).values_list("review_items", "status"))
    assert statuses == {items[0].pk: "delisted", items[1].pk: "live", items[2].pk: "delisted", items[3].pk: "live"}
    assert Notice.objects.filter(kind=Notice.Kind.LISTING_TAKEN_DOWN).count() == 2
    assert events(AuditVerb.LISTING_TAKEN_DOWN).count() == 2


def test_bulk_dismissal_needs_a_reason_and_changes_nothing_without_one(in_grace, moderator, item):
    before = AuditEvent.objects.count()
    error = refused(
        queue.decide_in_bulk, actor=moderator, item_ids=[item.pk], decision=ReviewItem.Decision.DISMISSED, reason=" "
    )
    assert list(error.message_dict) == ["reason"]
    error = refused(queue.decide_in_bulk, actor=moderator, item_ids=[item.pk], decision="escalate")
    assert list(error.message_dict) == ["decision"]
    item.refresh_from_db()
    assert item.status == "open" and AuditEvent.objects.count() == before


def test_bulk_dismissal_with_a_reason_dismisses_each(in_grace, moderator, open_item, merchant_b, miners, make_listing):
    items = [open_item(make_listing(merchant_b, miners, title=f"Antminer poster #{n}")) for n in range(3)]
    outcomes = queue.decide_in_bulk(
        actor=moderator, item_ids=[i.pk for i in items], decision=ReviewItem.Decision.DISMISSED, reason="Posters."
    )
    assert all(outcome.ok for outcome in outcomes)
    assert set(ReviewItem.objects.values_list("decision", "decision_reason")) == {("dismissed", "Posters.")}
    assert events(AuditVerb.REVIEW_ITEM_DISMISSED).count() == 3


# --- races (PostgreSQL: row locks, SKIP LOCKED) --------------------------------------------


@pytest.fixture
def committed_queue(transactional_db, travel, announced_policy, merchant_a, merchant_b, miners, make_listing):
    """``committed_queue(n)``: n committed open items (no rules: creating the listings queues nothing)."""
    travel.to(AFTER_GRACE_MOMENT)

    def build(count: int) -> list[ReviewItem]:
        listings = [
            make_listing(merchant_a if n % 2 else merchant_b, miners, title=f"Antminer S19 #{n}") for n in range(count)
        ]
        open_review_items(
            policy=announced_policy, detections=[(listing, found(10 + n)) for n, listing in enumerate(listings)]
        )
        assert ReviewItem.objects.count() == count
        return list(ReviewItem.objects.order_by("pk"))

    return build


AFTER_GRACE_MOMENT = ENFORCEMENT + timedelta(days=5)


def moderators(count: int, prefix: str = "mod"):
    return [make_user(f"{prefix}-{n}", Role.MODERATOR) for n in range(count)]


@pytest.mark.postgres
def test_twenty_moderators_claiming_next_at_once_get_twenty_different_items(committed_queue):
    items = committed_queue(25)
    people = moderators(20)
    results, errors = race(lambda user: queue.claim_next_item(actor=user), [(user,) for user in people])
    assert errors == [None] * 20
    claimed_ids = [item.pk for item in results]
    assert len(set(claimed_ids)) == 20
    claimed = ReviewItem.objects.filter(status="claimed")
    assert claimed.count() == 20
    assert len(set(claimed.values_list("claimed_by", flat=True))) == 20
    # Each moderator holds the item they were handed.
    assert {(item.pk, item.claimed_by_id) for item in results} == set(claimed.values_list("pk", "claimed_by"))
    assert ReviewItem.objects.filter(status="open").count() == len(items) - 20
    assert events(AuditVerb.REVIEW_ITEM_CLAIMED).count() == 20


@pytest.mark.postgres
def test_twenty_moderators_claiming_one_item_at_once_leave_one_winner(committed_queue):
    (item,) = committed_queue(1)
    people = moderators(20)
    results, errors = race(lambda user: queue.claim_item(actor=user, item=item), [(user,) for user in people])
    winners = [user for user, result in zip(people, results, strict=True) if result is not None]
    assert len(winners) == 1
    assert all(isinstance(error, ValidationError) for error in errors if error is not None)
    assert sum(error is not None for error in errors) == 19
    item.refresh_from_db()
    assert (item.status, item.claimed_by) == ("claimed", winners[0])
    assert events(AuditVerb.REVIEW_ITEM_CLAIMED).count() == 1


@pytest.mark.postgres
def test_ten_moderators_taking_down_one_item_at_once_record_one_violation(committed_queue):
    (item,) = committed_queue(1)
    people = moderators(10)
    results, errors = race(lambda user: queue.take_down_listing(actor=user, item=item), [(user,) for user in people])
    assert sum(result is not None for result in results) == 1
    assert all(isinstance(error, ValidationError) for error in errors if error is not None)
    assert Violation.objects.count() == 1
    assert Notice.objects.filter(kind=Notice.Kind.LISTING_TAKEN_DOWN).count() == 1
    assert events(AuditVerb.LISTING_TAKEN_DOWN).count() == 1
    violation = Violation.objects.get()
    item.refresh_from_db()
    assert (item.status, item.decided_by_id) == ("decided", violation.decided_by_id)
    assert violation.counts_toward_sanctions is True
