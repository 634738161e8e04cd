"""Undo: a moderator takes back their own decision within minutes; after that, only an appeal can."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.roles import Role
from moderation.models import AuditEvent, AuditVerb, Notice, ReviewItem, Violation
from moderation.services import queue
from moderation.services.appeals import file_appeal
from moderation.services.undo import undo_decision
from sellers.models import Listing
from tests.concurrency import race
from tests.conftest import make_user
from tests.moderation.test_queue_services import committed_queue  # noqa: F401 - a fixture

DECISION_WITHDRAWN = Notice.Kind.DECISION_WITHDRAWN


@pytest.fixture
def listing(merchant_b, miners, make_listing):
    return make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")


@pytest.fixture
def item(in_grace, open_item, listing):
    return open_item(listing, score=12)


def refused(**kwargs) -> str:
    with pytest.raises(ValidationError) as error:
        undo_decision(**kwargs)
    return " ".join(error.value.messages)


def events(verb, **filters):
    return AuditEvent.objects.filter(verb=verb, **filters)


# --- a take-down -----------------------------------------------------------------------------


def test_undoing_ones_own_take_down_reverses_it_and_reopens_the_item(
    in_grace, moderator, merchant_b, listing, item, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        violation = queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")
    decided_at = in_grace.now()
    in_grace.by(timedelta(minutes=9))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        undone = undo_decision(actor=moderator, item=item)

    assert (undone.status, undone.decision, undone.decided_by, undone.decided_at) == ("open", "", None, None)
    assert (undone.claimed_by, undone.decision_reason) == (None, "")
    violation.refresh_from_db()
    assert (violation.status, violation.overturned_at) == (Violation.Status.OVERTURNED, in_grace.now())
    listing.refresh_from_db()
    assert (listing.status, listing.delisted_at, listing.delisted_reason) == ("live", None, "")

    event = events(AuditVerb.REVIEW_DECISION_UNDONE).get()
    assert (event.actor, event.target_id, event.merchant, event.policy) == (moderator, item.pk, merchant_b, item.policy)
    assert event.before["decision"] == "taken_down" and event.before["decided_by"] == moderator.pk
    assert event.before["decided_at"] == decided_at.isoformat().replace("+00:00", "Z")
    assert event.after["status"] == "open" and event.after["violation"] == violation.pk
    assert event.after["relisted"] is True and event.after["notified"] is True
    overturned = events(AuditVerb.VIOLATION_OVERTURNED).get()
    assert overturned.after == {"status": "overturned", "review_item": item.pk, "undone": True}
    restored = events(AuditVerb.LISTING_RESTORED).get()
    assert (restored.target_id, restored.after["status"]) == (listing.pk, "live")

    notice = Notice.objects.get(kind=DECISION_WITHDRAWN)
    assert (notice.merchant, notice.dedupe_key) == (merchant_b, f"violation:{violation.pk}:withdrawn")
    assert notice.subject.startswith("Decision withdrawn:") and listing.title in notice.subject
    assert "visible to buyers again" in notice.body and f"violation (#{violation.pk}) no longer counts" in notice.body
    assert "are now 0" in notice.body
    assert [message.to for message in mail.outbox] == [["hello@gadgets.example"]]


def test_an_undone_item_can_be_decided_again(in_grace, moderator, item, listing):
    first = queue.take_down_listing(actor=moderator, item=item)
    undo_decision(actor=moderator, item=item)
    queue.dismiss_item(actor=moderator, item=item, reason="A poster of a miner, not a miner.")
    item.refresh_from_db()
    assert (item.status, item.decision) == ("decided", "dismissed")
    assert list(Violation.objects.values_list("pk", "status")) == [(first.pk, "overturned")]
    listing.refresh_from_db()
    assert listing.status == "live"


def test_a_chinese_merchant_is_told_of_the_withdrawal_in_chinese(
    in_grace, moderator, open_item, merchant_a, miners, make_listing
):
    item = open_item(make_listing(merchant_a, miners, title="比特币矿机 Antminer S19"), terms=["矿机"])
    queue.take_down_listing(actor=moderator, item=item)
    undo_decision(actor=moderator, item=item)
    notice = Notice.objects.get(kind=DECISION_WITHDRAWN)
    assert notice.language == "zh-hans"
    assert notice.subject.startswith("决定已撤回") and "已恢复对买家可见" in notice.body
    assert "withdrawn" not in notice.body


def test_a_senior_may_undo_another_moderators_decision_within_the_window(in_grace, moderator, senior, item):
    queue.take_down_listing(actor=moderator, item=item)
    undone = undo_decision(actor=senior, item=item)
    assert undone.status == "open"
    assert events(AuditVerb.REVIEW_DECISION_UNDONE).get().actor == senior


# --- refusals --------------------------------------------------------------------------------


def test_another_moderator_cannot_undo_the_decision(in_grace, moderator, other_moderator, item, listing):
    violation = queue.take_down_listing(actor=moderator, item=item)
    message = refused(actor=other_moderator, item=item)
    assert "Only the moderator who took a decision, or a senior moderator" in message
    item.refresh_from_db()
    violation.refresh_from_db()
    listing.refresh_from_db()
    assert (item.status, violation.status, listing.status) == ("decided", "active", "delisted")
    assert not events(AuditVerb.REVIEW_DECISION_UNDONE).exists()


def test_after_the_window_only_an_appeal_can_reverse_it(in_grace, moderator, senior, item, listing, settings):
    settings.REVIEW_UNDO_MINUTES = 10
    queue.take_down_listing(actor=moderator, item=item)
    in_grace.by(timedelta(minutes=10, seconds=1))
    assert "Only an appeal can reverse it now" in refused(actor=moderator, item=item)
    assert "Only an appeal can reverse it now" in refused(actor=senior, item=item)
    listing.refresh_from_db()
    assert listing.status == "delisted"
    assert not Notice.objects.filter(kind=DECISION_WITHDRAWN).exists()


def test_the_window_follows_the_setting(in_grace, moderator, item, settings):
    settings.REVIEW_UNDO_MINUTES = 2
    queue.take_down_listing(actor=moderator, item=item)
    in_grace.by(timedelta(minutes=3))
    assert "for 2 minutes only" in refused(actor=moderator, item=item)


def test_undoing_twice_is_refused_the_second_time(in_grace, moderator, item):
    queue.take_down_listing(actor=moderator, item=item)
    undo_decision(actor=moderator, item=item)
    assert "no decision to undo" in refused(actor=moderator, item=item)
    assert events(AuditVerb.REVIEW_DECISION_UNDONE).count() == 1
    assert Notice.objects.filter(kind=DECISION_WITHDRAWN).count() == 1


def test_an_open_item_has_nothing_to_undo(in_grace, moderator, item):
    assert "no decision to undo" in refused(actor=moderator, item=item)


def test_a_decision_under_appeal_is_left_to_the_appeal(in_grace, moderator, merchant_b, merchant_user_b, item):
    violation = queue.take_down_listing(actor=moderator, item=item)
    file_appeal(
        actor=merchant_user_b,
        merchant=merchant_b,
        kind="violation",
        object_id=violation.pk,
        grounds="It is a poster of a miner, not a miner.",
    )
    assert "the appeal decides it now" in refused(actor=moderator, item=item)
    violation.refresh_from_db()
    assert violation.status == "active"


# --- a dismissal -----------------------------------------------------------------------------


def test_undoing_a_dismissal_reopens_the_item_and_tells_the_merchant_nothing(in_grace, moderator, item, listing):
    queue.dismiss_item(actor=moderator, item=item, reason="A poster.")
    notices = Notice.objects.count()
    undone = undo_decision(actor=moderator, item=item)
    assert (undone.status, undone.decision) == ("open", "")
    listing.refresh_from_db()
    assert listing.status == "live"
    assert Notice.objects.count() == notices
    event = events(AuditVerb.REVIEW_DECISION_UNDONE).get()
    assert event.before["decision"] == "dismissed" and event.before["reason"] == "A poster."
    assert event.after == {"status": "open"}


# --- the race (PostgreSQL: row locks) ---------------------------------------------------------


@pytest.mark.postgres
def test_two_undos_at_once_leave_one_winner(committed_queue):  # noqa: F811 - the imported fixture
    (item,) = committed_queue(1)
    senior = make_user("senior-race", Role.SENIOR_MODERATOR)
    decider = make_user("mod-race", Role.MODERATOR)
    violation = queue.take_down_listing(actor=decider, item=item)
    results, errors = race(lambda user: undo_decision(actor=user, item=item), [(decider,), (senior,)])
    assert sum(result is not None for result in results) == 1
    assert [type(error) for error in errors if error is not None] == [ValidationError]
    assert events(AuditVerb.REVIEW_DECISION_UNDONE).count() == 1
    assert events(AuditVerb.VIOLATION_OVERTURNED).count() == 1
    assert Notice.objects.filter(kind=DECISION_WITHDRAWN).count() == 1
    violation.refresh_from_db()
    assert violation.status == "overturned"
    assert ReviewItem.objects.get(pk=item.pk).status == "open"
    assert Listing.objects.get(pk=item.listing_id).status == "live"


# --- the pages -------------------------------------------------------------------------------


def test_the_next_page_offers_undo_and_the_button_reopens_the_item(in_grace, client, moderator, item):
    client.force_login(moderator)
    take_down = reverse("backoffice:queue-item-action", args=[item.pk, "take-down"])
    response = client.post(take_down, {"kind": "prohibited_listing"}, follow=True)
    page = response.content.decode()
    assert 'id="undo-banner"' in page
    assert reverse("backoffice:queue-item-undo", args=[item.pk]) in page
    assert "10\xa0minutes left to undo" in page

    response = client.post(reverse("backoffice:queue-item-undo", args=[item.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("backoffice:queue-item", args=[item.pk])
    assert f"Decision on item #{item.pk} undone: the item is open again." in response.content.decode()
    item.refresh_from_db()
    assert item.status == "open"


def test_the_undo_view_refuses_another_moderators_decision_with_a_message(
    in_grace, client, moderator, other_moderator, item
):
    queue.take_down_listing(actor=moderator, item=item)
    client.force_login(other_moderator)
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert 'id="undo-form"' not in page and 'id="undo-banner"' not in page
    response = client.post(reverse("backoffice:queue-item-undo", args=[item.pk]), follow=True)
    assert "Only the moderator who took a decision" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "decided"


def test_the_undo_view_takes_only_a_post_from_a_moderator(in_grace, client, moderator, policy_admin, item):
    queue.take_down_listing(actor=moderator, item=item)
    url = reverse("backoffice:queue-item-undo", args=[item.pk])
    client.force_login(moderator)
    assert client.get(url).status_code == 405
    client.force_login(policy_admin)
    assert client.post(url).status_code == 403
    item.refresh_from_db()
    assert item.status == "decided"


def test_the_undo_offer_is_gone_after_the_window(in_grace, client, moderator, item):
    queue.take_down_listing(actor=moderator, item=item)
    client.force_login(moderator)
    in_grace.by(timedelta(minutes=11))
    page = client.get(reverse("backoffice:queue")).content.decode()
    assert 'id="undo-banner"' not in page
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert 'id="undo-form"' not in page
