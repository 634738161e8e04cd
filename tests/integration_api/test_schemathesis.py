"""Property-based run of the integration API against its own OpenAPI schema (schemathesis 4), as
tests/api/test_schemathesis.py runs the sellers' API: every operation called through the WSGI
application in the test's transaction, as Alibaba.com's service account, every check on every call.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks

from tests.api.test_schemathesis import wsgi_app  # noqa: F401 - a fixture
from tests.integration_api.conftest import listing_event, merchant_event, send

load_all_checks()
CHECKS = list(REGISTERED_CHECKS.get_all())
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20211020"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
SCHEMA = "/api/v1/integration/schema"
# A write the schema allows may be refused: a merchant or category that does not exist, banned content.
CONFIG = {
    "seed": SEED,
    "operations": [
        {
            "include-method": ["POST"],
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400"]}},
        },
    ],
}


def load_schema(app) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi(SCHEMA, app, config=schemathesis.Config.from_dict(CONFIG))


schema = load_schema(get_wsgi_application())


@pytest.fixture
def world(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), listing_event("L-1"))


@pytest.fixture
def api_schema(world, wsgi_app):  # noqa: F811
    # After the world: the test client's requests connect again the closing of "old" connections,
    # which wsgi_app disconnects (it would close the test's transaction).
    return load_schema(wsgi_app)


@pytest.fixture
def auth(service_account) -> dict[str, str]:
    return {"Authorization": f"Token {service_account[1]}"}


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
def test_no_operation_answers_a_server_error_or_breaks_its_schema(case, api_schema, auth):
    checks = CHECKS
    if case.operation.path == "/api/v1/integration/listings/batch":
        # A batch refuses a bad event in its answer (200, the event "refused" with its field errors) and
        # applies the others: only a body that is no batch at all is a 400 (tested on its own).
        checks = [check for check in CHECKS if check.__name__ != "negative_data_rejection"]
    response = case.call_and_validate(headers=auth, checks=checks)
    # A negative case of an operation without parameters is one sent without its key: then a 401 is right.
    if "Authorization" in response.request.headers:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 401


def test_reads_of_existing_objects_match_the_schema(api_schema, auth):
    for path, parameters in [
        ("/api/v1/integration/listings/{external_id}/", {"external_id": "L-1"}),
        ("/api/v1/integration/merchants/{external_id}/", {"external_id": "M-1"}),
        ("/api/v1/integration/policies", {}),
        ("/api/v1/integration/categories/retired", {}),
    ]:
        case = api_schema[path]["GET"].Case(path_parameters=parameters)
        assert case.call_and_validate(headers=auth, checks=CHECKS).status_code == 200, path
