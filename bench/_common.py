"""Helpers shared by the benchmarks: a throwaway database, query counts, peak memory, the result line.

A benchmark is run as ``python bench/NAME.py`` with ``DATABASE_URL`` pointing at a
PostgreSQL server. It never touches the database named there: ``throwaway_database``
creates a fresh one beside it (the role needs CREATEDB), migrates it, and drops it at the
end, even when the benchmark fails. Import this module before anything imports Django's
settings: it configures them.

The settings are production's (DEBUG off): plain HTTP is redirected to HTTPS
(SECURE_SSL_REDIRECT) and pages name their static files by the hashed names in
collectstatic's manifest. A benchmark that sends requests serves them as a deployment does
(README), not with those settings turned off: ``throwaway_database(…, behind_proxy=True)``
puts a TLS-terminating proxy in front (every request carries ``PROXY_HEADERS``, as the proxy
adds them), ``static_files=True`` collects the static files first.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# A benchmark run as a script has bench/ first on sys.path, where bench/queue.py would
# shadow the standard library's queue (psycopg and Celery import it): drop bench/.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The real settings, not the test settings; DEBUG off, or Django would keep every SQL
# statement of the run in memory (a 5000-row INSERT is megabytes of SQL).
os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "benchmark-only-not-a-secret")

import django  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from backoffice.env import parse_database_url  # noqa: E402

# What a TLS-terminating proxy adds to every request it passes on: with BEHIND_PROXY the
# settings trust it (SECURE_PROXY_SSL_HEADER), so the request is HTTPS and not redirected.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit("Set DATABASE_URL=postgres://user:password@host:port/database (PostgreSQL).")
    return url


def _connect(config: dict) -> psycopg.Connection:
    return psycopg.connect(
        dbname=config["NAME"],
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        autocommit=True,  # CREATE/DROP DATABASE cannot run inside a transaction
    )


@contextmanager
def throwaway_database(
    prefix: str, *, migrate: bool = True, behind_proxy: bool = False, static_files: bool = False
) -> Iterator[str]:
    """Create ``<prefix>_<pid>`` on the server of DATABASE_URL, set Django up on it, drop it after.

    1. Connect to the database DATABASE_URL names (only to issue CREATE DATABASE).
    2. Point DATABASE_URL at the new database and run ``django.setup()`` and ``migrate``.
    3. On the way out, close Django's connections and drop the database (WITH FORCE, so a
       connection left open by a failed benchmark cannot keep it alive).

    For a benchmark that sends requests, as production serves them (the environment is set
    before ``django.setup()`` reads the settings, and is what a gunicorn started inside sees):

    - ``behind_proxy``: BEHIND_PROXY=1, the settings trusting a TLS-terminating proxy's
      header; each request must carry ``PROXY_HEADERS`` (Django's test client:
      ``Client(headers=PROXY_HEADERS)``), or it is redirected to HTTPS.
    - ``static_files``: STATIC_ROOT is a fresh folder, filled by ``collectstatic`` after the
      migration (the manifest the pages' hashed names come from) and removed at the end.
    """
    from django.conf import settings

    if (behind_proxy or static_files) and settings.configured:
        raise RuntimeError("behind_proxy and static_files set the environment the settings are read from: too late")
    url = server_url()
    config = parse_database_url(url)
    name = f"{prefix}_{os.getpid()}"
    with _connect(config) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + quote(name)))
    if behind_proxy:
        os.environ["BEHIND_PROXY"] = "1"
    static_root = Path(tempfile.mkdtemp(prefix=f"{name}_static_")) if static_files else None
    if static_root:
        os.environ["STATIC_ROOT"] = str(static_root)
    try:
        django.setup()
        from django.core.management import call_command

        if migrate:
            call_command("migrate", verbosity=0)
        if static_root:
            call_command("collectstatic", interactive=False, verbosity=0)
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        os.environ["DATABASE_URL"] = url
        if static_root:
            shutil.rmtree(static_root, ignore_errors=True)
        with _connect(config) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class QueryCounter:
    """Counts the SQL statements Django runs inside ``with QueryCounter() as counter:``.

    Counts without keeping the SQL (unlike CaptureQueriesContext), so it costs nothing on
    a million-row run.
    """

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self.count = 0
        self._wrapper = None

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> QueryCounter:
        from django.db import connections

        self._wrapper = connections[self.using].execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._wrapper.__exit__(*exc_info)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def print_result(result: dict) -> None:
    """The benchmark's figure: one JSON object, always the last line of the output."""
    print(json.dumps(result), flush=True)


def settle_database() -> None:
    """Let PostgreSQL finish writing what data generation left behind, before timing anything.

    Generating millions of rows leaves a checkpoint to run; whichever measurement runs
    during it pays for it. CHECKPOINT needs a superuser (or pg_checkpoint): without one,
    the benchmark goes on and says so.
    """
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except Exception as error:  # noqa: BLE001 - a figure with a caveat beats no figure
        print(f"  (no CHECKPOINT before timing: {error})", file=sys.stderr, flush=True)


def scan_chunk(chunk_id: int) -> None:
    """One chunk of a bulk scan, as a Celery worker runs it (module level: the worker pool imports it)."""
    from moderation.services.scanning import run_scan_chunk

    run_scan_chunk(chunk_id=chunk_id)


def measure_scan(policy, *, workers: int) -> tuple[float, float, int, int, int]:
    """The policy's bulk scan through the real chunked code path, its chunks on ``workers``
    processes as Celery workers would run them, against PostgreSQL matching the rules' terms
    with one ``~*`` in a single SELECT. Returns (seconds, baseline seconds, listings scanned,
    items opened, rows the SELECT matched). Items open already are skipped by the scan."""
    import time
    from unittest import mock

    from django.db import connection

    from moderation.models import PolicyScan
    from moderation.selectors.detection import policy_matcher
    from moderation.services.scanning import start_policy_scan
    from moderation.tasks import run_scan_chunk as run_scan_chunk_task

    queued: list[int] = []
    started = time.perf_counter()
    with mock.patch.object(run_scan_chunk_task, "delay", queued.append):
        scan = start_policy_scan(policy=policy)
    run_on_workers(scan_chunk, queued, workers=workers)
    seconds = time.perf_counter() - started
    scan = PolicyScan.objects.get(pk=scan.pk)
    if scan.status != PolicyScan.Status.COMPLETED:
        raise SystemExit(f"scan ended {scan.status}: {scan.error}")
    terms = rules_as_postgres_regex(policy_matcher(policy).rules)
    baseline_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM sellers_listing WHERE status = 'live' "
            "AND (title ~* %s OR description ~* %s OR attributes::text ~* %s)",
            [terms, terms, terms],
        )
        matched = len(cursor.fetchall())
    baseline = time.perf_counter() - baseline_started
    return seconds, baseline, scan.listings_done, scan.items_opened, matched


def rules_as_postgres_regex(rules) -> str:
    """A policy's rules as one PostgreSQL regular expression, the baseline a scan is measured
    against: keywords and phrases as written (normalised), expressions with RE2's word
    boundary spelt the way PostgreSQL spells it (``\\y``; ``\\b`` is a backspace there)."""
    import re

    from moderation.detection import normalize

    parts = [
        rule.pattern.replace("\\b", "\\y") if rule.kind == "regex" else re.escape(normalize(rule.pattern))
        for rule in rules
    ]
    return "|".join(f"(?:{part})" for part in parts)


def run_on_workers(function, ids: list[int], *, workers: int) -> None:
    """Run ``function(id)`` for every id on ``workers`` processes, as Celery workers would.

    The parent closes its database connections before forking, so each process opens its
    own; ``function`` must be importable (a module-level function).
    """
    from multiprocessing import get_context

    from django.db import connections

    if workers <= 1:
        for item in ids:
            function(item)
        return
    connections.close_all()
    with get_context("fork").Pool(workers) as pool:
        pool.map(function, ids, chunksize=1)


def issue_api_keys(users: dict[int, int]) -> dict[int, str]:
    """API keys for ``{merchant id: user id}`` as the token endpoint issues them (sellers.tokens):
    the digest stored in one bulk insert, the keys returned by merchant id."""
    from django.utils import timezone
    from knox.models import get_digest_token
    from knox.settings import CONSTANTS, knox_settings

    from sellers.models import ApiToken

    issued = {merchant: get_digest_token() for merchant in users}
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    ApiToken.objects.bulk_create(
        ApiToken(
            digest=digest,
            token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
            user_id=users[merchant],
            name="bench",
            expiry=expiry,
        )
        for merchant, (digest, key) in issued.items()
    )
    return {merchant: key for merchant, (_digest, key) in issued.items()}
