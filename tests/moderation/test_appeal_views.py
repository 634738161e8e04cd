"""The appeal queue pages: who may open them, the list and its filters, one appeal beside its decision, deciding."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from moderation.models import ACCESS_VERBS, Appeal, AuditEvent, AuditVerb, Notice, Sanction, Violation
from moderation.services import appeals
from sellers.models import Listing
from tests.api.conftest import decisions_of  # noqa: F401
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403 - announced_policy (with the ladder), take_down, violate

GROUNDS = "The listing is a graphics card dock: it has no hashing chips and mines nothing."
REASON = "The photos show a GPU dock without hashing boards: not a mining machine."
HOSTILE_GROUNDS = (
    'Not a miner <script>window.__xss=1</script> <img src=x onerror="alert(2)"> & "quoted" — see the photos.'
)
PLAN = {
    "plan_root_cause": "A supplier feed <b>copied</b> mining listings.",
    "plan_corrections": "Every listing from that feed is removed.",
    "plan_prevention": "The feed is filtered on mining keywords.",
}

ROW = re.compile(r'<td><a href="/backoffice/appeals/(\d+)/">')


def url(appeal: Appeal | None = None, action: str | None = None) -> str:
    if appeal is None:
        return "/backoffice/appeals/"
    return f"/backoffice/appeals/{appeal.pk}/" + (f"{action}/" if action else "")


def row_ids(response) -> list[int]:
    assert response.status_code == 200
    return [int(pk) for pk in ROW.findall(response.content.decode())]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def section(html: str, start_id: str, end_id: str) -> str:
    start = html.index(f'id="{start_id}"')
    return html[start : html.index(f'id="{end_id}"', start)]


def file(merchant_user, merchant, kind, object_id, grounds=GROUNDS, **plan) -> Appeal:
    return appeals.file_appeal(
        actor=merchant_user, merchant=merchant, kind=kind, object_id=object_id, grounds=grounds, **plan
    )


def state(merchant) -> tuple:
    return (
        list(Appeal.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status", "claimed_by")),
        list(Listing.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status", "category_id")),
        list(Violation.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status")),
        list(Sanction.objects.filter(merchant=merchant).order_by("pk").values_list("pk", "status")),
        AuditEvent.objects.exclude(verb__in=ACCESS_VERBS).count(),  # sign-ins are not decisions
        Notice.objects.count(),
    )


@pytest.fixture
def taken_down(travel, announced_policy, take_down, merchant_a):
    """A take-down of merchant A's listing by ``moderator`` after grace."""
    travel.to(AFTER_GRACE)
    return take_down(merchant_a, kind="keyword_evasion")


@pytest.fixture
def violation_appeal(taken_down, merchant_a, merchant_user_a):
    return file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, taken_down.pk)


@pytest.fixture
def three(decisions_of, travel, merchant_a, merchant_user_a):  # noqa: F811
    """One appeal of each kind by merchant A, an hour apart: delisting, violation, then the senior's warning."""
    (decisions,) = decisions_of(merchant_a)
    delisting = file(merchant_user_a, merchant_a, Appeal.Kind.DELISTING, decisions.delisted.pk)
    travel.by(timedelta(hours=1))
    violation = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, decisions.violation.pk)
    travel.by(timedelta(hours=1))
    sanction = file(merchant_user_a, merchant_a, Appeal.Kind.SANCTION, decisions.sanction.pk, **PLAN)
    assert [a.tier for a in (delisting, violation, sanction)] == ["moderator", "moderator", "senior"]
    return SimpleNamespace(decisions=decisions, delisting=delisting, violation=violation, sanction=sanction)


# --- who may open what ----------------------------------------------------------------------------------------

ROUTES = [
    # (method, action or page, what another moderator gets)
    ("get", "index", 200),
    ("post", "claim-next", 302),
    ("get", "detail", 200),
    ("post", "claim", 302),
    ("post", "grant", 302),
    ("post", "reject", 302),
]


def route_url(page: str, appeal: Appeal) -> str:
    return {
        "index": url(),
        "claim-next": "/backoffice/appeals/claim-next/",
        "detail": url(appeal),
    }.get(page) or url(appeal, page)


@pytest.mark.parametrize(("method", "page", "ok"), ROUTES, ids=[page for _, page, _ in ROUTES])
def test_who_may_open_each_page(
    client, method, page, ok, merchant_a, violation_appeal, merchant_user_a, other_moderator
):
    target = route_url(page, violation_appeal)
    data = {"reason": REASON} if method == "post" else None
    before = state(merchant_a)

    response = getattr(client, method)(target, data)
    assert response.status_code == 302 and response.url == f"/accounts/login/?next={target}"

    client.force_login(merchant_user_a)
    assert getattr(client, method)(target, data).status_code == 403
    assert state(merchant_a) == before

    client.force_login(other_moderator)
    assert getattr(client, method)(target, data).status_code == ok


@pytest.mark.parametrize(
    ("method", "page"), [("get", "detail"), ("post", "claim"), ("post", "grant"), ("post", "reject")]
)
def test_a_senior_tier_appeal_does_not_exist_for_a_plain_moderator(
    client, method, page, three, merchant_a, other_moderator, other_senior
):
    target = route_url(page, three.sanction)
    data = {"reason": REASON} if method == "post" else None
    before = state(merchant_a)
    client.force_login(other_moderator)
    assert getattr(client, method)(target, data).status_code == 404
    assert state(merchant_a) == before
    assert three.sanction.pk not in row_ids(client.get(url(), {"status": "all"}))

    client.force_login(other_senior)
    assert getattr(client, method)(target, data).status_code in (200, 302)


def test_unknown_actions_and_appeals_are_not_found(client, violation_appeal, other_moderator):
    client.force_login(other_moderator)
    assert client.post(url(violation_appeal, "approve"), {"reason": REASON}).status_code == 404
    assert client.get(f"/backoffice/appeals/{violation_appeal.pk + 1000}/").status_code == 404
    assert client.get(url(violation_appeal, "grant")).status_code == 405  # deciding is a POST


# --- the list ---------------------------------------------------------------------------------------------------


def test_the_index_lists_open_appeals_due_first_and_filters_them(client, travel, three, other_moderator, other_senior):
    client.force_login(other_senior)
    assert row_ids(client.get(url())) == [three.delisting.pk, three.violation.pk, three.sanction.pk]
    client.force_login(other_moderator)  # the senior tier is not theirs
    assert row_ids(client.get(url())) == [three.delisting.pk, three.violation.pk]

    appeals.reject_appeal(actor=other_senior, appeal=three.violation, reason=REASON)
    client.force_login(other_senior)
    assert row_ids(client.get(url())) == [three.delisting.pk, three.sanction.pk]
    assert row_ids(client.get(url(), {"status": "rejected"})) == [three.violation.pk]
    assert row_ids(client.get(url(), {"status": "granted"})) == []
    assert row_ids(client.get(url(), {"status": "all"})) == [three.delisting.pk, three.violation.pk, three.sanction.pk]
    assert row_ids(client.get(url(), {"kind": "sanction"})) == [three.sanction.pk]
    assert row_ids(client.get(url(), {"kind": "delisting", "status": "all"})) == [three.delisting.pk]
    assert row_ids(client.get(url(), {"tier": "senior"})) == [three.sanction.pk]

    # 72 hours and a half after the first was filed: only the first is past due.
    travel.to(three.delisting.due_at + timedelta(minutes=30))
    client.force_login(other_senior)  # three days idle: the session has ended
    overdue = client.get(url(), {"overdue": "true"})
    assert row_ids(overdue) == [three.delisting.pk]
    assert '<tr class="overdue">' in overdue.content.decode()
    assert "past due" in overdue.content.decode()
    assert row_ids(client.get(url(), {"overdue": "false"})) == [three.sanction.pk]


def test_the_index_keeps_a_bounded_number_of_queries_however_many_appeals(
    client,
    travel,
    announced_policy,
    take_down,
    merchant_a,
    merchant_b,
    merchant_user_a,
    merchant_user_b,
    other_senior,
):
    travel.to(AFTER_GRACE)
    owners = [(merchant_a, merchant_user_a), (merchant_b, merchant_user_b)]
    claimers = [other_senior, None]

    def add(count: int) -> None:
        for n in range(count):
            merchant, user = owners[n % 2]
            appeal = file(user, merchant, Appeal.Kind.VIOLATION, take_down(merchant).pk)
            if claimers[n % 2]:
                appeals.claim_appeal(actor=claimers[n % 2], appeal=appeal)

    client.force_login(other_senior)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url())
        assert response.status_code == 200
        return len(captured)

    add(3)
    few = queries()
    add(27)
    many = queries()
    assert len(row_ids(client.get(url()))) == 30
    assert many == few, f"{few} queries for 3 appeals, {many} for 30"
    assert many <= 8  # session, user, roles, the page of appeals, the policy filter's choices


# --- one appeal beside its decision -------------------------------------------------------------------------------


def test_the_detail_shows_the_decision_and_its_evidence_beside_the_grounds_escaped(
    client,
    announced_policy,
    take_down,
    travel,
    merchant_a,
    merchant_user_a,
    other_moderator,
):
    travel.to(AFTER_GRACE)
    violation = take_down(merchant_a, kind="keyword_evasion")
    appeal = file(merchant_user_a, merchant_a, Appeal.Kind.VIOLATION, violation.pk, grounds=HOSTILE_GROUNDS)
    statement = Notice.objects.get(dedupe_key=f"violation:{violation.pk}")
    client.force_login(other_moderator)

    html = client.get(url(appeal)).content.decode()

    decision = section(html, "original-decision", "grounds")
    assert "<mark>antminer</mark>" in decision  # the terms the detection matched
    assert "score 12" in decision
    assert "Evasion by keyword distortion · 4 points" in decision
    assert f"review #{violation.review_item_id}" in decision
    assert f"Statement sent: {escape(statement.subject)}" in decision
    assert escape(statement.body.strip().splitlines()[0]) in decision
    assert "by moderator" in decision  # who took the decision

    grounds = section(html, "grounds", "appeal-decision")
    assert escape(HOSTILE_GROUNDS) in grounds
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert 'id="appeal-decision-form"' in html and 'id="grant-button"' in html


def test_the_detail_of_a_sanction_appeal_shows_the_plan_of_action_and_the_violations_behind_it(
    client, three, other_senior
):
    client.force_login(other_senior)
    html = client.get(url(three.sanction)).content.decode()

    decision = section(html, "original-decision", "grounds")
    assert "Warning" in decision and "by senior" in decision
    assert escape(three.decisions.sanction.reason) in decision
    assert "Violations behind it" in decision
    assert f"<td>{three.decisions.violation.pk}</td>" in decision
    statement = Notice.objects.get(dedupe_key=f"sanction:{three.decisions.sanction.pk}")
    assert f"Statement sent: {escape(statement.subject)}" in decision
    grounds = section(html, "grounds", "appeal-decision")
    assert "Plan of action" in grounds
    assert escape(PLAN["plan_root_cause"]) in grounds and "<b>copied</b>" not in html
    assert PLAN["plan_prevention"] in grounds
    assert 'name="move_to"' not in html  # nothing to move when a sanction is appealed


def test_the_detail_of_a_delisting_appeal_shows_the_closed_category(client, three, other_moderator):
    client.force_login(other_moderator)
    html = client.get(url(three.delisting)).content.decode()
    decision = section(html, "original-decision", "grounds")
    listing = three.decisions.delisted
    assert f"category removal #{listing.delisted_by_removal_id}" in decision
    assert "category closed" in decision
    assert escape(listing.delisted_reason) in decision
    assert 'name="move_to"' in html


def test_the_original_decider_is_told_another_moderator_decides_and_gets_no_form(
    client, merchant_a, violation_appeal, moderator
):
    client.force_login(moderator)
    html = client.get(url(violation_appeal)).content.decode()
    assert "You took the decision under appeal: another moderator decides it." in html
    assert 'id="appeal-decision-form"' not in html and ">Claim</button>" not in html

    before = state(merchant_a)
    response = client.post(url(violation_appeal, "grant"), {"reason": REASON})
    assert response.status_code == 400
    assert state(merchant_a) == before


# --- deciding ---------------------------------------------------------------------------------------------------


def test_granting_from_the_page_reverses_the_decision(
    client, travel, merchant_a, taken_down, violation_appeal, other_moderator
):
    client.force_login(other_moderator)
    response = client.post(url(violation_appeal, "grant"), {"reason": REASON, "move_to": ""})

    assert response.status_code == 302 and response.url == url()
    assert messages_of(response) == [
        f"Appeal #{violation_appeal.pk} granted: the decision is reversed and the merchant told."
    ]
    violation_appeal.refresh_from_db()
    assert (violation_appeal.status, violation_appeal.decided_by) == ("granted", other_moderator)
    assert violation_appeal.decision_note == REASON
    taken_down.refresh_from_db()
    assert taken_down.status == Violation.Status.OVERTURNED
    assert Listing.objects.get(pk=taken_down.listing_id).status == Listing.Status.LIVE
    assert AuditEvent.objects.filter(verb=AuditVerb.APPEAL_GRANTED, target_id=violation_appeal.pk).count() == 1

    html = client.get(url(violation_appeal)).content.decode()
    assert "Outcome" in html and escape(REASON) in html and 'id="appeal-decision-form"' not in html


def test_rejecting_from_the_page_keeps_the_decision(client, merchant_a, taken_down, violation_appeal, other_moderator):
    client.force_login(other_moderator)
    response = client.post(url(violation_appeal, "reject"), {"reason": REASON})
    assert response.status_code == 302 and response.url == url()
    assert messages_of(response) == [f"Appeal #{violation_appeal.pk} rejected; the merchant is told why."]
    violation_appeal.refresh_from_db()
    assert violation_appeal.status == Appeal.Status.REJECTED
    assert Listing.objects.get(pk=taken_down.listing_id).status == Listing.Status.DELISTED


@pytest.mark.parametrize("action", ["grant", "reject"])
@pytest.mark.parametrize("reason", ["", "   ", "too short"])
def test_a_missing_reason_is_shown_by_its_field_and_changes_nothing(
    client, action, reason, merchant_a, violation_appeal, other_moderator
):
    client.force_login(other_moderator)
    before = state(merchant_a)

    response = client.post(url(violation_appeal, action), {"reason": reason})

    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(r'<div class="errors" data-field="reason">(.*?)</div>', html, re.S)
    assert errors, "the error is not shown by the reason field"
    assert "reason" in errors.group(1).lower() or "at least 10" in errors.group(1)
    assert 'id="appeal-decision-form"' in html
    assert state(merchant_a) == before


def test_moving_into_a_closed_category_is_refused_by_the_field(
    client, three, merchant_a, other_moderator, miner_accessories, graphics_cards
):
    retired = three.decisions.delisted.category
    client.force_login(other_moderator)
    before = state(merchant_a)
    response = client.post(url(three.delisting, "grant"), {"reason": REASON, "move_to": retired.pk})
    assert response.status_code == 400
    assert re.search(r'data-field="move_to">.*valid choice', response.content.decode(), re.S)
    assert state(merchant_a) == before

    response = client.post(url(three.delisting, "grant"), {"reason": REASON, "move_to": graphics_cards.pk})
    assert response.status_code == 302
    listing = Listing.objects.get(pk=three.decisions.delisted.pk)
    assert (listing.status, listing.category_id) == ("live", graphics_cards.pk)


def test_a_decision_taken_meanwhile_is_refused_and_changes_nothing(
    client, merchant_a, violation_appeal, other_moderator, other_senior
):
    appeals.grant_appeal(actor=other_senior, appeal=violation_appeal, reason=REASON)
    before = state(merchant_a)
    client.force_login(other_moderator)
    response = client.post(url(violation_appeal, "reject"), {"reason": REASON})
    assert response.status_code == 400
    assert state(merchant_a) == before
    assert "Outcome" in response.content.decode()


def test_claiming_from_the_page_and_claim_next(client, merchant_a, violation_appeal, other_moderator, other_senior):
    client.force_login(other_moderator)
    response = client.post("/backoffice/appeals/claim-next/")
    assert response.status_code == 302 and response.url == url(violation_appeal)
    html = client.get(url(violation_appeal)).content.decode()
    assert "Claimed by you" in html and ">Claim</button>" not in html

    client.force_login(other_senior)
    response = client.post("/backoffice/appeals/claim-next/")
    assert response.status_code == 302 and response.url == url()
    assert messages_of(response) == ["No appeal left for you to decide."]
    response = client.post(url(violation_appeal, "claim"))
    assert response.status_code == 302
    assert any("is working on this appeal" in message for message in messages_of(response))
    violation_appeal.refresh_from_db()
    assert violation_appeal.claimed_by == other_moderator
