"""Every back-office page passes axe-core without a serious or critical violation, as each role that
opens it, on a desktop and (the four work pages) on a phone, in English and in Chinese; the queue and
an item can be worked from the keyboard alone, and the focused control is always visibly marked.

The pages are not listed by hand: every GET pattern under /backoffice/ and /accounts/ is read from
the URL resolver (as ``tests/test_hostile_input.py`` does) and its path parameters are filled with
real objects in each state that changes the page (an item open, claimed, escalated, decided; a policy
announced and a draft; a removal done and one scheduled), so the pages render with content. Pages
reached only through a form (the bulk confirmation, a removal's dry run, a refused decision), the
error pages and the sign-in steps are opened by hand. ``WALKED_PAGES`` guards the walk itself: a
page it stops reaching fails the test instead of silently going unchecked.

axe-core comes with ``axe-playwright-python`` (its ``axe.min.js``); it is loaded as an init script,
which runs outside the pages' Content-Security-Policy (no inline script allowed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.conf import settings
from django.urls import NoReverseMatch, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from moderation.models import Appeal, CategoryRemoval, DetectionRule, ReviewItem
from moderation.services.appeals import file_appeal
from moderation.services.policies import new_policy_version
from moderation.services.queue import claim_item, escalate_item
from moderation.services.removals import schedule_removal
from moderation.services.saved_views import save_queue_view
from moderation.services.scanning import start_policy_scan
from sellers.tokens import IssuedVia, issue_api_token
from tests.api.conftest import decisions_of  # noqa: F401 - a fixture: a decision of each kind
from tests.moderation.conftest import mining_rules, open_item, travel  # noqa: F401 - fixtures
from tests.moderation.sanctions_fixtures import announced_policy, take_down  # noqa: F401 - fixtures
from tests.test_hostile_input import _patterns

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = "/tmp/a11y-{name}.png"
# axe's impacts are minor, moderate, serious and critical: the last two fail.
FAILING_IMPACTS = ("serious", "critical")
PREFIXES = ("backoffice/", "accounts/")
ROLES = ("moderator", "senior", "policy_admin", "superuser", "merchant_user_a")

# What the walk over the URL resolver must reach, as one role or another (URL names), and "403".
WALKED_PAGES = {
    "backoffice:home",
    "backoffice:queue",
    "backoffice:queue-item",
    "backoffice:queue-assigned",
    "backoffice:queue-group",
    "backoffice:queue-views",
    "backoffice:appeal-index",
    "backoffice:appeal-detail",
    "backoffice:merchant-index",
    "backoffice:merchant-detail",
    "backoffice:policy-index",
    "backoffice:policy-create",
    "backoffice:policy-detail",
    "backoffice:policy-edit",
    "backoffice:policy-announce",
    "backoffice:rule-index",
    "backoffice:rule-create",
    "backoffice:rule-edit",
    "backoffice:scan-detail",
    "backoffice:removal-index",
    "backoffice:removal-create",
    "backoffice:removal-detail",
    "backoffice:audit-index",
    "backoffice:operations",
    "backoffice:profile",
    "backoffice:api-token",
    "login",
    "two-factor-setup",
    "403",
}


@dataclass
class Audit:
    """The axe runs of one test: a line per serious or critical violation, and the pages checked."""

    failures: list[str] = field(default_factory=list)
    pages: set[str] = field(default_factory=set)

    def check(self, page, label: str) -> None:
        """Run axe on what ``page`` shows now and note each failing violation under ``label``."""
        self.pages.add(label)
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        width = page.viewport_size["width"]
        for violation in results["violations"]:
            if violation["impact"] not in FAILING_IMPACTS:
                continue
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:10])
            self.failures.append(
                f"{label} ({page.url.split('/', 3)[-1]}, {width} px): {violation['id']} [{violation['impact']}] "
                f"{violation['help']} → {targets}"
            )

    def assert_clean(self) -> None:
        assert not self.failures, f"{len(self.failures)} serious or critical axe violations:\n" + "\n".join(
            self.failures
        )


def new_page(browser, *, viewport=DESKTOP, locale: str = "en-GB"):
    """A page in a browser context of its own, with axe loaded into every document it opens."""
    context = browser.new_context(viewport=viewport, locale=locale)
    context.set_default_timeout(15_000)
    context.add_init_script(AXE_SCRIPT)
    return context.new_page()


def sign_in(page, live_server, user, *, lands_on: str = "/backoffice/") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.startswith(live_server.url + lands_on))


# --- the world -------------------------------------------------------------------------------------


@pytest.fixture
def world(
    decisions_of,  # noqa: F811
    travel,  # noqa: F811
    merchant_a,
    merchant_b,
    merchant_user_a,
    mining_rules,  # noqa: F811
    open_item,  # noqa: F811
    take_down,  # noqa: F811
    make_listing,
    graphics_cards,
    miner_accessories,
    announced_policy,  # noqa: F811
    policy_admin,
    moderator,
) -> dict[str, list]:
    """One object of each kind the back office shows, in the states that change a page, by path parameter.

    A completed removal, a take-down, a warning and notices come from ``decisions_of`` (on the 2021
    timeline, where the appeal is filed too, within its deadline); the rest is made now.
    """
    mine, _theirs = decisions_of(merchant_a, merchant_b)
    appeal = file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind=Appeal.Kind.VIOLATION,
        object_id=mine.violation.pk,
        grounds="The listing was a graphics card, not a mining machine.",
    )
    travel.back()  # a session cookie made on the 2021 clock would be expired at once
    unclaimed = open_item(make_listing(merchant_b, graphics_cards, title="Antminer S9 in a graphics card box"))
    claimed = open_item(make_listing(merchant_a, graphics_cards, title="蚂蚁矿机 S19 比特币矿机 95T"))
    claim_item(actor=moderator, item=claimed)
    escalated = open_item(make_listing(merchant_b, graphics_cards, title="Whatsminer M30S riser bundle"))
    escalate_item(actor=moderator, item=escalated, note="Is a riser bundle a miner?")
    decided = take_down(merchant_b, category=graphics_cards).review_item
    draft = new_policy_version(actor=policy_admin, policy=announced_policy)
    scan = start_policy_scan(policy=announced_policy, actor=policy_admin)
    schedule_removal(
        actor=policy_admin,
        policy=announced_policy,
        categories=[miner_accessories],
        override_reason="Accessories here are sold only with miners.",
    )
    token, _key = issue_api_token(user=merchant_user_a, name="warehouse sync", via=IssuedVia.BACKOFFICE)
    # The same course from two merchants: a duplicate group, opened side by side on its page.
    course = "以太坊显卡挖矿实战课 Ethereum GPU mining course, lesson by lesson"
    copies = [open_item(make_listing(merchant, graphics_cards, title=course)) for merchant in (merchant_a, merchant_b)]
    group_id = ReviewItem.objects.get(pk=copies[-1].pk).duplicate_group_id
    assert group_id is not None, "the two copies should have formed a duplicate group"
    # A shared saved view: its row on the views page (renamed there, by POST).
    saved = save_queue_view(actor=moderator, name="Graphics cards, oldest first", query="sort=oldest", shared=True)
    return {
        "item_id": [unclaimed.pk, claimed.pk, escalated.pk, decided.pk],
        "appeal_id": [appeal.pk],
        "merchant_id": [merchant_a.pk],
        "policy_id": [announced_policy.pk, draft.pk],
        "rule_id": [DetectionRule.objects.filter(policy=announced_policy).order_by("pk").first().pk],
        "scan_id": [scan.pk],
        "removal_id": list(CategoryRemoval.objects.order_by("pk").values_list("pk", flat=True)),  # done, scheduled
        "token_id": [token.pk],
        "group_id": [group_id],
        "view_id": [saved.pk],
    }


def back_office_pages(world: dict[str, list]) -> list[tuple[str, str]]:
    """(URL name, path) of every pattern under /backoffice/ and /accounts/, once per object state.

    Patterns with a parameter the world does not fill (an action's slug, a download's format, an
    operation's kind) are POST-only or not HTML.
    """
    pages = []
    for route, name, kinds in _patterns(get_resolver().url_patterns):
        if not route.startswith(PREFIXES) or any(parameter not in world for parameter in kinds):
            continue
        combinations = [{}]
        for parameter in kinds:
            combinations = [{**kwargs, parameter: value} for kwargs in combinations for value in world[parameter]]
        for kwargs in combinations:
            try:
                pages.append((name, reverse(name, kwargs=kwargs)))
            except NoReverseMatch:
                continue
    return pages


def walk(page, live_server, audit: Audit, world: dict[str, list], role: str) -> None:
    """Open every page the signed-in ``role`` may see and run axe on it, and on the first refusal.

    Each answer is asked for first through the context's request API (its cookies, no rendering):
    a POST-only URL answers 405 without a body, which the browser would not render.
    """
    refusal_checked = False
    for name, path in back_office_pages(world):
        answer = page.request.get(live_server.url + path, max_redirects=0)
        html = (answer.headers.get("content-type") or "").startswith("text/html")
        if answer.status == 200 and html:
            page.goto(live_server.url + path)
            audit.check(page, f"{name} as {role}")
            audit.pages.add(name)
        elif answer.status == 403 and not refusal_checked:
            refusal_checked = True  # every refusal is the same template
            page.goto(live_server.url + path)
            audit.check(page, f"403 as {role}")
            audit.pages.add("403")


# --- axe on every page -----------------------------------------------------------------------------


def test_every_page_each_role_opens_has_no_serious_accessibility_violation(browser, live_server, world, request):
    audit = Audit()
    for role in ROLES:
        page = new_page(browser)
        try:
            sign_in(page, live_server, request.getfixturevalue(role))
            walk(page, live_server, audit, world, role)
        finally:
            page.context.close()
    audit.assert_clean()
    assert not WALKED_PAGES - audit.pages, f"the walk no longer reaches {sorted(WALKED_PAGES - audit.pages)}"


def test_pages_reached_through_forms_and_errors_have_no_serious_violation(
    browser,
    live_server,
    world,
    moderator,
    senior,
    policy_admin,
    announced_policy,  # noqa: F811
    miner_accessories,
):
    audit = Audit()
    page = new_page(browser)
    url = live_server.url
    try:
        sign_in(page, live_server, senior)
        # The bulk confirmation, the shortcuts overlay open, and a page that does not exist.
        page.goto(f"{url}/backoffice/queue/")
        page.locator("#queue-table tbody input[name=items]").first.check()
        page.select_option("#bulk-form select[name=decision]", "taken_down")
        page.click("#bulk-form button[name=step][value=review]")
        expect(page.locator("h1")).to_contain_text("Confirm")
        audit.check(page, "bulk confirmation")
        page.goto(f"{url}/backoffice/queue/")
        page.keyboard.press("?")
        expect(page.locator("#shortcuts-overlay")).to_be_visible()
        audit.check(page, "shortcuts overlay")
        page.goto(f"{url}/backoffice/queue/999999999/")
        expect(page.locator("#error-page")).to_have_attribute("data-status", "404")
        audit.check(page, "404")
        page.context.close()

        # A decision refused for a reason of spaces: the item again, with the field's error.
        page = new_page(browser)
        sign_in(page, live_server, moderator)
        page.goto(f"{url}/backoffice/queue/{world['item_id'][0]}/")
        page.fill("#dismiss-form textarea", "   ")
        page.click("#dismiss-form button[type=submit]")
        expect(page.locator("#dismiss-form .errors")).to_be_visible()
        audit.check(page, "refused decision")
        page.context.close()

        # A removal's dry run.
        page = new_page(browser)
        sign_in(page, live_server, policy_admin)
        page.goto(f"{url}/backoffice/removals/new/?policy={announced_policy.pk}")
        page.select_option("#id_categories", [str(miner_accessories.pk)])
        page.click("button[name=step][value=preview]")
        expect(page.locator("#dry-run")).to_be_visible()
        audit.check(page, "removal dry run")
    finally:
        page.context.close()
    audit.assert_clean()


def test_the_sign_in_pages_have_no_serious_violation(browser, live_server, db, moderator, senior):
    audit = Audit()
    url = live_server.url
    page = new_page(browser)
    try:
        page.goto(f"{url}/accounts/login/")
        audit.check(page, "login")
        page.goto(f"{url}/no-such-page/")
        audit.check(page, "404 signed out")
        page.goto(f"{url}/accounts/login/")
        page.fill("#id_username", moderator.get_username())
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
        expect(page.locator(".errors")).to_be_visible()
        audit.check(page, "login refused")
        for _attempt in range(settings.AXES_FAILURE_LIMIT):
            if page.locator("#locked-out").count():
                break
            page.fill("#id_username", moderator.get_username())
            page.fill("#id_password", "wrong")
            page.click("button[type=submit]")
        expect(page.locator("#locked-out")).to_be_visible()
        audit.check(page, "locked out")
        page.context.close()

        # A user with an authenticator is asked for its code after the password.
        TOTPDevice.objects.create(user=senior, name="phone", confirmed=True)
        page = new_page(browser)
        sign_in(page, live_server, senior, lands_on="/accounts/two-factor/")
        audit.check(page, "two-factor-verify")
    finally:
        page.context.close()
    audit.assert_clean()


# The moderators' four work pages, on a phone, with the navigation folded and unfolded.
def test_the_work_pages_on_a_phone_have_no_serious_violation(browser, live_server, world, senior):
    audit = Audit()
    page = new_page(browser, viewport=PHONE)
    work_pages = {
        "queue": "/backoffice/queue/",
        "item": f"/backoffice/queue/{world['item_id'][0]}/",
        "merchant": f"/backoffice/merchants/{world['merchant_id'][0]}/",
        "appeal": f"/backoffice/appeals/{world['appeal_id'][0]}/",
    }
    try:
        sign_in(page, live_server, senior)
        for name, path in work_pages.items():
            page.goto(live_server.url + path)
            audit.check(page, f"{name} on a phone")
            page.click("#menu-toggle")
            expect(page.locator("nav.mainnav")).to_be_visible()
            audit.check(page, f"{name} on a phone, menu open")
            page.screenshot(path=SCREENSHOTS.format(name=f"{name}-390"), full_page=True)
    finally:
        page.context.close()
    audit.assert_clean()


def test_pages_in_chinese_have_no_serious_violation(browser, live_server, world, senior):
    audit = Audit()
    page = new_page(browser)
    url = live_server.url
    try:
        sign_in(page, live_server, senior)
        # The language is switched where a user switches it: on their profile.
        page.goto(f"{url}/backoffice/profile/")
        page.select_option("#id_language", "zh-hans")
        page.click("main button[type=submit]")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        audit.check(page, "profile in Chinese")
        for name, path in {
            "dashboard": "/backoffice/",
            "queue": "/backoffice/queue/",
            "item": f"/backoffice/queue/{world['item_id'][0]}/",
            "merchant": f"/backoffice/merchants/{world['merchant_id'][0]}/",
            "appeal": f"/backoffice/appeals/{world['appeal_id'][0]}/",
            "403": "/backoffice/api-token/",
        }.items():
            page.goto(url + path)
            expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
            audit.check(page, f"{name} in Chinese")
        page.screenshot(path=SCREENSHOTS.format(name="403-zh"), full_page=True)
        page.context.close()

        page = new_page(browser, locale="zh-CN")  # signed out: the browser's language
        page.goto(f"{url}/accounts/login/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        audit.check(page, "login in Chinese")
    finally:
        page.context.close()
    audit.assert_clean()


# --- the keyboard ----------------------------------------------------------------------------------

# The focused element, marked as reached, and whether its focus shows: an outline at least 2 px wide
# (WCAG 2.2's focus appearance; Chromium's own ring is 1 px, thin against the dark top bar) or a shadow.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  el.setAttribute('data-keyboard-reached', '');
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return {
    name: el.id || el.name || el.tagName.toLowerCase() + ' ' + (el.textContent || '').trim().slice(0, 40),
    closedDetails: el.tagName === 'SUMMARY' && !el.parentElement.open,
    shows: outline || style.boxShadow !== 'none',
  };
}"""
# Every control a pointer could use, visible now, that Tab never reached.
UNREACHED = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
  .filter(el => !el.disabled && el.checkVisibility({visibilityProperty: true}))
  .filter(el => !el.hasAttribute('data-keyboard-reached'))
  .map(el => el.id || el.name || el.outerHTML.slice(0, 80))"""


def tab_through(page, *, limit: int = 400) -> list[dict]:
    """Press Tab from the top of the page until focus leaves it; open each closed <details> on the way
    with Enter, as a keyboard user does. The focused elements, in order."""
    reached = []
    for _press in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            return reached
        reached.append(focused)
        if focused["closedDetails"]:
            page.keyboard.press("Enter")
    pytest.fail(f"focus did not leave the page after {limit} presses of Tab")


def assert_worked_by_keyboard(page, required: list[str]) -> None:
    reached = tab_through(page)
    unmarked = sorted({focused["name"] for focused in reached if not focused["shows"]})
    assert not unmarked, f"no visible focus on {unmarked} ({page.url})"
    unreached = page.evaluate(UNREACHED)
    assert not unreached, f"Tab never reaches {unreached} ({page.url})"
    for selector in required:
        assert page.locator(selector).first.get_attribute("data-keyboard-reached") is not None, selector


def test_the_queue_and_an_item_are_worked_from_the_keyboard_with_the_focus_visible(
    browser, live_server, world, moderator
):
    page = new_page(browser)
    try:
        sign_in(page, live_server, moderator)
        page.goto(f"{live_server.url}/backoffice/queue/")
        assert_worked_by_keyboard(
            page,
            [
                "#claim-next-form button",
                "#shortcuts-open",
                "input[name=q]",
                "#filter-form select",
                "#filter-form button[type=submit]",
                "#select-all",
                "#queue-table tbody input[name=items]",
                "#queue-table tbody a",
                "#bulk-form select[name=decision]",
                "#bulk-form input[name=reason]",
                "#bulk-form button[name=step]",
            ],
        )
        assert page.locator("#filter-form").is_visible()  # Enter on its summary opened the filters

        # An item nobody has claimed: claim, the three decisions and a note. (First a look at the
        # first stop, the brand on the dark top bar, where the outline is white.)
        page.goto(f"{live_server.url}/backoffice/queue/{world['item_id'][0]}/")
        page.keyboard.press("Tab")
        page.screenshot(path=SCREENSHOTS.format(name="focus-on-the-top-bar"))
        page.goto(f"{live_server.url}/backoffice/queue/{world['item_id'][0]}/")
        assert_worked_by_keyboard(
            page,
            [
                "form[action$='/claim/'] button",
                "#take-down-form select",
                "#take-down-form textarea",
                "#take-down-form button",
                "#dismiss-form textarea",
                "#dismiss-form button",
                "#escalate-form textarea",
                "#escalate-form button",
                "#note-form button",
                "#shortcuts-open",
            ],
        )

        # Keyboard alone: focus the dismissal's reason, type, and press its button with Enter.
        page.goto(f"{live_server.url}/backoffice/queue/{world['item_id'][0]}/")
        page.focus("#dismiss-form textarea")
        page.keyboard.type("A graphics card box, not a miner.")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('form').id") == "dismiss-form"
        page.screenshot(path=SCREENSHOTS.format(name="focus-dismiss"))
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: not url.endswith(f"/queue/{world['item_id'][0]}/"))
        assert ReviewItem.objects.get(pk=world["item_id"][0]).decision == ReviewItem.Decision.DISMISSED
    finally:
        page.context.close()
