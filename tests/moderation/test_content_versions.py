"""A decision is about a version: edits are judged like creations, and a granted appeal restores
what was decided on, through review when the listing changed or is flagged now."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from moderation.models import Appeal, AuditVerb, ReviewItem, Violation
from moderation.services import appeals
from moderation.services.detection import create_detection_rule
from moderation.services.queue import dismiss_item, take_down_listing
from sellers import services as catalog
from sellers.models import Listing, ListingVersion
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403 - announced_policy (with the ladder), take_down

GROUNDS = "The listing is a graphics card dock: it has no hashing chips and mines nothing."
REASON = "The photos show a GPU dock without hashing boards: not a mining machine."


@pytest.fixture
def ruled(travel, policy_admin, announced_policy):
    """After grace, with one rule: "antminer" flags alone."""
    travel.to(AFTER_GRACE)
    create_detection_rule(
        actor=policy_admin,
        policy=announced_policy,
        kind="keyword",
        pattern="antminer",
        weight=10,
        clause=announced_policy.clauses.get(number=1),
    )
    return announced_policy


@pytest.fixture
def wrongly_taken_down(ruled, moderator, open_item, make_listing, merchant_a, graphics_cards):
    """An innocent graphics card taken down by mistake (the item says clause 1), appealed."""
    listing = make_listing(merchant_a, graphics_cards, title="RTX 3080 graphics card", description="Boxed.")
    violation = take_down_listing(actor=moderator, item=open_item(listing))
    listing.refresh_from_db()
    assert (listing.status, listing.delisted_version) == ("delisted", 1)
    return listing, violation


def appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation) -> Appeal:
    appeal = appeals.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind=Appeal.Kind.VIOLATION, object_id=violation.pk, grounds=GROUNDS
    )
    return appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)


def test_a_listing_keeps_a_version_per_content_change(system, merchant_a, graphics_cards):
    listing = catalog.create_listing(
        actor=system, merchant=merchant_a, category=graphics_cards, title="RTX 3060", price="299"
    )
    catalog.edit_listing(actor=system, listing=listing, price="279")  # not content: no new version
    listing = catalog.edit_listing(actor=system, listing=listing, title="RTX 3060 12GB")

    assert listing.version == 2
    assert list(ListingVersion.objects.filter(listing=listing).values_list("number", "title")) == [
        (1, "RTX 3060"),
        (2, "RTX 3060 12GB"),
    ]


def test_an_edit_is_judged_like_a_creation_even_of_a_listing_flagged_before(
    ruled, system, merchant_a, graphics_cards, make_listing, open_item
):
    listing = make_listing(merchant_a, graphics_cards, title="Antminer S9 for parts")
    open_item(listing)  # flagged and waiting for a moderator

    with pytest.raises(ValidationError) as refused:
        catalog.edit_listing(actor=system, listing=listing, description="Also an Antminer S19 in stock.")

    assert "title" in refused.value.message_dict  # the first field that names a banned product
    assert Violation.objects.filter(listing=listing, kind=Violation.Kind.RELIST_ATTEMPT).count() == 1
    assert Listing.objects.get(pk=listing.pk).description == ""


def test_content_a_moderator_cleared_may_be_saved_again(
    ruled, system, moderator, merchant_a, graphics_cards, make_listing, open_item
):
    listing = make_listing(merchant_a, graphics_cards, title="Antminer keychain, metal")
    dismiss_item(actor=moderator, item=open_item(listing), reason="A keychain with the logo, not a miner.")
    with pytest.raises(ValidationError):
        catalog.edit_listing(actor=system, listing=listing, title="Antminer keychain, gold")  # not what was cleared

    listing = catalog.edit_listing(actor=system, listing=listing, title="Antminer keychain, metal", price="5")

    assert (listing.title, listing.price) == ("Antminer keychain, metal", 5)


def test_a_grant_on_an_unchanged_innocent_listing_puts_it_live(
    wrongly_taken_down, merchant_a, merchant_user_a, other_moderator
):
    listing, violation = wrongly_taken_down
    appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.LIVE
    assert not ReviewItem.objects.filter(source=ReviewItem.Source.REINSTATEMENT).exists()


def test_a_grant_on_a_listing_edited_since_restores_the_decided_version_for_review(
    wrongly_taken_down, system, moderator, merchant_a, merchant_user_a, other_moderator
):
    listing, violation = wrongly_taken_down
    catalog.edit_listing(actor=system, listing=listing, title="RTX 3080", description="A mining tutorial inside.")

    appeal = appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.DELISTED  # not live: nobody judged the edit
    assert (listing.title, listing.description, listing.version) == ("RTX 3080 graphics card", "Boxed.", 3)
    item = ReviewItem.objects.get(listing=listing, status="open")
    assert (item.source, item.appeal, item.version) == (ReviewItem.Source.REINSTATEMENT, appeal, 3)
    notice = appeal.merchant.notices.get(dedupe_key=f"appeal:{appeal.pk}:decided")
    assert "在重新上架前需再次审核：该商品在原决定作出后有过修改。" in notice.body

    dismiss_item(actor=moderator, item=item, reason="The decided version is a graphics card.")
    listing.refresh_from_db()
    assert listing.status == Listing.Status.LIVE
    assert listing.title == "RTX 3080 graphics card"


def test_a_grant_on_a_listing_moved_while_delisted_restores_its_category_for_review(
    wrongly_taken_down, system, merchant_a, merchant_user_a, other_moderator, graphics_cards, miner_accessories
):
    listing, violation = wrongly_taken_down
    catalog.edit_listing(actor=system, listing=listing, category=miner_accessories)

    appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation)

    listing.refresh_from_db()
    assert (listing.status, listing.category_id) == (Listing.Status.DELISTED, graphics_cards.pk)
    assert ReviewItem.objects.filter(listing=listing, source=ReviewItem.Source.REINSTATEMENT).exists()


def test_a_grant_on_a_listing_the_rules_flag_now_sends_it_to_review(
    ruled, moderator, open_item, make_listing, merchant_a, merchant_user_a, other_moderator, graphics_cards
):
    listing = make_listing(merchant_a, graphics_cards, title="Antminer S19 shipping box, empty")
    violation = take_down_listing(actor=moderator, item=open_item(listing))

    appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.DELISTED
    item = ReviewItem.objects.get(listing=listing, status="open", source=ReviewItem.Source.REINSTATEMENT)
    assert item.clause.number == 1  # the rule's clause, for a take-down if it comes to that

    take_down_listing(actor=moderator, item=item)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DELISTED and "after appeal" in listing.delisted_reason


def test_every_version_change_is_audited(wrongly_taken_down, system, merchant_a, merchant_user_a, other_moderator):
    from moderation.models import AuditEvent

    listing, violation = wrongly_taken_down
    catalog.edit_listing(actor=system, listing=listing, title="RTX 3080")
    appeal_and_grant(merchant_a, merchant_user_a, other_moderator, violation)

    restored = AuditEvent.objects.filter(verb=AuditVerb.LISTING_EDITED, target_id=listing.pk).latest("pk")
    assert "restored on appeal" in restored.reason
    assert (restored.before["version"], restored.after["version"]) == (2, 3)


def test_the_item_page_shows_what_changed_and_scores_the_current_text(
    ruled, client, moderator, system, merchant_a, graphics_cards, make_listing
):
    from django.urls import reverse

    from moderation.services.scanning import scan_listing

    listing = make_listing(merchant_a, graphics_cards, title="Antminer S19 110TH/s", description="Used.")
    scan_listing(listing_id=listing.pk)
    item = ReviewItem.objects.get(listing=listing)
    with mock.patch("sellers.services._judge_listing_content", return_value=None):  # an edit the refusal let through
        catalog.edit_listing(actor=system, listing=listing, description="<script>alert(1)</script> ANTMINER inside.")
    client.force_login(moderator)

    html = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()

    assert "The listing changed since it was flagged (version 1 → 2)" in html
    assert "- Description: Used." in html and "+ Description: &lt;script&gt;" in html
    assert "<mark" in html and ">ANTMINER</mark>" in html  # highlighted where it stands now
    assert "<script>alert" not in html


def test_a_lifted_freeze_brings_its_listings_back_through_the_same_check(
    ruled,
    travel,
    make_listing,
    merchant_a,
    merchant_user_a,
    graphics_cards,
    violate,
    other_senior,
):
    from datetime import timedelta

    from moderation.models import Sanction
    from moderation.services.sanctions import run_escalation

    innocent = make_listing(merchant_a, graphics_cards, title="RTX 3080 graphics card")
    flagged_now = make_listing(merchant_a, graphics_cards, title="Antminer S9 display model")
    violate(merchant_a, 8)
    run_escalation()  # the warning
    travel.by(timedelta(days=4))
    violate(merchant_a, 28)  # 36: the account freeze delists everything
    run_escalation()
    freeze = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert freeze.delists_all
    appeal = appeals.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind=Appeal.Kind.SANCTION, object_id=freeze.pk, grounds=GROUNDS
    )
    travel.by(timedelta(hours=1))

    appeals.grant_appeal(actor=other_senior, appeal=appeal, reason=REASON)

    innocent.refresh_from_db()
    flagged_now.refresh_from_db()
    assert innocent.status == Listing.Status.LIVE
    assert flagged_now.status == Listing.Status.DELISTED
    item = ReviewItem.objects.get(listing=flagged_now, status="open")
    assert (item.source, item.appeal_id) == (ReviewItem.Source.REINSTATEMENT, appeal.pk)
