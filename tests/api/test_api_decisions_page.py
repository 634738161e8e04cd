"""The decisions list's own read (one statement per page) and the merchant token authentication.

The list is hand-written SQL and its rows are rendered without DRF's field walk (see
``moderation.selectors.decisions`` and ``DecisionSerializer``): these tests hold them to what
the ORM and DRF would answer, and the request to its two queries.
"""

from __future__ import annotations

import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from moderation.api.serializers import DecisionSerializer
from moderation.selectors.decisions import DecisionFilters, decision_page, merchant_decision
from moderation.services import appeals as appeal_services
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

API = "/api/v1"
GROUNDS = "The listing was a graphics card, not a mining machine: the photos show it."
NOT_A_MERCHANT = "This API is for merchant accounts: your account is not linked to a store."


@pytest.fixture
def decided(decisions_of, merchant_a, merchant_b):
    """(A's decisions, B's decisions)."""
    return tuple(decisions_of(merchant_a, merchant_b))


@pytest.fixture
def many_violations(decided, take_down, merchant_a, graphics_cards):
    """30 more take-downs of merchant A (33 decisions in all)."""
    return [take_down(merchant_a, category=graphics_cards) for _ in range(30)]


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


# --- What the rows say ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_decision_rows_render_as_their_fields(decided, merchant_a, merchant_user_a, zone):
    """The serializer's direct rendering equals DRF's walk over the declared fields, in any time zone."""
    a, _b = decided
    appeal_services.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="violation", object_id=a.violation.pk, grounds=GROUNDS
    )
    rows, total = decision_page(merchant_a.pk, DecisionFilters(), limit=20)
    assert total == len(rows) == 3

    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for row in rows:
            fast = DecisionSerializer().to_representation(row)
            walked = serializers.Serializer.to_representation(DecisionSerializer(), row)
            assert fast == walked
            assert list(fast) == list(DecisionSerializer().fields)


def test_a_granted_appeal_overturns_the_delisting(api_a, decided, merchant_a, merchant_user_a, other_moderator):
    """Its listing stays down (the category is closed), but the decision is over: listed, filtered and shown so."""
    a, _b = decided
    key = f"delisting-{a.delisted.pk}"
    appeal = appeal_services.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="delisting", object_id=a.delisted.pk, grounds=GROUNDS
    )
    appeal_services.grant_appeal(actor=other_moderator, appeal=appeal, reason="A graphics card, not a miner.")

    rows = {row["id"]: row for row in api_a.get(f"{API}/decisions/").json()["results"]}
    assert (rows[key]["status"], rows[key]["appealable"], rows[key]["open_appeal"]) == ("overturned", False, None)
    assert keys(api_a.get(f"{API}/decisions/", {"status": "overturned"})) == [key]
    assert key not in keys(api_a.get(f"{API}/decisions/", {"status": "active"}))
    assert keys(api_a.get(f"{API}/decisions/", {"status": "overturned", "kind": "delisting"})) == [key]
    assert keys(api_a.get(f"{API}/decisions/", {"status": "expired", "kind": "delisting"})) == []
    detail = api_a.get(f"{API}/decisions/{key}/").json()
    assert (detail["status"], detail["appealable"]) == ("overturned", False)


def test_one_decision_of_another_merchant_is_none(decided, merchant_a):
    a, b = decided
    assert merchant_decision(merchant_a.pk, "sanction", a.sanction.pk)["key"] == f"sanction-{a.sanction.pk}"
    assert merchant_decision(merchant_a.pk, "sanction", b.sanction.pk) is None
    assert merchant_decision(merchant_a.pk, "violation", b.violation.pk) is None


# --- Pages --------------------------------------------------------------------------------------


def test_the_last_page_by_name(api_a, many_violations):
    second = api_a.get(f"{API}/decisions/", {"page": 2}).json()

    last = api_a.get(f"{API}/decisions/", {"page": "last"}).json()

    assert last == second
    assert (last["count"], len(last["results"]), last["next"]) == (33, 13, None)


def test_the_last_page_of_nothing_is_the_empty_first(api_a, merchant_a):
    assert api_a.get(f"{API}/decisions/", {"page": "last"}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


@pytest.mark.parametrize("page", ["2", "0", "-1", "abc", "1.5", "9" * 30])
def test_a_page_that_does_not_exist_is_404(api_a, decided, page):
    response = api_a.get(f"{API}/decisions/", {"page": page})

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_an_empty_page_number_is_a_field_error_as_on_every_list(api_a, decided):
    response = api_a.get(f"{API}/decisions/", {"page": ""})

    assert response.status_code == 400
    assert response.json() == {"page": ["This parameter cannot be empty."]}


def test_the_links_keep_the_filters(api_a, many_violations):
    first = api_a.get(f"{API}/decisions/", {"kind": "violation", "ordering": "decided_at"}).json()

    assert first["count"] == 31
    assert "kind=violation" in first["next"] and "ordering=decided_at" in first["next"] and "page=2" in first["next"]
    second = api_a.get(first["next"]).json()
    assert len(second["results"]) == 11
    assert "page=" not in second["previous"]  # DRF's link to the first page


# --- Queries ------------------------------------------------------------------------------------


def test_a_page_is_two_queries_the_token_with_its_merchant_and_the_page(api_a, many_violations):
    for params in ({}, {"page": 2}, {"kind": "violation", "status": "active", "ordering": "decided_at"}):
        with CaptureQueriesContext(connection) as captured:
            response = api_a.get(f"{API}/decisions/", params)
        assert response.status_code == 200
        assert len(captured) == 2, [query["sql"][:80] for query in captured]


def test_a_staff_token_is_403_without_looking_for_a_store_again(moderator):
    with CaptureQueriesContext(connection) as captured:
        response = token_client(moderator).get(f"{API}/decisions/")

    assert response.status_code == 403
    assert response.json() == {"detail": NOT_A_MERCHANT}
    assert len([query for query in captured if "sellers_merchant" in query["sql"]]) == 1  # the token's own read


def test_an_inactive_merchant_user_is_401(api_a, merchant_user_a):
    merchant_user_a.is_active = False
    merchant_user_a.save(update_fields=["is_active"])

    response = api_a.get(f"{API}/decisions/")

    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


def test_the_token_read_loads_the_models_as_the_orm_does(merchant_a, merchant_user_a):
    from datetime import timedelta

    from moderation.api.authentication import MerchantTokenAuthentication
    from sellers.models import ApiToken

    # Used a moment ago: this read has no last use to write.
    _row, key = ApiToken.objects.create(
        user=merchant_user_a, name="ERP sync", expiry=timedelta(days=30), last_used_at=timezone.now()
    )

    with CaptureQueriesContext(connection) as captured:
        user, token = MerchantTokenAuthentication().authenticate_credentials(key)
        merchant = user.merchant

    assert len(captured) == 1
    orm = ApiToken.objects.select_related("user__merchant").get(digest=token.digest)
    for loaded, expected in ((token, orm), (user, orm.user), (merchant, orm.user.merchant)):
        assert type(loaded) is type(expected)
        for field in type(expected)._meta.concrete_fields:
            assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
        assert not loaded._state.adding
    assert merchant.user is user and token.user is user


def test_a_policy_past_the_largest_id_finds_none(api_a, decided):
    """A whole number no id can reach: the database is asked without failing, and finds nothing."""
    response = api_a.get(f"{API}/decisions/", {"policy": "9223372036854775808"})

    assert response.status_code == 200, response.content[:300]
    assert response.json()["count"] == 0


@pytest.mark.parametrize("policy", ["-1.931778574601744e+222", "1.5", "abc"])
def test_a_policy_that_is_not_a_whole_number_is_a_field_error(api_a, decided, policy):
    response = api_a.get(f"{API}/decisions/", {"policy": policy})

    assert response.status_code == 400
    assert response.json() == {"policy": ["Enter a whole number."]}
