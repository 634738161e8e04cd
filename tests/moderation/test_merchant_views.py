"""The merchant pages: who may open them, the record a merchant's page shows, search, sanction and lift forms."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb, Notice, Sanction, Violation
from moderation.services.sanctions import issue_manual_sanction, run_escalation
from sellers import services as catalog
from sellers.models import Merchant
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403

REASON = "Repeated listings of Bitcoin mining machines after the ban took effect."
LIFT_REASON = "The merchant removed every mining product and proved it."
HOSTILE = "<script>alert(1)</script>"

MERCHANT_LINK = re.compile(r'<td><a href="/backoffice/merchants/(\d+)/">#\d+</a></td>')


# --- reading the pages -----------------------------------------------------------------------


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def table(html: str, opening: str) -> str:
    """The whole ``<table …>`` whose opening tag contains ``opening`` (an id or a class)."""
    match = re.search(rf"<table[^>]*{re.escape(opening)}[^>]*>.*?</table>", html, re.S)
    assert match, f"no table with {opening!r}"
    return match.group(0)


def body_rows(html: str, opening: str) -> list[tuple[str, str]]:
    """(opening tag, visible text) of each row in the table's body."""
    body = table(html, opening).split("<tbody>", 1)[1]
    return [(tag, text_of(cells)) for tag, cells in re.findall(r"(<tr[^>]*>)(.*?)</tr>", body, re.S)]


def index_ids(response) -> list[int]:
    assert response.status_code == 200
    return [int(pk) for pk in MERCHANT_LINK.findall(response.content.decode())]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def written() -> tuple[int, int, int, int]:
    """What a refused request must leave as it was."""
    return Sanction.objects.count(), AuditEvent.objects.count(), Notice.objects.count(), Violation.objects.count()


def status_of(merchant: Merchant) -> tuple:
    merchant.refresh_from_db()
    return merchant.enforcement_status, merchant.enforcement_until, merchant.payouts_held


def detail(merchant) -> str:
    return reverse("backoffice:merchant-detail", args=[merchant.pk])


def sanction_url(merchant) -> str:
    return reverse("backoffice:merchant-sanction", args=[merchant.pk])


def lift_url(sanction: Sanction, merchant_id: int | None = None) -> str:
    return reverse("backoffice:sanction-lift", args=[merchant_id or sanction.merchant_id, sanction.pk])


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def climbed(travel, announced_policy, merchant_a, violate):
    """Merchant A after grace: three evasions (12 points), then the sweep's prior warning (the 6-point step)."""
    travel.to(AFTER_GRACE)
    violations = violate(merchant_a, 12)
    travel.by(timedelta(minutes=1))
    assert run_escalation()["issued"] == 1
    warning = Sanction.objects.get(merchant=merchant_a)
    assert (warning.kind, warning.step.threshold, warning.status) == ("warning", 6, "active")
    return {"violations": violations, "warning": warning}


@pytest.fixture
def blocked(climbed, senior, announced_policy, merchant_a):
    """Merchant A store-blocked for 7 days by a senior, the warning being on record."""
    block = issue_manual_sanction(
        actor=senior, merchant=merchant_a, policy=announced_policy, kind="store_block", duration_days=7, reason=REASON
    )
    assert status_of(merchant_a)[0] == Merchant.EnforcementStatus.STORE_BLOCKED
    return block


@pytest.fixture
def as_senior(client, senior):
    client.force_login(senior)
    return client


# --- who may do what ---------------------------------------------------------------------------

ROUTES = {
    # name: (method, url name, form data, what a senior gets)
    "index": ("get", "backoffice:merchant-index", {}, 200),
    "show": ("get", "backoffice:merchant-detail", {}, 200),
    "sanction": ("post", "backoffice:merchant-sanction", {"kind": "warning", "reason": REASON}, 302),
    "lift": ("post", "backoffice:sanction-lift", {"reason": LIFT_REASON}, 302),
}
READ = ["index", "show"]
WRITE = ["sanction", "lift"]


def route_url(name: str, merchant: Merchant, sanction: Sanction) -> str:
    url_name = ROUTES[name][1]
    if name == "index":
        return reverse(url_name)
    if name == "lift":
        return reverse(url_name, args=[merchant.pk, sanction.pk])
    return reverse(url_name, args=[merchant.pk])


def call_route(client, name: str, merchant: Merchant, sanction: Sanction, policy):
    method, _url_name, data, _expected = ROUTES[name]
    if name == "sanction":
        data = {**data, "policy": policy.pk}
    return getattr(client, method)(route_url(name, merchant, sanction), data)


@pytest.mark.parametrize("route", list(ROUTES))
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, climbed, merchant_a, announced_policy, route):
    before = written()
    url = route_url(route, merchant_a, climbed["warning"])
    response = call_route(client, route, merchant_a, climbed["warning"], announced_policy)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert written() == before


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_merchant_user_is_refused(client, merchant_user_a, climbed, merchant_a, announced_policy, route):
    client.force_login(merchant_user_a)  # merchant A's own account: still no back-office role
    before = written()
    assert call_route(client, route, merchant_a, climbed["warning"], announced_policy).status_code == 403
    assert written() == before


@pytest.mark.parametrize("person", ["moderator", "policy_admin", "senior"])
@pytest.mark.parametrize("route", READ)
def test_moderators_seniors_and_policy_admins_read_the_pages(
    client, climbed, merchant_a, announced_policy, route, person, request
):
    client.force_login(request.getfixturevalue(person))
    response = call_route(client, route, merchant_a, climbed["warning"], announced_policy)
    assert response.status_code == ROUTES[route][3]


@pytest.mark.parametrize("person", ["moderator", "policy_admin"])
@pytest.mark.parametrize("route", WRITE)
def test_only_a_senior_may_sanction_or_lift(client, climbed, merchant_a, announced_policy, route, person, request):
    client.force_login(request.getfixturevalue(person))
    before = written(), status_of(merchant_a)
    response = call_route(client, route, merchant_a, climbed["warning"], announced_policy)
    assert response.status_code == 403
    assert (written(), status_of(merchant_a)) == before
    climbed["warning"].refresh_from_db()
    assert climbed["warning"].status == "active"


@pytest.mark.parametrize("route", WRITE)
def test_a_senior_may_sanction_and_lift(as_senior, climbed, merchant_a, announced_policy, route):
    before = written()
    response = call_route(as_senior, route, merchant_a, climbed["warning"], announced_policy)
    assert response.status_code == ROUTES[route][3]
    assert response["Location"] == detail(merchant_a)
    assert written() != before


@pytest.mark.parametrize("route", WRITE)
@pytest.mark.parametrize("person", ["senior", "moderator"])
def test_the_sanction_and_lift_urls_answer_only_to_post(client, climbed, merchant_a, route, person, request):
    client.force_login(request.getfixturevalue(person))
    before = written()
    assert client.get(route_url(route, merchant_a, climbed["warning"])).status_code == 405
    assert written() == before


@pytest.mark.parametrize("route", ["show", "sanction", "lift"])
def test_an_unknown_merchant_is_404(as_senior, climbed, announced_policy, route):
    missing = Merchant(pk=Merchant.objects.order_by("-pk").first().pk + 1000)
    before = written()
    assert call_route(as_senior, route, missing, climbed["warning"], announced_policy).status_code == 404
    assert written() == before


def test_an_unknown_sanction_is_404(as_senior, climbed, merchant_a):
    missing = Sanction(pk=climbed["warning"].pk + 1000, merchant_id=merchant_a.pk)
    assert as_senior.post(lift_url(missing), {"reason": LIFT_REASON}).status_code == 404


def test_another_merchants_sanction_in_the_lift_url_is_404(as_senior, climbed, merchant_a, merchant_b):
    warning = climbed["warning"]
    before = written(), status_of(merchant_a)
    response = as_senior.post(lift_url(warning, merchant_id=merchant_b.pk), {"reason": LIFT_REASON})
    assert response.status_code == 404
    assert (written(), status_of(merchant_a)) == before
    warning.refresh_from_db()
    assert warning.status == "active"


def test_the_page_shows_the_sanction_forms_to_seniors_only(client, climbed, merchant_a, moderator, senior):
    client.force_login(moderator)
    html = client.get(detail(merchant_a)).content.decode()
    assert 'id="sanction-form"' not in html and "lift-form" not in html
    client.force_login(senior)
    html = client.get(detail(merchant_a)).content.decode()
    assert 'id="sanction-form"' in html
    assert f'action="{lift_url(climbed["warning"])}"' in html


# --- the merchant's record ---------------------------------------------------------------------


def test_the_page_shows_points_step_ladder_violations_sanction_and_timeline(
    client, moderator, climbed, merchant_a, announced_policy
):
    client.force_login(moderator)
    response = client.get(detail(merchant_a))
    assert response.status_code == 200
    html = response.content.decode()

    assert re.search(r"<h1>\s*Shenzhen Hashpower Trading\s*</h1>", html)
    assert re.search(r'id="enforcement-status">Active</span>', html)
    ladder = re.search(r'<div class="card ladder" data-policy="virtual-currency-mining">.*?</table>', html, re.S)
    assert ladder, "one ladder card for the reference policy"
    ladder = ladder.group(0)
    assert 'data-figure="points">12</div>' in ladder
    assert 'data-figure="reached">6: Warning</div>' in ladder
    steps = body_rows(ladder, "ladder-steps")
    assert [text for _tag, text in steps] == [
        "6 Warning – 3 days",
        "12 Store blocked 7 days 7 days",
        "24 Store blocked 14 days 14 days",
        "36 Account frozen, all listings removed 21 days 21 days",
        "48 Account closed – –",
    ]
    assert [tag for tag, _text in steps].count('<tr class="selected">') == 1
    assert steps[0][0] == '<tr class="selected">'  # the step reached

    violations = body_rows(html, 'id="violation-table"')
    assert len(violations) == 3
    expected_ids = sorted((v.pk for v in climbed["violations"]), reverse=True)
    for (_tag, text), pk in zip(violations, expected_ids, strict=True):
        assert text.startswith(f"{pk} 2021-10-20 02:00 Evasion by keyword distortion")
        assert " 4 yes moderator Active" in text  # 4 points, counting, decided by the moderator

    sanctions = body_rows(html, 'id="sanction-table"')
    assert len(sanctions) == 1
    warning = climbed["warning"]
    assert sanctions[0][1].startswith(f"{warning.pk} Warning (6 pts) Virtual currency mining machines 2021-10-20 02:01")
    assert "Active ladder" in sanctions[0][1]
    assert '<span class="badge sanction-active">Active</span>' in table(html, 'id="sanction-table"')

    timeline = body_rows(html, 'id="timeline"')
    kinds = [re.search(r'class="timeline-(\w+)"', tag).group(1) for tag, _text in timeline]
    texts = [text for _tag, text in timeline]
    assert kinds.count("violation") == 3 and kinds.count("sanction") == 1
    assert sum(text.startswith("2021-10-20 02:01:00 Notice: Warning") for text in texts) == 1
    assert sum("Notice: Listing taken down" in text for text in texts) == 3
    assert any(
        text.startswith(
            f"2021-10-20 02:01:00 Sanction issued task:run_escalation: Warning of merchant #{merchant_a.pk}"
        )
        for text in texts
    )
    assert sum(" Violation recorded moderator:" in text for text in texts) == 3
    assert not any("Notice created" in text for text in texts)  # the notices stand for themselves
    times = [text[:19] for text in texts]
    assert times == sorted(times, reverse=True)  # newest first


def test_the_next_step_is_the_one_after_the_step_reached(client, moderator, climbed, merchant_a):
    client.force_login(moderator)
    html = client.get(detail(merchant_a)).content.decode()
    assert 'Next step</div><div class="value">12: Store blocked</div>' in html


def test_a_merchant_without_a_record_says_so(client, moderator, merchant_b):
    client.force_login(moderator)
    html = client.get(detail(merchant_b)).content.decode()
    assert "No violation or sanction on record." in html
    assert "No sanction." in html and "No violation." in html


# Measured 18, the same with 4 and 12 violations: session, user, groups, merchant; the ladder (policy ids from
# violations and sanctions, policies, points, steps, standing sanction); sanctions; the timeline (notices,
# violations, sanctions, events); the violations table; the sanction form's policies (rendered, then read again
# by the <select>'s required check).
# Plus the session's idle renewal (a savepoint, an UPDATE, a release), at most once a minute.
QUERY_BOUND = 18 + 3


def test_the_page_costs_the_same_queries_with_three_times_the_violations(
    client, senior, travel, announced_policy, merchant_a, violate, django_assert_max_num_queries
):
    travel.to(AFTER_GRACE)
    client.force_login(senior)  # the senior's page: with the sanction form and the lift buttons
    counts = []
    for added in (4, 8):  # 4 violations, then 12
        violate(merchant_a, 4 * added)
        travel.by(timedelta(minutes=1))
        run_escalation()
        with django_assert_max_num_queries(QUERY_BOUND) as captured:
            response = client.get(detail(merchant_a))
        assert response.status_code == 200
        counts.append(len(captured))
    assert len(body_rows(response.content.decode(), 'id="violation-table"')) == 12
    assert counts[0] == counts[1], counts


# --- the index -----------------------------------------------------------------------------------


@pytest.fixture
def merchants(blocked, merchant_a, merchant_b, merchant_c, merchant_d):
    """A store-blocked (A), three active (B, C on AliExpress, D)."""
    return {"a": merchant_a, "b": merchant_b, "c": merchant_c, "d": merchant_d}


def test_the_index_lists_every_merchant_by_default(as_senior, merchants):
    response = as_senior.get(reverse("backoffice:merchant-index"))
    ordered = sorted(merchants.values(), key=lambda m: (m.store_name, m.pk))
    assert index_ids(response) == [m.pk for m in ordered]
    html = response.content.decode()
    assert '<span class="badge enforcement-store_blocked">Store blocked</span>' in html
    until = merchants["a"].enforcement_until
    assert f"<td>{until:%Y-%m-%d %H:%M}</td>" in html
    assert '<option value="" selected>All merchants</option>' in html
    assert '<option value="restricted">Restricted (any)</option>' in html


def test_the_restricted_filter_says_when_nobody_is_restricted(client, moderator, merchant_a, merchant_b):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:merchant-index"), {"status": "restricted"})
    assert index_ids(response) == []
    assert "No merchant matches." in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gadget", "b"),  # store name, any case
        ("Hashpower Trading Co.", "a"),  # company name
        ("shop", "d"),
        ("o", "bcda"),  # ordered by store name
        ("Rig Outlet", "c"),
        ("nobody by that name", ""),
    ],
)
def test_the_index_searches_by_name_whatever_the_status(as_senior, merchants, query, expected):
    response = as_senior.get(reverse("backoffice:merchant-index"), {"q": query})
    assert index_ids(response) == [merchants[name].pk for name in expected]
    if not expected:
        assert "No merchant matches." in response.content.decode()


@pytest.mark.parametrize("form", ["#{}", "{}", " #{} "])
def test_the_index_finds_a_merchant_by_id(as_senior, merchants, form):
    response = as_senior.get(reverse("backoffice:merchant-index"), {"q": form.format(merchants["c"].pk)})
    assert index_ids(response) == [merchants["c"].pk]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("store_blocked", "a"),
        ("active", "bcd"),
        ("frozen", ""),
        ("restricted", "a"),
        ("", "abcd"),
        ("bogus", "abcd"),  # an unknown status is left out: every merchant, and the form says why
    ],
)
def test_the_index_filters_by_status(as_senior, merchants, status, expected):
    response = as_senior.get(reverse("backoffice:merchant-index"), {"status": status})
    ordered = sorted((merchants[name] for name in expected), key=lambda m: (m.store_name, m.pk))
    assert index_ids(response) == [m.pk for m in ordered]


def test_the_index_combines_search_and_status(as_senior, merchants):
    url = reverse("backoffice:merchant-index")
    assert index_ids(as_senior.get(url, {"q": "Co., Ltd.", "status": "active"})) == [merchants[n].pk for n in "bcd"]
    assert index_ids(as_senior.get(url, {"q": "gadget", "status": "store_blocked"})) == []


@pytest.mark.parametrize("query", ["²", "#³", "٣"])
def test_a_search_with_unusual_digits_is_not_an_error(as_senior, merchant_a, merchant_b, query):
    """``str.isdigit`` accepts superscripts, which ``int()`` refuses; Arabic-Indic digits are decimal."""
    response = as_senior.get(reverse("backoffice:merchant-index"), {"q": query})
    assert response.status_code == 200


def test_a_search_for_an_id_beyond_the_column_is_not_an_error(as_senior, merchant_a, merchant_b):
    response = as_senior.get(reverse("backoffice:merchant-index"), {"q": "#" + "9" * 30})
    assert index_ids(response) == []


# --- a senior sanctions through the form -----------------------------------------------------------


@pytest.fixture
def with_points(travel, announced_policy, merchant_b, violate):
    """Merchant B (English notices) after grace with one evasion (4 points): below the ladder, no sanction."""
    travel.to(AFTER_GRACE)
    violate(merchant_b, 4)
    travel.by(timedelta(minutes=5))
    return merchant_b


def sanction_data(policy, kind, days=None, reason=REASON) -> dict:
    data = {"policy": policy.pk, "kind": kind, "reason": reason}
    if days is not None:
        data["duration_days"] = days
    return data


def test_a_senior_warns_then_blocks_the_store_for_seven_days(as_senior, senior, with_points, announced_policy, travel):
    merchant = with_points
    response = as_senior.post(sanction_url(merchant), sanction_data(announced_policy, "warning"))
    assert response.status_code == 302
    assert response["Location"] == detail(merchant)
    assert messages_of(response) == ["Warning issued; the merchant is notified."]
    warning = Sanction.objects.get(merchant=merchant)
    assert (warning.kind, warning.automated, warning.issued_by, warning.reason) == ("warning", False, senior, REASON)
    assert (warning.points, warning.ends_at, warning.step) == (4, None, None)
    notice = Notice.objects.get(merchant=merchant, kind=Notice.Kind.WARNING)
    assert notice.language == "en" and REASON in notice.body
    assert status_of(merchant) == ("active", None, False)  # a warning restricts nothing
    page = as_senior.get(detail(merchant)).content.decode()
    assert '<li class="msg-success">Warning issued; the merchant is notified.</li>' in page
    assert 'id="enforcement-status">Active</span>' in page

    # The warning is on record: a manual block needs no waiting (only the sweep waits for the warning's deadline).
    travel.by(timedelta(minutes=1))
    response = as_senior.post(sanction_url(merchant), sanction_data(announced_policy, "store_block", days=7))
    assert response.status_code == 302
    assert messages_of(response) == ["Store blocked issued; the merchant is notified."]
    block = Sanction.objects.filter(merchant=merchant).latest("id")
    now = travel.now()
    assert (block.kind, block.status, block.starts_at, block.ends_at) == (
        "store_block",
        "active",
        now,
        now + timedelta(days=7),
    )
    assert Notice.objects.filter(merchant=merchant, kind=Notice.Kind.SANCTION).count() == 1
    assert status_of(merchant) == ("store_blocked", now + timedelta(days=7), False)
    assert AuditEvent.objects.filter(verb=AuditVerb.SANCTION_ISSUED, merchant=merchant).count() == 2
    assert AuditEvent.objects.filter(verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant).count() == 1

    html = as_senior.get(detail(merchant)).content.decode()
    until = f"{now + timedelta(days=7):%Y-%m-%d %H:%M}"
    assert f'id="enforcement-status">Store blocked until {until} UTC</span>' in html
    rows = [text for _tag, text in body_rows(html, 'id="sanction-table"')]
    assert rows[0].startswith(f"{block.pk} Store blocked Virtual currency mining machines")
    assert "Active senior" in rows[0] and "Active senior" in rows[1]
    assert rows[1].startswith(f"{warning.pk} Warning Virtual currency mining machines")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "warning", "reason": "Too short."}, "reason", "at least 20 characters"),
        ({"kind": "warning", "reason": " " * 30}, "reason", "This field is required."),
        ({"kind": "warning", "reason": None}, "reason", "This field is required."),
        ({"kind": "store_block"}, "duration_days", "Say for how many days (1 to 365)."),
        ({"kind": "store_block", "duration_days": 0}, "duration_days", "greater than or equal to 1"),
        ({"kind": "store_block", "duration_days": 366}, "duration_days", "less than or equal to 365"),
        ({"kind": "store_block", "duration_days": "a week"}, "duration_days", "Enter a whole number."),
        ({"kind": "warning", "duration_days": 7}, "duration_days", "A warning or a closure has no duration."),
        ({"kind": "ban_forever", "duration_days": 7}, "kind", "Select a valid choice."),
        ({"kind": "warning", "policy": "999999"}, "policy", "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    as_senior, climbed, merchant_a, announced_policy, data, field, message
):
    data = {
        key: value
        for key, value in {"policy": announced_policy.pk, "reason": REASON, **data}.items()
        if value is not None
    }
    before = written(), status_of(merchant_a)
    response = as_senior.post(sanction_url(merchant_a), data)
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'<div class="errors" data-field="{field}">(.*?)</div>', html, re.S)
    assert errors, f"no error shown next to {field}"
    assert message in text_of(errors.group(1))
    assert html.count('class="errors"') == 1  # only that field
    assert (written(), status_of(merchant_a)) == before
    # The page around the form is the merchant's page, and what was typed is kept.
    assert 'data-figure="points">12</div>' in html
    if field != "reason":
        assert REASON in html


def test_a_suspension_without_a_warning_on_record_is_refused(as_senior, with_points, announced_policy):
    merchant = with_points
    before = written(), status_of(merchant)
    response = as_senior.post(sanction_url(merchant), sanction_data(announced_policy, "store_block", days=7))
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(r'<div class="errors" data-field="kind">(.*?)</div>', html, re.S)
    assert errors and "No warning is on record for this merchant under this policy" in text_of(errors.group(1))
    assert (written(), status_of(merchant)) == before


@pytest.mark.parametrize("kind", ["account_freeze", "account_closure"])
def test_the_other_suspensions_need_the_warning_too(as_senior, with_points, announced_policy, kind):
    merchant = with_points
    before = written()
    days = 21 if kind == "account_freeze" else None
    response = as_senior.post(sanction_url(merchant), sanction_data(announced_policy, kind, days=days))
    assert response.status_code == 400
    assert "issue a warning first" in response.content.decode()
    assert written() == before


def test_a_policy_of_another_marketplace_is_not_offered(as_senior, climbed, merchant_c, announced_policy):
    """Merchant C sells on AliExpress, outside the reference policy: the form offers no policy and refuses it."""
    page = as_senior.get(detail(merchant_c)).content.decode()
    assert f'<option value="{announced_policy.pk}"' not in page
    before = written()
    response = as_senior.post(sanction_url(merchant_c), sanction_data(announced_policy, "warning"))
    assert response.status_code == 400
    assert 'data-field="policy"' in response.content.decode()
    assert written() == before


# --- a senior lifts a sanction ---------------------------------------------------------------------


def test_a_senior_lifts_a_store_block(as_senior, senior, blocked, merchant_a, travel):
    travel.by(timedelta(hours=2))
    response = as_senior.post(lift_url(blocked), {"reason": LIFT_REASON})
    assert response.status_code == 302
    assert response["Location"] == detail(merchant_a)
    assert messages_of(response) == ["Store blocked lifted; the merchant is notified."]
    blocked.refresh_from_db()
    assert (blocked.status, blocked.ended_at, blocked.ended_by_name, blocked.end_reason) == (
        "lifted",
        travel.now(),
        "senior",
        LIFT_REASON,
    )
    assert status_of(merchant_a) == ("active", None, False)
    ended = Notice.objects.get(merchant=merchant_a, kind=Notice.Kind.SANCTION_ENDED)
    assert ended.language == "zh-hans"
    assert AuditEvent.objects.filter(verb=AuditVerb.SANCTION_LIFTED, target_id=blocked.pk).get().actor == senior

    html = as_senior.get(detail(merchant_a)).content.decode()
    assert 'id="enforcement-status">Active</span>' in html
    row = next(text for _tag, text in body_rows(html, 'id="sanction-table"') if text.startswith(f"{blocked.pk} "))
    assert f"Lifted {LIFT_REASON}" in row
    assert f'action="{lift_url(blocked)}"' not in html  # nothing left to lift


@pytest.mark.parametrize("reason", ["Too short", "          x          ", ""])
def test_lifting_with_a_too_short_reason_changes_nothing(as_senior, blocked, merchant_a, reason):
    before = written(), status_of(merchant_a)
    response = as_senior.post(lift_url(blocked), {"reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    row = re.search(rf'<form method="post" action="{re.escape(lift_url(blocked))}".*?</form>', html, re.S)
    assert row and 'class="errorlist' in row.group(0), "the error is shown in the sanction's row"
    other = re.search(
        rf'<form method="post" action="{re.escape(lift_url(Sanction.objects.get(kind="warning")))}".*?</form>',
        html,
        re.S,
    )
    assert other and "errorlist" not in other.group(0), "and only there"
    assert (written(), status_of(merchant_a)) == before
    blocked.refresh_from_db()
    assert blocked.status == "active"


def test_lifting_a_sanction_that_has_ended_is_refused(as_senior, blocked, merchant_a):
    assert as_senior.post(lift_url(blocked), {"reason": LIFT_REASON}).status_code == 302
    before = written(), status_of(merchant_a)
    response = as_senior.post(lift_url(blocked), {"reason": LIFT_REASON})  # a second senior, or a double submit
    assert response.status_code == 400
    assert (written(), status_of(merchant_a)) == before
    blocked.refresh_from_db()
    assert blocked.status == "lifted"


def test_the_refusal_to_lift_an_ended_sanction_is_shown(as_senior, blocked):
    as_senior.post(lift_url(blocked), {"reason": LIFT_REASON})
    response = as_senior.post(lift_url(blocked), {"reason": LIFT_REASON})
    assert "This sanction is not active any more." in response.content.decode()


def test_lifting_a_warning_tells_the_merchant_as_the_page_says(as_senior, climbed, merchant_a):
    response = as_senior.post(lift_url(climbed["warning"]), {"reason": LIFT_REASON}, follow=True)
    assert "the merchant is notified" in response.content.decode()
    climbed["warning"].refresh_from_db()
    assert climbed["warning"].status == "lifted"
    notice = Notice.objects.get(kind=Notice.Kind.SANCTION_ENDED)
    assert notice.merchant == merchant_a
    assert LIFT_REASON in notice.body


# --- hostile names ---------------------------------------------------------------------------------


def test_a_hostile_store_name_is_escaped_on_both_pages(as_senior, system, marketplace, announced_policy, travel):
    travel.to(AFTER_GRACE)
    merchant = catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name=HOSTILE,
        company_name=f'Evil "Co" {HOSTILE}',
        country="CN",
        contact_email="evil@example.com",
    )
    index = as_senior.get(reverse("backoffice:merchant-index"), {"q": "script"})
    assert index_ids(index) == [merchant.pk]
    page = as_senior.get(detail(merchant))
    for response in (index, page):
        html = response.content.decode()
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = page.content.decode()
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; · Ban enforcement</title>" in html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
