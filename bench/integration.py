"""Benchmark: the marketplaces' integration API, under gunicorn, against PostgreSQL.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/integration.py --events 100000

1. Generates (not timed) a marketplace, its category tree, the reference policy in effect (in its
   grace period) with its detection rules, a retired category, a service account and its key, and
   syncs ``--merchants`` merchants (``--events`` / 50) in through the batch endpoint.
2. Starts gunicorn (``--workers`` sync workers, 2 by default; ``bench.integration_settings``: the real
   settings plus ``/bench/integration-ok/``, a POST with the same authentication and permission that
   answers ``{"ok": true}`` without reading its body) on a free loopback port.
3. (a) The pre-publication check: ``--concurrency`` client processes (4) send checks one after another,
   each of a listing at random from a pool (ordinary goods, the detection corpus's banned and innocent
   rows, some into the retired category: allowed and refused answers both), first to the baseline, then
   to ``/api/v1/integration/check``, ``--rounds`` times (4) alternately, ``--seconds`` (16) timed per
   endpoint in all after ``--warmup`` (2). Any answer but 200 is an error.
4. (b) The sync: ``--events`` listing events (100,000) in batches of ``--batch`` (1,000), sent by
   ``--clients`` client processes (2, one per worker) taking the batches in order: new listings (80 %),
   edits of listings synced earlier in the run (a new version: the price, or the title; 12 %), deletions
   (3 %), older versions arriving late (4 %), and banned products (``--banned-share`` of the rest, 0.2 %:
   refused and recorded as the sellers' API records them, a violation and a notice each, about twenty
   statements: a batch pays for each). Timed from the first request to the last answer. The figures are the
   counts the answers give, checked against the database after.
5. The outbound half (``bench/integration_webhooks.py``): the events of a category removal of
   ``--webhook-listings`` listings (``--events`` by default; the README runs 1,000,000) delivered to a
   local receiver that fails one request in five. Its ``run_webhook_benchmark(listings)`` is called once
   this run's database is dropped (it runs in a process and a database of its own), and its keys
   (``webhook_listings``, ``webhook_lost``, ``webhook_seconds``, ``removal_seconds``…) are merged into
   the result.

Last line: ``{"benchmark": "integration", "check_rps": …, "check_baseline_rps": …, "check_ratio": …,
"check_p99_ms": …, "check_errors": …, "sync_events_per_second": …, "sync_errors": …, "webhook_listings": …,
"webhook_lost": 0, "webhook_seconds": …, "removal_seconds": …, …}`` (goals: check_ratio ≥ 0.5,
check_p99_ms ≤ 20, sync_events_per_second ≥ 5,000, no errors; every listing delivered, within twice the
removal's time).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Tasks queued by a request (a refusal's notice, its e-mail) go to a broker as in production, here one
# in memory that nobody reads: a worker's work is not the request's.
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["EMAIL_URL"] = "dummy://"
os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"

from bench._common import PROXY_HEADERS, ROOT, print_result, settle_database, throwaway_database  # noqa: E402
from bench.api import free_port, start_gunicorn, stop_gunicorn  # noqa: E402

CHECK_PATH = "/api/v1/integration/check"
BASELINE_PATH = "/bench/integration-ok/"
BATCH_PATH = "/api/v1/integration/listings/batch"
CORPORA = ROOT / "tests" / "data" / "detection"
ORDINARY = [
    ("USB-C charging cable 2 m, braided", "Fast charging cable, 60 W PD, nylon braided, 2 m. MOQ 100 pcs."),
    ("Wireless mechanical keyboard, 87 keys", "Hot-swappable switches, RGB backlight, Bluetooth 5.1 and 2.4 GHz."),
    ("Stainless steel water bottle 750 ml", "Double-wall vacuum insulated, keeps drinks cold 24 h. Custom logo."),
    ("Bluetooth earbuds with charging case", "TWS earbuds, 30 h battery with the case, IPX5. OEM welcome."),
    ("LED desk lamp with USB port", "Dimmable desk lamp, 3 colour temperatures, USB-A charging port."),
    ("手机壳 适用iPhone 15 防摔", "全包防摔手机壳，TPU材质，多色可选，支持定制logo，100个起批。"),
    ("不锈钢保温杯 500ml 商务款", "304不锈钢内胆，12小时保温，可激光刻字，工厂直销。"),
    ("Men's cotton T-shirt, crew neck", "100 % cotton, 180 gsm, sizes S to 3XL, 12 colours, printing available."),
]
CATEGORIES = 8


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def corpus_rows() -> list[dict]:
    rows = []
    for name in ("corpus.jsonl", "holdout.jsonl"):
        with (CORPORA / name).open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------


def generate() -> dict:
    """The catalog, the policy in effect with its rules, a retired category, a service account; its key."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from moderation.demo import REFERENCE_CLAUSES, seed_reference_rules
    from moderation.models import RemovalChunk
    from moderation.services.audit import SystemActor
    from moderation.services.policies import announce_policy, create_policy
    from moderation.services.removals import run_removal_chunk, schedule_removal, start_removal
    from sellers import services as catalog
    from sellers.integration.accounts import create_service_account

    actor = SystemActor("bench")
    admin = User.objects.create_superuser("bench-admin", "admin@example.com", None)
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    banned = catalog.create_category(actor=actor, name="Blockchain Miners", parent=root)
    categories = [
        catalog.create_category(actor=actor, name=f"Goods {n}", parent=root) for n in range(1, 1 + CATEGORIES)
    ]
    now = timezone.now()
    # In effect, in its grace period: refusals are recorded as violations that add no points yet.
    policy = create_policy(
        actor=actor,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Mining machines and virtual currencies are prohibited.",
        marketplaces=[marketplace],
        categories=[banned],
        clauses=REFERENCE_CLAUSES,
        effective_at=now - timedelta(days=1),
        enforcement_starts_at=now + timedelta(days=30),
    )
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=2))
    seed_reference_rules(actor=actor, policy=policy)
    removal = schedule_removal(actor=actor, policy=policy, categories=[banned], scheduled_for=now)
    from unittest import mock

    with mock.patch("moderation.services.removals.transaction.on_commit"):
        start_removal(removal_id=removal.pk, actor=actor)
        for chunk in RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.PENDING):
            run_removal_chunk(chunk_id=chunk.pk, actor=actor)
    banned.refresh_from_db()
    assert banned.is_retired
    _account, _row, key = create_service_account(actor=admin, marketplace=marketplace, name="Catalog sync")
    return {"key": key, "categories": [category.slug for category in categories], "banned": banned.slug}


def request(port: int, method: str, path: str, key: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Accept": "application/json", **PROXY_HEADERS, "Authorization": f"Token {key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def sync_merchants(port: int, key: str, merchants: int, batch: int) -> None:
    events = [
        {
            "type": "merchant.upserted",
            "id": f"M-{n}",
            "version": 1,
            "store_name": f"Store {n}",
            "company_name": f"Company {n} Ltd.",
            "country": "CN",
            "contact_email": f"seller{n}@example.com",
            "language": "en" if n % 3 else "zh-hans",
        }
        for n in range(merchants)
    ]
    for start in range(0, len(events), batch):
        status, body = request(
            port, "POST", BATCH_PATH, key, json.dumps({"events": events[start : start + batch]}).encode()
        )
        answer = json.loads(body)
        if status != 200 or answer["counts"]["applied"] != len(events[start : start + batch]):
            raise SystemExit(f"merchant sync answered {status}: {body[:1000]!r}")


# ---------------------------------------------------------------------------------------------
# 2. gunicorn
# ---------------------------------------------------------------------------------------------


def wait_ready(server: subprocess.Popen, port: int, key: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            status, _ = request(port, "POST", BASELINE_PATH, key, b"{}")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise SystemExit(f"{BASELINE_PATH} answered {status}:\n{log_path.read_text()[-3000:]}")
    raise SystemExit(f"gunicorn did not answer within 60 s:\n{log_path.read_text()[-3000:]}")


# ---------------------------------------------------------------------------------------------
# 3. (a) The check under load
# ---------------------------------------------------------------------------------------------


def check_bodies(data: dict, merchants: int) -> list[bytes]:
    """Checks of ordinary goods (70 %), the corpus's rows (25 %: banned and innocent), and ordinary goods
    into the retired category (5 %): allowed and refused answers both."""
    rng = random.Random(2021)
    corpus = corpus_rows()
    bodies = []
    for n in range(2000):
        pick = n % 20
        if pick < 14:
            title, description = ORDINARY[n % len(ORDINARY)]
            content = {"title": f"{title} #{n}", "description": description, "attributes": {"MOQ": "100 pcs"}}
            category = data["categories"][n % CATEGORIES]
        elif pick < 19:
            row = corpus[rng.randrange(len(corpus))]
            content = {"title": row["title"], "description": row["description"], "attributes": row["attributes"]}
            category = data["categories"][n % CATEGORIES]
        else:
            title, description = ORDINARY[n % len(ORDINARY)]
            content = {"title": title, "description": description}
            category = data["banned"]
        body = {"merchant": f"M-{rng.randrange(merchants)}", "category": category, **content}
        bodies.append(json.dumps(body, ensure_ascii=False).encode())
    return bodies


def check_client(job: tuple) -> dict:
    """One client: POSTs one after another until ``end``; counts those that finish in [start, end)."""
    port, path, key, bodies, start, end, seed = job
    chooser = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        **PROXY_HEADERS,
        "Authorization": f"Token {key}",
    }
    done, errors, statuses, latencies, decisions = 0, 0, {}, [], {}
    while True:
        sent = time.monotonic()
        if sent >= end:
            break
        try:
            connection.request("POST", path, body=chooser.choice(bodies), headers=headers)
            response = connection.getresponse()
            body = response.read()
            status = response.status
            if response.will_close:  # gunicorn's sync workers close after each answer
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            status, body = type(error).__name__, b""
            connection.close()
        finished = time.monotonic()
        if status != 200:
            errors += 1
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        if start <= finished < end:
            done += 1
            latencies.append(finished - sent)
            if status == 200 and path == CHECK_PATH:
                decision = json.loads(body)["decision"]
                decisions[decision] = decisions.get(decision, 0) + 1
    connection.close()
    return {"done": done, "errors": errors, "statuses": statuses, "latencies": latencies, "decisions": decisions}


def load(port: int, path: str, key: str, bodies: list[bytes], *, concurrency: int, warmup: float, seconds: float):
    from multiprocessing import get_context

    start = time.monotonic() + 0.5 + warmup
    end = start + seconds
    jobs = [(port, path, key, bodies, start, end, seed) for seed in range(concurrency)]
    with get_context("fork").Pool(concurrency) as pool:
        results = pool.map(check_client, jobs, chunksize=1)
    merged: dict = {"seconds": seconds, "done": 0, "errors": 0, "statuses": {}, "latencies": [], "decisions": {}}
    for result in results:
        merged["done"] += result["done"]
        merged["errors"] += result["errors"]
        merged["latencies"] += result["latencies"]
        for name in ("statuses", "decisions"):
            for value, count in result[name].items():
                merged[name][value] = merged[name].get(value, 0) + count
    return merged


def summarize(path: str, rounds: list[dict]) -> dict:
    seconds = sum(part["seconds"] for part in rounds)
    done = sum(part["done"] for part in rounds)
    latencies = sorted(latency for part in rounds for latency in part["latencies"])
    decisions: dict[str, int] = {}
    for part in rounds:
        for value, count in part["decisions"].items():
            decisions[value] = decisions.get(value, 0) + count
    figures = {
        "rps": done / seconds,
        "errors": sum(part["errors"] for part in rounds),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "decisions": decisions,
    }
    per_round = ", ".join(f"{part['done'] / part['seconds']:.1f}" for part in rounds)
    log(
        f"{path}: {figures['rps']:.1f} requests/s ({per_round} by round), {figures['errors']} errors, "
        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms {decisions or ''}"
    )
    return figures


# ---------------------------------------------------------------------------------------------
# 4. (b) The sync
# ---------------------------------------------------------------------------------------------


def sync_batches(
    data: dict, *, events: int, batch: int, merchants: int, banned_share: float
) -> tuple[list[bytes], dict]:
    """``events`` listing events in batches of ``batch``, as a marketplace's feed sends them. Returns the
    bodies, and how many events and new listings they hold."""
    rng = random.Random(1008)
    banned_rows = [row for row in corpus_rows() if row["label"] == "banned"]
    synced: dict[str, int] = {}  # listing id → its newest version sent
    known: list[str] = []  # the same ids, to pick from
    made = 0
    bodies = []
    for start in range(0, events, batch):
        chunk = []
        in_batch: set[str] = set()
        for _n in range(min(batch, events - start)):
            roll = rng.random()
            # A listing synced earlier, not yet in this batch (a marketplace sends an object's newest state).
            picks = (rng.choice(known) for _ in range(3)) if known else ()
            live = [external_id for external_id in picks if external_id not in in_batch]
            if roll < 0.12 and live:
                external_id = live[0]
                synced[external_id] += 1
                kind = "edit"
            elif roll < 0.15 and live:
                external_id = live[0]
                synced[external_id] += 1
                kind = "delete"
            elif roll < 0.19 and live:
                external_id = live[0]
                kind = "late"
            else:
                made += 1
                external_id = f"L-{made}"
                kind = "banned" if roll > 1 - banned_share else "new"
            in_batch.add(external_id)
            version = synced.get(external_id, 1)
            title, description = ORDINARY[made % len(ORDINARY)]
            content = {
                "title": f"{title} #{external_id}",
                "description": description,
                "attributes": {"MOQ": "100 pcs", "colour": rng.choice(["black", "white", "blue"])},
                "category": data["categories"][int(external_id[2:]) % CATEGORIES],
                "merchant": f"M-{int(external_id[2:]) % merchants}",
                "price": f"{10 + int(external_id[2:]) % 3000}.00",
            }
            if kind == "new":
                synced[external_id] = 1
                known.append(external_id)
                event = {"type": "listing.upserted", "id": external_id, "version": 1, **content}
            elif kind == "banned":
                row = rng.choice(banned_rows)
                event = {
                    "type": "listing.upserted",
                    "id": external_id,
                    "version": 1,
                    **content,
                    "title": row["title"],
                    "description": row["description"],
                    "attributes": row["attributes"],
                }
            elif kind == "edit":
                change = {"price": f"{rng.randrange(10, 3000)}.00"}
                if rng.random() < 0.3:
                    change["title"] = f"{title} (new model) #{external_id}"
                event = {"type": "listing.upserted", "id": external_id, "version": version, **content, **change}
            elif kind == "delete":
                event = {"type": "listing.deleted", "id": external_id, "version": version}
            else:
                event = {"type": "listing.upserted", "id": external_id, "version": max(version - 1, 0), **content}
            chunk.append(event)
        bodies.append(json.dumps({"events": chunk}, ensure_ascii=False).encode())
    return bodies, {"events": events, "new": made}


def sync_client(job: tuple) -> dict:
    port, key, bodies = job
    totals = {"applied": 0, "ignored": 0, "refused": 0}
    errors, latencies = 0, []
    for body in bodies:
        sent = time.monotonic()
        try:
            status, answer = request(port, "POST", BATCH_PATH, key, body)
        except (OSError, http.client.HTTPException):
            errors += 1
            continue
        latencies.append(time.monotonic() - sent)
        if status != 200:
            errors += 1
            continue
        for name, count in json.loads(answer)["counts"].items():
            totals[name] += count
    return {"totals": totals, "errors": errors, "latencies": latencies}


def run_sync(port: int, key: str, bodies: list[bytes], clients: int) -> dict:
    """The batches in order, batch i to client i % clients, all clients at once; wall time of the whole."""
    from multiprocessing import get_context

    jobs = [(port, key, bodies[index::clients]) for index in range(clients)]
    started = time.perf_counter()
    with get_context("fork").Pool(clients) as pool:
        results = pool.map(sync_client, jobs, chunksize=1)
    seconds = time.perf_counter() - started
    totals = {"applied": 0, "ignored": 0, "refused": 0}
    for result in results:
        for name, count in result["totals"].items():
            totals[name] += count
    latencies = sorted(latency for result in results for latency in result["latencies"])
    return {
        "seconds": seconds,
        "totals": totals,
        "errors": sum(result["errors"] for result in results),
        "batch_p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "batch_p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else float("nan"),
    }


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="listing events to sync (default 100,000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (default 1,000)")
    parser.add_argument("--merchants", type=int, default=None, help="default: events / 50")
    parser.add_argument(
        "--banned-share",
        type=float,
        default=0.002,
        help="share of the new listings that are banned products, refused and recorded (default 0.002)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--clients", type=int, default=2, help="sync client processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="check client processes (default 4)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per endpoint (default 2)")
    parser.add_argument("--seconds", type=float, default=16.0, help="timed seconds per check endpoint (default 16)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two check endpoints (default 4)")
    parser.add_argument(
        "--webhook-listings",
        type=int,
        default=None,
        help="listings of the outbound half's removal (default: events; the README runs 1,000,000)",
    )
    args = parser.parse_args()
    args.webhook_listings = args.webhook_listings or args.events
    merchants = args.merchants or max(args.events // 50, 20)

    with throwaway_database("bench_integration", behind_proxy=True):
        from django.db import connection, connections

        from sellers.models import Listing

        log("generating the catalog, the policy and a service account…")
        data = generate()
        connections.close_all()  # the clients and gunicorn are other processes
        port = free_port()
        log_path = Path(tempfile.mkstemp(prefix="bench_integration_gunicorn_", suffix=".log")[1])
        with log_path.open("w") as log_file:
            # A sync batch of 1,000 events takes up to a second: a longer worker timeout than the API's.
            server = start_gunicorn(
                port, args.workers, log_file, settings_module="bench.integration_settings", timeout=120
            )
            try:
                wait_ready(server, port, data["key"], log_path)
                log(f"gunicorn: {args.workers} workers on 127.0.0.1:{port}; syncing {merchants} merchants…")
                sync_merchants(port, data["key"], merchants, args.batch)
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE sellers_merchant")
                connections.close_all()
                settle_database()
                connections.close_all()

                log(f"(a) the check: {args.concurrency} clients, {args.rounds} rounds")
                bodies = check_bodies(data, merchants)
                baseline, checks = [], []
                for number in range(max(args.rounds, 1)):
                    options = {
                        "concurrency": args.concurrency,
                        "warmup": args.warmup if number == 0 else min(args.warmup, 0.5),
                        "seconds": args.seconds / max(args.rounds, 1),
                    }
                    baseline.append(load(port, BASELINE_PATH, data["key"], bodies, **options))
                    checks.append(load(port, CHECK_PATH, data["key"], bodies, **options))
                base = summarize(BASELINE_PATH, baseline)
                check = summarize(CHECK_PATH, checks)

                batches, plan = sync_batches(
                    data, events=args.events, batch=args.batch, merchants=merchants, banned_share=args.banned_share
                )
                log(f"(b) the sync: {args.events} events in {len(batches)} batches, {args.clients} clients")
                sync = run_sync(port, data["key"], batches, args.clients)
                rate = args.events / sync["seconds"]
                log(
                    f"synced in {sync['seconds']:.1f} s: {rate:.0f} events/s, {sync['totals']}, "
                    f"{sync['errors']} errors, batch p50 {sync['batch_p50_ms']:.0f} ms, "
                    f"p99 {sync['batch_p99_ms']:.0f} ms"
                )
            finally:
                stop_gunicorn(server)
        problems = [line for line in log_path.read_text().splitlines() if "Traceback" in line or "ERROR" in line]
        if problems:
            log(f"gunicorn logged {len(problems)} errors, see {log_path}")
        else:
            log_path.unlink()
        synced_listings = Listing.objects.filter(external_id__isnull=False).count()
        if synced_listings + sync["totals"]["refused"] < plan["new"] * 0.98:
            log(f"only {synced_listings} listings synced of {plan['new']} new ones sent")

        result = {
            "benchmark": "integration",
            "check_rps": round(check["rps"], 1),
            "check_baseline_rps": round(base["rps"], 1),
            "check_ratio": round(check["rps"] / base["rps"], 3) if base["rps"] else None,
            "check_p50_ms": round(check["p50_ms"], 1),
            "check_p99_ms": round(check["p99_ms"], 1),
            "check_baseline_p99_ms": round(base["p99_ms"], 1),
            "check_decisions": check["decisions"],
            "check_errors": check["errors"] + base["errors"],
            "sync_events": args.events,
            "sync_seconds": round(sync["seconds"], 2),
            "sync_events_per_second": round(rate, 1),
            "sync_applied": sync["totals"]["applied"],
            "sync_ignored": sync["totals"]["ignored"],
            "sync_refused": sync["totals"]["refused"],
            "sync_errors": sync["errors"],
            "sync_batch_p50_ms": round(sync["batch_p50_ms"], 1),
            "sync_batch_p99_ms": round(sync["batch_p99_ms"], 1),
            "synced_listings": synced_listings,
            "merchants": merchants,
            "banned_share": args.banned_share,
            "workers": args.workers,
            "clients": args.clients,
            "concurrency": args.concurrency,
        }
    # The outbound half: its own benchmark, run in a process of its own against a database of its own.
    from bench.integration_webhooks import run_webhook_benchmark

    log(f"the outbound half (bench/integration_webhooks.py, {args.webhook_listings} listings)…")
    outbound = run_webhook_benchmark(args.webhook_listings)
    result.update({key: value for key, value in outbound.items() if key != "benchmark"})
    print_result(result)


if __name__ == "__main__":
    main()
