"""A trust-and-safety lead opens the dashboard in the browser and sees its charts drawn."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from moderation.services.sanctions import run_escalation
from tests.moderation.conftest import draft_policy, open_item  # noqa: F401
from tests.moderation.sanctions_fixtures import announced_policy, take_down, violate  # noqa: F401

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/dashboard.png"


def test_the_dashboard_draws_its_charts(
    live_server,
    login,
    moderator,
    merchant_a,
    merchant_b,
    violate,  # noqa: F811
    announced_policy,  # noqa: F811
):
    violate(merchant_a, 12)  # today: the policy is long in effect, past its grace
    violate(merchant_b, 4)
    run_escalation()
    page = login(moderator)
    # The dashboard's days are the policy's (Asia/Shanghai): from 16:00 UTC its today is tomorrow in UTC.
    today = timezone.localtime(timezone.now(), announced_policy.zone).date()
    page.goto(
        f"{live_server.url}/backoffice/?since={(today - timedelta(days=6)).isoformat()}&until={today.isoformat()}"
    )
    expect(page.locator("h1")).to_have_text("Enforcement dashboard")
    charts = page.locator("svg.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 7
    assert page.locator("svg.chart rect").count() >= 7 * 1  # bars drawn, one per day and series
    bars = page.locator("svg.chart rect").evaluate_all("rects => rects.map(r => r.getBBox().height)")
    assert any(height > 0 for height in bars)  # laid out by the browser, not only present in the HTML
    expect(page.locator('[data-figure="queue"]')).to_have_text("0")
    page.screenshot(path=SCREENSHOT, full_page=True)
