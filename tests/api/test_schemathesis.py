"""Property-based run of the sellers' API against its own OpenAPI schema (schemathesis 4).

The schema is the one drf-spectacular serves at /api/schema/; every operation is called through
the Django WSGI application, in this thread and in the test's transaction (so it sees the fixture
data), as merchant A with a decision of each kind and an open appeal, with the token A gets by
signing in at /api/v1/auth/token/. Every check schemathesis has runs on every call, on valid and
invalid data: no 5xx, every status, header, content type and body as documented, invalid input
refused and valid input accepted.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks

from moderation.api.views import AppealFilingThrottle
from moderation.models import Notice
from moderation.services.appeals import file_appeal

# Every check schemathesis has: no 5xx, status codes, content types, headers and bodies as the schema
# says, invalid data refused and valid data accepted, 405 for undocumented methods with their Allow
# header, auth not ignored, one merchant's objects out of another's reach. (max_response_time is a
# setting, not one of these: the suite asserts no timings.)
load_all_checks()
CHECKS = list(REGISTERED_CHECKS.get_all())
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20211020"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
TIME_FILTERS = ("created_after", "created_before")
OPERATIONS = {
    "POST /api/v1/auth/token/",
    "GET /api/v1/tokens/",
    "DELETE /api/v1/tokens/{id}/",
    *(f"GET /api/v1/{name}/" for name in ("notices", "decisions", "sanctions", "listings", "appeals")),
    *(f"GET /api/v1/{name}/{{id}}/" for name in ("notices", "decisions", "sanctions", "listings", "appeals")),
    "POST /api/v1/listings/",
    "PATCH /api/v1/listings/{id}/",
    "POST /api/v1/appeals/",
    "POST /api/v1/appeals/{id}/withdraw/",
}


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, minus the closing of "old" connections around each request.

    A real request closes the connection when it is outside autocommit: inside the test's transaction
    that would throw the fixture data away. Django's test client disconnects the same receivers.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def merchant_world(decisions_of, merchant_a, merchant_b, merchant_user_a, monkeypatch):
    """Merchant A (and B) with a decision of each kind, A with an open appeal; A's token."""
    mine, _theirs = decisions_of(merchant_a, merchant_b)
    appeal = file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind="violation",
        object_id=mine.violation.pk,
        grounds="The listing was a graphics card, not a mining machine.",
    )
    # The fuzzer files far more appeals than a merchant may in an hour: let them all reach the service.
    monkeypatch.setattr(AppealFilingThrottle, "THROTTLE_RATES", {"appeals": "100000/hour"})
    return {"decisions": mine, "appeal": appeal}


# A write the schema allows may still be refused, 400 with the field named: the schema says a
# category is a slug and a decision an id, not that they exist, nor that grounds are more than
# zero-width spaces or a title free of banned words. So for POST and PATCH (the token endpoint's
# wrong password too) "valid data accepted" accepts a 400 as well; every other check, and every
# read, is held to the defaults.
CONFIG = {
    "seed": SEED,
    "operations": [
        {
            "include-method": ["POST", "PATCH"],
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
                }
            },
        }
    ],
}


def load_schema(app) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/schema/", app, config=config).include(path_regex=r"^/api/v1/")


# Loaded when the module is collected (no database needed to serve the schema): schemathesis's
# fixture-based loader (``schemathesis.pytest.from_fixture``) writes ``Node._nodeid``, which pytest 9.2
# no longer has.
schema = load_schema(get_wsgi_application())


@pytest.fixture
def api_schema(wsgi_app, merchant_world):
    return load_schema(wsgi_app)


@pytest.fixture
def auth(api_schema, merchant_user_a) -> dict[str, str]:
    """Merchant A's token as a client gets one: its username and password to the token operation.

    No one-time code: merchant A has no authenticator (the operation asks for ``otp`` only then).
    """
    sign_in = api_schema["/api/v1/auth/token/"]["POST"].Case(
        body={"username": merchant_user_a.username, "password": "demo"}, media_type="application/json"
    )
    response = sign_in.call()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Token {response.json()['token']}"}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_no_operation_answers_a_server_error_or_breaks_its_schema(case, auth):
    response = case.call_and_validate(headers=auth, checks=CHECKS)
    # Every call is merchant A's: its token is accepted whatever else was generated (no 401/403 to hide behind).
    assert response.status_code not in (401, 403), response.text


def test_the_run_covers_every_operation_of_the_api(api_schema):
    assert {result.ok().label for result in api_schema.get_all_operations()} >= OPERATIONS


def test_each_read_of_existing_objects_matches_the_schema(api_schema, merchant_world, merchant_a, auth):
    """The fuzzer seldom guesses an id that exists: read each of A's objects once, by hand."""
    mine, appeal = merchant_world["decisions"], merchant_world["appeal"]
    calls = [
        ("/api/v1/decisions/", "GET", {}, {}),
        ("/api/v1/decisions/", "GET", {}, {"ordering": "decided_at", "kind": "sanction"}),
        ("/api/v1/notices/", "GET", {}, {}),
        ("/api/v1/sanctions/", "GET", {}, {}),
        ("/api/v1/listings/", "GET", {}, {}),
        ("/api/v1/appeals/", "GET", {}, {}),
        ("/api/v1/appeals/{id}/", "GET", {"id": appeal.pk}, {}),
        ("/api/v1/sanctions/{id}/", "GET", {"id": mine.sanction.pk}, {}),
        ("/api/v1/listings/{id}/", "GET", {"id": mine.delisted.pk}, {}),
        *[("/api/v1/decisions/{id}/", "GET", {"id": key}, {}) for key in mine.keys],
        *[
            ("/api/v1/notices/{id}/", "GET", {"id": pk}, {})
            for pk in Notice.objects.filter(merchant=merchant_a).values_list("pk", flat=True)
        ],
    ]
    for path, method, path_parameters, query in calls:
        case = api_schema[path][method].Case(path_parameters=path_parameters, query=query)
        response = case.call_and_validate(headers=auth, checks=CHECKS)
        assert response.status_code == 200, (path, path_parameters, response.text)

    withdraw = api_schema["/api/v1/appeals/{id}/withdraw/"]["POST"].Case(path_parameters={"id": appeal.pk})
    assert withdraw.call_and_validate(headers=auth, checks=CHECKS).status_code == 200
    again = api_schema["/api/v1/appeals/"]["POST"].Case(
        body={"decision": mine.keys[1], "grounds": "The take-down was a mistake: the listing is a graphics card."},
        media_type="application/json",
    )
    assert again.call_and_validate(headers=auth, checks=CHECKS).status_code == 201


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        {"category": "graphics-cards\x00"},
        {"attributes": {"colour": "black\x00"}},
        {"attributes": {"colour\x00": "black"}},
    ],
    ids=["category", "attribute-value", "attribute-name"],
)
def test_a_nul_character_in_a_listing_is_refused_not_a_server_error(api_schema, merchant_world, auth, change):
    listing = {"title": "RTX 3080 graphics card", "price": "499.00", "category": "graphics-cards"}
    created = api_schema["/api/v1/listings/"]["POST"].Case(body=listing, media_type="application/json")
    assert created.call_and_validate(headers=auth, checks=CHECKS).status_code == 201
    sent = api_schema["/api/v1/listings/"]["POST"].Case(body={**listing, **change}, media_type="application/json")
    response = sent.call(headers=auth)
    assert response.status_code == 400, response.text
    assert set(response.json()) == set(change)
