"""Sign-in lock-outs that protect the owner: attacks on the form and on the API's token endpoint.

Failed sign-ins lock the pair of username and client address, so an attacker elsewhere cannot
lock the owner out; one address failing for too many usernames (password spraying) has every
sign-in refused until its window ends; failures are audited a few rows per window with their
count; the client's address is the one our proxies saw; no username makes a 500.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import import_module

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.utils import timezone

from backoffice import security
from backoffice.models import SignInFailure
from backoffice.tasks import summarize_sign_in_failures
from moderation.models import AuditEvent, AuditVerb
from tests.concurrency import run_in_threads

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ATTACKER, OWNER = "10.0.0.9", "10.0.0.1"
# The form answers a wrong password with the form again (200); the token endpoint with a 400.
REFUSED = {"form": 200, "token": 400}
SIGNED_IN = {"form": 302, "token": 200}


def sign_in(client, path, username, password="wrong", address=ATTACKER, **headers):
    if path == "form":
        return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)
    body = json.dumps({"username": username, "password": password})
    return client.post(TOKEN, body, content_type="application/json", REMOTE_ADDR=address, **headers)


def tokens_issued() -> int:
    """API tokens in the database, whichever model holds them (the token scheme is changing)."""
    labels = ("authtoken.Token", "sellers.ApiToken")
    return sum(model.objects.count() for model in apps.get_models() if model._meta.label in labels)


def signed_in(client, path, response) -> bool:
    if path == "form":
        return response.status_code == 302 and "_auth_user_id" in client.session
    return response.status_code == 200 and tokens_issued() > 0


def events(*verbs):
    return list(AuditEvent.objects.filter(verb__in=verbs).order_by("id"))


@pytest.fixture
def mid_window(db, travel):
    """A minute into a sign-in window, the clock stopped: a test's failures all fall in one window."""
    return travel.to(security.sign_in_window(timezone.now()) + timedelta(minutes=1))


both_paths = pytest.mark.parametrize("path", ["form", "token"])


# --- The lock-out is the attacker's, not the owner's --------------------------------------------


@both_paths
def test_an_attacker_failing_from_another_address_does_not_lock_the_owner_out(client, merchant_a, settings, path):
    answers = [sign_in(client, path, "merchant-a").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [REFUSED[path]] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the last one locks

    response = sign_in(client, path, "merchant-a", password="demo", address=OWNER)

    assert response.status_code == SIGNED_IN[path]
    assert signed_in(client, path, response)


@both_paths
def test_the_attackers_own_address_is_locked_for_that_username_even_with_the_right_password(
    client, merchant_a, settings, path
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, path, "merchant-a")

    response = sign_in(client, path, "merchant-a", password="demo")

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert tokens_issued() == 0 and "_auth_user_id" not in client.session
    # One lock: the pair of username and address, nothing else.
    assert list(AccessAttempt.objects.values_list("username", "ip_address")) == [("merchant-a", ATTACKER)]


@both_paths
def test_another_username_from_the_attackers_address_still_signs_in(client, merchant_a, moderator, settings, path):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "form", "moderator")

    assert signed_in(client, path, sign_in(client, path, "merchant-a", password="demo"))


# --- Password spraying: one address, many usernames --------------------------------------------


@both_paths
def test_spraying_twelve_usernames_blocks_the_address_even_for_a_right_password(
    client, merchant_a, settings, mid_window, path
):
    settings.LOGIN_ADDRESS_USERNAME_LIMIT = 10
    answers = [sign_in(client, path, f"user-{n}").status_code for n in range(12)]

    assert answers == [REFUSED[path]] * 10 + [429, 429]
    right_password = sign_in(client, path, "merchant-a", password="demo")
    assert right_password.status_code == 429
    # Blocked until the window ends, 14 minutes from a minute into it.
    assert right_password["Retry-After"] == "840"
    assert tokens_issued() == 0 and "_auth_user_id" not in client.session
    # Another address is not concerned.
    assert signed_in(client, path, sign_in(client, path, "merchant-a", password="demo", address=OWNER))


def test_the_blocked_page_says_why_and_the_api_answers_json(client, merchant_a, settings, mid_window):
    for n in range(settings.LOGIN_ADDRESS_USERNAME_LIMIT):
        sign_in(client, "form", f"user-{n}")

    page = sign_in(client, "form", "merchant-a", password="demo")
    api = sign_in(client, "token", "merchant-a", password="demo")

    assert page.status_code == 429 and api.status_code == 429
    assert "failed for too many different accounts" in page.content.decode()
    assert "Too many failed sign-ins: signing in is locked for 14 minutes." in page.content.decode()
    assert api.json()["detail"] == "Too many failed sign-ins: signing in is locked for 14 minutes."


def test_the_block_ends_with_its_window(client, merchant_a, settings, mid_window, travel):
    for n in range(settings.LOGIN_ADDRESS_USERNAME_LIMIT):
        sign_in(client, "form", f"user-{n}")
    assert sign_in(client, "form", "merchant-a", password="demo").status_code == 429

    travel.to(mid_window + settings.AXES_COOLOFF_TIME - timedelta(minutes=1))

    assert sign_in(client, "form", "merchant-a", password="demo").status_code == 302


def test_a_refused_try_is_counted_once_and_under_the_address(client, merchant_a, settings, mid_window):
    limit = settings.LOGIN_ADDRESS_USERNAME_LIMIT
    for n in range(limit + 30):
        sign_in(client, "token" if n % 2 else "form", f"user-{n}")

    # axes recorded the tries it judged, not the ones refused before it.
    assert AccessAttempt.objects.count() == limit
    rows = dict(SignInFailure.objects.filter(address=ATTACKER).values_list("username", "count"))
    assert len(rows) == limit + 1
    assert rows[SignInFailure.ANY_USERNAME] == 30
    assert all(count == 1 for username, count in rows.items() if username != SignInFailure.ANY_USERNAME)


def test_failures_below_the_limit_block_nothing(client, merchant_a, settings, mid_window):
    for n in range(settings.LOGIN_ADDRESS_USERNAME_LIMIT - 1):
        sign_in(client, "form", f"user-{n}")
        sign_in(client, "form", f"user-{n}")  # the same username twice is still one username

    assert signed_in(client, "token", sign_in(client, "token", "merchant-a", password="demo"))


# --- The audit trail: a few rows per window, with the count -------------------------------------


@both_paths
def test_fifty_tries_for_a_locked_username_add_no_rows_and_the_sweep_sums_them_up(
    client, merchant_a, merchant_user_a, settings, mid_window, travel, path
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, path, "merchant-a")
    failed, locked = events(AuditVerb.LOGIN_FAILED), events(AuditVerb.LOCKED_OUT)
    assert [event.reason for event in failed] == [f"1 failed sign-in from {ATTACKER}"]
    assert [(event.actor_name, event.target_id, event.after["failures"]) for event in locked] == [
        ("anonymous:merchant-a", merchant_user_a.pk, 5)
    ]
    assert locked[0].reason.startswith(f"locked out from {ATTACKER}: 5 failed sign-ins between ")
    before = AuditEvent.objects.count()

    for _ in range(50):
        assert sign_in(client, path, "merchant-a").status_code == 429

    assert AuditEvent.objects.count() == before
    travel.to(mid_window + settings.AXES_COOLOFF_TIME + security.SWEEP_GRACE)
    assert summarize_sign_in_failures() == 1
    summary = events(AuditVerb.LOGIN_FAILED)[-1]
    assert summary.reason.startswith(f"55 failed sign-ins from {ATTACKER} between ")
    assert (summary.target_id, summary.after["failures"], summary.after["address"]) == (
        merchant_user_a.pk,
        55,
        ATTACKER,
    )
    assert AuditEvent.objects.count() == before + 1
    assert not SignInFailure.objects.exists()


def test_a_spraying_address_is_audited_per_username_and_once_as_blocked(client, settings, mid_window, travel):
    limit = settings.LOGIN_ADDRESS_USERNAME_LIMIT
    for n in range(limit + 40):
        sign_in(client, "form", f"user-{n}")

    failed = events(AuditVerb.LOGIN_FAILED)
    assert [event.actor_name for event in failed] == [f"anonymous:user-{n}" for n in range(limit)]
    [blocked] = events(AuditVerb.LOCKED_OUT)
    assert (blocked.actor_name, blocked.target_id, blocked.target_repr) == (
        "anonymous:*",
        0,
        "any username (the address is blocked)",
    )
    assert blocked.reason.startswith(f"every sign-in from {ATTACKER} refused until ")
    assert f"failed sign-ins for {limit} usernames since " in blocked.reason

    travel.to(mid_window + settings.AXES_COOLOFF_TIME + security.SWEEP_GRACE)
    assert summarize_sign_in_failures() == 1  # each username failed once: its first row said all
    summary = events(AuditVerb.LOGIN_FAILED)[-1]
    assert summary.reason.startswith(f"40 sign-ins for other usernames refused from {ATTACKER} while it was blocked")


def test_the_sweep_leaves_open_windows_and_runs_twice_harmlessly(client, settings, mid_window, travel):
    sign_in(client, "form", "nobody")
    sign_in(client, "form", "nobody")

    assert summarize_sign_in_failures() == 0  # the window is open
    assert SignInFailure.objects.get().count == 2
    travel.to(mid_window + settings.AXES_COOLOFF_TIME + security.SWEEP_GRACE)
    assert summarize_sign_in_failures() == 1
    assert summarize_sign_in_failures() == 0
    reasons = [event.reason for event in events(AuditVerb.LOGIN_FAILED)]
    assert reasons[0] == f"1 failed sign-in from {ATTACKER}"
    assert reasons[1].startswith(f"2 failed sign-ins from {ATTACKER} between ")
    assert len(reasons) == 2


def test_a_window_told_in_full_gets_no_summary(client, mid_window, settings, travel):
    sign_in(client, "form", "nobody")
    travel.to(mid_window + settings.AXES_COOLOFF_TIME + security.SWEEP_GRACE)

    assert summarize_sign_in_failures() == 0
    assert len(events(AuditVerb.LOGIN_FAILED)) == 1
    assert not SignInFailure.objects.exists()


def test_usernames_in_the_trail_are_cut_and_stripped_of_control_characters(client, db):
    sign_in(client, "form", "evil\u202egnp.exe\x07" + "x" * 300)

    [event] = events(AuditVerb.LOGIN_FAILED)
    username = "evilgnp.exe" + "x" * (security.USERNAME_MAX_LENGTH - len("evilgnp.exe"))
    assert event.actor_name == f"anonymous:{username}"[:150]
    assert event.target_repr == f"no such user: {username}"
    assert SignInFailure.objects.get().username == username


def test_the_sweep_runs_every_minute_from_beat(db):
    from django_celery_beat.models import PeriodicTask

    from backoffice.celery import app

    # The migration's own function (idempotent): a transactional test's flush may have emptied the table.
    import_module("backoffice.migrations.0004_beat_sign_in_summaries").create_schedule(apps, None)
    task = PeriodicTask.objects.get(name="Summarize failed sign-ins")
    assert (task.task, task.interval.every, task.interval.period) == (
        "backoffice.summarize_sign_in_failures",
        60,
        "seconds",
    )
    app.loader.import_default_modules()
    assert "backoffice.summarize_sign_in_failures" in app.tasks


# --- One counter for every process -------------------------------------------------------------


@pytest.mark.postgres
def test_failures_counted_at_once_by_many_processes_all_land_on_one_row(transactional_db):
    at = timezone.now()

    firsts = run_in_threads(
        lambda: security.count_failure(username="merchant-a", address=ATTACKER, at=at)[1], [()] * 12
    )

    assert firsts.count(True) == 1
    assert SignInFailure.objects.get().count == 12


@pytest.mark.postgres
def test_a_lock_out_told_by_many_processes_at_once_is_one_event(transactional_db, merchant_user_a):
    key, _first = security.count_failure(username="merchant-a", address=ATTACKER, at=timezone.now())

    written = run_in_threads(
        lambda: security._record_window_event(
            key, verb=AuditVerb.LOCKED_OUT, reason=lambda row: "locked", claim_lock=True
        ),
        [()] * 8,
    )

    assert written.count(True) == 1
    assert AuditEvent.objects.filter(verb=AuditVerb.LOCKED_OUT).count() == 1


@pytest.mark.postgres
def test_two_sweeps_at_once_summarize_each_window_once(transactional_db, travel):
    start = travel.to(security.sign_in_window(timezone.now()) + timedelta(minutes=1))
    for n in range(30):
        for _ in range(2):
            security.count_failure(username=f"user-{n}", address=ATTACKER, at=start)
    travel.to(start + timedelta(hours=1))

    written = run_in_threads(lambda: security.summarize_sign_in_failures(), [()] * 2)

    assert sum(written) == 30
    assert AuditEvent.objects.filter(verb=AuditVerb.LOGIN_FAILED).count() == 30
    assert not SignInFailure.objects.exists()


# --- The client's address behind our proxy -----------------------------------------------------


PROXY = {"BEHIND_PROXY": True, "TRUSTED_PROXY_HOPS": 1}


@both_paths
def test_behind_the_proxy_the_trail_and_the_lock_name_the_address_the_proxy_saw(client, merchant_a, settings, path):
    settings.BEHIND_PROXY, settings.TRUSTED_PROXY_HOPS = True, 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client writes its own first entry, a new one each time: it is not believed.
        sign_in(client, path, "merchant-a", address="10.9.9.9", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7")

    assert [event.reason for event in events(AuditVerb.LOGIN_FAILED)] == ["1 failed sign-in from 203.0.113.7"]
    assert events(AuditVerb.LOCKED_OUT)[0].after["address"] == "203.0.113.7"
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.7"]
    locked = sign_in(
        client, path, "merchant-a", "demo", address="10.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7"
    )
    assert locked.status_code == 429
    owner = sign_in(client, path, "merchant-a", "demo", address="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert signed_in(client, path, owner)
    if path == "form":
        assert events(AuditVerb.LOGIN)[-1].reason == "from 198.51.100.1"


def test_spraying_behind_the_proxy_is_counted_per_client_not_per_proxy(client, merchant_a, settings, mid_window):
    settings.BEHIND_PROXY, settings.TRUSTED_PROXY_HOPS = True, 1
    for n in range(settings.LOGIN_ADDRESS_USERNAME_LIMIT):
        sign_in(client, "form", f"user-{n}", address="10.9.9.9", HTTP_X_FORWARDED_FOR=f"7.7.7.{n}, 203.0.113.7")

    blocked = sign_in(client, "form", "merchant-a", "demo", address="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    other_client = sign_in(
        client, "token", "merchant-a", "demo", address="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )

    assert blocked.status_code == 429
    assert other_client.status_code == 200


def test_without_the_proxy_setting_x_forwarded_for_is_ignored(client, merchant_a, settings):
    settings.BEHIND_PROXY = False
    sign_in(client, "form", "merchant-a", address=ATTACKER, HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert [event.reason for event in events(AuditVerb.LOGIN_FAILED)] == [f"1 failed sign-in from {ATTACKER}"]


@pytest.mark.parametrize(
    ("hops", "forwarded", "remote", "expected"),
    [
        (1, "6.6.6.6, 203.0.113.7", "10.9.9.9", "203.0.113.7"),
        (1, "203.0.113.7", "10.9.9.9", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 192.0.2.1", "10.9.9.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.9.9.9", "203.0.113.7"),  # fewer entries than proxies: all are theirs
        (1, "6.6.6.6, 203.0.113.7:4711", "10.9.9.9", "203.0.113.7"),
        (1, "6.6.6.6, [2001:db8::7]:4711", "10.9.9.9", "2001:db8::7"),
        (1, "2001:DB8:0:0::7", "10.9.9.9", "2001:db8::7"),
        (1, "::ffff:203.0.113.7", "10.9.9.9", "203.0.113.7"),
        (1, "fe80::7%eth0", "10.9.9.9", "fe80::7"),
        (1, "6.6.6.6, not-an-address", "10.9.9.9", "10.9.9.9"),
        (1, "", "10.9.9.9", "10.9.9.9"),
        (1, "", "", ""),
    ],
)
def test_client_address_behind_the_proxy(rf, settings, hops, forwarded, remote, expected):
    settings.BEHIND_PROXY, settings.TRUSTED_PROXY_HOPS = True, hops
    request = rf.post(LOGIN, REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert security.client_address(request) == expected


def test_client_address_without_the_proxy_is_the_connections(rf, settings):
    settings.BEHIND_PROXY = False

    assert security.client_address(rf.post(LOGIN, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6")) == "10.0.0.9"
    assert security.client_address(rf.post(LOGIN, REMOTE_ADDR="garbage")) == ""
    assert security.client_address(None) == ""


# --- No username makes a 500 --------------------------------------------------------------------

HOSTILE_USERNAMES = ["x" * 300, "a\x00b", "\ud800", "merchant-a\x00", "\u202emerchant-a"]


@pytest.mark.parametrize("username", HOSTILE_USERNAMES)
def test_a_hostile_username_on_the_token_endpoint_is_a_4xx(client, merchant_a, username):
    response = sign_in(client, "token", username, password="demo")

    assert 400 <= response.status_code < 500
    assert tokens_issued() == 0


@pytest.mark.parametrize("username", ["x" * 300, "\u202emerchant-a", "merchant-a\x07"])
def test_a_hostile_username_on_the_form_is_refused_with_the_form(client, merchant_a, username):
    # The sign-in page answers every refusal with the form again (200), as Django's LoginView does.
    response = sign_in(client, "form", username, password="demo")

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_bytes_that_are_no_text_on_the_form_are_refused_with_the_form(client, merchant_a):
    body = b"username=%ED%A0%80" + b"x" * 400 + b"&password=demo"  # an encoded lone surrogate
    response = client.post(LOGIN, body, content_type="application/x-www-form-urlencoded", REMOTE_ADDR=ATTACKER)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_password_no_hasher_can_encode_is_refused(client, merchant_a):
    response = sign_in(client, "token", "merchant-a", password="\ud800")

    assert 400 <= response.status_code < 500
    assert tokens_issued() == 0


def test_axes_keeps_a_long_username_cut_to_the_user_models_length(client, db):
    response = sign_in(client, "form", "\x07" + "y" * 300)

    assert response.status_code == 200
    assert AccessAttempt.objects.get().username == "y" * 150


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("merchant-a", "merchant-a"),
        ("a\x00b\ud800c", "abc"),
        ("\u202eexe.png", "exe.png"),
        ("z" * 1000, "z" * 150),
        (None, ""),
        (42, "42"),
    ],
)
def test_signin_username_keeps_only_what_can_be_stored_and_read(typed, kept):
    assert security.signin_username(typed) == kept


def test_axes_username_reads_the_credentials_then_the_form(rf):
    assert security.axes_username(rf.post(LOGIN), {"username": "a\x00" + "b" * 200}) == "a" + "b" * 149
    assert security.axes_username(rf.post(LOGIN, {"username": "from-the-form"}), None) == "from-the-form"
    assert security.axes_username(rf.post(LOGIN), None) is None
