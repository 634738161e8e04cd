"""A moderator assigns an item from its page; the assignee finds it under "Assigned to me"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from moderation.models import ReviewItem
from tests.e2e.test_queue_pages import item_url, work  # noqa: F401 - a fixture
from tests.moderation.conftest import mining_rules, other_moderator  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/queue-item-assignment.png"


def test_a_moderator_assigns_an_item_and_the_assignee_finds_it(
    login,
    live_server,
    moderator,
    other_moderator,  # noqa: F811
    work,  # noqa: F811 - fixtures
):
    item = work["whatsminer"]
    page = login(moderator)
    page.clock.install()  # the countdown's timers run on the page's clock, moved on below
    page.goto(item_url(live_server, item))
    page.click("form[action$='/claim/'] button")
    expect(page.locator("#claim-lease-text")).to_have_text(re.compile(r"^Your claim lasts 1[45] more minutes\.$"))

    # The countdown warns under two minutes, then says the claim is over (once its timer is set).
    expect(page.locator("#claim-lease[data-counting]")).to_have_count(1)
    page.clock.run_for("13:30")
    expect(page.locator("#claim-lease-text")).to_contain_text("less than 2 minutes")
    expect(page.locator("#claim-lease")).to_have_class(re.compile("warning-box"))
    page.clock.run_for("02:00")
    expect(page.locator("#claim-lease-text")).to_contain_text("Your claim has ended")

    expect(page.locator("#assigned-to")).to_have_text("Not assigned to anyone.")
    page.select_option("#assignee-select", label="moderator-2")
    page.click("#assign-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Item #{item.pk} assigned to moderator-2.")
    expect(page.locator("#assigned-to")).to_have_text("Assigned to moderator-2.")
    page.screenshot(path=SCREENSHOT, full_page=True)
    # Handing on one's own claim releases it: the assignee can take it.
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.OPEN

    page.context.clear_cookies()
    page = login(other_moderator)
    page.goto(f"{live_server.url}/backoffice/queue/assigned/")
    expect(page.locator("h1")).to_have_text("Assigned to me")
    expect(page.locator("#assigned-table tbody tr")).to_have_count(1)
    page.click(f"#assigned-table >> text={item.listing.title}")
    page.wait_for_url(item_url(live_server, item))
    expect(page.locator("#assigned-to")).to_have_text("Assigned to moderator-2.")
