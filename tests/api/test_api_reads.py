"""What the sellers' API tells a merchant: its decisions, notices and sanctions.

Merchant A (and B, to prove A sees none of it) get one decision of each kind from ``decisions_of``: a listing
delisted by the category removal (AFTER_GRACE - 8 days), a moderator's take-down and a senior's warning (both
at AFTER_GRACE, the clock's time for the rest of the test).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation.models import Notice, Sanction, Violation
from moderation.services import appeals as appeal_services
from moderation.services.sanctions import lift_sanction
from sellers.models import Listing
from tests.moderation.conftest import AFTER_GRACE

pytestmark = pytest.mark.django_db

API = "/api/v1"
GROUNDS = "The listing was a graphics card, not a mining machine: the photos show it."
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
PAGE_SIZE = 20


def moment(value: str) -> datetime:
    assert ISO_8601.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
def decided(decisions_of, merchant_a, merchant_b):
    """(A's decisions, B's decisions)."""
    return tuple(decisions_of(merchant_a, merchant_b))


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


# --- /decisions/ ----------------------------------------------------------------------------------


def test_decisions_lists_the_three_newest_first(api_a, decided, announced_policy):
    a, _b = decided

    response = api_a.get(f"{API}/decisions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    rows = {row["id"]: row for row in body["results"]}
    assert set(rows) == set(a.keys)
    decided_at = [moment(row["decided_at"]) for row in body["results"]]
    assert decided_at == sorted(decided_at, reverse=True)
    assert body["results"][-1]["id"] == f"delisting-{a.delisted.pk}"  # 8 days before the other two

    delisting = rows[f"delisting-{a.delisted.pk}"]
    violation = rows[f"violation-{a.violation.pk}"]
    sanction = rows[f"sanction-{a.sanction.pk}"]
    assert (delisting["kind"], delisting["measure"], delisting["object_id"]) == (
        "delisting",
        "listing_delisted",
        a.delisted.pk,
    )
    assert (violation["kind"], violation["measure"], violation["object_id"]) == (
        "violation",
        "prohibited_listing",
        a.violation.pk,
    )
    assert (sanction["kind"], sanction["measure"], sanction["object_id"]) == ("sanction", "warning", a.sanction.pk)
    assert moment(delisting["decided_at"]) == a.delisted.delisted_at
    assert moment(violation["decided_at"]) == a.violation.decided_at
    assert moment(sanction["decided_at"]) == a.sanction.starts_at
    assert delisting["listing_id"] == a.delisted.pk
    assert violation["listing_id"] == a.violation.listing_id
    assert sanction["listing_id"] is None
    assert violation["clause_number"] == a.violation.clause.number
    assert (delisting["automated"], violation["automated"], sanction["automated"]) == (True, False, False)
    window = timedelta(days=announced_policy.appeal_window_days)
    for row in rows.values():
        assert row["status"] == "active"
        assert row["policy"] == {"id": announced_policy.pk, "title": announced_policy.title}
        assert moment(row["appeal_deadline"]) == moment(row["decided_at"]) + window
        assert row["appealable"] is True
        assert row["open_appeal"] is None
    assert sanction["summary"] == a.sanction.reason
    assert delisting["summary"] == a.delisted.title


def test_violation_summary_is_the_listing_title(api_a, decided):
    a, _b = decided

    row = api_a.get(f"{API}/decisions/violation-{a.violation.pk}/").json()

    assert row["summary"] == a.violation.evidence["title"] == a.violation.listing.title


def test_an_open_appeal_shows_on_its_decision(api_a, decided, merchant_a, merchant_user_a):
    a, _b = decided

    appeal = appeal_services.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="violation", object_id=a.violation.pk, grounds=GROUNDS
    )

    rows = {row["id"]: row for row in api_a.get(f"{API}/decisions/").json()["results"]}
    assert rows[f"violation-{a.violation.pk}"]["open_appeal"] == appeal.pk
    assert rows[f"violation-{a.violation.pk}"]["appealable"] is False
    for key in (f"delisting-{a.delisted.pk}", f"sanction-{a.sanction.pk}"):
        assert rows[key]["open_appeal"] is None
        assert rows[key]["appealable"] is True
    detail = api_a.get(f"{API}/decisions/violation-{a.violation.pk}/").json()
    assert (detail["open_appeal"], detail["appealable"]) == (appeal.pk, False)

    appeal_services.withdraw_appeal(actor=merchant_user_a, appeal=appeal)

    detail = api_a.get(f"{API}/decisions/violation-{a.violation.pk}/").json()
    assert (detail["open_appeal"], detail["appealable"]) == (None, True)


def test_a_decision_past_its_window_is_not_appealable(api_a, decided, travel, announced_policy):
    a, _b = decided
    travel.to(a.delisted.delisted_at + timedelta(days=announced_policy.appeal_window_days, seconds=1))

    rows = {row["id"]: row for row in api_a.get(f"{API}/decisions/").json()["results"]}

    assert rows[f"delisting-{a.delisted.pk}"]["appealable"] is False
    assert rows[f"violation-{a.violation.pk}"]["appealable"] is True  # eight days younger


@pytest.mark.parametrize(
    ("kind", "part"),
    [("delisting", "delisted"), ("violation", "violation"), ("sanction", "sanction")],
)
def test_decisions_filter_by_kind(api_a, decided, kind, part):
    a, _b = decided

    assert keys(api_a.get(f"{API}/decisions/", {"kind": kind})) == [f"{kind}-{getattr(a, part).pk}"]


def test_decisions_filter_by_status(api_a, decided, senior):
    a, _b = decided
    assert len(keys(api_a.get(f"{API}/decisions/", {"status": "active"}))) == 3
    assert keys(api_a.get(f"{API}/decisions/", {"status": "lifted"})) == []

    lift_sanction(actor=senior, sanction=a.sanction, reason="Issued to the wrong store by mistake.")

    assert keys(api_a.get(f"{API}/decisions/", {"status": "lifted"})) == [f"sanction-{a.sanction.pk}"]
    assert set(keys(api_a.get(f"{API}/decisions/", {"status": "active"}))) == set(a.keys[:2])
    lifted = api_a.get(f"{API}/decisions/sanction-{a.sanction.pk}/").json()
    assert (lifted["status"], lifted["appealable"]) == ("lifted", False)


def test_decisions_filter_by_policy(api_a, decided, announced_policy):
    a, _b = decided

    assert set(keys(api_a.get(f"{API}/decisions/", {"policy": announced_policy.pk}))) == set(a.keys)
    assert keys(api_a.get(f"{API}/decisions/", {"policy": announced_policy.pk + 1000})) == []


def test_decisions_filter_by_date(api_a, decided):
    a, _b = decided
    newest = a.violation.decided_at
    recent = {f"violation-{a.violation.pk}", f"sanction-{a.sanction.pk}"}

    assert set(keys(api_a.get(f"{API}/decisions/", {"created_after": iso(newest - timedelta(days=1))}))) == recent
    assert set(keys(api_a.get(f"{API}/decisions/", {"created_after": iso(newest)}))) == recent  # inclusive
    assert keys(api_a.get(f"{API}/decisions/", {"created_after": iso(newest + timedelta(seconds=1))})) == []
    assert keys(api_a.get(f"{API}/decisions/", {"created_before": iso(newest)})) == [f"delisting-{a.delisted.pk}"]
    between = {"created_after": iso(a.delisted.delisted_at), "created_before": iso(newest)}
    assert keys(api_a.get(f"{API}/decisions/", between)) == [f"delisting-{a.delisted.pk}"]


def test_decisions_ordering(api_a, decided):
    newest_first = keys(api_a.get(f"{API}/decisions/"))

    assert keys(api_a.get(f"{API}/decisions/", {"ordering": "-decided_at"})) == newest_first
    oldest_first = keys(api_a.get(f"{API}/decisions/", {"ordering": "decided_at"}))
    assert oldest_first[0] == newest_first[-1]
    assert set(oldest_first) == set(newest_first)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "bogus"),
        ("status", "bogus"),
        ("policy", "abc"),
        ("created_after", "notadate"),
        ("created_before", "2021-13-45"),
        ("ordering", "title"),
    ],
)
def test_decisions_invalid_filter_is_400_naming_it(api_a, decided, field, value):
    response = api_a.get(f"{API}/decisions/", {field: value})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field]


def test_decisions_two_invalid_filters_are_both_named(api_a, merchant_a):
    response = api_a.get(f"{API}/decisions/", {"kind": "bogus", "created_after": "notadate"})

    assert response.status_code == 400
    assert set(response.json()) == {"kind", "created_after"}


@pytest.fixture
def many_violations(decided, take_down, merchant_a, graphics_cards):
    """30 more take-downs of merchant A (33 decisions in all); B keeps its three."""
    return [take_down(merchant_a, category=graphics_cards) for _ in range(30)]


def test_decisions_pagination(api_a, decided, many_violations):
    a, b = decided
    expected = set(a.keys) | {f"violation-{violation.pk}" for violation in many_violations}

    first = api_a.get(f"{API}/decisions/").json()
    second = api_a.get(first["next"]).json()

    assert first["count"] == second["count"] == 33
    assert len(first["results"]) == PAGE_SIZE
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert len(second["results"]) == 33 - PAGE_SIZE
    assert second["next"] is None
    assert second["previous"] is not None
    listed = [row["id"] for row in first["results"] + second["results"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == expected
    decided_at = [moment(row["decided_at"]) for row in first["results"] + second["results"]]
    assert decided_at == sorted(decided_at, reverse=True)
    assert api_a.get(f"{API}/decisions/", {"page": 3}).status_code == 404
    assert api_a.get(f"{API}/decisions/", {"kind": "violation"}).json()["count"] == 31
    assert not set(listed) & set(b.keys)


def list_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{API}/decisions/", params)
    assert response.status_code == 200
    return len(captured)


def test_decisions_list_costs_the_same_queries_whatever_the_history(
    api_a, decided, take_down, merchant_a, merchant_user_a, graphics_cards
):
    a, _b = decided
    appeal_services.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="violation", object_id=a.violation.pk, grounds=GROUNDS
    )
    few = list_queries(api_a)
    few_filtered = list_queries(api_a, kind="violation", ordering="decided_at")

    more = [take_down(merchant_a, category=graphics_cards) for _ in range(32)]
    for violation in more[:5]:
        appeal_services.file_appeal(
            actor=merchant_user_a, merchant=merchant_a, kind="violation", object_id=violation.pk, grounds=GROUNDS
        )

    assert api_a.get(f"{API}/decisions/").json()["count"] == 35
    assert list_queries(api_a) == few
    assert list_queries(api_a, page=2) == few
    assert list_queries(api_a, kind="violation", ordering="decided_at") == few_filtered
    assert few == 2  # the token with its user and merchant; the page with its count and appeals


def test_decision_detail(api_a, decided):
    a, _b = decided
    listed = {row["id"]: row for row in api_a.get(f"{API}/decisions/").json()["results"]}

    for key in a.keys:
        response = api_a.get(f"{API}/decisions/{key}/")
        assert response.status_code == 200, key
        assert response.json() == listed[key]


@pytest.mark.parametrize("which", ["delisting", "violation", "sanction"])
def test_decision_detail_of_merchant_b_is_404(api_a, decided, which):
    _a, b = decided
    key = next(key for key in b.keys if key.startswith(which))

    response = api_a.get(f"{API}/decisions/{key}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "key",
    [
        "bogus-1",
        "violation-abc",
        "violation-",
        "violation-01",
        "violation-0",  # was answered with the merchant's newest violation (views.py lookup_value_regex)
        "sanction-0",
        "delisting-0",
        "violation-999999999",
        "violation-99999999999999999999999",  # beyond bigint
    ],
)
def test_decision_detail_unknown_ids_are_404(api_a, decided, key):
    assert api_a.get(f"{API}/decisions/{key}/").status_code == 404


def test_decision_detail_of_a_listing_not_delisted_by_a_removal_is_404(api_a, decided):
    a, _b = decided
    # The taken-down listing is delisted, but by a moderator: it is the violation, not a "delisting".
    assert api_a.get(f"{API}/decisions/delisting-{a.violation.listing_id}/").status_code == 404


# --- /notices/ ------------------------------------------------------------------------------------


def test_notices_are_only_merchant_a_s(api_a, decided, merchant_a, merchant_b):
    response = api_a.get(f"{API}/notices/")

    assert response.status_code == 200
    listed = ids(response)
    assert set(listed) == set(Notice.objects.filter(merchant=merchant_a).values_list("pk", flat=True))
    assert len(listed) >= 3
    assert not set(listed) & set(Notice.objects.filter(merchant=merchant_b).values_list("pk", flat=True))
    created = [moment(row["created_at"]) for row in response.json()["results"]]
    assert created == sorted(created, reverse=True)
    kinds = {row["kind"] for row in response.json()["results"]}
    assert {"listings_delisted", "listing_taken_down", "warning"} <= kinds


def test_notices_have_body_subject_transparency_and_puid(api_a, decided, merchant_a):
    rows = api_a.get(f"{API}/notices/").json()["results"]

    for row in rows:
        notice = Notice.objects.get(pk=row["id"])
        assert row["subject"] == notice.subject and row["subject"]
        assert row["body"] == notice.body and row["body"]
        assert row["language"] == merchant_a.language
        assert row["puid"] == notice.puid and row["puid"]
        assert row["restricts"] is notice.restricts
        assert moment(row["created_at"]) == notice.created_at
        if row["restricts"]:
            assert row["transparency"]["puid"] == row["puid"]
            assert row["transparency"]["decision_ground"]
            assert row["policy"] == {"id": notice.policy_id, "title": notice.policy.title}
            if notice.appeal_deadline:
                assert moment(row["appeal_deadline"]) == notice.appeal_deadline
    assert any(row["restricts"] for row in rows)
    assert merchant_a.store_name in rows[0]["body"]


def test_notices_filter_by_kind(api_a, decided, merchant_a):
    warning = Notice.objects.get(merchant=merchant_a, kind="warning")

    assert ids(api_a.get(f"{API}/notices/", {"kind": "warning"})) == [warning.pk]
    taken_down = ids(api_a.get(f"{API}/notices/", {"kind": "listing_taken_down"}))
    assert taken_down == list(
        Notice.objects.filter(merchant=merchant_a, kind="listing_taken_down").values_list("pk", flat=True)
    )
    assert ids(api_a.get(f"{API}/notices/", {"kind": "appeal_decided"})) == []
    bad = api_a.get(f"{API}/notices/", {"kind": "bogus"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["kind"]


def test_notices_filter_created_after(api_a, decided, merchant_a):
    a, _b = decided
    since = a.violation.decided_at - timedelta(days=1)
    expected = set(Notice.objects.filter(merchant=merchant_a, created_at__gte=since).values_list("pk", flat=True))
    older = Notice.objects.filter(merchant=merchant_a, created_at__lt=since)
    assert expected and older.exists()  # the removal's notice is eight days older

    assert set(ids(api_a.get(f"{API}/notices/", {"created_after": iso(since)}))) == expected
    assert set(ids(api_a.get(f"{API}/notices/", {"created_before": iso(since)}))) == set(
        older.values_list("pk", flat=True)
    )
    bad = api_a.get(f"{API}/notices/", {"created_after": "notadate"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["created_after"]


def test_notice_detail(api_a, decided, merchant_a, merchant_b):
    notice = Notice.objects.filter(merchant=merchant_a, restricts=True).first()
    listed = {row["id"]: row for row in api_a.get(f"{API}/notices/").json()["results"]}

    response = api_a.get(f"{API}/notices/{notice.pk}/")

    assert response.status_code == 200
    assert response.json() == listed[notice.pk]
    theirs = Notice.objects.filter(merchant=merchant_b).first()
    assert api_a.get(f"{API}/notices/{theirs.pk}/").status_code == 404


# --- /sanctions/ ----------------------------------------------------------------------------------


def test_sanctions_list(api_a, decided, announced_policy):
    a, b = decided

    response = api_a.get(f"{API}/sanctions/")

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == a.sanction.pk != b.sanction.pk
    assert (row["kind"], row["status"], row["automated"]) == ("warning", "active", False)
    assert row["policy"] == {"id": announced_policy.pk, "title": announced_policy.title}
    assert row["reason"] == a.sanction.reason
    assert moment(row["starts_at"]) == a.sanction.starts_at
    assert row["ends_at"] is None and row["ended_at"] is None
    assert moment(row["appeal_deadline"]) == a.sanction.starts_at + timedelta(days=announced_policy.appeal_window_days)
    assert api_a.get(f"{API}/sanctions/{a.sanction.pk}/").json() == row


def test_sanctions_filters(api_a, decided, senior):
    a, _b = decided

    assert ids(api_a.get(f"{API}/sanctions/", {"status": "active"})) == [a.sanction.pk]
    assert ids(api_a.get(f"{API}/sanctions/", {"status": "lifted"})) == []
    assert ids(api_a.get(f"{API}/sanctions/", {"kind": "warning"})) == [a.sanction.pk]
    assert ids(api_a.get(f"{API}/sanctions/", {"kind": "store_block"})) == []
    for field in ("status", "kind"):
        bad = api_a.get(f"{API}/sanctions/", {field: "bogus"})
        assert bad.status_code == 400
        assert list(bad.json()) == [field]

    lift_sanction(actor=senior, sanction=a.sanction, reason="Issued to the wrong store by mistake.")

    assert ids(api_a.get(f"{API}/sanctions/", {"status": "active"})) == []
    (row,) = api_a.get(f"{API}/sanctions/", {"status": "lifted"}).json()["results"]
    assert row["end_reason"] == "Issued to the wrong store by mistake."
    assert moment(row["ended_at"]) == Sanction.objects.get(pk=a.sanction.pk).ended_at


def test_sanction_of_merchant_b_is_404(api_a, decided):
    _a, b = decided

    assert api_a.get(f"{API}/sanctions/{b.sanction.pk}/").status_code == 404


# --- Dates ----------------------------------------------------------------------------------------

DATE_FIELDS = {
    "decisions": ["decided_at", "appeal_deadline"],
    "notices": ["created_at", "appeal_deadline", "sent_at"],
    "sanctions": ["starts_at", "ends_at", "compliance_deadline", "ended_at", "appeal_deadline"],
    "listings": ["created_at", "updated_at", "delisted_at"],
    "appeals": ["filed_at", "due_at", "decided_at", "withdrawn_at"],
}


def test_dates_are_iso_8601_with_a_zone(api_a, decided, merchant_a, merchant_user_a):
    a, _b = decided
    appeal_services.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="sanction", object_id=a.sanction.pk, grounds=GROUNDS
    )
    seen = 0
    for endpoint, fields in DATE_FIELDS.items():
        rows = api_a.get(f"{API}/{endpoint}/").json()["results"]
        assert rows, endpoint
        for row in rows:
            for field in fields:
                assert field in row, (endpoint, field)
                if row[field] is not None:
                    moment(row[field])
                    seen += 1
    assert seen >= 15
    assert moment(api_a.get(f"{API}/decisions/").json()["results"][0]["decided_at"]) == AFTER_GRACE


def test_b_sees_only_its_own_too(api_b, decided, merchant_b):
    _a, b = decided

    assert set(keys(api_b.get(f"{API}/decisions/"))) == set(b.keys)
    assert ids(api_b.get(f"{API}/sanctions/")) == [b.sanction.pk]
    assert set(ids(api_b.get(f"{API}/listings/"))) == set(
        Listing.objects.filter(merchant=merchant_b).values_list("pk", flat=True)
    )
    assert Violation.objects.filter(merchant=merchant_b).count() == 1
