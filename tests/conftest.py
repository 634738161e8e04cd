"""Fixtures shared by every test: people with different rights, a small catalog.

Tests marked ``postgres`` need row locks, triggers or SKIP LOCKED and are skipped (with
the reason printed by ``-ra``) when the suite runs on SQLite; tests marked ``broker``
start a real Celery worker and need Redis in ``CELERY_BROKER_URL``.

Two database roles, as in production, when ``TEST_DATABASE_RUNTIME_USER`` (and
``TEST_DATABASE_RUNTIME_PASSWORD``) name the runtime role (``.ci/run`` sets them): the test
database is created and migrated as ``DATABASE_URL``'s role, the owner; ``grant_runtime_role``
grants the runtime role; then every test, live server and worker process connects as the
runtime role. Only what the owner does in production runs as the owner: the flush (TRUNCATE)
after a transactional test, and tests marked ``database_owner``. Without the variables the
suite runs as one role, as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import psycopg
import pytest
from celery.result import allow_join_result
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import TransactionTestCase

from backoffice.roles import Role
from moderation.services.audit import SystemActor
from sellers import services as catalog
from sellers.models import Merchant

ROOT = Path(__file__).resolve().parent.parent


RUNTIME_USER_VARIABLE = "TEST_DATABASE_RUNTIME_USER"
RUNTIME_PASSWORD_VARIABLE = "TEST_DATABASE_RUNTIME_PASSWORD"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "database_owner: runs as the owner of the tables (DATABASE_URL's role), not the runtime role: "
        "for what only migrations and operators may do (TRUNCATE, triggers' own refusals)",
    )


def pytest_sessionstart(session):
    # CI exports REQUIRE_POSTGRES: a run that quietly fell back to SQLite would prove nothing.
    if os.environ.get("REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL.")
    if os.environ.get(RUNTIME_USER_VARIABLE) and connection.vendor != "postgresql":
        raise pytest.UsageError(f"{RUNTIME_USER_VARIABLE} is set but DATABASE_URL is not PostgreSQL (no roles).")


def pytest_report_header(config):
    if runtime := os.environ.get(RUNTIME_USER_VARIABLE):
        return f"database roles: tests connect as {runtime}; migrations and flushes as DATABASE_URL's role"
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (make test on SQLite skips it)")
    if item.get_closest_marker("broker") and not (
        os.environ.get("CELERY_BROKER_URL", "").startswith("redis") and os.environ.get("CELERY_RESULT_BACKEND")
    ):
        pytest.skip("needs a Redis broker and result backend: set CELERY_BROKER_URL and CELERY_RESULT_BACKEND")


def skipped_by_reason(reports) -> dict[str, list[str]]:
    """Skipped tests' node ids under their reason, in the order they ran."""
    grouped: dict[str, list[str]] = {}
    for report in reports:
        if not report.skipped or not isinstance(report.longrepr, tuple):
            continue  # xfails are "skipped" without a (path, line, reason) tuple: -ra reports them
        reason = report.longrepr[2].removeprefix("Skipped: ")
        grouped.setdefault(reason, []).append(report.nodeid)
    return grouped


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # -ra folds skips raised at one line (pytest_runtest_setup above) into one line,
    # "SKIPPED [41] tests/conftest.py:75: needs PostgreSQL", naming no test: list them.
    grouped = skipped_by_reason(terminalreporter.stats.get("skipped", []))
    if not grouped:
        return
    terminalreporter.section("skipped tests, by reason")
    for reason, node_ids in grouped.items():
        terminalreporter.write_line(f"{len(node_ids)} skipped: {reason}")
        for node_id in node_ids:
            terminalreporter.write_line(f"  {node_id}")


# --- The database roles ----------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseLogin:
    user: str
    password: str


class DatabaseRoles:
    """The test database's two logins while the suite runs as the runtime role (else both None)."""

    owner: DatabaseLogin | None = None
    runtime: DatabaseLogin | None = None


ROLES = DatabaseRoles()


def runs_as_runtime_role() -> bool:
    """True when the default connection logs in as the runtime role (not the owner of the tables)."""
    return ROLES.runtime is not None and connection.settings_dict["USER"] == ROLES.runtime.user


def _log_in_as(login: DatabaseLogin) -> None:
    """Every connection made from now on, in any thread, logs in as ``login``; this thread's is closed.

    The settings dict is the one every thread's connection is built from (django.db.connections).
    """
    if connection.in_atomic_block:
        raise pytest.UsageError(
            f"cannot switch the database role to {login.user} inside a transaction: "
            "a test marked database_owner must not run inside the `db` fixture's transaction already"
        )
    connection.close()
    connection.settings_dict.update(USER=login.user, PASSWORD=login.password)


@contextmanager
def as_database_owner() -> Iterator[None]:
    """The default connection logs in as the owner inside the block (nothing to do with one role)."""
    if ROLES.owner is None or connection.settings_dict["USER"] == ROLES.owner.user:
        yield
        return
    _log_in_as(ROLES.owner)
    try:
        yield
    finally:
        _log_in_as(ROLES.runtime)


def connect_as(login: DatabaseLogin | None = None, **options) -> psycopg.Connection:
    """A psycopg connection of its own to the test database (as the default connection's role unless told)."""
    db = connection.settings_dict
    login = login or DatabaseLogin(db["USER"], db["PASSWORD"])
    params = {"dbname": db["NAME"], "user": login.user, "password": login.password}
    params.update({key: db[name] for key, name in (("host", "HOST"), ("port", "PORT")) if db[name]})
    return psycopg.connect(**params, **options)


def database_url() -> str:
    """The test database as a DATABASE_URL for a process the tests start, logged in as the tests are."""
    db = connection.settings_dict
    host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    return f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}@{host}/{db['NAME']}"


def _flush_as_owner(flush):
    """A transactional test empties the tables with TRUNCATE, which only their owner may do."""

    def _fixture_teardown(self):
        with as_database_owner():
            flush(self)

    return _fixture_teardown


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's (the test database made and migrated as the owner), then the runtime role
    for everything after when ``TEST_DATABASE_RUNTIME_USER`` names it."""
    runtime_user = os.environ.get(RUNTIME_USER_VARIABLE, "")
    if not runtime_user:
        yield
        return
    db = connection.settings_dict
    owner = DatabaseLogin(db["USER"], db["PASSWORD"])
    runtime = DatabaseLogin(runtime_user, os.environ.get(RUNTIME_PASSWORD_VARIABLE, ""))
    with django_db_blocker.unblock():
        call_command("grant_runtime_role", role=runtime.user, password_env=RUNTIME_PASSWORD_VARIABLE, verbosity=0)
    ROLES.owner, ROLES.runtime = owner, runtime
    _log_in_as(runtime)
    try:
        with mock.patch.object(
            TransactionTestCase, "_fixture_teardown", _flush_as_owner(TransactionTestCase._fixture_teardown)
        ):
            yield
    finally:
        # pytest-django drops the test database next: as its owner.
        _log_in_as(owner)
        ROLES.owner = ROLES.runtime = None


@pytest.fixture(autouse=True)
def _database_owner_marker(request):
    """Tests marked ``database_owner`` connect as the owner, from before their fixtures' transaction."""
    if request.node.get_closest_marker("database_owner") is None or not os.environ.get(RUNTIME_USER_VARIABLE):
        yield
        return
    request.getfixturevalue("django_db_setup")
    with as_database_owner():
        yield


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A request in Chinese leaves Chinese active in this thread (the locale middleware does not
    reset it): the next test starts in the default language again."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (the queue header caches its counts)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def system():
    return SystemActor("tests")


def make_user(username: str, *roles: Role, **extra) -> User:
    user = User.objects.create_user(username=username, password="demo", **extra)
    for role in roles:
        # get_or_create: a transactional test's flush empties the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "demo")


@pytest.fixture
def policy_admin(db):
    return make_user("policyadmin", Role.POLICY_ADMIN, is_staff=True)


@pytest.fixture
def moderator(db):
    return make_user("moderator", Role.MODERATOR)


@pytest.fixture
def senior(db):
    return make_user("senior", Role.SENIOR_MODERATOR)


@pytest.fixture
def merchant_user_a(db):
    return make_user("merchant-a")


@pytest.fixture
def merchant_user_b(db):
    return make_user("merchant-b")


@pytest.fixture
def marketplace(db, system):
    return catalog.create_marketplace(actor=system, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai")


@pytest.fixture
def other_marketplace(db, system):
    return catalog.create_marketplace(actor=system, code="aliexpress", name="AliExpress", timezone_name="Asia/Shanghai")


@pytest.fixture
def electronics(db, system):
    return catalog.create_category(actor=system, name="Consumer Electronics")


@pytest.fixture
def miners(db, system, electronics):
    return catalog.create_category(actor=system, name="Blockchain Miners", parent=electronics)


@pytest.fixture
def miner_accessories(db, system, electronics):
    return catalog.create_category(actor=system, name="Blockchain Miner Accessories", parent=electronics)


@pytest.fixture
def graphics_cards(db, system, electronics):
    return catalog.create_category(actor=system, name="Graphics Cards", parent=electronics)


@pytest.fixture
def merchant_a(db, system, marketplace, merchant_user_a):
    return catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name="Shenzhen Hashpower Trading",
        company_name="Shenzhen Hashpower Trading Co., Ltd.",
        country="CN",
        contact_email="sales@hashpower.example",
        language=Merchant.Language.CHINESE,
        user=merchant_user_a,
    )


@pytest.fixture
def merchant_b(db, system, marketplace, merchant_user_b):
    return catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name="Guangzhou Gadget Supply",
        company_name="Guangzhou Gadget Supply Co., Ltd.",
        country="CN",
        contact_email="hello@gadgets.example",
        user=merchant_user_b,
    )


@pytest.fixture
def make_listing(db, system):
    """A listing already on the marketplace: made through the catalog service, but past the
    refusal of banned content that a policy in effect applies to new listings (tests of that
    refusal call ``create_listing`` themselves)."""

    def make(merchant, category, title="Antminer S19 Pro 110TH/s Bitcoin miner", **extra):
        with mock.patch("sellers.services._judge_listing_content", return_value=None):
            return catalog.create_listing(
                actor=system,
                merchant=merchant,
                category=category,
                title=title,
                price=extra.pop("price", Decimal("2399.00")),
                **extra,
            )

    return make


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real ``celery -A backoffice worker`` on the configured broker and the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a shared database: PostgreSQL")
    url = database_url()  # the runtime role's, when the suite runs as it: as a production worker does
    queue = f"tests-{os.getpid()}-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings_test",
        # The worker queues the tasks it starts (a removal's chunks) on its own queue.
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backoffice",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )
    from backoffice.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5):
            break
        if process.poll() is not None:
            pytest.fail("the Celery worker exited at start-up")
    else:
        process.kill()
        pytest.fail("the Celery worker did not answer a ping within 30 s")
    was_eager = app.conf.task_always_eager
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    try:
        # Eager tasks run in threads elsewhere in the suite (the live server, the race
        # tests) set Celery's process-wide "joining would block" flag and, interleaved,
        # can leave it set; this test process is the client here, so joins are allowed.
        with allow_join_result():
            yield queue
    finally:
        app.conf.task_default_queue = "celery"
        app.conf.task_always_eager = was_eager
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
