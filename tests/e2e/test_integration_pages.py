"""The service accounts' pages in a real browser: a policy admin creates an account, reads its key once,
issues another, revokes; axe finds no serious accessibility violation on the way."""

from __future__ import annotations

import pytest

from sellers.models import MarketplaceServiceAccount
from tests.e2e.test_accessibility import Audit, new_page, sign_in

pytestmark = pytest.mark.browser


def test_a_policy_admin_creates_reads_once_and_revokes_an_account(browser, live_server, policy_admin, marketplace):
    audit = Audit()
    page = new_page(browser)
    try:
        sign_in(page, live_server, policy_admin)
        page.goto(f"{live_server.url}/backoffice/integrations/")
        audit.check(page, "integrations")
        page.click(f"text={marketplace.name}")
        audit.check(page, "service accounts, none")
        page.fill("#account-name", "Catalog sync")
        page.click("#create-service-account button[type=submit]")
        key = page.input_value("#service-key")
        assert key.startswith("mk_")
        audit.check(page, "service accounts, a new key")
        page.goto(f"{live_server.url}/backoffice/integrations/{marketplace.pk}/")
        assert key not in page.content()
        page.check("#service-accounts input[name=confirm] >> nth=-1")
        page.click("#service-accounts button.danger >> nth=-1")
        page.wait_for_selector("text=was revoked")
        audit.check(page, "service accounts, revoked")
    finally:
        page.context.close()
    audit.assert_clean()
    assert MarketplaceServiceAccount.objects.get().is_revoked
