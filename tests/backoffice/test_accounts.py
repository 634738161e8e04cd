"""Staff accounts: every access audited, lock-out after failed logins, two-factor
authentication, sessions that end when idle, and the language from the profile."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Profile
from moderation.models import AuditEvent, AuditVerb

LOGIN = "/accounts/login/"


def sign_in(client, username="moderator", password="demo", address="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def code_for(device: TOTPDevice, shift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=shift):06d}"


def events(verb):
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


# --- The audit trail of access -------------------------------------------------------------


def test_login_and_logout_are_audit_events(client, moderator):
    assert sign_in(client).status_code == 302
    client.post("/accounts/logout/", REMOTE_ADDR="10.0.0.1")
    login, logout = events(AuditVerb.LOGIN), events(AuditVerb.LOGOUT)
    assert [(e.actor, e.target_id, e.reason) for e in login] == [(moderator, moderator.pk, "from 10.0.0.1")]
    assert [(e.actor, e.target_id) for e in logout] == [(moderator, moderator.pk)]


def test_a_failed_login_is_an_audit_event_naming_the_account_tried(client, moderator):
    response = sign_in(client, password="wrong")
    assert response.status_code == 200 and b"Please enter a correct username and password" in response.content
    sign_in(client, username="nobody", password="wrong")
    failed = events(AuditVerb.LOGIN_FAILED)
    assert [(e.actor, e.actor_name, e.target_id, e.target_repr) for e in failed] == [
        (None, "anonymous:moderator", moderator.pk, "moderator"),
        (None, "anonymous:nobody", 0, "no such user: nobody"),
    ]
    assert failed[0].reason == "1 failed sign-in from 10.0.0.1"


# --- Lock-out ------------------------------------------------------------------------------


def test_five_failures_lock_the_account_with_a_clear_message(client, moderator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, password="wrong").status_code == 200
    locked = sign_in(client, password="wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-ins: signing in is locked for 15 minutes." in locked.content.decode()
    assert locked["Retry-After"] == "900"
    # Locked means locked: the right password does not get in either.
    assert sign_in(client).status_code == 429
    assert "_auth_user_id" not in client.session
    assert len(events(AuditVerb.LOCKED_OUT)) >= 1


def test_the_lock_holds_for_the_address_that_failed_not_for_the_owner_elsewhere(client, moderator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong", address="10.0.0.9")
    assert sign_in(client, address="10.0.0.9").status_code == 429
    assert sign_in(client, address="10.0.0.1").status_code == 302


def test_an_administrator_unlocks_and_the_user_signs_in(client, moderator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong")
    assert sign_in(client).status_code == 429
    axes_reset(username="moderator")  # what `manage.py axes_reset_username moderator` does
    assert sign_in(client).status_code == 302
    assert not AccessAttempt.objects.filter(username="moderator").exists()


def test_the_lock_ends_after_the_cool_off(client, moderator, settings, travel):
    start = timezone.now()
    travel.to(start)
    # django-axes imported ``now`` by name: point its two copies at the same clock.
    stack = ExitStack()
    for where in ("axes.attempts.now", "axes.handlers.proxy.now"):
        stack.enter_context(mock.patch(where, new=travel.now))
    with stack:
        lock_then_wait(client, settings, travel, start)


def lock_then_wait(client, settings, travel, start):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong")
    travel.to(start + settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    assert sign_in(client).status_code == 429
    # A try refused while locked is not counted again: the cool-off runs from the lock.
    travel.to(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    assert sign_in(client).status_code == 302


def test_the_api_token_endpoint_is_locked_too_and_answers_json(client, merchant_user_a, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/api/v1/auth/token/", {"username": "merchant-a", "password": "wrong"})
    response = client.post("/api/v1/auth/token/", {"username": "merchant-a", "password": "demo"})
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many failed sign-ins: signing in is locked for 15 minutes."}


# --- Sessions end when idle ----------------------------------------------------------------


def test_a_session_ends_after_thirty_idle_minutes_and_each_request_renews_it(client, moderator, travel):
    start = timezone.now()
    travel.to(start)
    sign_in(client)
    for minutes in (20, 40):  # 20 idle minutes, twice: each page renews the session
        travel.to(start + timedelta(minutes=minutes))
        assert client.get("/backoffice/queue/").status_code == 200
    travel.to(start + timedelta(minutes=40 + 31))
    response = client.get("/backoffice/queue/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- Two-factor authentication -------------------------------------------------------------


def set_up_two_factor(client) -> TOTPDevice:
    page = client.get(reverse("two-factor-setup"))
    assert page.status_code == 200 and page.context["qr_data_uri"].startswith("data:image/svg+xml;base64,")
    device = TOTPDevice.objects.get(confirmed=False)
    wrong = client.post(reverse("two-factor-setup"), {"token": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()
    right = client.post(reverse("two-factor-setup"), {"token": code_for(device)})
    assert right.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_setting_up_then_signing_in_with_a_code(client, moderator):
    sign_in(client)
    device = set_up_two_factor(client)
    assert [e.target_id for e in events(AuditVerb.TWO_FACTOR_ENABLED)] == [moderator.pk]
    client.post("/accounts/logout/")

    assert sign_in(client).status_code == 302
    # Signed in with the password, but no page opens before the code.
    response = client.get("/backoffice/queue/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/?next=/backoffice/queue/"
    wrong = client.post("/accounts/two-factor/", {"token": "12345x", "next": "/backoffice/queue/"})
    assert wrong.status_code == 200
    assert client.get("/backoffice/queue/").status_code == 302
    assert events(AuditVerb.LOGIN_FAILED)[-1].actor_name == "anonymous:moderator"

    device.refresh_from_db()
    device.throttle_reset()
    verified = client.post("/accounts/two-factor/", {"token": code_for(device, shift=1), "next": "/backoffice/queue/"})
    assert verified.status_code == 302 and verified["Location"] == "/backoffice/queue/"
    assert client.get("/backoffice/queue/").status_code == 200


def test_the_code_page_never_redirects_off_site(client, moderator):
    sign_in(client)
    device = set_up_two_factor(client)
    client.post("/accounts/logout/")
    sign_in(client)
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post("/accounts/two-factor/", {"token": code_for(device, 1), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("backoffice:home")


def test_policy_admins_must_set_it_up_when_the_setting_says_so(client, policy_admin, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS = True
    sign_in(client, username="policyadmin")
    response = client.get("/backoffice/policies/")
    assert response.status_code == 302 and response["Location"] == reverse("two-factor-setup")
    set_up_two_factor(client)
    assert client.get("/backoffice/policies/").status_code == 200
    # And cannot turn it off.
    client.post(reverse("backoffice:two-factor-disable"))
    assert TOTPDevice.objects.filter(user=policy_admin, confirmed=True).exists()
    assert not events(AuditVerb.TWO_FACTOR_DISABLED)


def test_a_moderator_without_it_is_not_asked_and_may_turn_it_off(client, moderator, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS = True
    sign_in(client)
    assert client.get("/backoffice/queue/").status_code == 200
    set_up_two_factor(client)
    response = client.post(reverse("backoffice:two-factor-disable"))
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=moderator).exists()
    assert [e.target_id for e in events(AuditVerb.TWO_FACTOR_DISABLED)] == [moderator.pk]


# --- Language ------------------------------------------------------------------------------


def test_the_language_comes_from_the_profile_before_the_browser(client, moderator):
    sign_in(client)
    english = client.get("/backoffice/queue/", HTTP_ACCEPT_LANGUAGE="en")
    assert english["Content-Language"] == "en"
    chinese_browser = client.get("/backoffice/queue/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert chinese_browser["Content-Language"] == "zh-hans"

    assert client.post(reverse("backoffice:profile"), {"language": "zh-hans"}).status_code == 302
    assert Profile.objects.get(user=moderator).language == "zh-hans"
    assert client.get("/backoffice/queue/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "zh-hans"
    event = events(AuditVerb.PREFERENCES_CHANGED)[-1]
    assert (event.before, event.after) == ({"language": ""}, {"language": "zh-hans"})

    # Saved on the profile: the next sign-in, from any browser, opens in it.
    client.post("/accounts/logout/")
    sign_in(client)
    assert client.get("/backoffice/queue/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "zh-hans"


def test_an_unknown_language_is_refused_by_the_field(client, moderator):
    sign_in(client)
    response = client.post(reverse("backoffice:profile"), {"language": "klingon"})
    assert response.status_code == 200 and "language" in response.context["form"].errors
    assert not Profile.objects.filter(user=moderator).exists()


@pytest.mark.parametrize("path", ["/backoffice/profile/", "/accounts/two-factor/setup/"])
def test_account_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
