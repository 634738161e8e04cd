"""The back-office page of a merchant's API tokens: the list, a new token (its key shown once), revoking one.

The token endpoint and the API's list and revocation are tests/api/test_api_tokens.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from moderation.models import AuditEvent, AuditVerb
from sellers.models import ApiToken
from sellers.tokens import IssuedVia, issue_api_token

pytestmark = pytest.mark.django_db

PAGE = "/backoffice/api-token/"
MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
KEY_BOX = re.compile(r'<input type="text" id="api-token" value="(bo_[0-9a-f]{64})" readonly')


def revoke_url(token: ApiToken | str) -> str:
    return f"{PAGE}{getattr(token, 'public_id', token)}/revoke/"


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/decisions/").status_code == 200


def events(verb) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


@pytest.fixture
def seller(client, merchant_a, merchant_user_a):
    """Merchant A's seller, signed in to the back office."""
    client.force_login(merchant_user_a)
    return client


@pytest.fixture
def tokens_of_both(merchant_a, merchant_b, merchant_user_a, merchant_user_b, travel):
    """A: one key used once, one expired; B: one key. Issued through the service, at MOMENT."""
    travel.to(MOMENT - timedelta(days=40))
    expired, _ = issue_api_token(user=merchant_user_a, name="Old feed", via=IssuedVia.BACKOFFICE)
    travel.to(MOMENT)
    used, used_key = issue_api_token(user=merchant_user_a, name="ERP sync", via=IssuedVia.BACKOFFICE)
    theirs, their_key = issue_api_token(user=merchant_user_b, name="Gadget stock feed", via=IssuedVia.BACKOFFICE)
    travel.to(MOMENT + timedelta(hours=2))
    assert works(used_key)
    return {"used": used, "expired": expired, "theirs": theirs, "their_key": their_key}


# --- The list ---------------------------------------------------------------------------------------


def test_it_lists_the_merchants_tokens_with_prefix_dates_and_last_use(seller, tokens_of_both):
    used, expired, theirs = tokens_of_both["used"], tokens_of_both["expired"], tokens_of_both["theirs"]

    response = seller.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr id="token-([0-9a-f-]+)">(.*?)</tr>', html, re.S)
    assert [token_id for token_id, _row in rows] == [str(used.public_id), str(expired.public_id)]
    used_row, expired_row = (row for _id, row in rows)
    assert "ERP sync" in used_row and f"<code>{used.display_prefix}…</code>" in used_row
    assert "2026-03-02 09:30" in used_row  # created
    assert "2026-04-01 09:30" in used_row  # expires, settings.API_TOKEN_DAYS later
    assert "2026-03-02 11:30" in used_row  # last used
    assert "Never" in expired_row and "Expired" in expired_row and "Expired" not in used_row
    assert "Gadget stock feed" not in html and str(theirs.public_id) not in html and theirs.display_prefix not in html
    for token in (used, expired):
        assert token.digest not in html and token.token_key not in html  # 8 characters shown, not the 15 looked up


def test_a_merchant_without_tokens_is_told_so(seller):
    response = seller.get(PAGE)

    assert "You have no API token yet." in response.content.decode()
    assert 'id="api-token"' not in response.content.decode()


def test_the_page_is_403_for_staff_and_sends_anonymous_to_login(client, moderator, tokens_of_both):
    token = tokens_of_both["used"]
    for response in (client.get(PAGE), client.post(revoke_url(token), {"confirm": "yes"})):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(moderator)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"name": "Mine"}).status_code == 403
    assert client.post(revoke_url(token), {"confirm": "yes"}).status_code == 403
    assert ApiToken.objects.count() == 3 and not ApiToken.objects.filter(user=moderator).exists()


# --- A new token ------------------------------------------------------------------------------------


def test_creating_a_token_shows_its_key_once_with_a_warning(seller, merchant_a, merchant_user_a):
    response = seller.post(PAGE, {"name": "  Warehouse sync  "})

    assert response.status_code == 200
    html = response.content.decode()
    key = KEY_BOX.search(html)[1]
    assert "Copy it now: it will not be shown again." in html
    assert "no-store" in response["Cache-Control"]  # the answer holding a key is kept by no cache
    token = ApiToken.objects.get(user=merchant_user_a)
    assert token.name == "Warehouse sync" and key.startswith(token.token_key)
    assert key not in str(list(ApiToken.objects.values()))
    assert works(key)
    (event,) = events(AuditVerb.API_TOKEN_ISSUED)
    assert (event.actor, event.target_id, event.merchant_id) == (merchant_user_a, merchant_user_a.pk, merchant_a.pk)
    assert event.after["via"] == "backoffice" and event.after["name"] == "Warehouse sync"
    assert not events(AuditVerb.API_SIGNED_IN)  # the session signed in already
    # Never again: the page read afterwards lists the token without its key.
    again = seller.get(PAGE).content.decode()
    assert key not in again and key[8:] not in again and "Warehouse sync" in again


def test_each_token_made_on_the_page_is_new(seller, merchant_user_a):
    first = KEY_BOX.search(seller.post(PAGE, {"name": "One"}).content.decode())[1]
    second = KEY_BOX.search(seller.post(PAGE, {"name": "Two"}).content.decode())[1]

    assert first != second and works(first) and works(second)
    assert ApiToken.objects.filter(user=merchant_user_a).count() == 2


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "This field cannot be blank."),
        ("   ", "This field cannot be blank."),
        ("x" * 101, "Ensure this value has at most 100 characters (it has 101)."),
        ("ERP\x07sync", "The name contains the control or invisible character U+0007 at character 4."),
        ("\u202eERP", "The name contains the control or invisible character U+202E at character 1."),
    ],
    ids=["empty", "blank", "too long", "bell", "RTL override"],
)
def test_a_bad_name_is_refused_with_its_error_and_nothing_is_issued(seller, name, message):
    response = seller.post(PAGE, {"name": name})

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'id="api-token"' not in html
    assert not ApiToken.objects.exists()
    assert not events(AuditVerb.API_TOKEN_ISSUED)


def test_the_limit_of_tokens_in_force_is_explained(seller, merchant_user_a, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 1}
    seller.post(PAGE, {"name": "One"})

    response = seller.post(PAGE, {"name": "Two"})

    assert "This account has 1 API token in force, the most it may have: revoke it first." in response.content.decode()
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["One"]


def test_with_two_factor_the_page_opens_once_the_session_gave_its_code(client, merchant_a, merchant_user_a):
    device = TOTPDevice.objects.create(user=merchant_user_a, name="phone", confirmed=True)
    client.post("/accounts/login/", {"username": "merchant-a", "password": "demo"})

    refused = client.post(PAGE, {"name": "Before the code"})
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/two-factor/")
    assert not ApiToken.objects.exists()

    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    assert client.post("/accounts/two-factor/", {"token": code}).status_code == 302
    response = client.post(PAGE, {"name": "After the code"})  # the page asks for no second code
    assert works(KEY_BOX.search(response.content.decode())[1])


# --- Revoking ---------------------------------------------------------------------------------------


def test_revoking_removes_the_token_and_its_key_stops_working(seller, merchant_a, merchant_user_a):
    key = KEY_BOX.search(seller.post(PAGE, {"name": "Leaked"}).content.decode())[1]
    token = ApiToken.objects.get(user=merchant_user_a)

    response = seller.post(revoke_url(token), {"confirm": "yes"}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "The token “Leaked” is revoked: it no longer works." in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not works(key)
    (event,) = events(AuditVerb.API_TOKEN_REVOKED)
    assert (event.actor, event.target_id, event.merchant_id) == (merchant_user_a, merchant_user_a.pk, merchant_a.pk)
    assert event.before["token"] == str(token.public_id) and event.before["name"] == "Leaked"
    assert event.before["prefix"] == token.display_prefix and key[8:] not in str(event.before)


def test_revoking_needs_the_box_ticked(seller, tokens_of_both):
    token = tokens_of_both["used"]

    response = seller.post(revoke_url(token), follow=True)

    assert "Tick the box to confirm: a revoked token stops working at once." in response.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert not events(AuditVerb.API_TOKEN_REVOKED)


def test_another_merchants_token_is_404_and_nothing_changes(seller, tokens_of_both):
    theirs = tokens_of_both["theirs"]
    before = list(ApiToken.objects.order_by("public_id").values_list("public_id", "name", "expiry", "last_used_at"))

    assert seller.post(revoke_url(theirs), {"confirm": "yes"}).status_code == 404
    assert seller.post(revoke_url("00000000-0000-4000-8000-000000000000"), {"confirm": "yes"}).status_code == 404

    after = list(ApiToken.objects.order_by("public_id").values_list("public_id", "name", "expiry", "last_used_at"))
    assert after == before
    assert works(tokens_of_both["their_key"])
    assert not events(AuditVerb.API_TOKEN_REVOKED)


def test_revoking_takes_only_a_post_with_the_csrf_token(merchant_user_a, tokens_of_both):
    token = tokens_of_both["used"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(merchant_user_a)

    assert browser.get(revoke_url(token)).status_code == 405
    assert browser.post(revoke_url(token), {"confirm": "yes"}).status_code == 403  # no CSRF token
    assert ApiToken.objects.filter(pk=token.pk).exists()

    page = browser.get(PAGE).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    assert browser.post(revoke_url(token), {"confirm": "yes", "csrfmiddlewaretoken": csrf}).status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
