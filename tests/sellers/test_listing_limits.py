"""The limits on what a merchant sends in a listing (``sellers.limits``), held by the catalog's services,
the model (``full_clean()`` and the Django admin) and the sellers' API.

Each limit is accepted at its figure and refused one past it, with the field's message, before
anything else runs (content detection above all): a refused listing leaves no row, no audit event,
no violation and no notice behind.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb, Notice, Violation
from sellers import limits
from sellers import services as catalog
from sellers.models import Listing
from tests.api.conftest import token_client
from tests.moderation.conftest import (  # noqa: F401  (the reference policy and its detection rules)
    AFTER_GRACE,
    announced_policy,
    draft_policy,
    mining_rules,
    travel,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/listings/"
NEW = {"title": "Graphics card RTX 4070 12GB", "price": "599.00", "category": "graphics-cards"}


def json_length(attributes: dict) -> int:
    return len(json.dumps(attributes, ensure_ascii=False, separators=(",", ":")))


def attributes_written_in(length: int) -> dict:
    """Attributes whose compact JSON is exactly ``length`` characters, each name and value within its own limit."""
    attributes: dict[str, str] = {}
    while (written := json_length(attributes)) < length:
        name = f"k{len(attributes):02}"
        room = length - written - len(f'"{name}":""') - (1 if attributes else 0)
        attributes[name] = "x" * min(room, limits.ATTRIBUTE_VALUE_MAX_LENGTH)
    assert json_length(attributes) == length
    return attributes


def nested(depth: int, *, inside: str = "dict"):
    """A value ``depth`` levels deep, built without recursion."""
    value: object = "bottom"
    for _ in range(depth):
        value = {"a": value} if inside == "dict" else [value]
    return value


def nested_json(depth: int) -> str:
    """``nested(depth)`` written as JSON, without recursion (json.dumps would recurse)."""
    return '{"a":' * depth + '"bottom"' + "}" * depth


def state() -> tuple:
    """Everything a listing's creation or refusal could write."""
    return (
        list(Listing.objects.order_by("pk").values_list("pk", "title", "description", "attributes", "updated_at")),
        AuditEvent.objects.count(),
        Violation.objects.count(),
        Notice.objects.count(),
    )


@pytest.fixture
def detection():
    """Content detection as the services call it, watched: a refusal past the limits never reaches it."""
    with mock.patch("sellers.services._judge_listing_content", return_value=None) as judge_listing_content:
        yield judge_listing_content


@pytest.fixture
def create(merchant_user_a, merchant_a, graphics_cards):
    def create(**content) -> Listing:
        content.setdefault("title", NEW["title"])
        return catalog.create_listing(
            actor=merchant_user_a, merchant=merchant_a, category=graphics_cards, price=Decimal("599.00"), **content
        )

    return create


@contextmanager
def refused(field: str, detection=None):
    """The block raises a ValidationError on ``field`` alone, and leaves everything as it was."""
    before = state()
    with pytest.raises(ValidationError) as error:
        yield error
    assert set(error.value.message_dict) == {field}, error.value.message_dict
    assert state() == before
    if detection is not None:
        detection.assert_not_called()


@pytest.fixture
def api_a(merchant_a, merchant_user_a):
    return token_client(merchant_user_a)


def post_json(client, data: dict | str):
    """POST a body as JSON, escaped as ASCII: DRF's test renderer cannot write a lone surrogate."""
    body = data if isinstance(data, str) else json.dumps(data)
    return client.post(API, body, content_type="application/json")


# --- at the limit and one past it, through the service ------------------------------------------------

SCALARS = ["XL", 12, 3.5, True, None]

AT_THE_LIMIT = {
    "title of 200 characters": {"title": "T" * 200},
    "description of 10,000 characters": {"description": "d" * 10_000},
    "tab, line breaks and an emoji": {"title": "RTX\t4070 🙂", "description": "Boxed.\r\nWarranty:\t2 years 🙂"},
    "50 attributes": {"attributes": {f"name {number}": "value" for number in range(50)}},
    "an attribute name of 100 characters": {"attributes": {"n" * 100: "value"}},
    "an attribute value of 500 characters": {"attributes": {"colour": "v" * 500}},
    "a list of 20 scalars": {"attributes": {"sizes": (SCALARS * 4)[:20]}},
    "a number of 500 digits": {"attributes": {"serial": int("9" * 500)}},
    "attributes of 10,000 characters as JSON": {"attributes": attributes_written_in(10_000)},
    "no attributes": {"attributes": None},
}

ONE_PAST_THE_LIMIT = {
    "title of 201 characters": ("title", {"title": "T" * 201}),
    "title blank": ("title", {"title": " \t "}),
    "title not text": ("title", {"title": 42}),
    "NUL in the title": ("title", {"title": "Antminer\x00 S19"}),
    "escape in the title": ("title", {"title": "RTX \x1b[8m4070"}),
    "lone surrogate in the title": ("title", {"title": "RTX \ud800 4070"}),
    "description of 10,001 characters": ("description", {"description": "d" * 10_001}),
    "NUL in the description": ("description", {"description": "Boxed\x00"}),
    "lone surrogate in the description": ("description", {"description": "Boxed \udfff"}),
    "attributes a list": ("attributes", {"attributes": ["memory", "12GB"]}),
    "attributes a string": ("attributes", {"attributes": "memory=12GB"}),
    "51 attributes": ("attributes", {"attributes": {f"name {number}": "value" for number in range(51)}}),
    "an attribute name of 101 characters": ("attributes", {"attributes": {"n" * 101: "value"}}),
    "an empty attribute name": ("attributes", {"attributes": {"": "value"}}),
    "an attribute name not text": ("attributes", {"attributes": {7: "value"}}),
    "a lone surrogate as attribute name": ("attributes", {"attributes": {"\ud800": "value"}}),
    "NUL in an attribute name": ("attributes", {"attributes": {"colour\x00": "black"}}),
    "an attribute value of 501 characters": ("attributes", {"attributes": {"colour": "v" * 501}}),
    "NUL in an attribute value": ("attributes", {"attributes": {"colour": "black\x00"}}),
    "an object as value": ("attributes", {"attributes": {"size": {"width": 3}}}),
    "a list of 21 scalars": ("attributes", {"attributes": {"sizes": (SCALARS * 5)[:21]}}),
    "a list in a list": ("attributes", {"attributes": {"sizes": [["S", "M"]]}}),
    "an object in a list": ("attributes", {"attributes": {"sizes": [{"S": 1}]}}),
    "a 501-character item of a list": ("attributes", {"attributes": {"sizes": ["S", "v" * 501]}}),
    "a number of 501 digits": ("attributes", {"attributes": {"serial": int("9" * 501)}}),
    "a number of 5,000 digits": ("attributes", {"attributes": {"serial": 10**5000}}),
    "not a number": ("attributes", {"attributes": {"weight": float("nan")}}),
    "a decimal": ("attributes", {"attributes": {"weight": Decimal("1.5")}}),
    "attributes of 10,001 characters as JSON": ("attributes", {"attributes": attributes_written_in(10_001)}),
    "attributes nested 900 deep": ("attributes", {"attributes": nested(900)}),
    "a list nested 900 deep": ("attributes", {"attributes": {"sizes": nested(900, inside="list")}}),
    "attributes a list nested 100,000 deep": ("attributes", {"attributes": nested(100_000, inside="list")}),
}


@pytest.mark.parametrize("content", AT_THE_LIMIT.values(), ids=AT_THE_LIMIT.keys())
def test_it_accepts_each_text_at_its_limit(create, detection, content):
    listing = create(**content)

    stored = Listing.objects.get(pk=listing.pk)
    assert {name: getattr(stored, name) for name in content} == {
        name: {} if value is None else value for name, value in content.items()
    }
    assert AuditEvent.objects.filter(verb=AuditVerb.LISTING_CREATED, target_id=listing.pk).count() == 1
    detection.assert_called_once()


@pytest.mark.parametrize(("field", "content"), ONE_PAST_THE_LIMIT.values(), ids=ONE_PAST_THE_LIMIT.keys())
def test_it_refuses_each_text_past_its_limit_before_anything_runs(create, detection, field, content):
    with refused(field, detection):
        create(**content)


@pytest.mark.parametrize(("field", "content"), ONE_PAST_THE_LIMIT.values(), ids=ONE_PAST_THE_LIMIT.keys())
def test_it_refuses_each_edit_past_its_limit_before_anything_runs(
    make_listing, merchant_a, graphics_cards, field, content
):
    listing = make_listing(merchant_a, graphics_cards)
    with (
        mock.patch("sellers.services._judge_listing_content", return_value=None) as detection,
        refused(field, detection),
    ):
        catalog.edit_listing(actor=merchant_a.user, listing=listing, price=Decimal("1.00"), **content)
    assert Listing.objects.get(pk=listing.pk).price == listing.price


def test_it_refuses_with_messages_naming_the_field_and_the_problem(create):
    with pytest.raises(ValidationError) as error:
        create(
            title="Antminer\x00 S19",
            description="d" * 10_001,
            attributes={"colour": "black", "\ud800": "x", "sizes": [["S"]], "size": {"width": 3}},
        )
    assert error.value.message_dict == {
        "title": [
            "The title contains the control character U+0000 at character 9: "
            "only tab, line feed and carriage return are allowed."
        ],
        "description": ["The description is 10001 characters long; at most 10000 are allowed."],
        "attributes": [
            "Attribute name 2 contains U+D800 at character 1, a lone UTF-16 surrogate, which is not valid text.",
            "Item 1 of the value of “sizes” is a list or an object: a list holds only text, numbers, true or false, "
            "and null.",
            "The value of “size” is an object: a value is text, a number, true or false, null, or a list of those.",
        ],
    }


def test_it_refuses_too_many_attributes_and_too_long_a_title_in_figures(create):
    with pytest.raises(ValidationError) as error:
        create(title="T" * 201, attributes={str(number): number for number in range(51)})
    assert error.value.message_dict == {
        "title": ["The title is 201 characters long; at most 200 are allowed."],
        "attributes": ["There are 51 attributes; at most 50 are allowed."],
    }


def test_it_refuses_banned_content_past_the_limits_without_recording_an_attempt(
    create,
    travel,  # noqa: F811
    mining_rules,  # noqa: F811
    merchant_a,
):
    """The limits come before detection: an over-long listing of a banned product is refused for its
    length, and no relist attempt is recorded (the same listing within the limits would be one)."""
    travel.to(AFTER_GRACE)
    with refused("description"):
        create(title="Antminer S19 Pro 110TH/s", description="Bitcoin miner. " * 700)
    assert not Violation.objects.filter(merchant=merchant_a, kind=Violation.Kind.RELIST_ATTEMPT).exists()

    with pytest.raises(ValidationError) as error:
        create(title="Antminer S19 Pro 110TH/s", description="Bitcoin miner.")
    assert set(error.value.message_dict) == {"title"}
    assert Violation.objects.filter(merchant=merchant_a, kind=Violation.Kind.RELIST_ATTEMPT).count() == 1


def test_it_lets_a_listing_stored_before_the_limits_change_its_price(make_listing, merchant_a, graphics_cards):
    listing = make_listing(merchant_a, graphics_cards)
    Listing.objects.filter(pk=listing.pk).update(title="T" * 250)  # the column holds 300

    edited = catalog.edit_listing(actor=merchant_a.user, listing=listing, price=Decimal("10.00"))

    assert (edited.title, edited.price) == ("T" * 250, Decimal("10.00"))
    with refused("title"):
        catalog.edit_listing(actor=merchant_a.user, listing=listing, title="T" * 250)


# --- the module itself ---------------------------------------------------------------------------------


def test_it_checks_only_the_fields_it_is_given():
    limits.validate_listing_content()
    limits.validate_listing_content(title="RTX 4070", attributes=None)
    with pytest.raises(ValidationError) as error:
        limits.validate_listing_content(description="d" * 10_001)
    assert set(error.value.message_dict) == {"description"}


def test_it_refuses_through_full_clean_as_the_services_do(merchant_a, graphics_cards):
    listing = Listing(
        merchant=merchant_a,
        category=graphics_cards,
        title="RTX\x00 4070",
        description="d" * 10_001,
        attributes={"sizes": [["S"]]},
        price=Decimal("1"),
    )
    with pytest.raises(ValidationError) as error:
        listing.full_clean()
    assert set(error.value.message_dict) == {"title", "description", "attributes"}
    listing.title, listing.description, listing.attributes = "T" * 200, "d" * 10_000, {"sizes": ["S"] * 20}
    listing.full_clean()


# --- the sellers' API -----------------------------------------------------------------------------------


def test_it_accepts_each_text_at_its_limit_through_the_api(api_a, graphics_cards, detection):
    data = {
        **NEW,
        "title": "T" * 200,
        "description": "d" * 10_000,
        "attributes": {**attributes_written_in(9_000), "sizes": (SCALARS * 4)[:20]},
    }
    response = post_json(api_a, data)

    assert response.status_code == 201, response.content
    listing = Listing.objects.get(pk=response.json()["id"])
    assert (listing.title, listing.description, listing.attributes) == (
        data["title"],
        data["description"],
        data["attributes"],
    )


API_REFUSALS = {
    "a 32,000-digit description": ("description", {"description": "1" * 32_000}),
    "a 2 MB description": ("description", {"description": "x" * (2 * 1024 * 1024)}),
    "a title of 201 characters": ("title", {"title": "T" * 201}),
    "NUL in the title": ("title", {"title": "Antminer\x00 S19"}),
    "a lone surrogate in the title": ("title", {"title": "RTX \ud800"}),
    "a lone surrogate as attribute name": ("attributes", {"attributes": {"\ud800": "x"}}),
    "a NUL in an attribute value": ("attributes", {"attributes": {"colour": "black\x00"}}),
    "51 attributes": ("attributes", {"attributes": {f"name {number}": "value" for number in range(51)}}),
    "a list in a list": ("attributes", {"attributes": {"sizes": [["S", "M"]]}}),
    "an object as value": ("attributes", {"attributes": {"size": {"width": 3}}}),
    "attributes of 10,001 characters as JSON": ("attributes", {"attributes": attributes_written_in(10_001)}),
    "attributes nested 50 deep": ("attributes", {"attributes": nested(50)}),
}


@pytest.mark.parametrize(("field", "change"), API_REFUSALS.values(), ids=API_REFUSALS.keys())
def test_it_refuses_each_text_past_its_limit_through_the_api(api_a, graphics_cards, detection, field, change):
    before = state()

    response = post_json(api_a, {**NEW, **change})

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert state() == before
    detection.assert_not_called()


@pytest.mark.parametrize("depth", [900, 100_000])
def test_it_refuses_attributes_nested_deep_through_the_api_naming_the_field(api_a, graphics_cards, detection, depth):
    """900 levels are read (and refused by the field) or too deep for Python's json module, depending on
    the stack the request already uses; either way the answer names the field."""
    before = state()
    body = json.dumps(NEW)[:-1] + ', "attributes": ' + nested_json(depth) + "}"

    response = post_json(api_a, body)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["attributes"]
    assert state() == before
    detection.assert_not_called()


def test_it_refuses_a_body_nested_too_deep_to_read_with_a_400(api_a, graphics_cards):
    before = state()

    response = post_json(api_a, "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - the body is nested too deeply to be read."}
    assert state() == before


def test_it_refuses_an_edit_past_the_limits_through_the_api(api_a, make_listing, merchant_a, graphics_cards):
    listing = make_listing(merchant_a, graphics_cards)
    before = state()

    response = api_a.patch(f"{API}{listing.pk}/", {"description": "d" * 10_001}, format="json")

    assert response.status_code == 400
    assert response.json() == {"description": ["The description is 10001 characters long; at most 10000 are allowed."]}
    assert state() == before


def test_it_refuses_deep_attributes_sent_as_a_form(api_a, graphics_cards):
    before = state()

    response = api_a.post(API, {**NEW, "attributes": nested_json(100_000)})

    assert response.status_code == 400
    assert list(response.json()) == ["attributes"]
    assert state() == before


def test_it_shows_the_limits_in_the_openapi_schema(api_a):
    schema = api_a.get("/api/schema/", {"format": "json"}).json()
    request = schema["components"]["schemas"]["ListingRequest"]["properties"]
    assert request["title"]["maxLength"] == limits.TITLE_MAX_LENGTH
    assert request["description"]["maxLength"] == limits.DESCRIPTION_MAX_LENGTH
    assert request["attributes"]["type"] == "object"
    assert request["attributes"]["maxProperties"] == limits.ATTRIBUTES_MAX_COUNT


# --- the Django admin ---------------------------------------------------------------------------------


@pytest.fixture
def client_as_root(client, superuser):
    client.force_login(superuser)
    return client


def admin_form(listing, **fields) -> dict:
    return {
        "category": listing.category_id,
        "title": listing.title,
        "description": listing.description,
        "attributes": json.dumps(listing.attributes),
        "price": str(listing.price),
        "currency": listing.currency,
        **fields,
    }


def test_it_refuses_an_over_long_description_in_the_admin(client_as_root, make_listing, merchant_a, graphics_cards):
    listing = make_listing(merchant_a, graphics_cards)
    url = reverse("admin:sellers_listing_change", args=[listing.pk])
    before = state()

    response = client_as_root.post(url, admin_form(listing, description="d" * 10_001))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "description": ["The description is 10001 characters long; at most 10000 are allowed."]
    }
    assert state() == before

    response = client_as_root.post(url, admin_form(listing, description="d" * 10_000))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert len(Listing.objects.get(pk=listing.pk).description) == 10_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "T" * 301),
        ("title", "T" * 201),
        ("title", "RTX\x00 4070"),
        ("description", "Boxed\x1b[8m"),
        ("attributes", json.dumps({"sizes": [["S"]]})),
        ("attributes", nested_json(900)),
        ("attributes", nested_json(100_000)),
    ],
    ids=[
        "title past the column",
        "title past the limit",
        "NUL in the title",
        "escape in the description",
        "list in a list",
        "nested 900 deep",
        "nested 100,000 deep",
    ],
)
def test_it_refuses_texts_past_the_limits_in_the_admin(
    client_as_root, make_listing, merchant_a, graphics_cards, field, value
):
    listing = make_listing(merchant_a, graphics_cards)
    before = state()

    response = client_as_root.post(
        reverse("admin:sellers_listing_change", args=[listing.pk]), admin_form(listing, **{field: value})
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert state() == before
