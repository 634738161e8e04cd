"""The enforcement dashboard: each figure against a dataset whose answer is known, bounded queries, access."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation.selectors.dashboard import Period, compute_dashboard
from moderation.services import appeals as appeal_services
from moderation.services.queue import dismiss_item
from moderation.services.sanctions import run_escalation
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403


def period_around(policy, moment, days=3):
    day = moment.astimezone(policy.zone).date()
    start = datetime.combine(day - timedelta(days=days), time.min, tzinfo=policy.zone)
    return Period(start=start, end=datetime.combine(day + timedelta(days=1), time.min, tzinfo=policy.zone))


@pytest.fixture
def known(
    travel,
    announced_policy,
    merchant_a,
    merchant_b,
    violate,
    take_down,
    open_item,
    make_listing,
    graphics_cards,
    moderator,
    other_moderator,
    merchant_user_a,
):
    """Merchant A: 3 evasions (12 points); merchant B: 1 take-down (2 points); one open item, one dismissed;
    a warning; one appeal granted after 2 hours."""
    travel.to(AFTER_GRACE)
    violate(merchant_a, 12)
    violation_b = take_down(merchant_b)
    pending = open_item(make_listing(merchant_b, graphics_cards, title="Antminer fan kit"))
    dismissed = open_item(make_listing(merchant_a, graphics_cards, title="Antminer poster"))
    travel.by(timedelta(hours=5))
    dismiss_item(actor=moderator, item=dismissed, reason="A poster, not a machine.")
    run_escalation()
    appeal = appeal_services.file_appeal(
        actor=merchant_b.user,
        merchant=merchant_b,
        kind="violation",
        object_id=violation_b.pk,
        grounds="This listing was a graphics card, not a mining machine.",
    )
    travel.by(timedelta(hours=2))
    appeal_services.grant_appeal(actor=other_moderator, appeal=appeal, reason="It is a graphics card indeed.")
    return {"pending": pending}


def test_each_figure_matches_the_known_dataset(announced_policy, known, travel):
    board = compute_dashboard(announced_policy, period_around(announced_policy, AFTER_GRACE))
    day = AFTER_GRACE.astimezone(announced_policy.zone).date()
    assert board.taken_down == {day: 4}
    assert board.violations == {day: 3}  # B's was overturned on appeal
    assert board.points == {day: 12}
    assert board.queue["size"] == 1 and board.queue["escalated"] == 0
    assert board.queue["oldest_hours"] == 7.0
    assert board.queue["past_due"] == 0
    assert board.sanctions_issued == {"warning": 1} and board.sanctions_active == {"warning": 1}
    assert board.appeals == {
        "filed": 1,
        "open": 0,
        "decided": 1,
        "granted": 1,
        "granted_share": 100.0,
        "median_hours": 2.0,
    }
    moderators = {(row["moderator"], row["n"]) for row in board.decisions_by_moderator}
    assert moderators == {("moderator", 5)}
    assert board.detection_to_decision_hours == 0.0 or board.detection_to_decision_hours is not None
    assert len(board.series("violations")) == 4


def test_the_figures_cost_the_same_queries_with_ten_times_the_data(
    announced_policy, known, violate, merchant_b, travel
):
    period = period_around(announced_policy, AFTER_GRACE)
    with CaptureQueriesContext(connection) as small:
        compute_dashboard(announced_policy, period)
    violate(merchant_b, 40)
    with CaptureQueriesContext(connection) as large:
        compute_dashboard(announced_policy, period)
    assert len(large) == len(small) <= 15


def test_the_page_draws_its_charts_for_staff_only(
    client, moderator, merchant_user_a, merchant_a, announced_policy, known
):
    client.force_login(moderator)
    html = client.get(
        "/backoffice/", {"policy": announced_policy.pk, "since": "2021-10-17", "until": "2021-10-21"}
    ).content.decode()
    assert html.count("<svg") >= 7 and "<rect" in html
    assert 'data-figure="queue">1<' in html
    client.force_login(merchant_user_a)
    assert client.get("/backoffice/").status_code == 302


def test_a_period_ending_before_it_starts_is_refused_by_the_field(client, moderator, announced_policy):
    client.force_login(moderator)
    html = client.get("/backoffice/", {"since": "2021-10-20", "until": "2021-10-01"}).content.decode()
    assert 'data-field="until"' in html


def test_the_transparency_report_counts_without_naming_anyone(client, moderator, known, merchant_a, merchant_b):
    client.force_login(moderator)
    response = client.get("/backoffice/reports/transparency.json", {"since": "2021-10-01", "until": "2021-10-31"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.json"')
    report = response.json()
    assert report["complaints"] == {
        "received": 1,
        "received_by_decision_kind": {"violation": 1},
        "decided": 1,
        "reversed": 1,
        "median_decision_hours": 2.0,
    }
    assert report["suspensions_by_type"] == {"warning": 1}
    assert sum(row["statements"] for row in report["own_initiative_actions"]) >= 5
    text = response.content.decode()
    for personal in (merchant_a.store_name, merchant_b.company_name, merchant_a.contact_email, "moderator"):
        assert personal not in text

    csv_response = client.get("/backoffice/reports/transparency.csv", {"since": "2021-10-01", "until": "2021-10-31"})
    lines = csv_response.content.decode().splitlines()
    assert lines[0] == "section,item,value" and "complaints,reversed,1" in lines


def test_the_report_refuses_a_bad_period_and_is_for_staff(client, moderator, merchant_user_a):
    client.force_login(moderator)
    response = client.get("/backoffice/reports/transparency.csv", {"since": "2021-10-31", "until": "2021-10-01"})
    assert response.status_code == 400 and "until" in response.json()["errors"]
    assert client.get("/backoffice/reports/transparency.xml").status_code == 404
    client.force_login(merchant_user_a)
    assert client.get("/backoffice/reports/transparency.json").status_code == 403
