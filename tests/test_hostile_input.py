"""Every back-office page, as every kind of visitor, with hostile input: no answer is a server error.

The URLs are not listed by hand: every pattern under /backoffice/, /accounts/ and /admin/ is read
from the URL resolver, and its path parameters are filled with the ids of real objects (a policy with its
rules and a scan, a removal, review items, a violation, a sanction, an appeal, merchants), with ids
that do not exist (0, past PostgreSQL's bigint) and, by hand, with malformed ones. Each path is
asked for with hostile query strings (every filter and form parameter the back office knows, with
huge and negative numbers, NUL, an encoded lone surrogate, 10,000 characters, "../", bidi controls,
``[]``, impossible dates, repeated parameters) and sent hostile forms, by an anonymous visitor, a
merchant's user, a moderator, a senior moderator, a policy admin and a superuser. A 4xx answer is
fine; a 5xx is a bug.

Combinations are sampled (a seeded generator), not multiplied out: each role's run takes under
a minute, the six about two. A server error is reported with its exception, and the database is rolled back
to before the request (a failed statement would otherwise break every request after it).
"""

from __future__ import annotations

import random
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django import forms
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

import moderation.filters
import moderation.forms
from moderation.models import (
    Appeal,
    CategoryRemoval,
    DetectionRule,
    Policy,
    PolicyScan,
    ReviewItem,
    Sanction,
    Violation,
    WebhookDelivery,
)
from moderation.services.appeals import file_appeal
from moderation.services.scanning import start_policy_scan
from moderation.services.webhooks import create_endpoint
from sellers.integration.accounts import create_service_account
from sellers.models import Merchant
from tests.api.conftest import decisions_of  # noqa: F401  (the world: a decision of each kind)
from tests.moderation.conftest import (  # noqa: F401
    draft_policy,
    mining_rules,
    open_item,
    travel,
)
from tests.moderation.sanctions_fixtures import announced_policy, take_down  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parent.parent

SEED = 20211020
PREFIXES = ("backoffice/", "accounts/", "admin/")

# Raw query-string values: "%00" and "%ED%A0%80" (a lone surrogate, in UTF-8) are sent as they are.
HOSTILE_RAW = [
    "99999999999999999999999999",
    "9223372036854775808",
    "-1",
    "-99999999999999999999",
    "0",
    "%00",
    "abc%00def",
    "%ED%A0%80",
    "%FF%FE",
    "x" * 10_000,
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "../",
    quote("\u202egnp.exe"),
    quote("\u200b" * 30),
    "%5B%5D",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "1.5",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00%2B14:00",
    "2021-02-30",
    "0000-00-00",
    "%2F%2Fevil.example",
    "https%3A%2F%2Fevil.example%2F",
    quote("<script>alert(1)</script>"),
    quote("' OR 1=1 --"),
    "",
    "+",
    "true",
    "%E2%80%AE" * 100,
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "%D9%A1%D9%A2",  # "١٢": Arabic-Indic digits, which int() reads as 12
]

# Every parameter the back office reads from a query string: the FilterSets' and the dashboard's,
# and the ones the views read themselves; the admin's too (a superuser reaches it).
QUERY_PARAMETERS = sorted(
    {
        *(
            name
            for filterset in vars(moderation.filters).values()
            if isinstance(filterset, type) and hasattr(filterset, "base_filters")
            for name in filterset.base_filters
        ),
        *moderation.forms.DashboardForm.base_fields,
        *("page", "ordering", "sort", "text", "q", "next", "status", "since", "until", "policy", "kind", "format"),
        *("created_after", "created_before", "after", "before", "merchant", "id", "o", "p", "e", "_changelist_filters"),
    }
)

# Every field a back-office form has, and the other names the views read from a POST.
FORM_FIELDS = sorted(
    {
        *(
            name
            for form in vars(moderation.forms).values()
            if isinstance(form, type) and issubclass(form, forms.BaseForm)
            for name in form.base_fields
        ),
        *("step", "back", "tier", "preview_token", "next", "username", "password", "otp", "token", "code"),
        *(f"clauses-{name}" for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")),
        *(f"clauses-0-{name}" for name in ("number", "title", "text", "id", "DELETE")),
    }
)

# Slugs in paths: the ones the views know, and a few they do not.
SLUGS = {
    "action": ["claim", "release", "take-down", "dismiss", "escalate", "note", "grant", "reject", "nothing"],
    "kind": ["removal", "scan", "notice", "statement", "nothing"],
}
OTHER_SLUGS = ["nothing", "-", "a" * 300]
NONEXISTENT_IDS = [0, 999_999_999, 2**63, 10**40]

# Paths the resolver never matches, which must still be an ordinary 404.
MALFORMED_PATHS = [
    "/backoffice/queue/abc/",
    "/backoffice/queue/-1/",
    "/backoffice/queue/%00/",
    "/backoffice/queue/%ED%A0%80/",
    "/backoffice/policies/1/rules/../../../",
    "/backoffice/appeals/1.5/",
    "/backoffice/merchants/1e9/",
    "/backoffice/reports/transparency.xml",
    "/backoffice/" + "a" * 10_000 + "/",
    "/backoffice/%E2%80%AEgnp.exe/",
    "/accounts/login/%00",
]


@dataclass
class Sent:
    method: str
    path: str
    query: str = ""
    body: str = ""
    content_type: str = "application/x-www-form-urlencoded"
    failures: list = field(default_factory=list)


# --- the world and the visitors ------------------------------------------------------------------


@pytest.fixture
def world(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_b,
    merchant_user_a,
    mining_rules,  # noqa: F811
    open_item,  # noqa: F811
    make_listing,
    graphics_cards,
    announced_policy,  # noqa: F811
    policy_admin,
) -> dict[str, list[int]]:
    """One object of each kind the back office shows, through the services; their ids by path parameter."""
    mine, _theirs = decisions_of(merchant_a, merchant_b)
    file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind="violation",
        object_id=mine.violation.pk,
        grounds="The listing was a graphics card, not a mining machine.",
    )
    open_item(make_listing(merchant_b, graphics_cards, title="Antminer S9 in a graphics card box"))
    start_policy_scan(policy=announced_policy, actor=policy_admin)
    # The marketplaces' side: a service account of merchant A's marketplace, and its webhook endpoint.
    account, _key, _secret_key = create_service_account(
        actor=policy_admin, marketplace=merchant_a.marketplace, name="catalog sync"
    )
    endpoint, _secret = create_endpoint(
        actor=policy_admin, marketplace=merchant_a.marketplace, url="https://hooks.example.test/ban"
    )
    return {
        "marketplace_id": [merchant_a.marketplace_id],
        "account_id": [account.pk],
        "endpoint_id": [endpoint.pk],
        "delivery_id": list(WebhookDelivery.objects.values_list("pk", flat=True)[:1]),
        "item_id": list(ReviewItem.objects.values_list("pk", flat=True)),
        "appeal_id": list(Appeal.objects.values_list("pk", flat=True)),
        "merchant_id": list(Merchant.objects.values_list("pk", flat=True)),
        "sanction_id": list(Sanction.objects.values_list("pk", flat=True)),
        "policy_id": list(Policy.objects.values_list("pk", flat=True)),
        "rule_id": list(DetectionRule.objects.values_list("pk", flat=True)[:2]),
        "scan_id": list(PolicyScan.objects.values_list("pk", flat=True)),
        "removal_id": list(CategoryRemoval.objects.values_list("pk", flat=True)),
        "object_id": [
            *CategoryRemoval.objects.values_list("pk", flat=True),
            *PolicyScan.objects.values_list("pk", flat=True),
            *Violation.objects.values_list("pk", flat=True)[:1],
        ],
    }


ROLES = ["anonymous", "merchant", "moderator", "senior", "policy_admin", "superuser"]


class Visitor(Client):
    """A client that turns a server error into a 500 answer, signed in as ``user`` (None: anonymous)."""

    def __init__(self, user) -> None:
        super().__init__(raise_request_exception=False)
        self.user = user

    def sign_in_again(self) -> None:
        # The sign-out URL, the two-factor pages and a hostile session change sign the visitor out.
        if self.user is not None:
            self.force_login(self.user)


@pytest.fixture
def visitor(request, world, merchant_user_a) -> Visitor:
    people = {"merchant": merchant_user_a, "anonymous": None}
    role = request.param
    return Visitor(people[role] if role in people else request.getfixturevalue(role))


# --- the paths -------------------------------------------------------------------------------------


def _patterns(resolvers, prefix: str = "", namespace: str = ""):
    """(route as written, name with its namespace, {parameter: kind}) for every URL pattern."""
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            if isinstance(entry.pattern, RoutePattern):
                kinds = {name: type(converter).__name__ for name, converter in entry.pattern.converters.items()}
            elif isinstance(entry.pattern, RegexPattern):
                kinds = dict.fromkeys(entry.pattern.regex.groupindex, "regex")
            else:
                kinds = {}
            yield route, f"{namespace}{entry.name}", kinds


def _values(parameter: str, kind: str, world: dict[str, list[int]], rng: random.Random) -> list:
    """Real values of a path parameter first, then values that name nothing."""
    if kind == "IntConverter":
        return [*(world.get(parameter) or [])[:1], rng.choice(NONEXISTENT_IDS)]
    if kind == "SlugConverter":
        return [*SLUGS.get(parameter, []), rng.choice(OTHER_SLUGS)]
    if kind == "UUIDConverter":
        return [uuid.uuid4()]
    if kind == "PathConverter":  # the admin's object ids
        return ["1", rng.choice(["999999999", "abc", "-1", "1/../2"])]
    if parameter == "fmt":
        return ["csv", "json"]
    return ["x"]


def backoffice_paths(world: dict[str, list[int]], rng: random.Random) -> list[str]:
    """Every back-office and accounts URL, with real, nonexistent and odd path parameters."""
    paths = []
    for route, name, kinds in _patterns(get_resolver().url_patterns):
        if not route.startswith(PREFIXES):
            continue
        choices = {parameter: _values(parameter, kind, world, rng) for parameter, kind in kinds.items()}
        # Each value of each parameter once, the other parameters at a real value: not the product.
        combinations = [{parameter: values[0] for parameter, values in choices.items()}]
        for parameter, values in choices.items():
            combinations += [{**combinations[0], parameter: value} for value in values[1:]]
        for kwargs in combinations:
            try:
                paths.append(reverse(name, kwargs=kwargs))
            except (NoReverseMatch, ValueError):  # a value its converter does not take: no such URL
                continue
    return sorted(set(paths)) + MALFORMED_PATHS


# Each of these is also sent as the value of every parameter at once: some read only the first
# parameter that is wrong, and the edges of numbers and of the calendar must reach each field.
EDGE_VALUES = [
    "99999999999999999999999999",
    "%00",
    "%ED%A0%80",
    "x" * 10_000,
    "0001-01-01",
    "9999-12-31T23:59:59",
    "%C2%B2",
]


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name)}={value}" for name, value in pairs)


def hostile_inputs(names: list[str], rng: random.Random, *, singles: int) -> list[str]:
    """Query strings or form bodies over ``names``: every name at each edge value, two random mixes,
    every name twice, and ``singles`` with one name only (alone, a parameter is read even when
    another one would have made the form invalid)."""
    inputs = [_query([(name, value) for name in names]) for value in EDGE_VALUES]
    inputs += [_query([(name, rng.choice(HOSTILE_RAW)) for name in names]) for _ in range(2)]
    inputs.append(_query([(name, value) for name in names for value in rng.sample(HOSTILE_RAW, 2)]))
    inputs += [_query([(rng.choice(names), rng.choice(HOSTILE_RAW))]) for _ in range(singles)]
    return inputs


def hostile_queries(rng: random.Random, *, singles: int) -> list[str]:
    return hostile_inputs(QUERY_PARAMETERS, rng, singles=singles)


def hostile_forms(rng: random.Random, *, singles: int) -> list[tuple[str, str]]:
    """(body, content type) of POSTs: as the queries, and JSON where a form is expected."""
    form = "application/x-www-form-urlencoded"
    return [
        *((body, form) for body in hostile_inputs(FORM_FIELDS, rng, singles=singles)),
        ('{"reason": ["a"], "items": {"$gt": 1}, "clause": 1e999}', "application/json"),
        ("[" * 5000 + "]" * 5000, "application/json"),
    ]


# --- sending ---------------------------------------------------------------------------------------


def _cause(error) -> str:
    """The exception and the last line of the project's own code it went through."""
    if not error:
        return "no exception"
    where = ""
    for frame in traceback.extract_tb(error[2]):
        if frame.filename.startswith(str(ROOT)) and "/.venv/" not in frame.filename:
            where = f" at {Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
    return f"{error[0].__name__}: {str(error[1])[:200]}{where}"


def _reads_input(response) -> bool:
    """Whether the view itself answered (not the sign-in redirect, a refusal or a missing object)."""
    if response.status_code in (401, 403, 404, 405) or response.status_code >= 500:
        return False
    return not (response.status_code == 302 and response["Location"].startswith(("/accounts/", "/admin/login/")))


def _send(client: Visitor, sent: Sent, failures: list[str]):
    """Send one request; a 5xx is noted with its exception, and the database put back as it was."""
    path = f"{sent.path}?{sent.query}" if sent.query else sent.path
    savepoint = transaction.savepoint()
    if sent.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data=sent.body, content_type=sent.content_type)
    if response.status_code >= 500:
        transaction.savepoint_rollback(savepoint)
        cause = _cause(getattr(response, "exc_info", None))
        failures.append(f"{sent.method} {path[:300]} {sent.body[:200]!r} → {response.status_code} ({cause})")
    else:
        transaction.savepoint_commit(savepoint)
    return response


def _push(path: str, readable: bool, inputs: list, rng: random.Random) -> list:
    """How hard to push one page: the first answer decides.

    A page that turns this visitor away (to the sign-in page, 403, 404) gets one hostile input;
    a back-office page that reads them, all of them; an admin page (Django's own code, a hundred
    of them) a sample.
    """
    if not readable:
        return inputs[-1:]
    return rng.sample(inputs, 5) if path.startswith("/admin/") else inputs


@pytest.mark.parametrize("visitor", ROLES, indirect=True)
def test_no_back_office_page_answers_a_server_error_to_hostile_input(visitor, world, request):
    rng = random.Random(f"{SEED}-{request.node.callspec.id}")
    failures: list[str] = []
    paths = backoffice_paths(world, rng)
    assert len(paths) > 60, paths  # the resolver walk found the back office
    for path in paths:
        visitor.sign_in_again()
        readable = _reads_input(_send(visitor, Sent("GET", path), failures))
        for query in _push(path, readable, hostile_queries(rng, singles=6), rng):
            _send(visitor, Sent("GET", path, query=query), failures)
        posted = _send(visitor, Sent("POST", path), failures)
        if posted.status_code in (404, 405):
            continue
        for body, content_type in _push(path, _reads_input(posted), hostile_forms(rng, singles=6), rng):
            _send(visitor, Sent("POST", path, body=body, content_type=content_type), failures)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:60])
