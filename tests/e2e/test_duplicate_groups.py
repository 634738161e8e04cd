"""A moderator opens a group of similar listings from the queue's badge, unticks one and takes the others down."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from moderation.models import Notice, ReviewItem, Violation
from sellers import services as catalog
from sellers.models import Listing
from tests.moderation.conftest import mining_rules  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser

SCREENSHOTS = "/tmp/wtB/duplicate-groups-{name}.png"
TITLE = "Antminer S19 Pro 110TH/s Bitcoin miner"
TEXT = "Used, tested and working. Ships from Shenzhen within three days; wholesale orders welcome."


@pytest.fixture
def copies(request, system, announced_policy, marketplace, merchant_a, merchant_b, miners, make_listing):
    """The same miner listed by three merchants, one with a word changed, and a different listing.

    Queued by detection as each is created (the live server's database commits; Celery is eager),
    and grouped as they arrive."""
    request.getfixturevalue("mining_rules")
    merchant_e = catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name="Hefei Hash Depot",
        company_name="Hefei Hash Depot Co., Ltd.",
        country="CN",
        contact_email="depot@hefei.example",
    )
    listings = {
        "a": make_listing(merchant_a, miners, title=TITLE, description=TEXT),
        "b": make_listing(merchant_b, miners, title=TITLE, description=TEXT),
        "e": make_listing(merchant_e, miners, title=TITLE, description=TEXT.replace("Shenzhen", "Hefei")),
        "other": make_listing(merchant_b, miners, title="Whatsminer M30S 88TH/s", description="Factory sealed."),
    }
    items = {name: ReviewItem.objects.get(listing=listing) for name, listing in listings.items()}
    assert len({items[name].duplicate_group_id for name in ("a", "b", "e")}) == 1
    assert items["a"].duplicate_group_id is not None and items["other"].duplicate_group_id is None
    return items


def test_a_moderator_takes_down_the_ticked_members_of_a_group(login, live_server, moderator, copies):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    badges = page.locator("#queue-table a.badge.similar")
    expect(badges).to_have_count(3)
    expect(badges.first).to_have_text("3 similar")
    page.screenshot(path=SCREENSHOTS.format(name="queue"), full_page=True)

    badges.first.click()
    group_url = f"{live_server.url}/backoffice/queue/groups/{copies['a'].duplicate_group_id}/"
    page.wait_for_url(group_url)
    cards = page.locator("#group-members article.dup-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#group-members input[name=items]:checked")).to_have_count(3)
    expect(page.locator("#group-members")).to_contain_text("Hefei Hash Depot")
    expect(page.locator("#group-members mark").first).to_have_text(re.compile("Antminer", re.IGNORECASE))
    page.screenshot(path=SCREENSHOTS.format(name="group"), full_page=True)

    kept = copies["b"]
    page.locator(f"#group-members article[data-item='{kept.pk}'] input[name=items]").uncheck()
    page.check("#group-decision input[value=taken_down]")
    page.fill("#group-decision textarea[name=reason]", "The same miner, copied by several stores.")
    page.click("#group-decision button[type=submit]")
    expect(page.locator("h1")).to_have_text("Confirm: take down 2 items")
    expect(page.locator("#confirm-items tbody tr")).to_have_count(2)
    page.screenshot(path=SCREENSHOTS.format(name="confirm"), full_page=True)
    page.click("#group-confirm-form button[type=submit]")

    page.wait_for_url(group_url)
    expect(page.locator(".messages")).to_contain_text("2 of 2 items decided.")
    expect(cards).to_have_count(1)
    expect(page.locator(f"#group-members article[data-item='{kept.pk}']")).to_be_visible()
    expect(page.locator("#group-decided article.dup-card")).to_have_count(2)
    expect(page.locator("#group-decided")).to_contain_text("Taken down by moderator")
    page.screenshot(path=SCREENSHOTS.format(name="decided"), full_page=True)

    taken = [copies["a"], copies["e"]]
    for item in taken:
        item.refresh_from_db()
        assert (item.decision, item.decided_by) == (ReviewItem.Decision.TAKEN_DOWN, moderator)
        assert Listing.objects.get(pk=item.listing_id).status == Listing.Status.DELISTED
    assert sorted(Violation.objects.values_list("review_item_id", flat=True)) == sorted(item.pk for item in taken)
    assert Notice.objects.filter(kind=Notice.Kind.LISTING_TAKEN_DOWN).count() == 2
    assert ReviewItem.objects.get(pk=kept.pk).status == ReviewItem.Status.OPEN

    # The item page of the one left links back to its group.
    page.goto(f"{live_server.url}/backoffice/queue/{kept.pk}/")
    expect(page.locator("#similar-listings")).to_have_text("3, side by side")
    page.screenshot(path=SCREENSHOTS.format(name="item"), full_page=True)


def test_the_group_page_fits_a_phone(browser, live_server, moderator, copies):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", moderator.get_username())
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/backoffice/")
        page.goto(f"{live_server.url}/backoffice/queue/groups/{copies['a'].duplicate_group_id}/")
        cards = page.locator("#group-members article.dup-card")
        expect(cards).to_have_count(3)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # Stacked: one card under the other, each as wide as the page's content.
        boxes = [cards.nth(n).bounding_box() for n in range(3)]
        assert boxes[0]["x"] == boxes[1]["x"] == boxes[2]["x"]
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
        page.screenshot(path=SCREENSHOTS.format(name="group-390"), full_page=True)
    finally:
        context.close()
