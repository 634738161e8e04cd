"""A moderator undoes a take-down in the browser, reads the shortcuts overlay, submits with Ctrl+Enter."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from moderation.models import ReviewItem, Violation
from sellers.models import Listing
from tests.e2e.test_queue_pages import item_url, work  # noqa: F401 - a fixture
from tests.moderation.conftest import mining_rules  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser

OVERLAY_SCREENSHOT = "/tmp/queue-shortcuts.png"
UNDO_SCREENSHOT = "/tmp/queue-undo.png"


def test_a_moderator_takes_down_an_item_and_undoes_it(login, live_server, moderator, work):  # noqa: F811
    page = login(moderator)
    page.goto(item_url(live_server, work["avalon"]))
    page.click("#take-down-form button[type=submit]")
    page.wait_for_url(item_url(live_server, work["antminer"]))  # the next item opens

    banner = page.locator("#undo-banner")
    expect(banner).to_contain_text(f"review #{work['avalon'].pk}")
    expect(banner).to_contain_text("left to undo")
    page.screenshot(path=UNDO_SCREENSHOT, full_page=True)
    page.click("#undo-button")

    page.wait_for_url(item_url(live_server, work["avalon"]))
    expect(page.locator(".messages")).to_contain_text(f"Decision on item #{work['avalon'].pk} undone")
    expect(page.locator("#take-down-form")).to_be_visible()  # open again: it can be decided anew
    expect(page.locator("#undo-banner")).to_have_count(0)
    avalon = ReviewItem.objects.get(pk=work["avalon"].pk)
    assert (avalon.status, avalon.decision) == ("open", "")
    assert Listing.objects.get(pk=avalon.listing_id).status == Listing.Status.LIVE
    assert Violation.objects.get().status == Violation.Status.OVERTURNED


def test_question_mark_opens_the_shortcuts_and_escape_closes_them(login, live_server, moderator, work):  # noqa: F811
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/queue/")
    overlay = page.locator("#shortcuts-overlay")
    expect(overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    for key in ("j", "k", "x", "Enter", "n", "t", "d", "e", "c", "Ctrl", "?", "Esc"):
        expect(overlay.locator("kbd", has_text=key).first).to_be_visible()
    # Focus moved into it; the keys of the page behind do nothing while it is open.
    assert page.evaluate("document.activeElement.id") == "shortcuts-close"
    page.keyboard.press("n")
    assert page.url == f"{live_server.url}/backoffice/queue/"
    page.screenshot(path=OVERLAY_SCREENSHOT)
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    # The button opens it too, and focus comes back to the button when it closes.
    page.click("#shortcuts-open")
    expect(overlay).to_be_visible()
    page.keyboard.press("Enter")  # on the focused Close button
    expect(overlay).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "shortcuts-open"


def test_ctrl_enter_in_the_reason_box_submits_the_dismissal(login, live_server, moderator, work):  # noqa: F811
    page = login(moderator)
    page.goto(item_url(live_server, work["avalon"]))
    page.keyboard.press("d")  # focuses the dismissal's reason
    page.keyboard.type("A poster of a miner, not a miner.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(item_url(live_server, work["antminer"]))
    avalon = ReviewItem.objects.get(pk=work["avalon"].pk)
    assert (avalon.decision, avalon.decision_reason) == ("dismissed", "A poster of a miner, not a miner.")

    page.keyboard.press("e")  # the escalation's note, with Cmd+Enter as on a Mac
    page.keyboard.type("Is a bundle a miner?")
    page.keyboard.press("Meta+Enter")
    page.wait_for_url(item_url(live_server, work["whatsminer"]))
    assert ReviewItem.objects.get(pk=work["antminer"].pk).tier == "senior"
