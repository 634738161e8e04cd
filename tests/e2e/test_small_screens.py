"""A senior moderator on a phone (390 × 844): the queue, an item, a merchant and an appeal fit the screen,
the navigation is one button away, and wide tables scroll inside themselves."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from moderation.models import Appeal
from moderation.services.appeals import file_appeal

# The enforcement fixtures: the reference policy with its ladder, a moderator's take-down.
from tests.moderation.conftest import open_item  # noqa: F401
from tests.moderation.sanctions_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOT = "/tmp/small-screens-{name}-{width}.png"
PAGE_WIDTH = "document.documentElement.scrollWidth"
# A header cell on one line is about 30 px high; wrapped one character per line it is several times that.
TALLEST_HEADER = "Math.max(...[...document.querySelectorAll('table.grid th')].map(th => th.offsetHeight))"


def phone_context(browser, locale: str):
    context = browser.new_context(viewport=PHONE, locale=locale)
    context.set_default_timeout(15_000)
    return context


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/backoffice/")


@pytest.fixture
def pages(senior, merchant_a, merchant_b, merchant_user_a, take_down, open_item, make_listing, miners):  # noqa: F811
    violation = take_down(merchant_a)
    appeal = file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind=Appeal.Kind.VIOLATION,
        object_id=violation.pk,
        grounds="Not a miner: a GPU riser dock for gaming rigs, without any hashing board.",
    )
    item = open_item(make_listing(merchant_b, miners, title="Antminer S19 Pro 110T Bitcoin miner, used, with PSU"))
    return {
        "queue": "/backoffice/queue/",
        "item": f"/backoffice/queue/{item.pk}/",
        "merchant": f"/backoffice/merchants/{merchant_a.pk}/",
        "appeal": f"/backoffice/appeals/{appeal.pk}/",
    }


def test_the_work_pages_fit_a_phone_and_the_menu_opens(browser, live_server, senior, pages):
    context = phone_context(browser, "en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, senior)
        for name, path in pages.items():
            page.set_viewport_size(PHONE)
            page.goto(live_server.url + path)
            assert page.evaluate(PAGE_WIDTH) <= PHONE["width"], f"{name} is wider than the phone"
            page.screenshot(path=SCREENSHOT.format(name=name, width=PHONE["width"]), full_page=True)

            # The navigation is folded behind the menu button, which opens and closes it.
            nav, toggle = page.locator("nav.mainnav"), page.locator("#menu-toggle")
            expect(nav).to_be_hidden()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            for link in ("Overview", "Review queue", "Appeals", "Merchants", "Audit trail"):
                expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
            expect(page.locator("#profile-link")).to_be_visible()
            assert page.evaluate(PAGE_WIDTH) <= PHONE["width"], f"{name}'s open menu is wider than the phone"
            page.screenshot(path=SCREENSHOT.format(name=f"{name}-menu", width=PHONE["width"]))
            page.keyboard.press("Escape")
            expect(nav).to_be_hidden()

            # On a desktop nothing is folded and nothing got wider than the window.
            page.set_viewport_size(DESKTOP)
            expect(toggle).to_be_hidden()
            expect(nav).to_be_visible()
            assert page.evaluate(PAGE_WIDTH) <= DESKTOP["width"]
            page.screenshot(path=SCREENSHOT.format(name=name, width=DESKTOP["width"]), full_page=True)

        # The menu's links lead somewhere: from the item back to the merchants.
        page.set_viewport_size(PHONE)
        page.goto(live_server.url + pages["item"])
        page.click("#menu-toggle")
        page.locator("nav.mainnav").get_by_role("link", name="Merchants", exact=True).click()
        page.wait_for_url(f"{live_server.url}/backoffice/merchants/")
        expect(page.locator("h1")).to_have_text("Merchants")
    finally:
        context.close()


def test_a_wide_table_scrolls_inside_itself_not_the_page(browser, live_server, senior, pages):
    context = phone_context(browser, "en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, senior)
        page.goto(live_server.url + pages["queue"])
        table = page.locator("#queue-table")
        scroll = table.evaluate(
            "t => ({inner: t.scrollWidth, outer: t.clientWidth, overflow: getComputedStyle(t).overflowX})"
        )
        assert scroll["overflow"] == "auto"
        assert scroll["outer"] <= PHONE["width"] < scroll["inner"]  # ten columns: more than a phone's width
        assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]
    finally:
        context.close()


def test_chinese_table_headers_stay_on_one_line_on_a_phone(browser, live_server, senior, pages):
    context = phone_context(browser, "zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, senior)
        for name in ("queue", "merchant"):
            page.goto(live_server.url + pages[name])
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            assert page.evaluate(PAGE_WIDTH) <= PHONE["width"]
            assert page.evaluate(TALLEST_HEADER) < 40, f"a header of the {name} page wraps"
            page.screenshot(path=SCREENSHOT.format(name=f"{name}-zh", width=PHONE["width"]), full_page=True)
    finally:
        context.close()
