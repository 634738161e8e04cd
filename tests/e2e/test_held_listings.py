"""A policy admin makes a policy hold flagged listings; a moderator sees a held listing for what it is and
publishes it with a dismissal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from moderation.models import Policy, ReviewItem
from sellers import services as catalog
from sellers.models import Listing
from tests.moderation.conftest import in_grace, mining_rules, travel  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_a_policy_admin_chooses_to_hold_flagged_listings_on_the_policy_form(
    login, live_server, policy_admin, marketplace, miners
):
    page = login(policy_admin)
    page.goto(f"{live_server.url}/backoffice/policies/new/")
    page.fill("#id_slug", "mining-software")
    page.fill("#id_title", "Mining software")
    page.fill("#id_body", "Software that mines virtual currencies is prohibited.")
    page.get_by_role("group", name="Marketplaces").get_by_label(marketplace.name).check()
    page.fill("#id_effective_at", "2021-10-08T00:00")
    page.fill("#id_enforcement_starts_at", "2021-10-15T00:00")
    group = page.get_by_role("group", name="Flagged listings")
    expect(group.get_by_label("Refused at once")).to_be_checked()  # the default
    group.get_by_label("Held until a moderator decides").check()
    page.fill("#id_clauses-0-number", "1")
    page.fill("#id_clauses-0-title", "Mining software")
    page.fill("#id_clauses-0-text", "Software for mining virtual currencies.")
    page.screenshot(path="/tmp/policy-form-flagged.png", full_page=True)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("dl.facts")).to_contain_text("Held until a moderator decides")
    assert Policy.objects.get(slug="mining-software").holds_flagged_listings


def test_a_moderator_sees_a_held_listing_and_publishes_it_by_dismissing(
    login,
    live_server,
    moderator,
    in_grace,  # noqa: F811
    mining_rules,  # noqa: F811
    announced_policy,
    merchant_b,
    graphics_cards,
):
    Policy.objects.filter(pk=announced_policy.pk).update(flagged_listings=Policy.FlaggedListings.REVIEW)
    listing = catalog.create_listing(
        actor=merchant_b.user,
        merchant=merchant_b,
        category=graphics_cards,
        title="Antminer S19 poster, A2 print",
        description="A poster for a mining fan's wall.",
        price=Decimal("12.00"),
    )
    item = ReviewItem.objects.get(listing=listing)
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/{item.pk}/")
    expect(page.locator("#listing-held")).to_contain_text("dismissing publishes version 1")
    page.screenshot(path="/tmp/item-held.png", full_page=True)
    page.fill("#dismiss-form textarea", "A poster, not a miner.")
    page.locator("#dismiss-form button[type=submit]").click()
    page.wait_for_url(lambda url: f"/queue/{item.pk}/" not in url)
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.LIVE
