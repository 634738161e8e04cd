"""A moderator in Hangzhou, whose browser asks for Chinese, works the back office in Simplified Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from moderation.services.sanctions import run_escalation

# The penalty rules ride on this module's ``announced_policy``; ``open_item`` feeds ``take_down``.
from tests.moderation.conftest import open_item  # noqa: F401
from tests.moderation.sanctions_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser

SCREENSHOTS = "/tmp/chinese-{name}.png"


@pytest.fixture
def chinese_page(browser):
    """A browser whose language is Chinese (China): it sends ``Accept-Language: zh-CN``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/backoffice/")


def test_a_moderator_reads_the_back_office_in_chinese(
    chinese_page,
    live_server,
    senior,
    announced_policy,
    merchant_a,
    merchant_b,
    violate,
    open_item,  # noqa: F811
    make_listing,
    miners,
):
    violate(merchant_a, 12)  # today: long after the 2021 grace, so the points count
    run_escalation()
    item = open_item(make_listing(merchant_b, miners, title="蚂蚁矿机 S19 比特币矿机 95T"))
    page = chinese_page
    sign_in(page, live_server, senior)

    # The dashboard, with its charts' labels.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text("处置看板")
    expect(page.locator("nav.mainnav")).to_contain_text("审核队列")
    expect(page.locator("nav.mainnav")).to_contain_text("审计记录")
    expect(page.locator("#figures")).to_contain_text("最早的待处理条目")
    page.screenshot(path=SCREENSHOTS.format(name="dashboard"), full_page=True)

    # The review queue and an item in it.
    page.click("nav.mainnav >> text=审核队列")
    expect(page.locator("h1")).to_have_text("审核队列")
    expect(page.locator("#claim-next-form button")).to_contain_text("领取下一条")
    expect(page.locator("#queue-table thead")).to_contain_text("优先级")
    expect(page.locator("#queue-table tbody")).to_contain_text("蚂蚁矿机 S19")
    page.screenshot(path=SCREENSHOTS.format(name="queue"), full_page=True)
    page.goto(f"{live_server.url}/backoffice/queue/{item.pk}/")
    expect(page.locator("h1")).to_have_text(f"审核 #{item.pk}")
    expect(page.locator("#take-down-form button")).to_contain_text("下架")
    expect(page.locator("#dismiss-form button")).to_contain_text("判定无违规（误报）")
    page.screenshot(path=SCREENSHOTS.format(name="item"), full_page=True)

    # The merchant's record: statuses and sanction names come translated from the models.
    page.goto(f"{live_server.url}/backoffice/merchants/{merchant_a.pk}/")
    expect(page.locator("h1")).to_have_text(merchant_a.store_name)
    expect(page.locator("h2").first).to_have_text("扣分与处罚阶梯")
    expect(page.locator("#sanction-table")).to_contain_text("警告")
    expect(page.locator("#sanction-form-card h2")).to_have_text("作出处罚")
    page.screenshot(path=SCREENSHOTS.format(name="merchant"), full_page=True)

    # The policy and the appeals list.
    page.click("nav.mainnav >> text=政策")
    expect(page.locator("h1")).to_have_text("政策")
    page.goto(f"{live_server.url}/backoffice/policies/{announced_policy.pk}/")
    expect(page.locator("#penalties")).to_contain_text("整改期限")
    page.click("nav.mainnav >> text=申诉")
    expect(page.locator("h1")).to_have_text("申诉")
    expect(page.locator("#appeal-table tbody")).to_contain_text("没有符合筛选条件的申诉。")
