"""Security when DEBUG is off: the deploy check, headers, cookies, and no inline script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def test_the_deploy_check_finds_nothing_with_the_production_settings(tmp_path):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for their own process; production does not.
    env = {
        **{name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "-production-like-secret-of-sufficient-length-" + "x9" * 10,
        "ALLOWED_HOSTS": "backoffice.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def assert_security_headers(response):
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_page_carries_the_security_headers(client, moderator):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:queue"), secure=True)
    assert response.status_code == 200
    assert_security_headers(response)


def test_an_api_response_carries_the_security_headers(client):
    response = client.get("/api/v1/decisions/", secure=True)
    assert response.status_code == 401
    assert_security_headers(response)


def test_the_api_docs_page_loads_its_script_from_a_file(client, merchant_user_a):
    client.force_login(merchant_user_a)
    response = client.get(reverse("api-docs"), secure=True)
    assert response.status_code == 200
    assert_security_headers(response)
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>\s*\S", response.content), "an inline script"


def test_no_template_has_inline_script_style_or_event_handlers():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(f"{path.name}: inline <script>")
        if re.search(r"<style\b", text):
            offenders.append(f"{path.name}: <style>")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{path.name}: on…= handler")
        if re.search(r"\sstyle\s*=", text):
            offenders.append(f"{path.name}: style attribute")
    assert offenders == []


def test_session_and_csrf_cookies_are_secure_httponly_and_same_site(client, moderator):
    response = client.post(
        reverse("login"), {"username": "moderator", "password": "demo"}, secure=True, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert session["max-age"] == "" and session["expires"] == ""  # ends with the browser, or 30 idle minutes
    csrf = response.cookies["csrftoken"]  # rotated at login
    assert csrf["secure"] and csrf["samesite"] == "Lax"


@pytest.mark.parametrize("path", ["/backoffice/", "/backoffice/queue/", "/backoffice/audit/", "/admin/"])
def test_a_merchant_user_is_kept_out_of_staff_pages(client, merchant_user_a, path):
    client.force_login(merchant_user_a)
    response = client.get(path)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert "/queue/" not in response["Location"] and "/audit/" not in response["Location"]
