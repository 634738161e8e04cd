"""The sellers' API keys: issued by the token endpoint (with the second factor), hashed at rest, expiring,
listed and revoked through the API, every step in the audit trail.

The back-office page that issues and revokes them is tests/backoffice/test_api_token_page.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from axes.models import AccessAttempt
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from moderation.models import AuditEvent, AuditVerb
from sellers.models import ApiToken
from sellers.tokens import IssuedVia, issue_api_token

pytestmark = pytest.mark.django_db

API = "/api/v1"
SIGN_IN = f"{API}/auth/token/"
EXPIRED = "This API token has expired: create a new one on the API token page or at /api/v1/auth/token/."
NOBODY = "00000000-0000-4000-8000-000000000000"
MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def sign_in(client=None, **fields):
    body = {"username": "merchant-a", "password": "demo", **fields}
    return (client or APIClient()).post(SIGN_IN, body, format="json")


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def events(verb) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


@pytest.fixture
def authenticator(merchant_user_a):
    """Merchant A's confirmed authenticator app: its sign-ins take a code."""
    return TOTPDevice.objects.create(user=merchant_user_a, name="phone", confirmed=True)


# --- Hashed at rest ---------------------------------------------------------------------------------


def test_the_database_holds_a_digest_and_a_prefix_never_the_key(merchant_a, merchant_user_a):
    response = sign_in(name="ERP sync")

    assert response.status_code == 200
    key = response.json()["token"]
    assert key.startswith("bo_") and len(key) == 3 + 64
    row = ApiToken.objects.get(user=merchant_user_a)
    assert row.digest == hashlib.sha512(key.encode()).hexdigest()
    assert row.token_key == key[:15]
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert key not in stored and key[15:] not in stored
    trail = json.dumps(list(AuditEvent.objects.values("after", "before", "reason", "target_repr")), default=str)
    assert key[8:] not in trail and row.digest not in trail  # the trail names a key by its first 8 characters


@pytest.mark.postgres
def test_no_column_of_any_row_holds_the_key(merchant_a):
    key = sign_in().json()["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM sellers_apitoken AS t")
        rows = [text for (text,) in cursor.fetchall()]

    assert len(rows) == 1 and key not in rows[0]


def test_a_key_of_the_right_prefix_but_the_wrong_rest_is_refused(merchant_a):
    key = sign_in().json()["token"]
    forged = key[:15] + ("0" if key[15] != "0" else "1") + key[16:]

    response = with_key(forged).get(f"{API}/decisions/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_a_key_of_the_wrong_shape_is_refused_without_a_query(merchant_a):
    for garbage in ("bo_../../etc", "bo_" + "f" * 200, "ab;cd"):
        with CaptureQueriesContext(connection) as captured:
            response = with_key(garbage).get(f"{API}/decisions/")
        assert response.status_code == 401, garbage
        assert response.json() == {"detail": "Invalid token."}
        assert not captured.captured_queries, garbage


# --- Expiry -----------------------------------------------------------------------------------------


def test_a_key_works_for_api_token_days_then_is_401_with_a_clear_message(merchant_a, travel, settings):
    travel.to(MOMENT)
    body = sign_in().json()
    assert body["expires_at"] == "2026-04-01T09:30:00Z"  # settings.API_TOKEN_DAYS: 30
    assert settings.API_TOKEN_DAYS == 30
    client = with_key(body["token"])

    travel.to(MOMENT + timedelta(days=30) - timedelta(seconds=1))
    assert client.get(f"{API}/decisions/").status_code == 200

    travel.to(MOMENT + timedelta(days=30))
    response = client.get(f"{API}/decisions/")
    assert response.status_code == 401
    assert response.json() == {"detail": EXPIRED}
    assert response["WWW-Authenticate"] == "Token"
    # Kept, so that the merchant sees it expired (and the message stays this one).
    assert ApiToken.objects.get(public_id=body["id"]).is_expired
    listed = with_key(sign_in().json()["token"]).get(f"{API}/tokens/").json()["results"]
    assert [row["expired"] for row in listed] == [False, True]


def test_a_client_still_sending_an_expired_key_gets_a_new_one(merchant_a, travel):
    travel.to(MOMENT)
    old = with_key(sign_in().json()["token"])
    travel.to(MOMENT + timedelta(days=31))

    response = sign_in(old)

    assert response.status_code == 200
    assert with_key(response.json()["token"]).get(f"{API}/decisions/").status_code == 200


# --- Name and last use ------------------------------------------------------------------------------


def test_the_name_is_stripped_and_the_default_is_api(merchant_a):
    assert sign_in(name="  ERP sync  ").json()["name"] == "ERP sync"
    assert sign_in().json()["name"] == "API"


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 101, "ERP\x00sync", "ERP\x1bsync", "ERP\u202esync", "two\nlines", "zero\u200bwidth"],
    ids=["empty", "blank", "too long", "NUL", "escape", "RTL override", "line feed", "zero width space"],
)
def test_a_bad_name_is_a_field_error_and_nothing_is_issued(merchant_a, authenticator, name):
    code = code_for(authenticator)

    response = sign_in(name=name, otp=code)

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"name"}
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(verb__in=[AuditVerb.API_TOKEN_ISSUED, AuditVerb.API_SIGNED_IN]).exists()
    # Refused before the code was checked: the same code still signs in.
    assert sign_in(name="ERP", otp=code).status_code == 200


def test_the_last_use_is_written_at_most_once_a_minute(merchant_a, travel):
    travel.to(MOMENT)
    body = sign_in().json()
    assert body["last_used_at"] is None
    client = with_key(body["token"])

    def updates() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"{API}/decisions/").status_code == 200
        return len([query for query in captured if query["sql"].startswith("UPDATE")])

    assert updates() == 1
    assert ApiToken.objects.get(public_id=body["id"]).last_used_at == MOMENT
    travel.to(MOMENT + timedelta(seconds=59))
    assert updates() == 0
    travel.to(MOMENT + timedelta(seconds=61))
    assert updates() == 1
    assert ApiToken.objects.get(public_id=body["id"]).last_used_at == MOMENT + timedelta(seconds=61)


# --- A new key each time, and the limit of keys in force ---------------------------------------------


def test_each_sign_in_issues_a_new_key_and_the_old_ones_keep_working(merchant_a, merchant_user_a):
    first, second = sign_in().json(), sign_in().json()

    assert first["token"] != second["token"] and first["id"] != second["id"]
    for body in (first, second):
        assert with_key(body["token"]).get(f"{API}/decisions/").status_code == 200
    assert ApiToken.objects.filter(user=merchant_user_a).count() == 2


def test_an_account_holds_at_most_the_limit_of_keys_in_force(merchant_a, merchant_user_a, settings, travel):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    travel.to(MOMENT)
    sign_in()
    travel.to(MOMENT + timedelta(days=20))
    sign_in()

    refused = sign_in()
    assert refused.status_code == 400
    assert refused.json() == {
        "non_field_errors": ["This account has 2 API tokens in force, the most it may have: revoke one first."]
    }
    assert ApiToken.objects.filter(user=merchant_user_a).count() == 2

    travel.to(MOMENT + timedelta(days=31))  # the first one has expired: it no longer counts
    assert sign_in().status_code == 200


def test_a_staff_account_gets_no_key(moderator):
    response = sign_in(username="moderator")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Only a merchant's account has an API token."]}
    assert not ApiToken.objects.exists()


# --- Refused requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"username": "m" * 300}, "username"),
        ({"password": "p" * 5000}, "password"),
        ({"otp": "1" * 17}, "otp"),
        ({"username": "merchant-a\x00"}, "username"),
    ],
    ids=["300-char username", "5000-char password", "17-digit code", "NUL in username"],
)
def test_an_oversized_or_broken_field_is_a_400_field_error_not_a_500(merchant_a, fields, field):
    response = sign_in(**fields)

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not ApiToken.objects.exists()
    assert not AccessAttempt.objects.exists()  # refused before any sign-in was tried


# --- Two-factor authentication ----------------------------------------------------------------------


def test_with_an_authenticator_the_password_alone_is_a_400_on_otp_and_a_failed_sign_in(merchant_a, authenticator):
    response = sign_in()

    assert response.status_code == 400
    assert response.json() == {
        "otp": ["This account uses two-factor authentication: send the current code of its app as otp."]
    }
    assert not ApiToken.objects.exists()
    (failed,) = events(AuditVerb.LOGIN_FAILED)
    assert failed.actor_name == "anonymous:merchant-a" and "127.0.0.1" in failed.reason
    assert AccessAttempt.objects.get(username="merchant-a").failures_since_start == 1


def test_a_valid_code_gets_a_key(merchant_a, merchant_user_a, authenticator):
    response = sign_in(otp=code_for(authenticator))

    assert response.status_code == 200
    assert with_key(response.json()["token"]).get(f"{API}/decisions/").status_code == 200
    assert [event.actor for event in events(AuditVerb.API_SIGNED_IN)] == [merchant_user_a]


def test_a_wrong_code_counts_towards_the_lock_out_like_a_wrong_password(merchant_a, authenticator, settings):
    right = code_for(authenticator)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = sign_in(otp=wrong)
        assert response.status_code == 400
        assert response.json() == {
            "otp": ["That code is not right, or too many were tried: wait a moment and try again."]
        }
        authenticator.refresh_from_db()
        authenticator.throttle_reset()  # the device's own throttle aside: this is about the lock-out

    locked = sign_in(otp=wrong)
    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many failed sign-ins: signing in is locked for 15 minutes."}
    assert sign_in(otp=right).status_code == 429  # locked means locked
    assert not ApiToken.objects.exists()


def test_a_correct_code_for_a_wrong_password_gets_nothing(merchant_a, authenticator):
    response = sign_in(password="wrong", otp=code_for(authenticator))

    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}
    assert not ApiToken.objects.exists()


# --- Listing and revoking through the API -----------------------------------------------------------


def test_the_list_shows_the_callers_tokens_never_a_key_or_a_digest(merchant_a, merchant_b, merchant_user_b):
    mine = sign_in(name="ERP sync").json()
    theirs = sign_in(username="merchant-b", name="Their ERP").json()

    response = with_key(mine["token"]).get(f"{API}/tokens/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["id"], row["name"], row["prefix"]) for row in rows] == [(mine["id"], "ERP sync", mine["token"][:8])]
    assert set(rows[0]) == {"id", "name", "prefix", "created_at", "expires_at", "expired", "last_used_at"}
    text = response.content.decode()
    for secret in (mine["token"], mine["token"][8:], ApiToken.objects.get(public_id=mine["id"]).digest):
        assert secret not in text
    assert theirs["id"] not in text and "Their ERP" not in text


def test_revoking_a_key_stops_it_at_once_and_is_audited(merchant_a, merchant_user_a):
    kept, revoked = sign_in(name="Kept").json(), sign_in(name="Leaked").json()
    client = with_key(kept["token"])

    response = client.delete(f"{API}/tokens/{revoked['id']}/")

    assert response.status_code == 204
    assert with_key(revoked["token"]).get(f"{API}/decisions/").json() == {"detail": "Invalid token."}
    assert [row["id"] for row in client.get(f"{API}/tokens/").json()["results"]] == [kept["id"]]
    (event,) = events(AuditVerb.API_TOKEN_REVOKED)
    assert (event.actor, event.target_id, event.merchant_id) == (merchant_user_a, merchant_user_a.pk, merchant_a.pk)
    assert event.before["token"] == revoked["id"]
    assert (event.before["name"], event.before["prefix"]) == ("Leaked", revoked["token"][:8])
    assert revoked["token"][8:] not in json.dumps(event.before)


def test_a_key_may_revoke_itself(merchant_a):
    body = sign_in().json()
    client = with_key(body["token"])

    assert client.delete(f"{API}/tokens/{body['id']}/").status_code == 204
    assert client.get(f"{API}/tokens/").status_code == 401


def test_another_merchants_token_is_404_and_nothing_changes(merchant_a, merchant_b):
    mine = with_key(sign_in().json()["token"])
    theirs = sign_in(username="merchant-b").json()
    before = list(ApiToken.objects.order_by("public_id").values_list("public_id", "name", "expiry"))

    response = mine.delete(f"{API}/tokens/{theirs['id']}/")

    assert response.status_code == 404
    assert response.json() == mine.delete(f"{API}/tokens/{NOBODY}/").json()
    assert list(ApiToken.objects.order_by("public_id").values_list("public_id", "name", "expiry")) == before
    assert with_key(theirs["token"]).get(f"{API}/decisions/").status_code == 200
    assert not events(AuditVerb.API_TOKEN_REVOKED)


def test_an_id_that_is_not_a_uuid_is_404(merchant_a):
    client = with_key(sign_in().json()["token"])

    for bad in ("1", "not-a-uuid", "bo_abc"):
        assert client.delete(f"{API}/tokens/{bad}/").status_code == 404, bad
    assert ApiToken.objects.count() == 1


# --- The audit trail --------------------------------------------------------------------------------


def test_signing_in_through_the_api_is_audited_with_the_token_name_and_address(merchant_a, merchant_user_a):
    body = sign_in(name="ERP sync").json()

    (issued,) = events(AuditVerb.API_TOKEN_ISSUED)
    (signed_in,) = events(AuditVerb.API_SIGNED_IN)
    for event in (issued, signed_in):
        assert (event.actor, event.target_id, event.merchant_id) == (merchant_user_a, merchant_user_a.pk, merchant_a.pk)
        assert event.after["token"] == body["id"]
        assert (event.after["name"], event.after["prefix"]) == ("ERP sync", body["token"][:8])
    assert issued.after["via"] == "api"
    assert signed_in.reason == "via API from 127.0.0.1"


def test_a_key_issued_by_the_service_for_the_page_is_not_an_api_sign_in(merchant_a, merchant_user_a):
    token, key = issue_api_token(user=merchant_user_a, name="From the page", via=IssuedVia.BACKOFFICE)

    assert token.digest == hashlib.sha512(key.encode()).hexdigest()
    assert [event.after["via"] for event in events(AuditVerb.API_TOKEN_ISSUED)] == ["backoffice"]
    assert not events(AuditVerb.API_SIGNED_IN)


@pytest.mark.parametrize("query", ["page=", "page=1&page=2"])
def test_the_token_list_reads_its_page_as_every_list_does(merchant_a, query):
    response = with_key(sign_in().json()["token"]).get(f"{API}/tokens/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == ["page"]
