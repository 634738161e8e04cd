"""Another moderator works the appeal queue in the browser: open the appeal, read the grounds, grant it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backoffice.roles import Role
from moderation.models import Appeal, AuditVerb, Violation
from moderation.services.appeals import file_appeal
from sellers.models import Listing
from tests.conftest import make_user

# The enforcement fixtures: the reference policy with its ladder, a moderator's take-down.
from tests.moderation.conftest import open_item  # noqa: F401
from tests.moderation.sanctions_fixtures import *  # noqa: F403 - announced_policy (with the ladder), take_down, violate

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/appeal_page.png"
GROUNDS = (
    "This is a GPU riser dock for gaming rigs, not a mining machine: it has no hashing chips. "
    "The word “Antminer” was in the supplier's title by mistake and is gone from our catalogue."
)
REASON = "The photos and the specification show a GPU dock without hashing boards: not a mining machine."


def test_another_moderator_grants_an_appeal_and_the_listing_is_live_again(
    login,
    live_server,
    moderator,
    merchant_a,
    merchant_user_a,
    take_down,
):
    other_moderator = make_user("moderator-2", Role.MODERATOR)  # not the one who took the listing down
    violation = take_down(merchant_a)
    listing = violation.listing
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.DELISTED
    appeal = file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind=Appeal.Kind.VIOLATION, object_id=violation.pk, grounds=GROUNDS
    )

    page = login(other_moderator)
    page.click("nav.mainnav >> text=Appeals")
    expect(page.locator("h1")).to_have_text("Appeals")
    row = page.locator("#appeal-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"violation-{violation.pk}")
    expect(row).to_contain_text(merchant_a.store_name)

    page.click(f"#appeal-table a[href='/backoffice/appeals/{appeal.pk}/']")
    page.wait_for_url(f"{live_server.url}/backoffice/appeals/{appeal.pk}/")
    expect(page.locator("h1")).to_have_text(f"Appeal #{appeal.pk}")
    expect(page.locator("#grounds")).to_contain_text(GROUNDS)
    decision = page.locator("#original-decision")
    expect(decision.locator("mark")).to_have_text("antminer")
    expect(decision).to_contain_text(f"“{listing.title}”")
    expect(decision).to_contain_text("by moderator")
    expect(page.locator("#appeal-status")).to_have_text("Submitted")

    page.fill("#appeal-decision-form textarea[name=reason]", REASON)
    page.screenshot(path=SCREENSHOT, full_page=True)
    page.click("#grant-button")

    page.wait_for_url(f"{live_server.url}/backoffice/appeals/")
    expect(page.locator(".messages")).to_contain_text(f"Appeal #{appeal.pk} granted")
    expect(page.locator("#appeal-table")).to_contain_text("No appeal matches these filters.")

    listing.refresh_from_db()
    assert (listing.status, listing.previous_status, listing.delisted_at) == ("live", "", None)
    violation.refresh_from_db()
    assert violation.status == Violation.Status.OVERTURNED
    appeal.refresh_from_db()
    assert (appeal.status, appeal.decided_by, appeal.decision_note) == ("granted", other_moderator, REASON)
    assert appeal.merchant.audit_events.filter(verb=AuditVerb.APPEAL_GRANTED).count() == 1

    # The decided appeal is one filter away, with its outcome.
    page.click("details.card > summary")  # the filters are folded away
    page.select_option("#id_status", "granted")
    page.click("#appeal-filter-form button[type=submit]")
    page.wait_for_url(re.compile(r"status=granted"))
    page.click(f"#appeal-table a[href='/backoffice/appeals/{appeal.pk}/']")
    expect(page.locator("#appeal-status")).to_have_text("Granted")
    expect(page.locator("body")).to_contain_text(REASON)
    expect(page.locator("#appeal-decision-form")).to_have_count(0)
