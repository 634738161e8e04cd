"""Who may call what in the sellers' API, and what each answer reveals.

The permission matrix: every endpoint and method × anonymous, merchant A, merchant B, a moderator and a
superuser (neither linked to a store). Anonymous → 401; a staff account without a store → 403; a merchant
on its own objects → 200/201; a merchant on the other merchant's object ids → 404 (never 403, never data);
a method an endpoint does not offer → 405. A refused call changes nothing. Then: nothing of merchant B's
ever shows in an answer to merchant A, the token endpoint, the API token page, the schema and the docs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.db import transaction
from knox.settings import knox_settings
from rest_framework.test import APIClient

from moderation.models import Appeal, AuditEvent, AuditVerb, Notice, Sanction, Violation
from moderation.services import appeals as appeal_services
from sellers.models import ApiToken, Listing

pytestmark = pytest.mark.django_db

API = "/api/v1"
GROUNDS = "The listing was a graphics card, not a mining machine: the photos show it."
NOT_A_MERCHANT = "This API is for merchant accounts: your account is not linked to a store."
ROLES = ["anonymous", "merchant_a", "merchant_b", "moderator", "admin"]
CLIENTS = {
    "anonymous": "api_anonymous",
    "merchant_a": "api_a",
    "merchant_b": "api_b",
    "moderator": "api_moderator",
    "admin": "api_admin",
}


@pytest.fixture
def world(decisions_of, merchant_a, merchant_b, merchant_user_a, merchant_user_b, make_listing, graphics_cards):
    """Both merchants with one decision of each kind, a live listing and an open appeal (against the violation).

    ``world[owner][name]`` is an id (or a decision key) of that merchant's object.
    """
    decided = dict(zip("ab", decisions_of(merchant_a, merchant_b), strict=True))
    merchants = {"a": (merchant_a, merchant_user_a), "b": (merchant_b, merchant_user_b)}
    made = {}
    for owner, (merchant, user) in merchants.items():
        decisions = decided[owner]
        live = make_listing(merchant, graphics_cards, title=f"Graphics card RTX of {merchant.store_name}")
        appeal = appeal_services.file_appeal(
            actor=user, merchant=merchant, kind="violation", object_id=decisions.violation.pk, grounds=GROUNDS
        )
        # A key besides the one the merchant's client sends: revoking it leaves the client signed in.
        spare, _key = ApiToken.objects.create(
            user=user, name=f"Spare key of {merchant.store_name}", expiry=knox_settings.TOKEN_TTL
        )
        made[owner] = {
            "merchant": merchant,
            "notice": Notice.objects.filter(merchant=merchant).order_by("id").first().pk,
            "sanction": decisions.sanction.pk,
            "listing": live.pk,
            "appeal": appeal.pk,
            "token": spare.public_id,
            "delisting_key": f"delisting-{decisions.delisted.pk}",
            "violation_key": f"violation-{decisions.violation.pk}",
            "sanction_key": f"sanction-{decisions.sanction.pk}",
        }
    missing = 999_999_999
    made["z"] = {  # ids of nobody's objects
        "merchant": None,
        **dict.fromkeys(["notice", "sanction", "listing", "appeal"], missing),
        "token": "00000000-0000-4000-8000-000000000000",
        **{f"{kind}_key": f"{kind}-{missing}" for kind in ["delisting", "violation", "sanction"]},
    }
    return made


@dataclass(frozen=True)
class Call:
    """One request; ``{name}`` in the path or the body is filled from ``world[owner]``."""

    name: str
    method: str
    path: str
    status: int  # what the owner (or any merchant, when owner is None) gets
    owner: str | None = None
    body: dict | None = None

    def resolve(self, world) -> tuple[str, dict | None]:
        values = world[self.owner] if self.owner else {}
        path = self.path.format(**values)
        body = {key: str(value).format(**values) for key, value in self.body.items()} if self.body else None
        return path, body


def both(name, method, path, status, body=None) -> list[Call]:
    """The same call against merchant A's object and against merchant B's."""
    return [Call(f"{name}[{owner}]", method, path, status, owner, body) for owner in "ab"]


NEW_LISTING = {"title": "Graphics card RX 7600 8GB", "price": "289.00", "category": "graphics-cards"}
CALLS: list[Call] = [
    # Notices: read-only.
    Call("notices list", "get", f"{API}/notices/", 200),
    Call("notices create", "post", f"{API}/notices/", 405, body={"subject": "x"}),
    *both("notice detail", "get", f"{API}/notices/{{notice}}/", 200),
    *both("notice put", "put", f"{API}/notices/{{notice}}/", 405, body={"subject": "x"}),
    *both("notice patch", "patch", f"{API}/notices/{{notice}}/", 405, body={"subject": "x"}),
    *both("notice delete", "delete", f"{API}/notices/{{notice}}/", 405),
    # Decisions: read-only, three kinds of ids.
    Call("decisions list", "get", f"{API}/decisions/", 200),
    Call("decisions create", "post", f"{API}/decisions/", 405, body={"kind": "violation"}),
    *both("decision detail delisting", "get", f"{API}/decisions/{{delisting_key}}/", 200),
    *both("decision detail violation", "get", f"{API}/decisions/{{violation_key}}/", 200),
    *both("decision detail sanction", "get", f"{API}/decisions/{{sanction_key}}/", 200),
    *both("decision patch", "patch", f"{API}/decisions/{{violation_key}}/", 405, body={"kind": "x"}),
    *both("decision put", "put", f"{API}/decisions/{{violation_key}}/", 405, body={"kind": "x"}),
    *both("decision delete", "delete", f"{API}/decisions/{{violation_key}}/", 405),
    # Sanctions: read-only.
    Call("sanctions list", "get", f"{API}/sanctions/", 200),
    Call("sanctions create", "post", f"{API}/sanctions/", 405, body={"kind": "warning"}),
    *both("sanction detail", "get", f"{API}/sanctions/{{sanction}}/", 200),
    *both("sanction put", "put", f"{API}/sanctions/{{sanction}}/", 405, body={"status": "lifted"}),
    *both("sanction patch", "patch", f"{API}/sanctions/{{sanction}}/", 405, body={"status": "lifted"}),
    *both("sanction delete", "delete", f"{API}/sanctions/{{sanction}}/", 405),
    # Listings: read, create, partial update; no PUT, no DELETE.
    Call("listings list", "get", f"{API}/listings/", 200),
    Call("listings create", "post", f"{API}/listings/", 201, body=NEW_LISTING),
    *both("listing detail", "get", f"{API}/listings/{{listing}}/", 200),
    *both("listing patch", "patch", f"{API}/listings/{{listing}}/", 200, body={"title": "Graphics card renamed"}),
    *both("listing put", "put", f"{API}/listings/{{listing}}/", 405, body={**NEW_LISTING, "title": "Replaced"}),
    *both("listing delete", "delete", f"{API}/listings/{{listing}}/", 405),
    # Appeals: read, file, withdraw; no edits.
    Call("appeals list", "get", f"{API}/appeals/", 200),
    *both(
        "appeal create",
        "post",
        f"{API}/appeals/",
        201,
        body={"decision": "{sanction_key}", "grounds": GROUNDS},
    ),
    *both("appeal detail", "get", f"{API}/appeals/{{appeal}}/", 200),
    *both("appeal put", "put", f"{API}/appeals/{{appeal}}/", 405, body={"grounds": GROUNDS}),
    *both("appeal patch", "patch", f"{API}/appeals/{{appeal}}/", 405, body={"grounds": GROUNDS}),
    *both("appeal delete", "delete", f"{API}/appeals/{{appeal}}/", 405),
    *both("appeal withdraw", "post", f"{API}/appeals/{{appeal}}/withdraw/", 200),
    *both("appeal withdraw get", "get", f"{API}/appeals/{{appeal}}/withdraw/", 405),
    # API tokens: list and revoke; new ones come from the token endpoint.
    Call("tokens list", "get", f"{API}/tokens/", 200),
    Call("tokens create", "post", f"{API}/tokens/", 405, body={"name": "x"}),
    *both("token detail", "get", f"{API}/tokens/{{token}}/", 405),
    *both("token put", "put", f"{API}/tokens/{{token}}/", 405, body={"name": "x"}),
    *both("token patch", "patch", f"{API}/tokens/{{token}}/", 405, body={"name": "x"}),
    *both("token revoke", "delete", f"{API}/tokens/{{token}}/", 204),
]


def expected_status(call: Call, role: str) -> int:
    if role == "anonymous":
        return 401
    if role in {"moderator", "admin"}:
        return 403
    me = role[-1]
    if call.owner in (None, me) or call.status == 405:
        return call.status
    return 404  # the other merchant's object: as if it did not exist


def state() -> dict:
    """Everything a call of the matrix could change."""
    return {
        "listings": list(Listing.objects.order_by("pk").values_list("pk", "title", "price", "status", "updated_at")),
        "appeals": list(Appeal.objects.order_by("pk").values_list("pk", "status", "withdrawn_at", "grounds")),
        "notices": Notice.objects.count(),
        "sanctions": list(Sanction.objects.order_by("pk").values_list("pk", "status")),
        "violations": list(Violation.objects.order_by("pk").values_list("pk", "status")),
        # Not last_used_at: authenticating a refused call stamps its own key's, as it should.
        "tokens": list(ApiToken.objects.order_by("public_id").values_list("public_id", "name", "expiry")),
        "audit": AuditEvent.objects.count(),
    }


def send(client: APIClient, method: str, path: str, body: dict | None = None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


def markers_of(merchant) -> list[str]:
    """Strings that would betray a merchant's data in someone else's answer."""
    texts = [merchant.store_name, merchant.company_name, merchant.contact_email]
    texts += list(Listing.objects.filter(merchant=merchant).values_list("title", flat=True))
    texts += list(Notice.objects.filter(merchant=merchant).values_list("puid", flat=True))
    tokens = ApiToken.objects.filter(user=merchant.user)
    texts += [str(token.public_id) for token in tokens] + [token.token_key for token in tokens]
    return texts


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_permission_matrix(request, subtests, world, call):
    """One call, asked by each of the five roles (a subtest each), each in a savepoint rolled back after it:
    the world is built once per call (it costs about a second), and no role sees another's changes."""
    for role in ROLES:
        with subtests.test(role=role), transaction.atomic():
            check_call(request.getfixturevalue(CLIENTS[role]), world, call, role)
            transaction.set_rollback(True)


def check_call(client: APIClient, world: dict, call: Call, role: str) -> None:
    path, body = call.resolve(world)
    before = state()

    response = send(client, call.method, path, body)

    expected = expected_status(call, role)
    assert response.status_code == expected, (call.method, path, role, response.content[:300])
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"
    if expected == 403:
        assert response.json() == {"detail": NOT_A_MERCHANT}
    if expected == 404:
        # The other merchant's object is answered exactly as an id that does not exist.
        missing_path, missing_body = Call(call.name, call.method, call.path, call.status, "z", call.body).resolve(world)
        missing = send(client, call.method, missing_path, missing_body)
        assert missing.status_code == 404
        assert response.json() == missing.json()
    if expected >= 400:
        assert state() == before, "a refused call changed something"
    if role.startswith("merchant"):
        other = world["b" if role == "merchant_a" else "a"]["merchant"]
        text = response.content.decode()
        for marker in markers_of(other):
            assert marker not in text, f"{role} was shown {marker!r}"


def test_matrix_covers_every_route():
    """Each route of the API router appears in the matrix with each method it answers."""
    from moderation.api.urls import router

    covered = {(re.sub(r"\{[a-z_]+\}", "{}", call.path), call.method) for call in CALLS}
    for prefix, _viewset, _basename in router.registry:
        assert (f"{API}/{prefix}/", "get") in covered
        assert (f"{API}/{prefix}/", "post") in covered
        detail = {path for path, _ in covered if path.startswith(f"{API}/{prefix}/{{}}/")}
        assert detail, prefix
        for method in ["get", "put", "patch", "delete"]:
            assert any((path, method) in covered for path in detail), (prefix, method)


def test_merchant_a_never_sees_merchant_b(api_a, world, merchant_a, merchant_b):
    """Every list (all pages, with filters) and every detail answered to A: nothing of B's in any of them."""
    a, b = world["a"], world["b"]
    b_markers = markers_of(merchant_b)
    b_ids = {
        "notices": set(Notice.objects.filter(merchant=merchant_b).values_list("pk", flat=True)),
        "sanctions": set(Sanction.objects.filter(merchant=merchant_b).values_list("pk", flat=True)),
        "listings": set(Listing.objects.filter(merchant=merchant_b).values_list("pk", flat=True)),
        "appeals": set(Appeal.objects.filter(merchant=merchant_b).values_list("pk", flat=True)),
        "decisions": {b["delisting_key"], b["violation_key"], b["sanction_key"]},
        "tokens": {
            str(token_id)
            for token_id in ApiToken.objects.filter(user=merchant_b.user).values_list("public_id", flat=True)
        },
    }
    queries = {
        "notices": [
            "",
            "?kind=warning",
            "?restricts=true",
            "?ordering=created_at",
            "?created_after=2000-01-01T00:00:00Z",
        ],
        "decisions": ["", "?kind=violation", "?kind=delisting", "?status=active", "?ordering=decided_at"],
        "sanctions": ["", "?status=active", "?kind=warning"],
        "listings": ["", "?status=live", "?status=delisted", "?category=graphics-cards", "?ordering=price"],
        "appeals": ["", "?status=submitted", "?kind=violation"],
        "tokens": [""],
    }
    answers = []
    for endpoint, suffixes in queries.items():
        seen = set()
        for suffix in suffixes:
            url = f"{API}/{endpoint}/{suffix}"
            while url:
                response = api_a.get(url)
                assert response.status_code == 200, url
                page = response.json()
                answers.append(response.content.decode())
                seen |= {row["id"] for row in page["results"]}
                url = page["next"]
        assert seen, endpoint
        assert not seen & b_ids[endpoint], endpoint
    decisions = api_a.get(f"{API}/decisions/").json()["results"]
    assert {row["listing_id"] for row in decisions} <= set(
        Listing.objects.filter(merchant=merchant_a).values_list("pk", flat=True)
    ) | {None}
    # A's own details, and what A is told when it asks for B's ids.
    for path in [
        f"{API}/notices/{a['notice']}/",
        f"{API}/sanctions/{a['sanction']}/",
        f"{API}/listings/{a['listing']}/",
        f"{API}/appeals/{a['appeal']}/",
        f"{API}/decisions/{a['violation_key']}/",
    ]:
        response = api_a.get(path)
        assert response.status_code == 200, path
        answers.append(response.content.decode())
    for path in [
        f"{API}/notices/{b['notice']}/",
        f"{API}/sanctions/{b['sanction']}/",
        f"{API}/listings/{b['listing']}/",
        f"{API}/appeals/{b['appeal']}/",
        f"{API}/decisions/{b['delisting_key']}/",
        f"{API}/decisions/{b['violation_key']}/",
        f"{API}/decisions/{b['sanction_key']}/",
    ]:
        response = api_a.get(path)
        assert response.status_code == 404, path
        answers.append(response.content.decode())
    revoke = api_a.delete(f"{API}/tokens/{b['token']}/")
    assert revoke.status_code == 404
    answers.append(revoke.content.decode())
    filed = api_a.post(f"{API}/appeals/", {"decision": b["sanction_key"], "grounds": GROUNDS}, format="json")
    assert filed.status_code == 404
    answers.append(filed.content.decode())

    everything = "\n".join(answers)
    assert merchant_a.store_name in everything  # the scan reads real answers
    for marker in b_markers:
        assert marker not in everything, marker


def test_staff_accounts_get_403_even_with_a_session(client, moderator, superuser):
    """Session authentication (the back office's login) gives a moderator no more than a token."""
    for user in (moderator, superuser):
        client.force_login(user)
        for endpoint in ["notices", "decisions", "sanctions", "listings", "appeals"]:
            response = client.get(f"{API}/{endpoint}/")
            assert response.status_code == 403, endpoint
            assert response.json() == {"detail": NOT_A_MERCHANT}


def test_a_bad_token_is_401(api_anonymous, merchant_a):
    api_anonymous.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    response = api_anonymous.get(f"{API}/decisions/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


# --- The token endpoint -------------------------------------------------------------------------


def test_token_for_correct_credentials(api_anonymous, merchant_a, merchant_user_a):
    response = api_anonymous.post(f"{API}/auth/token/", {"username": "merchant-a", "password": "demo"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "id", "name", "prefix", "created_at", "expires_at", "expired", "last_used_at"}
    key = body["token"]
    assert key.startswith("bo_") and body["prefix"] == key[:8] and body["name"] == "API"
    row = ApiToken.objects.get(user=merchant_user_a)
    assert str(row.public_id) == body["id"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{API}/decisions/").status_code == 200
    again = api_anonymous.post(f"{API}/auth/token/", {"username": "merchant-a", "password": "demo"}, format="json")
    assert again.json()["token"] != key  # a new token each time: the first one is never readable again
    assert ApiToken.objects.filter(user=merchant_user_a).count() == 2


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "merchant-a", "password": "wrong"},
        {"username": "nobody", "password": "demo"},
        {"username": "merchant-a", "password": "demo "},  # passwords are not trimmed
    ],
    ids=["wrong password", "unknown user", "trailing space"],
)
def test_token_refused_for_wrong_credentials(api_anonymous, merchant_a, merchant_user_a, credentials):
    response = api_anonymous.post(f"{API}/auth/token/", credentials, format="json")

    assert response.status_code == 400
    body = response.json()
    assert "token" not in body
    assert body["non_field_errors"]
    assert not ApiToken.objects.filter(user=merchant_user_a).exists()


def test_token_missing_fields_are_named(api_anonymous):
    response = api_anonymous.post(f"{API}/auth/token/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_token_endpoint_takes_only_post(api_anonymous, api_a):
    for client in (api_anonymous, api_a):
        assert client.get(f"{API}/auth/token/").status_code == 405


# --- The API token page (tests/backoffice/test_api_token_page.py has the rest) ---------------------


def test_token_page_shows_the_merchant(client, merchant_a, merchant_user_a):
    client.force_login(merchant_user_a)

    response = client.get("/backoffice/api-token/")

    assert response.status_code == 200
    assert merchant_a.store_name in response.content.decode()
    assert 'id="api-token"' not in response.content.decode()  # a key is shown only right after it is created


def test_a_token_made_on_the_page_opens_the_api(client, merchant_a, merchant_user_a):
    client.force_login(merchant_user_a)

    response = client.post("/backoffice/api-token/", {"name": "Warehouse sync"})

    assert response.status_code == 200
    key = re.search(r'<input type="text" id="api-token" value="(bo_[0-9a-f]+)"', response.content.decode())[1]
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert fresh.get(f"{API}/decisions/").status_code == 200
    event = AuditEvent.objects.get(verb=AuditVerb.API_TOKEN_ISSUED)
    assert event.actor == merchant_user_a
    assert event.merchant_id == merchant_a.pk
    assert key not in json.dumps(event.after)  # the audit trail never holds the key
    # The page shows the key once: read again, it no longer does.
    assert key not in client.get("/backoffice/api-token/").content.decode()


def test_token_page_is_403_for_a_moderator(client, moderator):
    client.force_login(moderator)

    assert client.get("/backoffice/api-token/").status_code == 403
    assert client.post("/backoffice/api-token/", {"name": "Mine"}).status_code == 403
    assert not ApiToken.objects.filter(user=moderator).exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.API_TOKEN_ISSUED).exists()


def test_token_page_sends_anonymous_to_login(client):
    for response in (client.get("/backoffice/api-token/"), client.post("/backoffice/api-token/")):
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/backoffice/api-token/"
    assert not ApiToken.objects.exists()


# --- Schema and docs ------------------------------------------------------------------------------

API_PATHS = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/notices/": {"get"},
    "/api/v1/notices/{id}/": {"get"},
    "/api/v1/decisions/": {"get"},
    "/api/v1/decisions/{id}/": {"get"},
    "/api/v1/sanctions/": {"get"},
    "/api/v1/sanctions/{id}/": {"get"},
    "/api/v1/listings/": {"get", "post"},
    "/api/v1/listings/{id}/": {"get", "patch"},
    "/api/v1/appeals/": {"get", "post"},
    "/api/v1/appeals/{id}/": {"get"},
    "/api/v1/appeals/{id}/withdraw/": {"post"},
    "/api/v1/tokens/": {"get"},
    "/api/v1/tokens/{id}/": {"delete"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_schema_is_openapi_3_with_every_path(client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    for path, methods in API_PATHS.items():
        assert path in schema["paths"], path
        assert set(schema["paths"][path]) & HTTP_METHODS == methods, path
    assert set(schema["paths"]) == set(API_PATHS)


def test_schema_default_format_is_the_same_document_in_yaml(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert "openapi" in response["Content-Type"]
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert set(API_PATHS) <= set(document["paths"])


def test_docs_load_their_assets_from_our_static_files(client, settings):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    for word in ("cdn", "jsdelivr", "unpkg"):
        assert word not in html.lower(), word
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith(".js") for asset in assets)
    assert any(asset.endswith(".css") for asset in assets)
    # The page's own script is a file too (the CSP allows no inline script): it loads our schema.
    page_script = "/api/docs/?script="
    assert page_script in assets
    for asset in set(assets) - {page_script}:
        assert asset.startswith("/" + settings.STATIC_URL.lstrip("/")), asset
        assert finders.find(asset.removeprefix("/" + settings.STATIC_URL.lstrip("/"))), f"{asset} is not ours"
    script = client.get(page_script)
    assert script["Content-Type"] == "application/javascript"
    assert '"/api/schema/"' in script.content.decode()
