"""Throttles count once: the default cache is shared by every process.

Without CACHE_URL the production settings use the database cache, so a limit of 30 appeals an
hour is 30 whatever the number of web workers; one process's memory is refused by the deploy
check. (The suite itself runs on one process's memory: backoffice/settings_test.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import override_settings

from moderation.api.views import AppealFilingThrottle

ROOT = Path(__file__).resolve().parent.parent.parent
DATABASE_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "backoffice_cache"}}


def production_env(tmp_path, **overrides) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="0",
        SECRET_KEY="shared-cache-tests-" + "s3" * 20,
        ALLOWED_HOSTS="backoffice.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'cache.sqlite3'}",
        VAR_DIR=str(tmp_path),
    )
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    program = f"import django; django.setup()\n{code}"
    return subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


PRINT_BACKEND = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"


def test_without_cache_url_the_cache_is_the_database_one(tmp_path):
    result = run_python(PRINT_BACKEND, production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.cache.backends.db.DatabaseCache"


def test_a_redis_url_makes_redis_the_cache(tmp_path):
    result = run_python(PRINT_BACKEND, production_env(tmp_path, CACHE_URL="redis://127.0.0.1:6379/3"))

    assert result.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


def test_an_unknown_cache_url_stops_the_start(tmp_path):
    result = run_python(PRINT_BACKEND, production_env(tmp_path, CACHE_URL="memcached://127.0.0.1"))

    assert result.returncode != 0
    assert "CACHE_URL must be" in result.stderr


def test_the_deploy_check_warns_when_each_process_counts_on_its_own(tmp_path):
    env = production_env(tmp_path, CACHE_URL="locmem://")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "backoffice.W001" in result.stdout + result.stderr


def test_the_migrations_create_the_cache_table(db):
    assert "backoffice_cache" in connection.introspection.table_names()


@pytest.mark.postgres
def test_an_appeal_counted_by_another_process_counts_here(transactional_db, tmp_path, merchant_a):
    """Another web worker (a separate process on the production settings) has counted 30
    appeals for merchant A this hour: this process refuses the 31st."""
    db = connection.settings_dict
    host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    url = f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}@{host}/{db['NAME']}"
    other_worker = run_python(
        "import time\n"
        "from moderation.api.views import AppealFilingThrottle\n"
        "throttle = AppealFilingThrottle()\n"
        f"key = throttle.cache_format % {{'scope': throttle.scope, 'ident': {merchant_a.pk}}}\n"
        "throttle.cache.set(key, [time.time()] * throttle.num_requests, throttle.duration)\n",
        production_env(tmp_path, DATABASE_URL=url),
    )
    assert other_worker.returncode == 0, other_worker.stderr

    with override_settings(CACHES=DATABASE_CACHE):
        throttle = AppealFilingThrottle()
        request = SimpleNamespace(user=merchant_a.user)
        allowed = throttle.allow_request(request, view=None)

    assert allowed is False
    assert throttle.wait() > 0


@pytest.mark.postgres
def test_appeals_under_the_limit_pass_with_the_shared_cache(transactional_db, merchant_a):
    with override_settings(CACHES=DATABASE_CACHE):
        throttle = AppealFilingThrottle()
        request = SimpleNamespace(user=merchant_a.user)
        assert throttle.allow_request(request, view=None) is True
        key = throttle.get_cache_key(request, view=None)
        assert len(throttle.cache.get(key)) == 1
        throttle.cache.delete(key)
