"""A moderator works the review queue in the browser: filter, claim next, take down, keys, hostile titles."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backoffice.roles import Role
from moderation.models import ReviewItem, Violation
from moderation.services import queue
from moderation.services.queue import Detection, open_review_items
from sellers.models import Listing

# The queue's fixtures, shared with the enforcement tests.
from tests.conftest import make_user
from tests.moderation.conftest import mining_rules  # noqa: F401

pytestmark = pytest.mark.browser

QUEUE_SCREENSHOT = "/tmp/queue-page.png"
ITEM_SCREENSHOT = "/tmp/queue-item.png"


def item_url(live_server, item: ReviewItem) -> str:
    return f"{live_server.url}/backoffice/queue/{item.pk}/"


def row_ids(page) -> list[int]:
    return [
        int(href.rsplit("/", 2)[-2])
        for href in page.locator("#queue-table tbody tr[data-href]").evaluate_all(
            "rows => rows.map(row => row.dataset.href)"
        )
    ]


@pytest.fixture
def work(request, announced_policy, merchant_a, merchant_b, miners, make_listing):
    """Listings that detection queues as they are created (the live server commits, Celery is eager).

    The policy is in effect (today is long after 2021). Both fields of each listing match, so
    its page renders whatever the template does with a missing field's spans.
    By priority: Avalon (26), Antminer (16), Whatsminer (16), then a merchant's report (11).
    """
    request.getfixturevalue("mining_rules")
    listings = {
        "avalon": make_listing(
            merchant_a, miners, title="Avalon 1246 and Antminer S19 bundle", description="Two Bitcoin miner units."
        ),
        "antminer": make_listing(
            merchant_b, miners, title="Antminer S19 Pro 110TH/s", description="Bitcoin miner, 3250 W."
        ),
        "whatsminer": make_listing(
            merchant_b, miners, title="Whatsminer M30S 88TH/s", description="Used Bitcoin miner, tested."
        ),
        "reported": make_listing(merchant_a, miners, title="Hashboard for S9", description="Spare part."),
    }
    open_review_items(
        policy=announced_policy,
        detections=[(listings["reported"], Detection(Decimal(11), [], {"title": [], "description": []}))],
        source=ReviewItem.Source.REPORT,
    )
    items = {name: ReviewItem.objects.get(listing=listing) for name, listing in listings.items()}
    assert [items[name].priority for name in ("avalon", "antminer", "whatsminer", "reported")] == [26, 16, 16, 11]
    assert items["reported"].source == "report"
    return items


def test_a_moderator_filters_claims_next_takes_down_and_gets_the_next_item(login, live_server, moderator, work):
    page = login(moderator)
    page.click("nav.mainnav >> text=Review queue")
    expect(page.locator("h1")).to_have_text("Review queue")
    assert row_ids(page) == [work[name].pk for name in ("avalon", "antminer", "whatsminer", "reported")]
    expect(page.locator("[data-figure=open]")).to_have_text("4 unclaimed")

    # The filters sit in a closed <details>: open it, keep the detections only.
    filters = page.locator("details.card")
    assert filters.get_attribute("open") is None
    page.click("details.card > summary")
    page.select_option("#id_source", "detection")
    page.click("#filter-form button[type=submit]")
    page.wait_for_url(re.compile(r"source=detection"))
    assert row_ids(page) == [work[name].pk for name in ("avalon", "antminer", "whatsminer")]
    assert filters.get_attribute("open") is not None  # it stays open while filtering

    page.click("#claim-next-form button")
    page.wait_for_url(item_url(live_server, work["avalon"]))
    expect(page.locator("text=Claimed by you")).to_be_visible()
    expect(page.locator("#listing-title mark").first).to_have_text("Avalon")

    page.click("#take-down-form button[type=submit]")
    page.wait_for_url(item_url(live_server, work["antminer"]))
    expect(page.locator(".messages")).to_contain_text(f"Listing #{work['avalon'].listing_id} taken down")
    expect(page.locator("#listing-title")).to_contain_text("Antminer S19 Pro")
    assert Listing.objects.get(pk=work["avalon"].listing_id).status == Listing.Status.DELISTED
    assert Violation.objects.get().decided_by == moderator
    assert ReviewItem.objects.get(pk=work["antminer"].pk).claimed_by == moderator


def test_keys_claim_next_on_the_queue_and_take_down_on_the_item(login, live_server, moderator, work):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    page.keyboard.press("n")
    page.wait_for_url(item_url(live_server, work["avalon"]))

    # Typing in a field does not trigger the shortcuts.
    page.click("#take-down-form textarea")
    page.keyboard.type("tt")
    assert page.url == item_url(live_server, work["avalon"])
    expect(page.locator("#take-down-form textarea")).to_have_value("tt")

    page.click("h1")  # leave the field
    page.keyboard.press("t")
    page.wait_for_url(item_url(live_server, work["antminer"]))
    avalon = ReviewItem.objects.get(pk=work["avalon"].pk)
    assert (avalon.status, avalon.decision) == ("decided", "taken_down")
    assert Violation.objects.get().reason == "tt"  # the note typed above went with it
    assert Listing.objects.get(pk=work["avalon"].listing_id).status == Listing.Status.DELISTED

    page.keyboard.press("t")
    page.wait_for_url(item_url(live_server, work["whatsminer"]))
    assert Listing.objects.get(pk=work["antminer"].listing_id).status == Listing.Status.DELISTED


def test_j_k_and_enter_move_through_the_queue_and_open_an_item(login, live_server, moderator, work):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    for key in ("j", "j", "j", "k"):
        page.keyboard.press(key)
    expect(page.locator("#queue-table tr.selected")).to_have_count(1)
    expect(page.locator("#queue-table tr.selected")).to_have_attribute(
        "data-href", f"/backoffice/queue/{work['antminer'].pk}/"
    )
    page.keyboard.press("x")
    expect(page.locator("#selected-count")).to_have_text("1")
    page.keyboard.press("Enter")
    page.wait_for_url(item_url(live_server, work["antminer"]))


HOSTILE_TITLE = 'Antminer S19 <script>window.__xss=1</script> <img src=x onerror="window.__xss=2">'


@pytest.mark.usefixtures("mining_rules")
def test_a_hostile_title_is_shown_as_text_and_runs_nothing(
    login, live_server, moderator, merchant_b, miners, make_listing
):
    listing = make_listing(
        merchant_b,
        miners,
        title=HOSTILE_TITLE,
        description='Bitcoin miner <script>window.__xss=3</script><img src=y onerror="window.__xss=4">',
    )
    item = ReviewItem.objects.get(listing=listing)
    page = login(moderator)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.url}/backoffice/queue/")
    cell = page.locator(f"#queue-table tr[data-href='/backoffice/queue/{item.pk}/'] td").nth(2)
    expect(cell).to_contain_text("<script>window.__xss=1</script>")
    expect(cell).to_contain_text('<img src=x onerror="window.__xss=2">')
    assert cell.locator("script, img").count() == 0
    assert page.evaluate("window.__xss") is None

    page.goto(item_url(live_server, item))
    title = page.locator("#listing-title")
    expect(title).to_have_text(HOSTILE_TITLE)
    expect(title.locator("mark")).to_have_text("Antminer")
    assert title.locator("script, img").count() == 0
    description = page.locator(".listing-description")
    expect(description).to_contain_text("<script>window.__xss=3</script>")
    expect(description.locator("mark")).to_have_text("Bitcoin miner")
    assert description.locator("script, img").count() == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_screenshots_of_a_working_day(login, live_server, senior, work, merchant_a, miners, make_listing):
    """A queue with claimed, escalated and overdue items, for a person to look at."""
    other_moderator = make_user("moderator-2", Role.MODERATOR)
    for n in range(6):
        make_listing(
            merchant_a,
            miners,
            title=f"Antminer L7 9.5GH/s Litecoin Dogecoin miner lot {n}",
            description="Bitcoin miner sold with PSU, 3425 W, ships from Shenzhen.",
        )
    queue.claim_item(actor=other_moderator, item=work["whatsminer"])
    queue.escalate_item(actor=other_moderator, item=work["reported"], note="Is a hashboard a miner?")
    # Overdue: detected two days ago (the service level is a day).
    ReviewItem.objects.filter(pk=work["antminer"].pk).update(
        created_at=timezone.now() - timedelta(days=2), due_at=timezone.now() - timedelta(days=1)
    )
    page = login(senior)
    page.goto(f"{live_server.url}/backoffice/queue/")
    page.screenshot(path=QUEUE_SCREENSHOT, full_page=True)
    page.goto(item_url(live_server, work["avalon"]))
    page.screenshot(path=ITEM_SCREENSHOT, full_page=True)
