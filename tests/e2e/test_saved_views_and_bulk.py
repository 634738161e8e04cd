"""Saved views, "select all N matching items" across pages, and a refused bulk decision that keeps its ticks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from moderation.models import ReviewItem, SavedQueueView, Violation
from tests.e2e.test_queue_pages import row_ids, work  # noqa: F401 - a fixture
from tests.moderation.conftest import mining_rules, other_moderator  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

SCREENSHOTS = "/tmp/wtA"


def shot(page, name: str) -> None:
    page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


@pytest.fixture
def lots(request, announced_policy, merchant_a, merchant_b, miners, make_listing, settings):
    """Eight detected listings on pages of five: the queue spans two pages."""
    request.getfixturevalue("mining_rules")
    settings.REVIEW_QUEUE_PAGE_SIZE = 5
    for n in range(8):
        make_listing(
            merchant_a if n % 2 else merchant_b,
            miners,
            title=f"Antminer S19 Pro lot {n}",
            description="Bitcoin miner, 3250 W.",
        )
    return list(ReviewItem.objects.order_by("-priority", "id").values_list("pk", flat=True))


def test_a_moderator_saves_a_view_opens_it_and_another_moderator_sees_it_shared(
    login,
    live_server,
    moderator,
    other_moderator,  # noqa: F811
    work,  # noqa: F811
):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    expect(page.locator("#my-views")).to_contain_text("None yet")
    page.click("details.card > summary")
    page.select_option("#id_source", "detection")
    page.click("#filter-form button[type=submit]")
    page.wait_for_url(re.compile(r"source=detection"))

    page.fill("#save-view-name", "Detections only")
    page.check("#save-view-form input[name=shared]")
    page.click("#save-view-form button[type=submit]")
    page.wait_for_url(re.compile(r"/backoffice/queue/\?.*source=detection"))
    expect(page.locator(".messages")).to_contain_text("View “Detections only” saved.")
    link = page.locator("#my-views a", has_text="Detections only")
    expect(link).to_have_attribute("aria-current", "true")
    expect(page.locator("#my-views .badge")).to_have_text("shared")
    shot(page, "saved-views-desktop")

    # A second view with the same name, whatever its case: refused by the name, nothing saved.
    page.fill("#save-view-name", "DETECTIONS ONLY")
    page.click("#save-view-form button[type=submit]")
    expect(page.locator("#save-view-error")).to_contain_text("You already have a view named “DETECTIONS ONLY”.")
    expect(page.locator("#save-view-name")).to_have_value("DETECTIONS ONLY")
    expect(page.locator("#save-view-name")).to_have_attribute("aria-invalid", "true")
    assert "source=detection" in page.url  # the same page, filters kept
    shot(page, "saved-views-duplicate-name")
    assert SavedQueueView.objects.count() == 1

    # Its own page renames it or changes its sharing.
    page.click("#my-views >> text=Rename or share…")
    page.wait_for_url(f"{live_server.url}/backoffice/queue/views/")
    view = SavedQueueView.objects.get()
    expect(page.locator("#saved-views-table > li")).to_have_count(1)
    expect(page.locator(f"#id_view-{view.pk}-name")).to_have_value("Detections only")
    shot(page, "saved-views-manage")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "saved-views-manage-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Opening the view from the whole queue applies its filters.
    page.goto(f"{live_server.url}/backoffice/queue/")
    assert len(row_ids(page)) == 4
    page.click("#my-views >> text=Detections only")
    page.wait_for_url(re.compile(r"source=detection"))
    assert row_ids(page) == [work[name].pk for name in ("avalon", "antminer", "whatsminer")]

    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "saved-views-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.context.clear_cookies()
    page = login(other_moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    shared = page.locator("#shared-views")
    expect(shared).to_contain_text("Detections only")
    expect(shared).to_contain_text("by moderator")
    expect(shared.locator("button")).to_have_count(0)  # not theirs to delete
    page.click("#shared-views >> text=Detections only")
    page.wait_for_url(re.compile(r"source=detection"))
    assert row_ids(page) == [work[name].pk for name in ("avalon", "antminer", "whatsminer")]


def test_ticking_the_page_offers_every_matching_item_and_the_confirmation_states_the_count(
    login, live_server, moderator, lots
):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    offer = page.locator("#select-matching")
    expect(offer).to_be_hidden()
    page.check("#select-all")
    expect(page.locator("#selected-count")).to_have_text("5")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("Select all 8 items these filters select")
    page.check("#select-all-matching")
    expect(page.locator("#selected-count")).to_have_text("8")
    shot(page, "bulk-select-all-offer")

    # Unticking one row of the page takes "all matching" back, as Gmail does.
    page.uncheck(f"#queue-table input[value='{lots[0]}']")
    expect(page.locator("#select-all-matching")).not_to_be_checked()
    expect(offer).to_be_hidden()
    expect(page.locator("#selected-count")).to_have_text("4")
    page.check("#select-all")
    page.check("#select-all-matching")

    page.select_option("#bulk-form select[name=decision]", "taken_down")
    page.click("#bulk-form button[name=step]")
    page.wait_for_url(f"{live_server.url}/backoffice/queue/bulk/")
    expect(page.locator("#bulk-count")).to_contain_text("You are about to take down 8 items.")
    expect(page.locator("#bulk-items tbody tr")).to_have_count(8)
    shot(page, "bulk-confirm-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "bulk-confirm-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("#bulk-confirm-form button[name=step]")
    page.wait_for_url(f"{live_server.url}/backoffice/queue/")
    expect(page.locator(".messages")).to_contain_text("8 of 8 items decided.")
    assert set(ReviewItem.objects.values_list("decision", flat=True)) == {"taken_down"}
    assert Violation.objects.count() == 8


def test_a_refused_bulk_dismissal_comes_back_with_its_boxes_still_ticked(login, live_server, moderator, lots):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/?source=detection&page=2")
    chosen = row_ids(page)[:2]
    for pk in chosen:
        page.check(f"#queue-table input[value='{pk}']")
    page.select_option("#bulk-form select[name=decision]", "dismissed")
    page.click("#bulk-form button[name=step]")  # no reason: refused

    page.wait_for_url(f"{live_server.url}/backoffice/queue/?source=detection&page=2")
    expect(page.locator("#bulk-reason-error")).to_contain_text("Say why these are not violations.")
    expect(page.locator("#bulk-items-error")).to_have_count(0)
    expect(page.locator("#bulk-form input[name=reason]")).to_have_attribute("aria-invalid", "true")
    ticked = page.locator("#queue-table tbody input[name=items]:checked")
    expect(ticked).to_have_count(2)
    assert sorted(int(value) for value in ticked.evaluate_all("boxes => boxes.map(box => box.value)")) == sorted(chosen)
    expect(page.locator("#selected-count")).to_have_text("2")
    shot(page, "bulk-refused-keeps-selection")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "bulk-refused-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # With a reason the same selection goes through.
    page.fill("#bulk-form input[name=reason]", "Posters of miners, not miners.")
    page.click("#bulk-form button[name=step]")
    expect(page.locator("#bulk-count")).to_contain_text("You are about to dismiss 2 items.")
    page.click("#bulk-confirm-form button[name=step]")
    page.wait_for_url(f"{live_server.url}/backoffice/queue/?source=detection&page=2")
    expect(page.locator(".messages")).to_contain_text("2 of 2 items decided.")
    assert set(ReviewItem.objects.filter(pk__in=chosen).values_list("decision", flat=True)) == {"dismissed"}
