"""A policy admin about to retire an innocent category is shown why and must say why; cancelling asks too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from moderation.models import AuditEvent, AuditVerb, CategoryRemoval
from tests.moderation.conftest import mining_rules  # noqa: F401

pytestmark = pytest.mark.browser


def test_retiring_an_innocent_category_needs_a_reason_and_cancelling_a_confirmation(
    request, login, live_server, policy_admin, announced_policy, graphics_cards, make_listing, merchant_a
):
    request.getfixturevalue("mining_rules")
    for n in range(3):
        make_listing(merchant_a, graphics_cards, title=f"RTX 40{n}0 gaming card")
    page = login(policy_admin)
    page.goto(f"{live_server.url}/backoffice/removals/new/")
    page.select_option("#id_policy", str(announced_policy.pk))
    page.select_option("#id_categories", [str(graphics_cards.pk)])
    page.click("button[name=step][value=preview]")

    expect(page.locator("#rules-share")).to_contain_text("flag 0 % of 3 listings")
    expect(page.locator("#dry-run-sample tbody tr")).to_have_count(3)
    expect(page.locator("#needs-reason")).to_contain_text("The policy does not name Graphics Cards")
    page.click("button[name=step][value=confirm]")
    expect(page.locator("body")).to_contain_text("Say why these categories go")
    assert not CategoryRemoval.objects.exists()

    page.fill("#id_override_reason", "Rigs are sold here as graphics cards: the legal team decided.")
    page.click("button[name=step][value=preview]")
    page.click("button[name=step][value=confirm]")
    page.wait_for_url(re.compile(r"/backoffice/removals/\d+/$"))
    removal = CategoryRemoval.objects.get()
    assert AuditEvent.objects.get(verb=AuditVerb.REMOVAL_SCHEDULED).reason.startswith("Rigs are sold here")

    page.fill("#cancel-form input[name=reason]", "Scheduled by mistake.")
    page.click("#cancel-form button")  # the browser asks for the confirmation box first
    assert CategoryRemoval.objects.get().status == CategoryRemoval.Status.SCHEDULED
    page.check("#cancel-form input[name=confirm]")
    page.click("#cancel-form button")
    expect(page.locator("body")).to_contain_text(f"Removal #{removal.pk} cancelled")
    assert CategoryRemoval.objects.get().status == CategoryRemoval.Status.CANCELLED
