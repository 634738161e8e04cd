"""The sellers' API on listings: read with their moderation status, create and edit through the catalog service.

Every refusal of the service is an answer that names its cause, and leaves nothing behind: a retired category
(400 on "category", naming the policy), banned content (400 naming the policy, the attempt recorded as a
relist_attempt violation), a blocked store (403 naming the sanction), invalid input (400 per field).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from moderation.models import AuditEvent, AuditVerb, Notice, Violation
from moderation.services.sanctions import issue_manual_sanction
from sellers.models import Listing
from tests.moderation.conftest import AFTER_GRACE

pytestmark = pytest.mark.django_db

API = "/api/v1"
NEW = {
    "title": "Graphics card RTX 4070 12GB",
    "description": "Boxed, with a two-year warranty.",
    "attributes": {"memory": "12GB", "brand": "NVIDIA"},
    "price": "599.00",
    "category": "graphics-cards",
}


@pytest.fixture
def shop(decisions_of, merchant_a, merchant_b, make_listing, graphics_cards):
    """Both merchants' decisions (the "Blockchain Miners" category is retired by now) and a live listing each."""
    a, b = decisions_of(merchant_a, merchant_b)
    return {
        "a": a,
        "b": b,
        "live_a": make_listing(merchant_a, graphics_cards, title="Graphics card RTX 3090 24GB", price=Decimal("999")),
        "live_b": make_listing(merchant_b, graphics_cards, title="Graphics card RX 6900 XT", price=Decimal("699")),
    }


@pytest.fixture
def rules_in_force(shop, travel, mining_rules):
    """The reference policy's detection rules, the clock after the policy took effect (and after its grace)."""
    travel.to(AFTER_GRACE)
    return mining_rules


def listing_state() -> list[tuple]:
    return list(
        Listing.objects.order_by("pk").values_list(
            "pk", "merchant_id", "title", "description", "attributes", "price", "category_id", "status", "updated_at"
        )
    )


def events(verb: AuditVerb) -> int:
    return AuditEvent.objects.filter(verb=verb).count()


# --- Reading ----------------------------------------------------------------------------------------


def test_listings_of_merchant_a_with_their_status(api_a, shop, merchant_a, announced_policy):
    a, live = shop["a"], shop["live_a"]

    response = api_a.get(f"{API}/listings/")

    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == set(Listing.objects.filter(merchant=merchant_a).values_list("pk", flat=True))
    assert set(rows) == {a.delisted.pk, a.violation.listing_id, live.pk}
    assert list(rows) == sorted(rows, reverse=True)  # newest first

    delisted = rows[a.delisted.pk]
    assert (delisted["status"], delisted["visible"]) == ("delisted", False)
    assert f"“{announced_policy.title}”" in delisted["delisted_reason"]
    assert delisted["category"] == "blockchain-miners"
    assert delisted["delisted_at"]
    taken_down = rows[a.violation.listing_id]
    assert (taken_down["status"], taken_down["visible"]) == ("delisted", False)
    assert announced_policy.title in taken_down["delisted_reason"]
    live_row = rows[live.pk]
    assert (live_row["status"], live_row["visible"], live_row["delisted_reason"]) == ("live", True, "")
    assert (live_row["title"], live_row["price"], live_row["category"]) == (live.title, "999.00", "graphics-cards")
    assert api_a.get(f"{API}/listings/{live.pk}/").json() == live_row


def test_listings_filters(api_a, shop):
    a, live = shop["a"], shop["live_a"]

    assert [row["id"] for row in api_a.get(f"{API}/listings/", {"status": "live"}).json()["results"]] == [live.pk]
    delisted = {row["id"] for row in api_a.get(f"{API}/listings/", {"status": "delisted"}).json()["results"]}
    assert delisted == {a.delisted.pk, a.violation.listing_id}
    miners = api_a.get(f"{API}/listings/", {"category": "blockchain-miners"}).json()["results"]
    assert [row["id"] for row in miners] == [a.delisted.pk]
    by_price = [Decimal(row["price"]) for row in api_a.get(f"{API}/listings/", {"ordering": "price"}).json()["results"]]
    assert by_price == sorted(by_price)
    bad = api_a.get(f"{API}/listings/", {"status": "bogus"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["status"]


# --- Creating --------------------------------------------------------------------------------------


def test_create_listing(api_a, shop, merchant_a, merchant_b, merchant_user_a):
    response = api_a.post(f"{API}/listings/", NEW, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    listing = Listing.objects.get(pk=body["id"])
    assert listing.merchant == merchant_a
    assert (body["status"], body["visible"], body["currency"]) == ("live", True, "USD")
    assert (body["title"], body["price"], body["category"]) == (NEW["title"], "599.00", "graphics-cards")
    assert body["attributes"] == NEW["attributes"] == listing.attributes
    assert (listing.title, listing.price, listing.category.slug) == (NEW["title"], Decimal("599.00"), "graphics-cards")
    event = AuditEvent.objects.get(verb=AuditVerb.LISTING_CREATED, target_id=listing.pk)
    assert event.actor == merchant_user_a
    assert event.merchant_id == merchant_a.pk
    assert event.after["title"] == NEW["title"]
    assert api_a.get(f"{API}/listings/{listing.pk}/").json() == body


def test_create_ignores_read_only_and_foreign_fields(api_a, shop, merchant_a, merchant_b):
    response = api_a.post(
        f"{API}/listings/",
        {**NEW, "status": "delisted", "delisted_reason": "x", "merchant": merchant_b.pk, "id": 1},
        format="json",
    )

    assert response.status_code == 201
    listing = Listing.objects.get(pk=response.json()["id"])
    assert listing.merchant == merchant_a
    assert (listing.status, listing.delisted_reason) == ("live", "")


def test_create_in_a_retired_category_is_400_naming_the_policy(api_a, shop, announced_policy):
    before, created = listing_state(), events(AuditVerb.LISTING_CREATED)

    response = api_a.post(f"{API}/listings/", {**NEW, "category": "blockchain-miners"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["category"]
    (message,) = response.json()["category"]
    assert f"“{announced_policy.title}”" in message
    assert "retired" in message
    assert listing_state() == before
    assert events(AuditVerb.LISTING_CREATED) == created


def test_create_with_a_banned_title_is_refused_and_recorded(api_a, shop, rules_in_force, merchant_a, announced_policy):
    before, created = listing_state(), events(AuditVerb.LISTING_CREATED)
    attempts = Violation.objects.filter(merchant=merchant_a, kind=Violation.Kind.RELIST_ATTEMPT)
    assert not attempts.exists()

    response = api_a.post(f"{API}/listings/", {**NEW, "title": "Antminer S21 200TH/s"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["title"]
    (message,) = response.json()["title"]
    assert f"“{announced_policy.title}”" in message
    assert "clause 1" in message and "Antminer" not in message  # the policy and clause, never what matched
    assert listing_state() == before
    assert events(AuditVerb.LISTING_CREATED) == created
    (attempt,) = attempts
    assert f"violation #{attempt.pk}" in message
    assert attempt.policy == announced_policy
    assert attempt.listing is None
    assert attempt.automated_decision is True
    assert attempt.evidence["title"] == "Antminer S21 200TH/s"
    assert Notice.objects.filter(merchant=merchant_a, kind=Notice.Kind.LISTING_REFUSED).count() == 1
    # The attempt is a decision the merchant sees, and may appeal.
    decisions = {row["id"]: row for row in api_a.get(f"{API}/decisions/").json()["results"]}
    assert decisions[f"violation-{attempt.pk}"]["measure"] == "relist_attempt"
    assert decisions[f"violation-{attempt.pk}"]["automated"] is True


def test_a_banned_title_is_refused_before_the_category_is_checked(api_a, shop, rules_in_force, merchant_a):
    before = listing_state()

    response = api_a.post(
        f"{API}/listings/", {**NEW, "title": "Whatsminer M50", "category": "blockchain-miners"}, format="json"
    )

    assert response.status_code == 400
    assert "title" in response.json()
    assert listing_state() == before
    assert Violation.objects.filter(merchant=merchant_a, kind=Violation.Kind.RELIST_ATTEMPT).count() == 1


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"price": "-1.00"}, {"price"}),
        ({"price": "cheap"}, {"price"}),
        ({"price": "1234567890123.00"}, {"price"}),  # max_digits=12
        ({"title": None}, {"title"}),
        ({"title": ""}, {"title"}),
        ({"title": "x" * 301}, {"title"}),
        ({"attributes": [1, 2]}, {"attributes"}),
        ({"attributes": "memory=12GB"}, {"attributes"}),
        ({"category": "no-such-category"}, {"category"}),
        ({"currency": "EURO"}, {"currency"}),
        ({"price": "-5", "category": "nope"}, {"price", "category"}),
    ],
    ids=[
        "negative price",
        "price not a number",
        "price too long",
        "title null",
        "title blank",
        "title too long",
        "attributes a list",
        "attributes a string",
        "unknown category",
        "currency too long",
        "two fields",
    ],
)
def test_create_with_invalid_input_is_400_per_field(api_a, shop, changes, fields):
    before, created = listing_state(), events(AuditVerb.LISTING_CREATED)

    response = api_a.post(f"{API}/listings/", {**NEW, **changes}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert listing_state() == before
    assert events(AuditVerb.LISTING_CREATED) == created


@pytest.mark.parametrize("missing", ["title", "price", "category"])
def test_create_without_a_required_field_is_400_naming_it(api_a, shop, missing):
    before = listing_state()
    data = {key: value for key, value in NEW.items() if key != missing}

    response = api_a.post(f"{API}/listings/", data, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [missing]
    assert listing_state() == before


def test_create_with_an_empty_body_names_every_required_field(api_a, shop):
    response = api_a.post(f"{API}/listings/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"title", "price", "category"}


# --- A blocked store ----------------------------------------------------------------------------------


@pytest.fixture
def store_block(shop, senior, merchant_a, announced_policy):
    """A senior blocks merchant A's store for 7 days (the warning from ``decisions_of`` is on record)."""
    return issue_manual_sanction(
        actor=senior,
        merchant=merchant_a,
        policy=announced_policy,
        kind="store_block",
        duration_days=7,
        reason="Mining machines listed again after the warning.",
    )


def test_a_blocked_store_cannot_create_or_edit(api_a, shop, store_block, announced_policy):
    live = shop["live_a"]
    before = listing_state()
    created, edited = events(AuditVerb.LISTING_CREATED), events(AuditVerb.LISTING_EDITED)

    responses = [
        api_a.post(f"{API}/listings/", NEW, format="json"),
        api_a.patch(f"{API}/listings/{live.pk}/", {"title": "Graphics card renamed"}, format="json"),
        api_a.patch(f"{API}/listings/{live.pk}/", {"price": "1.00"}, format="json"),
    ]

    for response in responses:
        assert response.status_code == 403, response.content
        detail = response.json()["detail"]
        assert detail.startswith("Store blocked until ")
        assert f"(sanction #{store_block.pk})" in detail
        assert f"“{announced_policy}”" in detail
    assert listing_state() == before
    assert events(AuditVerb.LISTING_CREATED) == created
    assert events(AuditVerb.LISTING_EDITED) == edited
    # Reading still works: the listing is live but not visible while the store is blocked.
    row = api_a.get(f"{API}/listings/{live.pk}/").json()
    assert (row["status"], row["visible"]) == ("live", False)
    sanctions = {row["id"]: row for row in api_a.get(f"{API}/sanctions/").json()["results"]}
    assert sanctions[store_block.pk]["kind"] == "store_block"


def test_a_blocked_store_still_gets_400_for_invalid_input(api_a, shop, store_block):
    response = api_a.post(f"{API}/listings/", {**NEW, "price": "-1"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["price"]


def test_merchant_b_is_not_blocked_by_a_s_sanction(api_b, shop, store_block):
    assert api_b.post(f"{API}/listings/", NEW, format="json").status_code == 201


# --- Editing ----------------------------------------------------------------------------------------


def test_patch_edits_title_and_price(api_a, shop, merchant_a, merchant_user_a):
    live = shop["live_a"]

    response = api_a.patch(
        f"{API}/listings/{live.pk}/", {"title": "Graphics card RTX 3090 Ti 24GB", "price": "1099.50"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["title"], body["price"], body["status"]) == (
        live.pk,
        "Graphics card RTX 3090 Ti 24GB",
        "1099.50",
        "live",
    )
    live.refresh_from_db()
    assert (live.title, live.price) == ("Graphics card RTX 3090 Ti 24GB", Decimal("1099.50"))
    assert live.description == ""  # untouched
    event = AuditEvent.objects.get(verb=AuditVerb.LISTING_EDITED, target_id=live.pk)
    assert event.actor == merchant_user_a
    assert event.merchant_id == merchant_a.pk
    assert event.before["title"] == "Graphics card RTX 3090 24GB"
    assert event.after["title"] == "Graphics card RTX 3090 Ti 24GB"
    assert Decimal(str(event.before["price"])) == Decimal("999")
    assert Decimal(str(event.after["price"])) == Decimal("1099.50")


def test_patch_cannot_change_the_status(api_a, shop):
    delisted = shop["a"].delisted

    response = api_a.patch(f"{API}/listings/{delisted.pk}/", {"status": "live", "delisted_reason": ""}, format="json")

    assert response.status_code in {200, 400}
    delisted.refresh_from_db()
    assert delisted.status == Listing.Status.DELISTED
    assert delisted.delisted_reason


def test_patch_into_a_retired_category_is_400_naming_the_policy(api_a, shop, announced_policy):
    live = shop["live_a"]
    before = listing_state()

    response = api_a.patch(f"{API}/listings/{live.pk}/", {"category": "blockchain-miners"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["category"]
    assert announced_policy.title in response.json()["category"][0]
    assert listing_state() == before


def test_patch_with_a_banned_title_is_refused_and_recorded(api_a, shop, rules_in_force, merchant_a):
    live = shop["live_a"]
    before = listing_state()

    response = api_a.patch(f"{API}/listings/{live.pk}/", {"title": "Antminer S19 XP 140TH/s"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["title"]
    assert listing_state() == before
    attempt = Violation.objects.get(merchant=merchant_a, kind=Violation.Kind.RELIST_ATTEMPT)
    assert attempt.listing_id == live.pk


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"price": "-1"}, "price"), ({"title": ""}, "title"), ({"attributes": [1]}, "attributes")],
)
def test_patch_with_invalid_input_is_400(api_a, shop, changes, field):
    live = shop["live_a"]
    before = listing_state()

    response = api_a.patch(f"{API}/listings/{live.pk}/", changes, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert listing_state() == before


def test_patch_of_merchant_b_s_listing_is_404(api_a, shop):
    theirs = shop["live_b"]
    before = listing_state()
    edited = events(AuditVerb.LISTING_EDITED)

    response = api_a.patch(f"{API}/listings/{theirs.pk}/", {"title": "Hijacked"}, format="json")

    assert response.status_code == 404
    assert "Hijacked" not in response.content.decode()
    assert theirs.title not in response.content.decode()
    assert listing_state() == before
    assert events(AuditVerb.LISTING_EDITED) == edited
    assert api_a.get(f"{API}/listings/{theirs.pk}/").status_code == 404


def test_put_and_delete_are_not_allowed(api_a, shop):
    live = shop["live_a"]
    before = listing_state()

    put = api_a.put(f"{API}/listings/{live.pk}/", {**NEW, "title": "Replaced"}, format="json")
    delete = api_a.delete(f"{API}/listings/{live.pk}/")

    assert put.status_code == 405
    assert delete.status_code == 405
    assert listing_state() == before
    assert "PATCH" in put["Allow"] and "PUT" not in put["Allow"]
