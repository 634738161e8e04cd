"""Benchmark: the sellers' API list of decisions under load, against a trivial token-authenticated endpoint.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/api.py --listings 1000000

1. Generates (not timed) a marketplace, a category tree, the reference policy through the
   services (announced, in effect), the completed category removal that closed one
   category, and with set-based SQL ``--merchants`` merchants (``--listings`` / 10 by
   default) each with its seller's account, ``--listings`` listings and ``--decisions``
   decisions (50,000 by default): listings delisted by the removal (40 %), violations
   (40 %, one in ten overturned) and sanctions (20 %: warnings in force, expired
   restrictions and store blocks). ``--tokens`` merchants (200), spread over the id range,
   hold 50 to 200 decisions each (25,000 in all: their first page is full) and an API
   token; the other decisions go one to a merchant. Each token holder has one open appeal
   against a violation and one granted appeal against a delisting. Rows are written in
   random order, so a merchant's rows are spread over the tables as years of use leave them.
2. Counts, in process (the test client), the SQL queries of one request of the decisions'
   first page: at the default page size (20) and at 100 for the merchant with the most
   decisions, and at 20 for a merchant with one decision. They must be equal.
3. Starts gunicorn (``--workers`` sync workers, 2 by default; ``bench.api_settings``: the
   real settings plus ``/bench/ok/``) on a free loopback port and loads it from
   ``--concurrency`` client processes (4), each sending requests one after another, each
   request with one of the tokens at random: first on ``/bench/ok/`` (a DRF view with the
   default authentication and permission classes that returns ``{"ok": true}``: the
   baseline), then on ``/api/v1/decisions/`` (the first page, 20 decisions), and again,
   ``--rounds`` times (5) in all, so a machine busy with something else for a while weighs
   on both alike; ``--seconds`` (20) timed per endpoint in all, after ``--warmup`` seconds
   (3) untimed the first time, half a second the next ones. Any answer but 200 is an
   error. The union read's plan for the busiest merchant (EXPLAIN ANALYZE) goes to stderr
   first.

Last line: ``{"benchmark": "api", "rps": …, "baseline_rps": …, "ratio": …, "errors": …,
"queries_per_request": …, "merchants": …, "listings": …, "decisions": …, "p50_ms": …, "p99_ms": …}``
(``ratio`` = rps / baseline_rps; the target is at least 0.40 with no errors).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"
# The in-process requests of step 2 come from Django's test client ("testserver").
os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"

from bench._common import (  # noqa: E402
    PROXY_HEADERS,
    ROOT,
    QueryCounter,
    issue_api_keys,
    print_result,
    settle_database,
    throwaway_database,
)
from bench._generate import (  # noqa: E402
    DECIDED_AT,
    completed_removal,
    insert_sellers,
    insert_violations_sanctions_and_appeals,
)

DECISIONS_PATH = "/api/v1/decisions/"
BASELINE_PATH = "/bench/ok/"
# Per token holder: 50 to 200 decisions, 125 on average.
FEWEST, MOST = 50, 200


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------


def plan_decisions(first: int, merchants: int, decisions: int, tokens: int) -> dict:
    """Which merchant gets which decisions: lists of merchant ids, one entry per decision."""
    step = max(merchants // tokens, 1)
    holders = [first + k * step + step // 2 for k in range(tokens)]
    counts = [FEWEST + round((MOST - FEWEST) * k / max(tokens - 1, 1)) for k in range(tokens)]
    delist, violate, sanction = [], [], []
    for merchant, count in zip(holders, counts, strict=True):
        delisted = round(count * 0.4)
        sanctioned = count // 5
        delist += [merchant] * delisted
        sanction += [merchant] * sanctioned
        violate += [merchant] * (count - delisted - sanctioned)
    holder_set = set(holders)
    others = [first + (n * 7919) % merchants for n in range(1, merchants * 2)]
    others = [merchant for merchant in dict.fromkeys(others) if merchant not in holder_set] or holders
    for n in range(max(decisions - sum(counts), 0)):
        merchant = others[n % len(others)]
        (delist, delist, violate, violate, sanction)[n % 5].append(merchant)
    return {
        "holders": holders,
        "counts": dict(zip(holders, counts, strict=True)),
        "delist": delist,
        "violate": violate,
        "sanction": sanction,
        "light": others[0],
    }


# A decision's time, from its rank: within the last 10 to 150 days (inside the 180-day appeal window).


def generate(listings: int, merchants: int, decisions: int, tokens: int) -> dict:
    """Catalog, policy, removal, accounts, merchants, listings and decisions, generated in SQL."""
    from django.db import connection
    from django.utils import timezone

    from moderation.services.audit import SystemActor
    from moderation.services.policies import ClauseText, announce_policy, create_policy, put_due_policies_in_effect
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
    # Announced and in effect before any listing exists: no notices, nothing to scan.
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=230))
    with mock.patch("moderation.services.policies._queue_policy_scan"):
        put_due_policies_in_effect(actor=actor)
    clause = policy.clauses.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2021)")
        cursor.execute(
            """
            INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined)
            VALUES ('!', NULL, false, 'moderator', '', '', 'moderator@example.com', true, true, now())
            RETURNING id
            """
        )
        (moderator,) = cursor.fetchone()
        first = insert_sellers(cursor, marketplace_id=marketplace.pk, merchants=merchants)
        plan = plan_decisions(first, merchants, decisions, tokens)
        delisted = len(plan["delist"])
        if delisted > listings:
            raise SystemExit(f"{delisted} delisted listings asked for, but only {listings} listings")
        removal = completed_removal(
            cursor, policy=policy, clause=clause, banned=banned, delisted_merchants=plan["delist"], now=now
        )
        # Live listings spread over every merchant, and the delisted ones of the plan, in random order.
        cursor.execute(
            f"""
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price, currency,
                                         status, delisted_reason, delisted_at, previous_status,
                                         delisted_by_removal_id, delisted_by_sanction_id, created_at, updated_at)
            SELECT merchant_id, category_id, title, 'Generated for the benchmark.', '{{}}'::jsonb, price, 'USD',
                   status, reason, delisted_at, previous, removal_id, NULL, now() - interval '400 days', now()
            FROM (
                SELECT %(first)s + (n::bigint * 7919) %% %(merchants)s AS merchant_id,
                       (%(others)s::bigint[])[1 + n %% 8] AS category_id,
                       'USB-C charging cable 2 m #' || n AS title, 10 + n %% 3000 AS price, 'live' AS status,
                       '' AS reason, NULL::timestamptz AS delisted_at, '' AS previous, NULL::bigint AS removal_id
                FROM generate_series(1, %(live)s) AS n
                UNION ALL
                SELECT d.merchant_id, %(banned)s, 'Antminer S19 Pro 110TH/s Bitcoin miner #' || d.n, 10 + d.n %% 3000,
                       'delisted', %(reason)s,
                       {DECIDED_AT.format(n="d.n")}, 'live', %(removal)s
                FROM unnest(%(delist)s::bigint[]) WITH ORDINALITY AS d(merchant_id, n)
            ) AS generated
            ORDER BY random()
            """,
            {
                "first": first,
                "merchants": merchants,
                "others": [c.pk for c in others],
                "live": listings - delisted,
                "banned": banned.pk,
                "removal": removal.pk,
                "reason": f"Category “{banned.name}” closed under policy “{policy.title}”.",
                "delist": plan["delist"],
            },
        )
        insert_violations_sanctions_and_appeals(
            cursor, policy=policy, clause=clause, moderator=moderator, moderator_name="moderator", plan=plan
        )
        cursor.execute(
            "SELECT m.id, m.user_id FROM sellers_merchant AS m WHERE m.id = ANY(%s)",
            [[*plan["holders"], plan["light"]]],
        )
        users = dict(cursor.fetchall())
    keys = issue_api_keys(users)
    with connection.cursor() as cursor:
        for table in (
            "auth_user",
            "sellers_apitoken",
            "sellers_merchant",
            "sellers_listing",
            "moderation_violation",
            "moderation_sanction",
            "moderation_appeal",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    settle_database()
    light = plan["light"]
    return {
        "tokens": [keys[merchant] for merchant in plan["holders"]],
        "counts": {keys[merchant]: count for merchant, count in plan["counts"].items()},
        "light": (keys[light], sum(plan[kind].count(light) for kind in ("delist", "violate", "sanction"))),
        "decisions": sum(len(plan[kind]) for kind in ("delist", "violate", "sanction")),
        "busiest": max(plan["counts"], key=plan["counts"].get),
    }


# ---------------------------------------------------------------------------------------------
# 2. Queries per request
# ---------------------------------------------------------------------------------------------


def count_queries(data: dict) -> int:
    """SQL queries of one request of the first page: whatever the page size and the merchant's history."""
    from rest_framework.pagination import PageNumberPagination
    from rest_framework.test import APIClient

    client = APIClient()

    def request(key: str, expected_count: int, page_size: int) -> int:
        with mock.patch.object(PageNumberPagination, "page_size", page_size), QueryCounter() as queries:
            response = client.get(
                DECISIONS_PATH, HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT="application/json", headers=PROXY_HEADERS
            )
        if response.status_code != 200:
            raise SystemExit(f"{DECISIONS_PATH} answered {response.status_code}: {response.content[:500]!r}")
        body = response.json()
        if body["count"] != expected_count or len(body["results"]) != min(page_size, expected_count):
            raise SystemExit(
                f"expected {expected_count} decisions, {min(page_size, expected_count)} on the page; "
                f"got {body['count']}, {len(body['results'])}"
            )
        return queries.count

    busiest = max(data["counts"], key=data["counts"].get)
    request(busiest, data["counts"][busiest], 20)  # first request of the process: caches, content types
    # A key's first request in a minute also writes its last use (moderation.api.authentication): not the page's.
    request(*data["light"], 20)
    figures = {
        "page 20, most decisions": request(busiest, data["counts"][busiest], 20),
        "page 100, most decisions": request(busiest, data["counts"][busiest], 100),
        "page 20, one decision": request(*data["light"], 20),
    }
    log("queries per request: " + ", ".join(f"{name}: {count}" for name, count in figures.items()))
    if len(set(figures.values())) != 1:
        raise SystemExit(f"the number of queries depends on the page size or the history: {figures}")
    return figures["page 20, most decisions"]


def explain(data: dict) -> None:
    """Where one request's database time goes (stderr): each query's planning and execution, the slowest one's plan.

    The queries are those of a real request of the busiest merchant's first page, whatever
    builds them (the ORM or hand-written SQL), run again under EXPLAIN ANALYZE.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    key = max(data["counts"], key=data["counts"].get)
    with CaptureQueriesContext(connection) as captured:
        APIClient().get(
            DECISIONS_PATH, HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT="application/json", headers=PROXY_HEADERS
        )
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            lines = [row[0] for row in cursor.fetchall()]
            times = {
                line.split(":")[0].strip(): float(line.split(":")[1].split()[0])
                for line in lines
                if line.startswith(("Planning Time", "Execution Time"))
            }
            plans.append((sum(times.values()), times, query["sql"], lines))
    log("the queries of one request (EXPLAIN ANALYZE, ms):")
    for _, times, query, _lines in plans:
        text = " ".join(query.split())[:90]
        log(f"  {times.get('Planning Time', 0):6.3f} plan {times.get('Execution Time', 0):6.3f} run  {text}…")
    log("plan of the slowest:")
    for line in max(plans, key=lambda plan: plan[0])[3]:
        log("    " + line)


# ---------------------------------------------------------------------------------------------
# 3. Load
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, key: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Accept": "application/json", **PROXY_HEADERS, **({"Authorization": f"Token {key}"} if key else {})}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def start_gunicorn(
    port: int, workers: int, log_file, *, settings_module: str = "bench.api_settings", timeout: int = 60
) -> subprocess.Popen:
    """gunicorn on the production settings (``settings_module`` adds a benchmark's baseline view)."""
    env = {
        **os.environ,  # DATABASE_URL names the throwaway database by now
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--timeout", str(timeout)]
    return subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_ready(server: subprocess.Popen, port: int, key: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            status, _ = get(port, BASELINE_PATH, key)
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise SystemExit(f"{BASELINE_PATH} answered {status}:\n{log_path.read_text()[-3000:]}")
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log_path.read_text()[-3000:]}")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # the arbiter stops its workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def client_process(job: tuple) -> dict:
    """One client: requests one after another until ``end``; counts those that finish in [start, end)."""
    port, path, keys, start, end, seed = job
    chooser = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done, errors, statuses, latencies = 0, 0, {}, []
    while True:
        sent = time.monotonic()
        if sent >= end:
            break
        headers = {"Accept": "application/json", **PROXY_HEADERS, "Authorization": f"Token {chooser.choice(keys)}"}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
            if response.will_close:  # gunicorn's sync workers close after each answer
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
            connection.close()
        finished = time.monotonic()
        if status != 200:
            errors += 1  # warm-up included
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        if start <= finished < end:
            done += 1
            latencies.append(finished - sent)
    connection.close()
    return {"done": done, "errors": errors, "statuses": statuses, "latencies": latencies}


def load(port: int, path: str, keys: list[str], *, concurrency: int, warmup: float, seconds: float) -> dict:
    """``concurrency`` clients on ``path``: ``warmup`` seconds untimed, then ``seconds`` timed."""
    from multiprocessing import get_context

    start = time.monotonic() + 0.5 + warmup  # half a second to fork the clients
    end = start + seconds
    jobs = [(port, path, keys, start, end, seed) for seed in range(concurrency)]
    with get_context("fork").Pool(concurrency) as pool:
        results = pool.map(client_process, jobs, chunksize=1)
    statuses: dict[str, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "seconds": seconds,
        "done": sum(result["done"] for result in results),
        "errors": sum(result["errors"] for result in results),
        "statuses": statuses,
        "latencies": [latency for result in results for latency in result["latencies"]],
    }


def summarize(path: str, rounds: list[dict]) -> dict:
    seconds = sum(part["seconds"] for part in rounds)
    done = sum(part["done"] for part in rounds)
    latencies = sorted(latency for part in rounds for latency in part["latencies"])
    statuses: dict[str, int] = {}
    for part in rounds:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    figures = {
        "rps": done / seconds,
        "errors": sum(part["errors"] for part in rounds),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
    }
    per_round = ", ".join(f"{part['done'] / part['seconds']:.1f}" for part in rounds)
    log(
        f"{path}: {figures['rps']:.1f} requests/s ({per_round} by round), {done} in {seconds:.0f} s, "
        f"{figures['errors']} errors {statuses or ''}, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"
    )
    return figures


def run_load(data: dict, *, workers: int, concurrency: int, warmup: float, seconds: float, rounds: int) -> tuple:
    """Both endpoints on one gunicorn, alternately (``rounds`` times each), so both see the same machine."""
    from django.db import connections

    connections.close_all()  # the clients are forked: they must not share this process's connection
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="bench_api_gunicorn_", suffix=".log")[1])
    baseline, decisions = [], []
    with log_path.open("w") as log_file:
        server = start_gunicorn(port, workers, log_file)
        try:
            wait_ready(server, port, data["tokens"][0], log_path)
            log(f"gunicorn: {workers} workers on 127.0.0.1:{port}; {concurrency} clients; {rounds} rounds")
            status, body = get(port, DECISIONS_PATH, data["tokens"][0])
            if status != 200 or json.loads(body)["count"] != data["counts"][data["tokens"][0]]:
                raise SystemExit(f"{DECISIONS_PATH} answered {status}: {body[:500]!r}")
            for number in range(rounds):
                options = {
                    "concurrency": concurrency,
                    "warmup": warmup if number == 0 else min(warmup, 0.5),
                    "seconds": seconds / rounds,
                }
                baseline.append(load(port, BASELINE_PATH, data["tokens"], **options))
                decisions.append(load(port, DECISIONS_PATH, data["tokens"], **options))
        finally:
            stop_gunicorn(server)
    problems = [line for line in log_path.read_text().splitlines() if "Traceback" in line or "ERROR" in line]
    if problems:
        log(f"gunicorn logged {len(problems)} errors, see {log_path}")
    else:
        log_path.unlink()
    pairs = zip(baseline, decisions, strict=True)
    ratios = ", ".join(f"{d['done'] / b['done']:.3f}" if b["done"] else "-" for b, d in pairs)
    summaries = summarize(BASELINE_PATH, baseline), summarize(DECISIONS_PATH, decisions)
    log(f"ratio by round: {ratios}")
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=None, help="default: listings / 10")
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--tokens", type=int, default=200, help="merchants with an API token, loaded (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds per endpoint (default 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per endpoint (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two endpoints (default 5)")
    args = parser.parse_args()
    merchants = args.merchants or max(args.listings // 10, args.tokens * 2)
    tokens = min(args.tokens, merchants)

    # As in production (README), behind a TLS-terminating proxy: with DEBUG off, plain HTTP is
    # redirected, so every request here carries what the proxy adds (PROXY_HEADERS). No page,
    # so no static files.
    with throwaway_database("bench_api", behind_proxy=True):
        log(f"generating {merchants} merchants, {args.listings} listings, {args.decisions} decisions…")
        started = time.perf_counter()
        data = generate(args.listings, merchants, args.decisions, tokens)
        log(f"generated in {time.perf_counter() - started:.0f} s")
        queries = count_queries(data)
        explain(data)
        baseline, decisions = run_load(
            data,
            workers=args.workers,
            concurrency=args.concurrency,
            warmup=args.warmup,
            seconds=args.seconds,
            rounds=max(args.rounds, 1),
        )

    print_result(
        {
            "benchmark": "api",
            "rps": round(decisions["rps"], 1),
            "baseline_rps": round(baseline["rps"], 1),
            "ratio": round(decisions["rps"] / baseline["rps"], 3) if baseline["rps"] else None,
            "errors": decisions["errors"] + baseline["errors"],
            "queries_per_request": queries,
            "merchants": merchants,
            "listings": args.listings,
            "decisions": data["decisions"],
            "p50_ms": round(decisions["p50_ms"], 1),
            "p99_ms": round(decisions["p99_ms"], 1),
            "baseline_p50_ms": round(baseline["p50_ms"], 1),
            "workers": args.workers,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
        }
    )


if __name__ == "__main__":
    main()
