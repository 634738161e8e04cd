"""Benchmark: moderators working the review queue and merchants reading decisions and appealing, at once.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/load.py

1. Generates (not timed), in set-based SQL beside a few service calls, the reference
   policy in effect, ``--all-merchants`` merchants (2,000) with about 17,000 decisions
   (listings delisted by a completed category removal, violations, sanctions) and
   ``--review-items`` open review items (10,000) on their live listings. ``--merchants``
   of them (200), spread over the id range, hold 40 to 80 decisions each, an API token,
   one open appeal and one granted appeal; ``--moderators`` users (50) are moderators,
   each with a back-office session created directly in the session store (no login form:
   the login's throttling is not what is measured) and a CSRF secret.
2. Starts gunicorn (``--workers`` sync workers, 2) with the real settings
   (``backoffice.settings``) and the environment a production deployment sets: DEBUG off,
   a secret key, ALLOWED_HOSTS, Redis for the cache (the appeal throttle's counters,
   shared by the workers: db 10) and for the Celery broker (db 11: the notices and
   escalations queued on commit land there; no worker runs, and the queue is emptied
   afterwards), dummy e-mail, static files collected for WhiteNoise, behind a
   TLS-terminating proxy (the clients send ``X-Forwarded-Proto: https`` as it would).
   The appeal throttle is on at ``--appeal-rate`` (10000/hour a merchant by default, so
   it never binds and the figure is the server's); a 429 would be counted apart anyway.
   Each kind of request is then timed alone, 20 times, on the idle server (``idle_ms``:
   what the latencies under load queue behind; it also shows a machine busy elsewhere).
3. Loads it from ``--clients`` client processes (2) on loopback, one thread per person,
   each sending one request after another (a pause of 0 to twice ``--think-ms`` between
   them, 0 by default: the server is saturated, and the latencies are mostly the wait for
   a free worker):
   - a moderator claims the next item (``POST /backoffice/queue/claim-next/``), opens
     it, and decides it: takes it down (80 %), dismisses it (15 %) or escalates it (5 %);
     the decision's redirect is the next item, claimed for them. 5 % of the decisions are
     sent twice at once (a double click: both requests are on the wire before either is
     read), 3 % of the rounds try to take down an item another moderator holds, and 10 %
     open the queue page first;
   - a merchant reads a page of its decisions (``GET /api/v1/decisions/``: the first page
     or any other) and, one round in four, appeals one of them (``POST /api/v1/appeals/``):
     one the page says is appealable (85 %) or any on the page; 10 % of the appeals are
     sent twice at once.
   Everything is timed except the first ``--warmup`` seconds (2); errors count throughout.
4. Counts from the database what must never happen: a review item decided twice (two
   violations, dismissals or take-down events for one item) and a duplicate appeal (two
   open appeals against one decision, or two appeals against one decision filed during
   the run: none is decided or withdrawn while it runs, so a second one can only be a
   duplicate). The clients' own counts are checked against the rows.

Answers: 5xx and connection failures are ``errors``. The business rules' refusals are
expected answers, counted apart: an appeal against a decision appealed already (409),
reversed or out of time (400), throttled (429); a decision on an item decided or held by
someone else (a redirect back to the item with the message). Any other answer (a 403 for
a bad CSRF token, a 404) is ``unexpected``: a bug in the benchmark or the application.

Last line: ``{"benchmark": "load", "requests": …, "errors": …, "rps": …, "p50_ms": …, "p99_ms": …,
"double_decisions": 0, "duplicate_appeals": 0, …}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CACHE_URL = "redis://127.0.0.1:6379/10"
BROKER_URL = "redis://127.0.0.1:6379/11"
BROKER_QUEUE = "celery"  # Celery's default queue: the project routes nothing elsewhere
# The server's VAR_DIR; the settings create it, main() removes it.
SERVER_VAR_DIR = Path(tempfile.gettempdir()) / f"bench_load_var_{os.getpid()}"

# The environment of the web process, as the README's production section sets it. The
# generator runs with the same, so the sessions it signs and the cache it clears are the
# server's; only it runs the few tasks of step 1 eagerly.
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "backoffice.settings",
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1",
    "CACHE_URL": CACHE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "EMAIL_URL": "dummy://",
    "VAR_DIR": str(SERVER_VAR_DIR),
    # BEHIND_PROXY and STATIC_ROOT (static files collected) come from throwaway_database.
    # 4xx answers are logged as warnings by django.request: thousands of expected 409s.
    "LOG_LEVEL": "ERROR",
}
os.environ.update(SERVER_ENV)
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

from bench._common import ROOT, issue_api_keys, print_result, settle_database, throwaway_database  # noqa: E402
from bench._generate import (  # noqa: E402
    DECIDED_AT,
    completed_removal,
    insert_sellers,
    insert_violations_sanctions_and_appeals,
)

DECISIONS_PATH = "/api/v1/decisions/"
APPEALS_PATH = "/api/v1/appeals/"
QUEUE_PATH = "/backoffice/queue/"
CLAIM_NEXT_PATH = "/backoffice/queue/claim-next/"
ITEM_PATH = re.compile(r"/backoffice/queue/(\d+)/$")
PAGE_SIZE = 20  # the API's PAGE_SIZE
IDLE_REPEAT = 20  # requests of each kind timed alone before the load

MINING_TITLES = [
    "Antminer S19 Pro 110TH/s Bitcoin miner",
    "Whatsminer M30S 88TH/s SHA-256 mining machine",
    "比特币矿机 蚂蚁 S19 二手",
    "Litecoin L3+ 504MH/s scrypt ASIC miner",
    "6 GPU mining rig frame for Ethereum",
]
# A decision's time, from its rank: within the last 10 to 150 days (inside the 180-day appeal window).
# Per token holder: 40 to 80 decisions; the other merchants 1 to 5.
FEWEST, MOST = 40, 80


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------


def plan_decisions(first: int, merchants: int, holders_wanted: int) -> dict:
    """Which merchant gets which decisions: lists of merchant ids, one entry per decision.

    A merchant's decisions go 6 in 20 to delistings, 11 in 20 to violations and 3 in 20 to sanctions.
    """
    step = max(merchants // holders_wanted, 1)
    holders = [first + k * step + step // 2 for k in range(holders_wanted)]
    holder_set = set(holders)
    delist, violate, sanction = [], [], []
    for merchant in range(first, first + merchants):
        count = FEWEST + (merchant * 7919) % (MOST - FEWEST + 1) if merchant in holder_set else 1 + merchant % 5
        for rank in range(count):
            kind = (rank * 7) % 20
            (delist if kind < 6 else violate if kind < 17 else sanction).append(merchant)
    return {"holders": holders, "delist": delist, "violate": violate, "sanction": sanction}


def generate(*, all_merchants: int, holders: int, moderators: int, review_items: int) -> dict:
    """Catalog, policy, removal, accounts, merchants, listings, decisions and open review items."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from moderation.demo import REFERENCE_LADDER, REFERENCE_POINTS
    from moderation.services.audit import SystemActor
    from moderation.services.policies import ClauseText, announce_policy, create_policy, put_due_policies_in_effect
    from moderation.services.sanctions import set_penalty_rules
    from sellers import services as catalog

    actor = SystemActor("bench")
    now = timezone.now()
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    banned = catalog.create_category(actor=actor, name="Blockchain Miners", parent=root)
    others = [catalog.create_category(actor=actor, name=f"Gadgets {n}", parent=root) for n in range(1, 9)]
    policy = create_policy(
        actor=actor,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Mining machines are prohibited.",
        marketplaces=[marketplace],
        categories=[banned],
        clauses=[ClauseText(1, "Mining hardware and software", "Bitcoin miners are prohibited.")],
        effective_at=now - timedelta(days=200),
        enforcement_starts_at=now - timedelta(days=170),
    )
    # The reference points and ladder: a take-down after the grace period adds points and
    # queues the merchant's escalation, as in production.
    set_penalty_rules(actor=actor, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    # Announced and in effect before any listing exists: no notices, nothing to scan.
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=230))
    with mock.patch("moderation.services.policies._queue_policy_scan"):
        put_due_policies_in_effect(actor=actor)
    clause = policy.clauses.get()
    moderator_group = Group.objects.get(name="moderator")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2021)")
        # The moderators of the load, and the one who took the old decisions (never loaded).
        cursor.execute(
            """
            INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined)
            SELECT '!', NULL, false, name, '', '', name || '@example.com', true, true, now()
            FROM (SELECT 'moderator' || n AS name FROM generate_series(0, %s) AS n) AS names
            """,
            [moderators],
        )
        cursor.execute(
            """
            INSERT INTO auth_user_groups (user_id, group_id)
            SELECT id, %s FROM auth_user WHERE username LIKE 'moderator%%'
            """,
            [moderator_group.pk],
        )
        cursor.execute("SELECT id FROM auth_user WHERE username = 'moderator0'")
        (old_decider,) = cursor.fetchone()
        cursor.execute(
            "SELECT id FROM auth_user WHERE username LIKE %s AND username <> 'moderator0' ORDER BY id", ["moderator%"]
        )
        moderator_ids = [row[0] for row in cursor.fetchall()]
        first = insert_sellers(cursor, marketplace_id=marketplace.pk, merchants=all_merchants)
        plan = plan_decisions(first, all_merchants, holders)
        removal = completed_removal(
            cursor, policy=policy, clause=clause, banned=banned, delisted_merchants=plan["delist"], now=now
        )
        # Per merchant five ordinary live listings; the suspect live listings the review items
        # are about; the delisted listings of the plan; in random order.
        cursor.execute(
            f"""
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price, currency,
                                         status, delisted_reason, delisted_at, previous_status,
                                         delisted_by_removal_id, delisted_by_sanction_id, created_at, updated_at)
            SELECT merchant_id, category_id, title, 'Generated for the benchmark.', '{{}}'::jsonb, price, 'USD',
                   status, reason, delisted_at, previous, removal_id, NULL, now() - interval '400 days', now()
            FROM (
                SELECT %(first)s + n %% %(merchants)s AS merchant_id, (%(others)s::bigint[])[1 + n %% 8] AS category_id,
                       'USB-C charging cable 2 m #' || n AS title, 10 + n %% 3000 AS price, 'live' AS status,
                       '' AS reason, NULL::timestamptz AS delisted_at, '' AS previous, NULL::bigint AS removal_id
                FROM generate_series(1, 5 * %(merchants)s) AS n
                UNION ALL
                SELECT %(first)s + (n::bigint * 7919) %% %(merchants)s, (%(others)s::bigint[])[1 + n %% 8],
                       (%(mining)s::text[])[1 + n %% 5] || ' #' || n, 10 + n %% 3000, 'live', '', NULL, '', NULL
                FROM generate_series(1, %(suspect)s) AS n
                UNION ALL
                SELECT d.merchant_id, %(banned)s, 'Antminer S19 Pro 110TH/s Bitcoin miner #' || d.n, 10 + d.n %% 3000,
                       'delisted', %(reason)s, {DECIDED_AT.format(n="d.n")}, 'live', %(removal)s
                FROM unnest(%(delist)s::bigint[]) WITH ORDINALITY AS d(merchant_id, n)
            ) AS generated
            ORDER BY random()
            """,
            {
                "first": first,
                "merchants": all_merchants,
                "others": [c.pk for c in others],
                "mining": MINING_TITLES,
                "suspect": review_items,
                "banned": banned.pk,
                "removal": removal.pk,
                "reason": f"Category “{banned.name}” closed under policy “{policy.title}”.",
                "delist": plan["delist"],
            },
        )
        cursor.execute(
            """
            INSERT INTO moderation_reviewitem
                (listing_id, policy_id, merchant_id, marketplace_id, category_id, source, tier, score,
                 matched_terms, spans, priority, status, due_at, decision, decision_reason, created_at, clause_id,
                 version, search_text)
            SELECT l.id, %(policy)s, l.merchant_id, %(marketplace)s, l.category_id, 'detection', 'moderator',
                   10 + l.id %% 40, '["antminer"]'::jsonb, '{}'::jsonb, 10 + l.id %% 40, 'open',
                   now() + interval '1 day' - (l.id %% 48) * interval '1 hour', '', '', now() - interval '1 hour',
                   %(clause)s, l.version, ''
            FROM sellers_listing AS l
            WHERE l.status = 'live' AND l.category_id <> %(banned)s AND l.title NOT LIKE 'USB-C%%'
            """,
            {"policy": policy.pk, "marketplace": marketplace.pk, "banned": banned.pk, "clause": clause.pk},
        )
        insert_violations_sanctions_and_appeals(
            cursor, policy=policy, clause=clause, moderator=old_decider, moderator_name="moderator0", plan=plan
        )
        cursor.execute("SELECT m.id, m.user_id FROM sellers_merchant AS m WHERE m.id = ANY(%s)", [plan["holders"]])
        users = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM moderation_reviewitem WHERE status = 'open'")
        (open_items,) = cursor.fetchone()
    keys = issue_api_keys(users)
    with connection.cursor() as cursor:
        for table in (
            "auth_user",
            "auth_user_groups",
            "sellers_apitoken",
            "sellers_merchant",
            "sellers_listing",
            "moderation_reviewitem",
            "moderation_violation",
            "moderation_sanction",
            "moderation_appeal",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {
        "tokens": [keys[merchant] for merchant in plan["holders"]],
        "holders": plan["holders"],
        "moderator_ids": moderator_ids,
        "open_items": open_items,
        "decisions": sum(len(plan[kind]) for kind in ("delist", "violate", "sanction")),
    }


def moderator_sessions(user_ids: list[int]) -> list[dict]:
    """A signed-in back-office session per moderator, written straight into the session store.

    What ``login()`` leaves in a session, without the login form: django-axes's lock-out and
    the login audit event are not what this benchmark loads. The CSRF secret goes where the
    settings keep it (the cookie by default, the session with CSRF_USE_SESSIONS).
    """
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
    from django.contrib.auth.models import User
    from django.middleware.csrf import CSRF_SESSION_KEY
    from django.utils.crypto import get_random_string

    backend = next(path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user"))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    sessions = []
    for user in User.objects.filter(pk__in=user_ids).order_by("pk"):
        secret = get_random_string(32, string.ascii_letters + string.digits)
        session = store()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        if settings.CSRF_USE_SESSIONS:
            session[CSRF_SESSION_KEY] = secret
        session.save()
        cookies = {settings.SESSION_COOKIE_NAME: session.session_key}
        if not settings.CSRF_USE_SESSIONS:
            cookies[settings.CSRF_COOKIE_NAME] = secret
        sessions.append({"user": user.username, "cookies": cookies, "csrf": secret})
    return sessions


def client_settings() -> dict:
    """What the clients must send for these settings: the scheme the proxy reports, the CSRF header."""
    from django.conf import settings

    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if settings.SECURE_SSL_REDIRECT and not proxy:
        raise SystemExit("SECURE_SSL_REDIRECT is on without SECURE_PROXY_SSL_HEADER: plain HTTP cannot be loaded.")
    headers = {}
    if proxy:
        name, value = proxy
        headers["-".join(part.capitalize() for part in name.removeprefix("HTTP_").split("_"))] = value
        headers["X-Forwarded-For"] = "127.0.0.1"
    csrf_header = "-".join(part.capitalize() for part in settings.CSRF_HEADER_NAME.removeprefix("HTTP_").split("_"))
    return {
        "scheme": "https" if proxy and proxy[1] == "https" else "http",
        "proxy_headers": headers,
        "csrf_header": csrf_header,
    }


# ---------------------------------------------------------------------------------------------
# 2. The server
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, workers: int, appeal_rate: str, log_file) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "CELERY_TASK_ALWAYS_EAGER"}
    env.update(SERVER_ENV)
    env.update({"APPEAL_THROTTLE_RATE": appeal_rate, "PYTHONPATH": str(ROOT)})
    # DATABASE_URL names the throwaway database by now.
    command = [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--timeout", "60"]
    return subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_ready(server: subprocess.Popen, port: int, key: str, extra: dict, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            status, _, body = request(port, "GET", DECISIONS_PATH, {**extra, "Authorization": f"Token {key}"})
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise SystemExit(f"{DECISIONS_PATH} answered {status}: {body[:300]!r}\n{log_path.read_text()[-3000:]}")
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log_path.read_text()[-3000:]}")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # the arbiter stops its workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


SERVER_ERROR_LINE = re.compile(r'"level": "(ERROR|CRITICAL)"|\[(ERROR|CRITICAL)\]| (ERROR|CRITICAL) |Traceback')


# ---------------------------------------------------------------------------------------------
# 3. The clients
# ---------------------------------------------------------------------------------------------


def request(port: int, method: str, path: str, headers: dict, body: bytes | None = None):
    """One request on its own connection (gunicorn's sync workers close after each answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


class Recorder:
    """One client process's tally: answers by action and outcome, latencies of the timed window."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}
        self.latencies: dict[str, list[float]] = {}
        self.samples: dict[tuple[str, str], str] = {}

    def add(self, action: str, outcome: str, sent: float, finished: float, detail: str = "") -> None:
        key = (action, outcome)
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if detail and key not in self.samples:
                self.samples[key] = detail[:300]
            if self.start <= finished < self.end:
                self.latencies.setdefault(action, []).append(finished - sent)

    def result(self) -> dict:
        return {"counts": self.counts, "latencies": self.latencies, "samples": self.samples}


class Exchange:
    """Requests sent, answers read later: two at once are both on the wire before either is answered."""

    def __init__(self, port: int, method: str, path: str, headers: dict, body: bytes | None) -> None:
        self.sent = time.monotonic()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.error = None
        try:
            self.connection.request(method, path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as error:
            self.error = error

    def read(self):
        """(status or the error's name, Location, Set-Cookie headers, body, finished)."""
        try:
            if self.error is not None:
                raise self.error
            response = self.connection.getresponse()
            body = response.read()
            return (
                response.status,
                response.getheader("Location", ""),
                response.headers.get_all("Set-Cookie") or [],
                body,
            )
        except (OSError, http.client.HTTPException) as error:
            return type(error).__name__, "", [], b""
        finally:
            self.connection.close()
            self.finished = time.monotonic()


class Person(threading.Thread):
    """One person at the keyboard: rounds of requests, one after another, until the end of the run."""

    def __init__(self, job: dict, recorder: Recorder, seed: int) -> None:
        super().__init__(daemon=True)
        self.port = job["port"]
        self.job = job
        self.recorder = recorder
        self.random = random.Random(seed)
        self.think = job["think_ms"] / 1000

    def exchange(self, method: str, path: str, headers: dict, body: bytes | None = None) -> Exchange:
        return Exchange(self.port, method, path, {**self.job["proxy_headers"], **headers, "Connection": "close"}, body)

    def record(self, action: str, exchange: Exchange, status, expected: dict, body: bytes = b"") -> str:
        """Classify an answer: an expected outcome's name, ``error`` (5xx, no answer) or ``unexpected``."""
        outcome = "error" if isinstance(status, str) or status >= 500 else expected.get(status, "unexpected")
        detail = f"{status}: {body[:300]!r}" if outcome in {"error", "unexpected"} else ""
        self.recorder.add(action, outcome, exchange.sent, exchange.finished, detail)
        return outcome

    def pause(self) -> None:
        if self.think:
            time.sleep(self.random.uniform(0, 2 * self.think))

    def run(self) -> None:
        while time.monotonic() < self.job["begin"]:
            time.sleep(0.01)
        while time.monotonic() < self.recorder.end:
            try:
                self.round()
            except Exception:  # noqa: BLE001 - a client's bug is reported, and the person goes on
                now = time.monotonic()
                self.recorder.add("client", "unexpected", now, now, traceback.format_exc()[-300:])
                self.reset()
                time.sleep(0.1)
            self.pause()

    def reset(self) -> None:
        """Forget what the round that failed left half done."""


class Moderator(Person):
    """Claims, opens and decides review items in the HTML back office, as a signed-in moderator."""

    def __init__(self, job: dict, recorder: Recorder, seed: int, session: dict, claimed: deque) -> None:
        super().__init__(job, recorder, seed)
        self.cookies = dict(session["cookies"])
        self.csrf = session["csrf"]
        self.item: int | None = None
        self.claimed = claimed  # items recently claimed by the moderators of this process
        self.origin = f"{job['scheme']}://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.item = None

    def headers(self, *, post: bool) -> dict:
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
        if post:
            headers.update(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    self.job["csrf_header"]: self.csrf,
                    "Origin": self.origin,
                    "Referer": self.origin + QUEUE_PATH,
                }
            )
        return headers

    def keep_cookies(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.coded_value

    def get(self, action: str, path: str) -> int | str:
        exchange = self.exchange("GET", path, self.headers(post=False))
        status, _, set_cookies, body = exchange.read()
        self.keep_cookies(set_cookies)
        self.record(action, exchange, status, {200: "ok"}, body)
        return status

    def post(self, path: str, form: dict) -> Exchange:
        return self.exchange("POST", path, self.headers(post=True), urlencode(form).encode())

    def claim_next(self) -> None:
        exchange = self.post(CLAIM_NEXT_PATH, {})
        status, location, set_cookies, body = exchange.read()
        self.keep_cookies(set_cookies)
        found = ITEM_PATH.search(urlsplit(location).path) if status == 302 else None
        if status == 302 and not found:  # the queue is empty
            self.record("claim-next", exchange, status, {302: "empty"}, body)
            time.sleep(0.5)
            return
        self.record("claim-next", exchange, status, {302: "claimed"} if found else {}, body)
        if found:
            self.item = int(found.group(1))
            self.claimed.append(self.item)

    def decision(self) -> tuple[str, dict]:
        draw = self.random.random()
        if draw < 0.80:
            kind = self.random.choice(["prohibited_listing", "keyword_evasion", "category_evasion"])
            return "take-down", {"clause": "", "kind": kind, "reason": "Mining hardware is banned (load test)."}
        if draw < 0.95:
            return "dismiss", {"reason": "A data-mining book, not a machine (load test)."}
        return "escalate", {"note": "Looks like a miner sold as a space heater: please decide (load test)."}

    def decide(self) -> None:
        """Decide the claimed item; the answer's redirect is the next item, claimed, or the item again (refused)."""
        item = self.item
        action, form = self.decision()
        path = f"/backoffice/queue/{item}/{action}/"
        twice = self.random.random() < 0.05
        exchanges = [self.post(path, form) for _ in range(2 if twice else 1)]
        answers = [exchange.read() for exchange in exchanges]
        self.item = None
        label = action + (" twice" if twice else "")
        for exchange, (status, location, set_cookies, body) in zip(exchanges, answers, strict=True):
            self.keep_cookies(set_cookies)
            found = ITEM_PATH.search(urlsplit(location).path) if status == 302 else None
            if status != 302:
                self.record(label, exchange, status, {}, body)
            elif found and int(found.group(1)) == item:
                self.record(label, exchange, status, {302: "refused"}, body)  # decided or held meanwhile
            else:
                self.record(label, exchange, status, {302: "escalated" if action == "escalate" else "decided"}, body)
                if found:  # the next item, claimed for this moderator
                    self.item = int(found.group(1))
                    self.claimed.append(self.item)

    def steal(self) -> None:
        """Take down an item another moderator of this process claimed: refused (or gone, if escalated)."""
        mine = self.item
        others = [item for item in list(self.claimed) if item != mine]
        if not others:
            return
        item = self.random.choice(others)
        exchange = self.post(f"/backoffice/queue/{item}/take-down/", {"clause": "", "kind": "prohibited_listing"})
        status, location, set_cookies, body = exchange.read()
        self.keep_cookies(set_cookies)
        found = ITEM_PATH.search(urlsplit(location).path) if status == 302 else None
        if status == 302 and found and int(found.group(1)) == item:
            self.record("steal", exchange, status, {302: "refused"}, body)
        elif status == 404:
            self.record("steal", exchange, status, {404: "escalated away"}, body)
        else:
            # Won someone else's claimed item: only possible once their lease ran out.
            self.record("steal", exchange, status, {302: "won"}, body)
            if found:
                self.item = int(found.group(1))

    def round(self) -> None:
        if self.random.random() < 0.10:
            self.get("queue page", QUEUE_PATH)
        if self.random.random() < 0.03:
            self.steal()
        if self.item is None:
            self.claim_next()
            if self.item is None:
                return
        self.get("item page", f"/backoffice/queue/{self.item}/")
        self.decide()


class Merchant(Person):
    """Reads its decisions and appeals some of them through the sellers' API, with its token."""

    def __init__(self, job: dict, recorder: Recorder, seed: int, token: str) -> None:
        super().__init__(job, recorder, seed)
        self.auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.count = None

    def read(self) -> list[dict]:
        pages = math.ceil(self.count / PAGE_SIZE) if self.count else 1
        page = 1 if self.random.random() < 0.6 else self.random.randint(1, pages)
        exchange = self.exchange("GET", DECISIONS_PATH + (f"?page={page}" if page > 1 else ""), self.auth)
        status, _, _, body = exchange.read()
        if self.record("decisions", exchange, status, {200: "ok"}, body) != "ok":
            return []
        data = json.loads(body)
        self.count = data["count"]
        return data["results"]

    def appeal(self, rows: list[dict]) -> None:
        appealable = [row for row in rows if row["appealable"]]
        if not rows:
            return
        row = self.random.choice(appealable if appealable and self.random.random() < 0.85 else rows)
        body = json.dumps(
            {"decision": row["id"], "grounds": f"The {row['measure']} was a mistake: the product is not a miner."}
        ).encode()
        headers = {**self.auth, "Content-Type": "application/json"}
        twice = self.random.random() < 0.10
        exchanges = [self.exchange("POST", APPEALS_PATH, headers, body) for _ in range(2 if twice else 1)]
        answers = [exchange.read() for exchange in exchanges]
        label = "appeal twice" if twice else "appeal"
        expected = {201: "filed", 400: "refused", 409: "conflict", 429: "throttled"}
        for exchange, (status, _, _, answer) in zip(exchanges, answers, strict=True):
            self.record(label, exchange, status, expected, answer)

    def round(self) -> None:
        rows = self.read()
        if rows and self.random.random() < 0.25:
            self.appeal(rows)


def client_process(job: dict) -> dict:
    """One client process: a thread per moderator and per merchant it was given."""
    recorder = Recorder(job["start"], job["end"])
    claimed: deque = deque(maxlen=200)
    people: list[Person] = [
        Moderator(job, recorder, job["seed"] * 1000 + n, session, claimed) for n, session in enumerate(job["sessions"])
    ]
    people += [Merchant(job, recorder, job["seed"] * 1000 + 500 + n, key) for n, key in enumerate(job["tokens"])]
    for person in people:
        person.start()
    for person in people:
        person.join()
    return recorder.result()


def idle_latencies(port: int, data: dict, client: dict, *, repeat: int = IDLE_REPEAT) -> dict:
    """Each kind of request alone on the idle server (the median, ms): what the load's latencies queue behind.

    A merchant's first page of decisions; a moderator's queue page, an item's page, and a
    take-down (claim next, then take it down: the last ``repeat`` items of the run's decisions).
    """
    session = data["sessions"][0]
    cookies = "; ".join(f"{name}={value}" for name, value in session["cookies"].items())
    origin = f"{client['scheme']}://127.0.0.1:{port}"
    browser = {**client["proxy_headers"], "Cookie": cookies}
    form = {
        **browser,
        "Content-Type": "application/x-www-form-urlencoded",
        client["csrf_header"]: session["csrf"],
        "Origin": origin,
        "Referer": origin + QUEUE_PATH,
    }
    samples: dict[str, list[float]] = {"decisions": [], "queue page": [], "item page": [], "take-down": []}

    def timed(kind: str, method: str, path: str, headers: dict, body: bytes | None = None, expect: int = 200):
        started = time.perf_counter()
        status, response, answer = request(port, method, path, headers, body)
        samples[kind].append(time.perf_counter() - started)
        if status != expect:
            raise SystemExit(f"{method} {path} answered {status} (expected {expect}): {answer[:300]!r}")
        return response

    for number in range(repeat):
        key = data["tokens"][number % len(data["tokens"])]
        timed("decisions", "GET", DECISIONS_PATH, {**client["proxy_headers"], "Authorization": f"Token {key}"})
        timed("queue page", "GET", QUEUE_PATH, browser)
        claimed = request(port, "POST", CLAIM_NEXT_PATH, form, b"")[1].getheader("Location", "")
        item = ITEM_PATH.search(urlsplit(claimed).path).group(1)
        timed("item page", "GET", f"/backoffice/queue/{item}/", browser)
        body = urlencode({"clause": "", "kind": "prohibited_listing", "reason": ""}).encode()
        timed("take-down", "POST", f"/backoffice/queue/{item}/take-down/", form, body, expect=302)
    # The last take-down claimed the next item for this moderator: it stays claimed, as a browser closed.
    figures = {kind: round(statistics.median(values) * 1000, 1) for kind, values in samples.items()}
    log("alone on the idle server (median ms): " + ", ".join(f"{kind} {ms}" for kind, ms in figures.items()))
    return figures


def run_load(data: dict, args, client: dict) -> dict:
    from multiprocessing import get_context

    from django.db import connections

    connections.close_all()  # the clients are forked: they must not share this process's connection
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="bench_load_gunicorn_", suffix=".log")[1])
    with log_path.open("w") as log_file:
        server = start_gunicorn(port, args.workers, args.appeal_rate, log_file)
        try:
            wait_ready(server, port, data["tokens"][0], client["proxy_headers"], log_path)
            idle = idle_latencies(port, data, client)
            log(
                f"gunicorn: {args.workers} workers on 127.0.0.1:{port}; {len(data['sessions'])} moderators and "
                f"{len(data['tokens'])} merchants on {args.clients} client processes; "
                f"{args.warmup:.0f} s warm-up, {args.seconds:.0f} s timed"
            )
            begin = time.monotonic() + 1.0  # a second to fork the clients and start their threads
            start = begin + args.warmup
            end = start + args.seconds
            jobs = [
                {
                    **client,
                    "port": port,
                    "begin": begin,
                    "start": start,
                    "end": end,
                    "seed": number + 1,
                    "think_ms": args.think_ms,
                    "sessions": data["sessions"][number :: args.clients],
                    "tokens": data["tokens"][number :: args.clients],
                }
                for number in range(args.clients)
            ]
            with get_context("fork").Pool(args.clients) as pool:
                results = pool.map(client_process, jobs, chunksize=1)
        finally:
            stop_gunicorn(server)
    problems = [line for line in log_path.read_text().splitlines() if SERVER_ERROR_LINE.search(line)]
    if problems:
        log(f"gunicorn logged {len(problems)} error lines, see {log_path}; the first:")
        for line in problems[:5]:
            log("    " + line[:1000])
    else:
        log_path.unlink()
    counts: dict[str, int] = {}
    latencies: dict[str, list[float]] = {}
    samples: dict[str, str] = {}
    for result in results:
        for key, value in result["counts"].items():
            counts[key] = counts.get(key, 0) + value
        for action, values in result["latencies"].items():
            latencies.setdefault(action, []).extend(values)
        for key, value in result["samples"].items():
            samples.setdefault(key, value)
    return {
        "counts": counts,
        "latencies": latencies,
        "samples": samples,
        "server_error_lines": len(problems),
        "idle_ms": idle,
    }


# ---------------------------------------------------------------------------------------------
# 4. What the database says
# ---------------------------------------------------------------------------------------------


def check_database(*, appeals_before: int) -> dict:
    """Decisions per review item and appeals per decision, counted from the rows."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from moderation.models import AuditVerb, ReviewItem

    item_type = ContentType.objects.get_for_model(ReviewItem).pk
    with connection.cursor() as cursor:
        # A decision on an item leaves a violation (take-down) or a dismissal event; a take-down
        # also leaves a "listing taken down" event naming the item. Any item with two is decided twice.
        cursor.execute(
            """
            WITH decisions AS (
                SELECT review_item_id AS item FROM moderation_violation WHERE review_item_id IS NOT NULL
                UNION ALL
                SELECT target_id FROM moderation_auditevent WHERE verb = %(dismissed)s AND target_type_id = %(item)s
            ), take_downs AS (
                SELECT (after ->> 'review_item')::bigint AS item FROM moderation_auditevent
                WHERE verb = %(taken_down)s AND after ? 'review_item'
            ), twice AS (
                SELECT item FROM decisions GROUP BY item HAVING count(*) > 1
                UNION
                SELECT item FROM take_downs GROUP BY item HAVING count(*) > 1
            )
            SELECT (SELECT count(*) FROM twice),
                   (SELECT count(*) FROM moderation_reviewitem WHERE status = 'decided'),
                   (SELECT count(*) FROM moderation_reviewitem AS r
                    WHERE r.status = 'decided' AND NOT EXISTS (SELECT 1 FROM decisions AS d WHERE d.item = r.id)),
                   (SELECT count(*) FROM moderation_reviewitem WHERE tier = 'senior')
            """,
            {
                "dismissed": AuditVerb.REVIEW_ITEM_DISMISSED,
                "taken_down": AuditVerb.LISTING_TAKEN_DOWN,
                "item": item_type,
            },
        )
        double_decisions, decided, decided_unrecorded, escalated = cursor.fetchone()
        # Nothing decides or withdraws an appeal during the run: a second appeal against one
        # decision filed during it is a duplicate, as is a second open one at any time.
        cursor.execute(
            """
            SELECT coalesce(sum(greatest(n_open - 1, n_filed - 1, 0)), 0), coalesce(sum(n_filed), 0)
            FROM (
                SELECT decision_key,
                       count(*) FILTER (WHERE status IN ('submitted', 'in_review')) AS n_open,
                       count(*) FILTER (WHERE id > %(before)s) AS n_filed
                FROM moderation_appeal GROUP BY decision_key
            ) AS per_decision
            """,
            {"before": appeals_before},
        )
        duplicate_appeals, appeals_filed = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*) FROM moderation_appeal AS a
            WHERE a.id > %(before)s AND NOT EXISTS (
                SELECT 1 FROM moderation_auditevent AS e
                WHERE e.verb = %(filed)s AND e.target_type_id = %(appeal)s AND e.target_id = a.id
            )
            """,
            {
                "before": appeals_before,
                "filed": AuditVerb.APPEAL_FILED,
                "appeal": ContentType.objects.get(app_label="moderation", model="appeal").pk,
            },
        )
        (appeals_unaudited,) = cursor.fetchone()
    return {
        "double_decisions": double_decisions,
        "items_decided": decided,
        "decided_without_record": decided_unrecorded,
        "items_escalated": escalated,
        "duplicate_appeals": int(duplicate_appeals),
        "appeals_created": int(appeals_filed),
        "appeals_without_audit": appeals_unaudited,
    }


def last_appeal_id() -> int:
    from django.db.models import Max

    from moderation.models import Appeal

    return Appeal.objects.aggregate(last=Max("id"))["last"] or 0


def clear_throttles(merchant_ids: list[int]) -> None:
    """A new database reuses the merchant ids of the last run: forget that run's appeal counts."""
    from django.core.cache import cache

    cache.delete_many([f"throttle_appeals_{merchant_id}" for merchant_id in merchant_ids])


def queued_tasks() -> int:
    import redis

    return redis.Redis.from_url(BROKER_URL).llen(BROKER_QUEUE)


def drop_queued_tasks(before: int) -> None:
    """The tasks queued on commit during the run (notices, escalations) are for no worker: drop them."""
    import redis

    if before == 0:
        redis.Redis.from_url(BROKER_URL).delete(BROKER_QUEUE)
    else:
        log(f"{BROKER_URL} held {before} tasks before the run: the run's are left beside them")


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def summarize(load: dict, seconds: float) -> dict:
    counts, latencies = load["counts"], load["latencies"]
    for (action, outcome), count in sorted(counts.items()):
        log(f"{action}: {outcome} {count}")
    for (action, outcome), sample in sorted(load["samples"].items()):
        log(f"first {action} {outcome}: {sample}")
    everything = [value for values in latencies.values() for value in values]
    for action in sorted(latencies):
        values = latencies[action]
        log(
            f"{action}: {len(values) / seconds:.1f}/s, p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99):.0f} ms"
        )
    moderators = [v for action, values in latencies.items() if action not in MERCHANT_ACTIONS for v in values]
    merchants = [v for action, values in latencies.items() if action in MERCHANT_ACTIONS for v in values]

    def total(outcome: str, actions: set[str] | None = None) -> int:
        return sum(
            count
            for (action, seen), count in counts.items()
            if seen == outcome and (actions is None or action in actions)
        )

    appeal_actions = {"appeal", "appeal twice"}
    decide_actions = {
        f"{action}{suffix}" for action in ("take-down", "dismiss", "escalate") for suffix in ("", " twice")
    }
    return {
        "requests": len(everything),
        "rps": round(len(everything) / seconds, 1),
        "p50_ms": round(statistics.median(everything) * 1000, 1) if everything else None,
        "p99_ms": round(percentile(everything, 0.99), 1),
        "errors": total("error"),
        "unexpected": total("unexpected"),
        "moderator_rps": round(len(moderators) / seconds, 1),
        "moderator_p99_ms": round(percentile(moderators, 0.99), 1),
        "merchant_rps": round(len(merchants) / seconds, 1),
        "merchant_p99_ms": round(percentile(merchants, 0.99), 1),
        "decisions_made": total("decided", decide_actions),
        "decisions_refused": total("refused", decide_actions | {"steal"}),
        "escalations": total("escalated", decide_actions),
        "steals_won": total("won", {"steal"}),
        "appeals_filed": total("filed", appeal_actions),
        "appeals_refused_400": total("refused", appeal_actions),
        "appeals_conflict_409": total("conflict", appeal_actions),
        "appeals_throttled_429": total("throttled", appeal_actions),
    }


MERCHANT_ACTIONS = {"decisions", "appeal", "appeal twice"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="timed seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds first (default 2)")
    parser.add_argument("--moderators", type=int, default=50, help="moderators working the queue (default 50)")
    parser.add_argument("--merchants", type=int, default=200, help="merchants with a token, loaded (default 200)")
    parser.add_argument("--all-merchants", type=int, default=2000, help="merchants with decisions (default 2000)")
    parser.add_argument("--review-items", type=int, default=10_000, help="open review items (default 10000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between one person's requests")
    parser.add_argument("--appeal-rate", default="10000/hour", help="APPEAL_THROTTLE_RATE of the server")
    args = parser.parse_args()
    all_merchants = max(args.all_merchants, args.merchants)

    try:
        # As production serves it (README): behind a TLS-terminating proxy, static files collected.
        with throwaway_database("bench_load", behind_proxy=True, static_files=True):
            log(
                f"generating {all_merchants} merchants ({args.merchants} with tokens), {args.review_items} review "
                f"items, {args.moderators} moderators…"
            )
            started = time.perf_counter()
            data = generate(
                all_merchants=all_merchants,
                holders=args.merchants,
                moderators=args.moderators,
                review_items=args.review_items,
            )
            data["sessions"] = moderator_sessions(data["moderator_ids"])
            client = client_settings()
            clear_throttles(data["holders"])
            settle_database()
            log(
                f"generated in {time.perf_counter() - started:.0f} s: {data['decisions']} decisions, "
                f"{data['open_items']} open items"
            )
            appeals_before = last_appeal_id()
            tasks_before = queued_tasks()
            load = run_load(data, args, client)
            tasks_queued = queued_tasks() - tasks_before
            drop_queued_tasks(tasks_before)
            clear_throttles(data["holders"])
            rows = check_database(appeals_before=appeals_before)
    finally:
        shutil.rmtree(SERVER_VAR_DIR, ignore_errors=True)

    figures = summarize(load, args.seconds)
    if rows["appeals_created"] != figures["appeals_filed"]:
        filed, created = figures["appeals_filed"], rows["appeals_created"]
        log(f"the clients saw {filed} appeals filed (201); the database has {created}")
    made = figures["decisions_made"] + figures["steals_won"] + IDLE_REPEAT
    if rows["items_decided"] != made:
        decided = rows["items_decided"]
        log(f"the clients saw {made} items decided (a redirect to the next one); the database has {decided}")
    for name in ("decided_without_record", "appeals_without_audit"):
        if rows[name]:
            log(f"{name}: {rows[name]}")
    print_result(
        {
            "benchmark": "load",
            "requests": figures.pop("requests"),
            "errors": figures.pop("errors"),
            "rps": figures.pop("rps"),
            "p50_ms": figures.pop("p50_ms"),
            "p99_ms": figures.pop("p99_ms"),
            "double_decisions": rows["double_decisions"],
            "duplicate_appeals": rows["duplicate_appeals"],
            **figures,
            "items_decided": rows["items_decided"],
            "appeals_created": rows["appeals_created"],
            "server_error_lines": load["server_error_lines"],
            "tasks_queued": tasks_queued,
            "idle_ms": load["idle_ms"],
            "moderators": len(data["sessions"]),
            "merchants": len(data["tokens"]),
            "workers": args.workers,
            "seconds": args.seconds,
            "think_ms": args.think_ms,
            "appeal_rate": args.appeal_rate,
        }
    )


if __name__ == "__main__":
    main()
