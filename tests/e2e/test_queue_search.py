"""A moderator searches the review queue in the browser: type, press Enter, the list narrows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_queue_pages import row_ids, work  # noqa: F401  (the queue's items)
from tests.moderation.conftest import mining_rules  # noqa: F401

pytestmark = pytest.mark.browser


def test_typing_in_the_search_box_narrows_the_queue(login, live_server, moderator, work):  # noqa: F811
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    assert len(row_ids(page)) == 4

    page.fill("input[type=search][name=q]", "whatsmin")
    page.press("input[type=search][name=q]", "Enter")
    page.wait_for_url(re.compile(r"q=whatsmin"))
    assert row_ids(page) == [work["whatsminer"].pk]
    expect(page.locator("input[type=search][name=q]")).to_have_value("whatsmin")

    # The counts beside the options follow the search; the date filters are date pickers.
    expect(page.locator("#id_source option[value=detection]")).to_have_text("Detection (1)")
    expect(page.locator("#id_created_after")).to_have_attribute("type", "date")
    page.screenshot(path="/tmp/queue-search.png", full_page=True)

    page.fill("input[type=search][name=q]", "Guangzhou")  # merchant B's store
    page.press("input[type=search][name=q]", "Enter")
    page.wait_for_url(re.compile(r"q=Guangzhou"))
    assert sorted(row_ids(page)) == sorted([work["antminer"].pk, work["whatsminer"].pk])
