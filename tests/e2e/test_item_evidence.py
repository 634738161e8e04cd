"""A moderator decides on what a listing says now: the diff since it was flagged, and `t` citing the rule's clause."""

from __future__ import annotations

from unittest import mock

import pytest
from playwright.sync_api import expect

from moderation.models import ReviewItem, Violation
from moderation.services.detection import create_detection_rule
from moderation.services.queue import claim_item
from sellers import services as catalog

pytestmark = pytest.mark.browser


@pytest.fixture
def edited_item(policy_admin, announced_policy, merchant_b, graphics_cards, make_listing, system):
    """A tutorial flagged by a clause-2 rule, then edited by its seller (past the refusal)."""
    create_detection_rule(
        actor=policy_admin,
        policy=announced_policy,
        kind="phrase",
        pattern="mining tutorial",
        weight=10,
        label="Mining tutorial",
        clause=announced_policy.clauses.get(number=2),
    )
    listing = make_listing(merchant_b, graphics_cards, title="Bitcoin mining tutorial, 30 lessons", description="PDF.")
    item = ReviewItem.objects.get(listing=listing)  # queued on creation: Celery is eager here
    with mock.patch("sellers.services._judge_listing_content", return_value=None):
        catalog.edit_listing(actor=system, listing=listing, description="Video course <b>MINING TUTORIAL</b> inside.")
    return item


def test_the_item_shows_the_diff_and_t_cites_the_matched_rules_clause(login, live_server, moderator, edited_item):
    claim_item(actor=moderator, item=edited_item)
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/{edited_item.pk}/")

    expect(page.locator("#listing-changed h2")).to_contain_text("version 1 → 2")
    expect(page.locator("#listing-diff .removed")).to_contain_text("Description: PDF.")
    expect(page.locator("#listing-diff .added")).to_contain_text("<b>MINING TUTORIAL</b>")
    expect(page.locator(".listing-description mark")).to_have_text("MINING TUTORIAL")
    expect(page.locator("#id_clause")).to_have_value(str(edited_item.clause_id))
    page.screenshot(path="/tmp/item-evidence.png", full_page=True)

    page.keyboard.press("t")
    page.wait_for_url(lambda url: f"/queue/{edited_item.pk}/" not in url)
    assert Violation.objects.get(review_item=edited_item).clause.number == 2
