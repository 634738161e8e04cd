"""A policy admin schedules a category removal in the browser and watches it run to the end."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from moderation.models import CategoryRemoval, Notice
from sellers.models import Listing

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/removal-progress.png"


def test_a_policy_admin_schedules_a_removal_and_watches_it_complete(
    login, live_server, settings, policy_admin, announced_policy, miners, miner_accessories, removal_catalog
):
    settings.REMOVAL_CHUNK_SIZE = 3  # five chunks for the 13 listings: the bar moves in steps
    page = login(policy_admin)

    page.click("nav.mainnav >> text=Removals")
    page.click("text=Schedule a removal")
    expect(page.locator("h1")).to_have_text("Schedule a category removal")
    page.select_option("#id_policy", str(announced_policy.pk))
    page.select_option("#id_categories", [str(miners.pk), str(miner_accessories.pk)])
    page.click("button[name=step][value=preview]")

    dry_run = page.locator("#dry-run")
    expect(dry_run.locator("[data-total=listings]")).to_have_text("13")
    expect(dry_run.locator("[data-total=merchants]")).to_have_text("3")
    expect(dry_run.locator("#dry-run-marketplaces tbody tr")).to_have_count(2)
    expect(dry_run).to_contain_text("AliExpress")
    assert not CategoryRemoval.objects.exists()  # a preview schedules nothing

    page.click("button[name=step][value=confirm]")
    page.wait_for_url(re.compile(r"/backoffice/removals/\d+/$"))
    removal = CategoryRemoval.objects.get()
    assert page.url == f"{live_server.url}/backoffice/removals/{removal.pk}/"
    expect(page.locator(".messages")).to_contain_text(f"Removal #{removal.pk} scheduled.")
    badge = page.locator("#status-badge")
    expect(badge).to_have_text("Scheduled")
    page.evaluate("window.notReloaded = true")

    # The page polls the progress endpoint every second. Its requests are held while the
    # test process runs the removal and released at the next Playwright call: on SQLite
    # the live server shares this thread's in-memory connection, which two threads must
    # not use at once. The removal is due (the reference dates are in 2021).
    page.route("**/progress/", lambda route: route.continue_())
    call_command("run_due_removals")

    expect(badge).to_have_text("Completed", timeout=20_000)
    expect(page.locator("#percent")).to_have_text("100")
    expect(page.locator("#done")).to_have_text("13")
    expect(page.locator("#total")).to_have_text("13")
    expect(page.locator("#chunks-done")).to_have_text("5")
    expect(page.locator("#notified")).to_have_text("3")
    expect(page.locator("#outcome")).to_have_text("Completed: 13 listings delisted, 3 merchants notified.")
    expect(page.locator("#progress-bar")).to_have_attribute("style", re.compile(r"width: 100%"))
    assert page.evaluate("window.notReloaded") is True
    # The bar's width is animated: wait until it really fills its track, then take the picture.
    page.wait_for_function(
        """() => {
            const bar = document.getElementById("progress-bar");
            return bar.getBoundingClientRect().width >= bar.parentElement.clientWidth - 0.5;
        }"""
    )
    page.screenshot(path=SCREENSHOT, full_page=True)

    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.COMPLETED
    assert Listing.objects.filter(pk__in=removal_catalog["doomed_ids"], status="delisted").count() == 13
    assert Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED).count() == 3


def test_a_moderator_cannot_open_the_schedule_page(login, live_server, moderator, announced_policy):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/removals/")
    expect(page.locator("h1")).to_have_text("Category removals")
    expect(page.locator("text=Schedule a removal")).to_have_count(0)
    response = page.goto(f"{live_server.url}/backoffice/removals/new/")
    assert response.status == 403


@pytest.fixture
def scheduled_removal(policy_admin, announced_policy, miners, miner_accessories, removal_catalog):
    from moderation.services.removals import schedule_removal

    return schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories])


def test_the_resume_button_shows_only_for_a_failed_or_stalled_removal(
    login, live_server, policy_admin, scheduled_removal
):
    page = login(policy_admin)
    page.goto(f"{live_server.url}/backoffice/removals/{scheduled_removal.pk}/")
    expect(page.locator("#status-badge")).to_have_text("Scheduled")
    assert page.locator("#resume-form").get_attribute("class").split() == ["inline", "hidden"]
    assert not page.locator("#resume-form button").is_visible()


def test_the_cancel_button_goes_away_once_the_removal_has_run(login, live_server, policy_admin, scheduled_removal):
    page = login(policy_admin)
    page.goto(f"{live_server.url}/backoffice/removals/{scheduled_removal.pk}/")
    cancel = page.get_by_role("button", name="Cancel removal")
    expect(cancel).to_be_visible()
    page.route("**/progress/", lambda route: route.continue_())  # see the test above
    call_command("run_due_removals")
    expect(page.locator("#status-badge")).to_have_text("Completed", timeout=20_000)
    assert not cancel.is_visible()
