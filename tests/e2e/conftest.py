"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's live server.

Marked ``browser``. Without /usr/bin/chromium they are skipped with the reason, unless
``CI`` is set: there a missing browser is a broken runner, so the tests fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

# Playwright's sync API runs an asyncio loop in this thread; Django refuses ORM calls
# from a thread with a running loop unless told the caller knows it is synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# The reference policy on the 2021 timeline, shared with the enforcement tests.
from tests.moderation.conftest import (  # noqa: E402, F401
    announced_policy,
    asic_miners,
    draft_policy,
    merchant_c,
    merchant_d,
    removal_catalog,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser(django_db_setup):
    """Chromium for the whole session, started after the test database and stopped before it is dropped.

    While Playwright runs, its event loop is this thread's running loop, and Django keeps the thread's
    connections apart from the ones it had before (``connections`` is an asgiref ``Local``: thread-local
    without a running loop, a context variable with one). Every connection opened after the browser
    started, in any test until the session ends, is only reachable while Playwright runs: closed here
    before it stops, or the test database's teardown, which closes the others, cannot drop it.
    """
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        connections.close_all()
        browser.close()
        playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def login(live_server, page):
    """``login(user)``: sign in through the real login form (every fixture person's password is "demo")."""

    def sign_in(user, password: str = "demo"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/backoffice/")
        return page

    return sign_in
