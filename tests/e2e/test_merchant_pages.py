"""A senior moderator finds a merchant, reads its record, warns it, blocks its store, and lifts the block."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from moderation.models import Notice, Sanction
from sellers.models import Merchant

# The penalty rules ride on this module's ``announced_policy``; ``open_item`` feeds ``take_down``.
from tests.moderation.conftest import open_item  # noqa: F401
from tests.moderation.sanctions_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/merchant_page.png"
WARNING_REASON = "Three Antminer listings were moved into Graphics Cards to evade the ban."
BLOCK_REASON = "Listed mining machines again after the warning: the store is blocked for a week."
LIFT_REASON = "The merchant removed every mining product and proved it."


def sanction_rows(page):
    return page.locator("#sanction-table tbody tr")


def test_a_senior_warns_blocks_and_lifts_through_the_merchant_page(
    login, live_server, senior, announced_policy, merchant_a, merchant_b, violate
):
    # Today is long after the 2021 grace: the evasion counts (4 points, below the ladder's first step).
    violate(merchant_a, 4)
    assert not Sanction.objects.exists()

    page = login(senior)
    page.click("nav.mainnav >> text=Merchants")
    expect(page.locator("h1")).to_have_text("Merchants")
    # The page opens on every merchant; nobody is restricted yet.
    expect(page.locator("#merchant-table tbody tr")).to_have_count(2)
    page.select_option("#merchant-search select[name=status]", "restricted")
    page.click("#merchant-search button[type=submit]")
    page.wait_for_url(re.compile(r"status=restricted"))
    expect(page.locator("#merchant-table tbody")).to_contain_text("No merchant matches.")
    page.select_option("#merchant-search select[name=status]", "")
    page.fill("#merchant-search input[name=q]", "hashpower")
    page.click("#merchant-search button[type=submit]")
    page.wait_for_url(re.compile(r"q=hashpower"))
    expect(page.locator("#merchant-table tbody tr")).to_have_count(1)
    page.locator("#merchant-table").get_by_role("link", name="Shenzhen Hashpower Trading", exact=True).click()
    page.wait_for_url(f"{live_server.url}/backoffice/merchants/{merchant_a.pk}/")

    expect(page.locator("h1")).to_have_text("Shenzhen Hashpower Trading")
    badge = page.locator("#enforcement-status")
    expect(badge).to_have_text("Active")
    ladder = page.locator(".card.ladder[data-policy=virtual-currency-mining]")
    expect(ladder.locator("[data-figure=points]")).to_have_text("4")
    expect(ladder.locator("[data-figure=reached]")).to_have_text("none")
    expect(ladder.locator(".ladder-steps tbody tr")).to_have_count(5)
    expect(ladder.locator(".ladder-steps tbody tr").nth(1)).to_contain_text("Store blocked")
    expect(page.locator("#violation-table tbody tr")).to_have_count(1)
    expect(page.locator("#violation-table tbody tr")).to_contain_text("Evasion by keyword distortion")

    # A warning first.
    form = page.locator("#sanction-form")
    expect(form.locator("#id_policy")).to_have_value(str(announced_policy.pk))
    form.locator("#id_kind").select_option("warning")
    form.locator("#id_reason").fill(WARNING_REASON)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/backoffice/merchants/{merchant_a.pk}/")
    expect(page.locator(".messages")).to_contain_text("Warning issued; the merchant is notified.")
    expect(sanction_rows(page)).to_have_count(1)
    expect(sanction_rows(page).first).to_contain_text("Warning")
    expect(badge).to_have_text("Active")  # a warning restricts nothing

    # Then a store block for 7 days: the warning is on record.
    form.locator("#id_kind").select_option("store_block")
    form.locator("#id_duration_days").fill("7")
    form.locator("#id_reason").fill(BLOCK_REASON)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/backoffice/merchants/{merchant_a.pk}/")
    expect(page.locator(".messages")).to_contain_text("Store blocked issued; the merchant is notified.")
    expect(badge).to_have_text(re.compile(r"^Store blocked until \d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(sanction_rows(page)).to_have_count(2)
    block = Sanction.objects.get(kind="store_block")
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.enforcement_until) == ("store_blocked", block.ends_at)
    expect(badge).to_contain_text(f"{block.ends_at:%Y-%m-%d %H:%M}")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The merchant shows among the restricted ones now.
    page.click("text=All merchants")
    page.select_option("#merchant-search select[name=status]", "restricted")
    page.click("#merchant-search button[type=submit]")
    page.wait_for_url(re.compile(r"status=restricted"))
    expect(page.locator("#merchant-table tbody tr")).to_have_count(1)
    expect(page.locator("#merchant-table tbody tr")).to_contain_text("Store blocked")
    page.locator("#merchant-table").get_by_role("link", name="Shenzhen Hashpower Trading", exact=True).click()

    # Lift the block from its row.
    row = sanction_rows(page).filter(has_text="Store blocked")
    row.locator("textarea[name=reason]").fill(LIFT_REASON)
    row.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/backoffice/merchants/{merchant_a.pk}/")
    expect(page.locator(".messages")).to_contain_text("Store blocked lifted; the merchant is notified.")
    expect(badge).to_have_text("Active")
    expect(sanction_rows(page).filter(has_text="Store blocked")).to_contain_text("Lifted")
    expect(sanction_rows(page).filter(has_text="Store blocked").locator("textarea")).to_have_count(0)
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.ACTIVE
    kinds = sorted(Notice.objects.filter(merchant=merchant_a).values_list("kind", flat=True))
    assert kinds == ["listing_taken_down", "sanction", "sanction_ended", "warning"]
    page.screenshot(path=SCREENSHOT.replace(".png", "-lifted.png"), full_page=True)
