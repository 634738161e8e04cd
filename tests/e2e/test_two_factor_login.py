"""A policy admin turns on two-factor authentication and signs in with a code, in chromium."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def current_code(device: TOTPDevice, drift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


def test_setting_up_two_factor_and_signing_in_with_it(live_server, page, login, policy_admin, settings, tmp_path):
    settings.TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS = True
    url = live_server.url

    # Signing in with the password lands on the set-up page: policy admins must use it.
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", "policyadmin")
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/accounts/two-factor/setup/")
    assert page.locator(".warning-box").is_visible()
    # The QR code is an image the CSP allows; the key is shown for typing.
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.locator("#totp-secret").inner_text()
    device = TOTPDevice.objects.get(user=policy_admin, confirmed=False)
    assert base64.b32decode(secret) == device.bin_key
    page.screenshot(path=str(tmp_path / "two-factor-setup.png"), full_page=True)

    page.fill("#id_token", current_code(device))
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/backoffice/profile/")
    assert "On:" in page.locator("#two-factor-state").inner_text()

    # Sign out; signing in again asks for a code before any page.
    page.click("text=Sign out")
    page.wait_for_url(f"{url}/accounts/login/")
    page.fill("#id_username", "policyadmin")
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/accounts/two-factor/?next=/backoffice/")
    page.goto(f"{url}/backoffice/policies/")
    page.wait_for_url(f"{url}/accounts/two-factor/?next=/backoffice/policies/")

    page.fill("#id_token", "000000" if current_code(device) != "000000" else "111111")
    page.click("button[type=submit]")
    assert "That code is not right" in page.locator("#token-errors").inner_text()

    device.refresh_from_db()
    device.throttle_reset()
    page.fill("#id_token", current_code(device, drift=1))
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/backoffice/policies/")
    assert page.locator("h1").first.is_visible()
