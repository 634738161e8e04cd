"""A policy admin finds a failed removal on the operations page, presses retry and sees it finish."""

from __future__ import annotations

from unittest import mock

import pytest
from playwright.sync_api import expect

from moderation.models import AuditEvent, AuditVerb, CategoryRemoval, Notice
from moderation.services import removals
from sellers.models import Listing

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/operations-page.png"


@pytest.fixture
def failed_removal(settings, policy_admin, removal_catalog, announced_policy, miners, miner_accessories):
    """Started now (the reference dates are long past), its first chunk out of retries: failed."""
    settings.REMOVAL_CHUNK_SIZE = 3
    removal = removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )
    with mock.patch.object(removals, "queue_pending_chunks"):  # no worker picks the chunks up
        assert removals.start_removal(removal_id=removal.pk)
    chunk = removal.chunks.get(number=1)
    assert removals.fail_removal(chunk_id=chunk.pk, error=OSError("could not extend file: No space left on device"))
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.FAILED
    return removal


def test_a_policy_admin_retries_a_failed_removal_and_sees_it_resume(
    login, live_server, policy_admin, failed_removal, removal_catalog
):
    # A notice whose e-mail gave up, so the page shows more than one kind of trouble.
    notice = Notice.objects.order_by("pk").first()
    Notice.objects.filter(pk=notice.pk).update(
        email_status=Notice.EmailStatus.FAILED, email_attempts=5, last_error="SMTP 421: service not available"
    )
    page = login(policy_admin)

    page.click("nav.mainnav >> text=Operations")
    expect(page.locator("h1")).to_have_text("Operations")
    row = page.locator(f"tr[data-removal='{failed_removal.pk}']")
    expect(row).to_contain_text("Failed")
    expect(row).to_contain_text("No space left on device")
    expect(page.locator(f"tr[data-notice='{notice.pk}']")).to_contain_text("SMTP 421")
    expect(page.locator("[data-total=removals]")).to_have_text("1")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The tasks run inline (eager Celery) after the retry commits: the removal runs to its end.
    row.locator("button", has_text="Resume").click()
    expect(page.locator(".messages")).to_contain_text(
        f"Removal #{failed_removal.pk} retried: its remaining chunks are queued."
    )
    expect(page.locator(f"tr[data-removal='{failed_removal.pk}']")).to_have_count(0)
    expect(page.locator("#removals")).to_contain_text("No removal has failed or is stuck.")
    page.screenshot(path=SCREENSHOT.replace(".png", "-after.png"), full_page=True)

    page.goto(f"{live_server.url}/backoffice/removals/{failed_removal.pk}/")
    expect(page.locator("#status-badge")).to_have_text("Completed")
    failed_removal.refresh_from_db()
    assert failed_removal.status == CategoryRemoval.Status.COMPLETED
    assert Listing.objects.filter(pk__in=removal_catalog["doomed_ids"], status="delisted").count() == 13
    resumed = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_RESUMED)
    assert resumed.actor == policy_admin and resumed.target_id == failed_removal.pk


def test_a_moderator_sees_the_page_without_retry_buttons(login, live_server, moderator, failed_removal):
    page = login(moderator)
    page.goto(f"{live_server.url}/backoffice/operations/")
    expect(page.locator(f"tr[data-removal='{failed_removal.pk}']")).to_contain_text("Failed")
    expect(page.locator("#removals button")).to_have_count(0)
