"""The webhooks part of the integration benchmark: a removal's events, delivered to a receiver failing one in five.

(bench/integration.py merges ``run_webhook_benchmark``'s keys into its own line; run alone, this prints them.)

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/integration_webhooks.py --listings 2000

1. Generates twice ``--listings`` listings, half of them (``--listings``) in the two categories
   the removal retires, of merchants on three marketplaces, each marketplace with its webhook
   endpoint at a local HTTP receiver (a thread of this process; every fifth request it answers
   500), and the policy announced (its events go out too). Not timed.
2. Times the removal as production runs it (``start_removal``, the chunks on ``--workers``
   processes): delistings, audit rows, and the outbox events with their deliveries, written by
   the chunk's own statement (one event per chunk and marketplace, the listing ids in it).
   The senders are held back meanwhile, so the two figures do not mix.
3. Times the delivery: one sender per endpoint (threads, as Celery workers would run them),
   each sending its endpoint's line in order, signed, waiting out the production back-off
   (1 to 2 s after a first failure) before a retry, until nothing is pending.
4. Checks, at the receiver, after deduplicating by webhook-id as a marketplace does: every
   delisted listing's id arrived (``webhook_lost`` counts those that did not), each endpoint's
   events arrived in sequence (``webhook_out_of_order``), every signature verified.

Goal: the delivery within twice the removal's time (``webhook_ratio`` ≤ 2). The receiver speaks
plain HTTP on the loopback: TLS is not measured.

``run_webhook_benchmark(listings)`` runs this script in a process of its own (it makes and
drops its own database, which needs Django set up afresh) and returns its result.

Last line: ``{"benchmark": "integration_webhooks", "webhook_listings": …, "webhook_lost": 0,
"webhook_seconds": …, "removal_seconds": …, "webhook_ratio": …, "webhook_events": …,
"webhook_requests": …, "webhook_failed_requests": …, "webhook_out_of_order": 0, "webhook_unverified": 0}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on sys.path, where bench/queue.py would shadow the standard
# library's queue (which the imports below reach): drop it, and put the checkout there instead.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from unittest import mock  # noqa: E402

FAIL_EVERY = 5  # the receiver answers 500 to every fifth request
MARKETPLACES = [("alibaba", "Alibaba.com"), ("aliexpress", "AliExpress"), ("lazada", "Lazada")]


def run_webhook_benchmark(listings: int, *, workers: int = 2) -> dict:
    """A removal of ``listings`` listings and the delivery of its events, in a process of its own: its result.

    Keys: ``webhook_listings`` (delisted, = ``listings``), ``webhook_lost`` (0), ``webhook_seconds``,
    ``removal_seconds`` and the others of the module's docstring.
    """
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--listings", str(listings), "--workers", str(workers)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"integration_webhooks failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# --- the marketplaces' side: a receiver that fails one request in five ---------------------------------------


class Receiver:
    """What the three marketplaces received, as one process that dedupes by webhook-id would keep it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.unverified = 0
        self.seen: set[str] = set()
        self.listing_ids: set[int] = set()
        self.sequences: dict[str, list[int]] = {}  # marketplace → sequences in the order first received
        self.secrets: dict[str, str] = {}  # marketplace code → its endpoint's secret

    def take(self, code: str, headers: dict[str, str], body: bytes) -> int:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        with self.lock:
            self.requests += 1
            if self.requests % FAIL_EVERY == 0:
                self.failed += 1
                return 500
        try:
            document = Webhook(self.secrets[code]).verify(body, headers)
        except (KeyError, WebhookVerificationError, ValueError):
            with self.lock:
                self.unverified += 1
            return 400
        webhook_id = headers["webhook-id"]
        with self.lock:
            if webhook_id in self.seen:
                return 204  # processed already: a marketplace ignores it
            self.seen.add(webhook_id)
            data = document["data"]
            self.sequences.setdefault(code, []).append(data["sequence"])
            if document["type"] == "listings.delisted":
                self.listing_ids.update(data["listing_ids"])
        return 204


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code = self.path.strip("/").rsplit("/", 1)[-1]
            status = receiver.take(code, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the back office's side -----------------------------------------------------------------------------------


def generate(listings: int, *, base_url: str, receiver: Receiver) -> dict:
    """Marketplaces with their endpoints, categories, merchants and listings (in SQL); the policy announced."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from moderation.services.audit import SystemActor
    from moderation.services.policies import ClauseText, announce_policy, create_policy
    from moderation.services.webhooks import create_endpoint
    from sellers import services as catalog

    actor = SystemActor("bench")
    # The receiver is on the loopback; a marketplace's endpoint is HTTPS, on a public address.
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    marketplaces = [
        catalog.create_marketplace(actor=actor, code=code, name=name, timezone_name="Asia/Shanghai")
        for code, name in MARKETPLACES
    ]
    endpoints = []
    for marketplace in marketplaces:
        endpoint, secret = create_endpoint(actor=actor, marketplace=marketplace, url=f"{base_url}/{marketplace.code}")
        receiver.secrets[marketplace.code] = secret
        endpoints.append(endpoint)
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    banned = [
        catalog.create_category(actor=actor, name="Blockchain Miners", parent=root),
        catalog.create_category(actor=actor, name="Blockchain Miner Accessories", parent=root),
    ]
    others = [catalog.create_category(actor=actor, name=f"Gadgets {n}", parent=root) for n in range(1, 9)]
    merchants = max(listings // 100, 12)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sellers_merchant (marketplace_id, store_name, company_name, country, contact_email,
                                          language, enforcement_status, payouts_held, created_at)
            SELECT (%s::bigint[])[1 + n %% 3], 'Store ' || n, 'Company ' || n || ' Ltd.', 'CN',
                   'seller' || n || '@example.com', CASE WHEN n %% 3 = 0 THEN 'en' ELSE 'zh-hans' END,
                   'active', false, now()
            FROM generate_series(1, %s) AS n
            """,
            [[m.pk for m in marketplaces], merchants],
        )
        cursor.execute("SELECT min(id), max(id) FROM sellers_merchant")
        first_merchant, last_merchant = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price,
                                         currency, status, delisted_reason, previous_status, created_at, updated_at)
            SELECT %(first)s + (n::bigint * 7919) %% %(merchants)s,
                   CASE WHEN n %% 2 = 0 THEN (%(banned)s::bigint[])[1 + (n / 2) %% 2]
                        ELSE (%(others)s::bigint[])[1 + (n / 2) %% 8] END,
                   CASE WHEN n %% 2 = 0 THEN 'Antminer S19 Pro 110TH/s Bitcoin miner #' || n
                        ELSE 'USB-C charging cable 2 m #' || n END,
                   'Generated for the benchmark.', '{}'::jsonb, 10 + n %% 3000, 'USD', 'live', '', '', now(), now()
            FROM generate_series(1, %(listings)s) AS n
            """,
            {
                "first": first_merchant,
                "merchants": last_merchant - first_merchant + 1,
                "banned": [c.pk for c in banned],
                "others": [c.pk for c in others],
                "listings": listings,
            },
        )
        cursor.execute("VACUUM ANALYZE sellers_listing")
        cursor.execute("VACUUM ANALYZE sellers_merchant")
    now = timezone.now()
    policy = create_policy(
        actor=actor,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Mining machines are prohibited.",
        marketplaces=marketplaces,
        categories=banned,
        clauses=[ClauseText(1, "Mining hardware and software", "Bitcoin miners are prohibited.")],
        effective_at=now - timedelta(minutes=1),
        enforcement_starts_at=now + timedelta(days=7),
    )
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(minutes=2))
    return {"policy": policy, "banned": banned, "endpoints": endpoints}


def removal_chunk(chunk_id: int) -> None:
    from moderation.services.removals import run_removal_chunk

    run_removal_chunk(chunk_id=chunk_id)


def run_removal(data: dict, *, workers: int) -> tuple[list[int], float]:
    """The removal through the real code path; returns the ids it delisted and its seconds."""
    from django.utils import timezone

    from bench._common import run_on_workers
    from moderation.models import CategoryRemoval
    from moderation.services.audit import SystemActor
    from moderation.services.removals import schedule_removal, start_removal
    from moderation.tasks import run_removal_chunk as run_removal_chunk_task
    from moderation.tasks import send_pending_notices
    from sellers.models import Listing

    actor = SystemActor("bench")
    removal = schedule_removal(
        actor=actor, policy=data["policy"], categories=data["banned"], scheduled_for=timezone.now()
    )
    log(f"dry run: {removal.dry_run['listings']} listings of {removal.dry_run['merchants']} merchants")
    queued_chunks: list[int] = []
    started = time.perf_counter()
    with (
        mock.patch.object(send_pending_notices, "delay", lambda *args: None),
        mock.patch.object(run_removal_chunk_task, "delay", queued_chunks.append),
    ):
        start_removal(removal_id=removal.pk)
        run_on_workers(removal_chunk, queued_chunks, workers=workers)
    seconds = time.perf_counter() - started
    removal.refresh_from_db()
    if removal.status != CategoryRemoval.Status.COMPLETED:
        raise SystemExit(f"removal ended {removal.status}: {removal.error}")
    delisted = list(Listing.objects.filter(delisted_by_removal=removal).values_list("pk", flat=True))
    log(f"removal: {len(delisted)} listings in {seconds:.1f} s, {removal.chunks_total} chunks")
    return delisted, seconds


def deliver(endpoints) -> float:
    """Every endpoint's line, one sender thread each, until nothing is pending; returns the seconds."""
    from django.db import connections
    from django.utils import timezone

    from moderation.models import WebhookDelivery
    from moderation.services.webhooks import deliver_to_endpoint

    errors: list[BaseException] = []

    def sender(endpoint_id: int) -> None:
        try:
            while True:
                run = deliver_to_endpoint(endpoint_id=endpoint_id, time_budget=3600)
                if run.retry_at is not None:
                    time.sleep(max(0.0, (run.retry_at - timezone.now()).total_seconds()))
                    continue
                waiting = WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status="pending")
                if run.disabled or not waiting.exists():
                    return
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender, args=(endpoint.pk,)) for endpoint in endpoints]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


def measure(listings: int, *, workers: int) -> dict:
    from bench._common import throwaway_database

    receiver = Receiver()
    server = serve(receiver)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        with throwaway_database("bench_webhooks"):
            from moderation.models import OutboxEvent, WebhookDelivery
            from moderation.tasks_webhooks import deliver_webhooks, dispatch_webhooks

            log(f"generating {2 * listings} listings on {len(MARKETPLACES)} marketplaces…")
            # The senders wait for their own phase: nothing is sent while the removal is timed.
            with (
                mock.patch.object(deliver_webhooks, "delay", lambda *args: None),
                mock.patch.object(dispatch_webhooks, "delay", lambda *args: None),
            ):
                data = generate(2 * listings, base_url=base_url, receiver=receiver)
                delisted, removal_seconds = run_removal(data, workers=workers)
            events = OutboxEvent.objects.count()
            webhook_seconds = deliver(data["endpoints"])
            left = WebhookDelivery.objects.exclude(status="delivered").count()
            if left:
                raise SystemExit(f"{left} deliveries not delivered")
    finally:
        server.shutdown()
        server.server_close()
    lost = len(set(delisted) - receiver.listing_ids)
    out_of_order = sum(
        1 for sequences in receiver.sequences.values() for a, b in zip(sequences, sequences[1:], strict=False) if b < a
    )
    log(
        f"delivery: {events} events in {receiver.requests} requests ({receiver.failed} answered 500) "
        f"in {webhook_seconds:.1f} s; {lost} listings lost"
    )
    return {
        "benchmark": "integration_webhooks",
        "webhook_listings": len(delisted),
        "webhook_lost": lost,
        "webhook_seconds": round(webhook_seconds, 2),
        "removal_seconds": round(removal_seconds, 2),
        "webhook_ratio": round(webhook_seconds / removal_seconds, 3) if removal_seconds else None,
        "webhook_events": events,
        "webhook_requests": receiver.requests,
        "webhook_failed_requests": receiver.failed,
        "webhook_out_of_order": out_of_order,
        "webhook_unverified": receiver.unverified,
        "workers": workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--listings", type=int, default=1_000_000, help="listings the removal takes down (twice as many are generated)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes running the removal's chunks (default 2)")
    args = parser.parse_args()

    # Tasks inline, e-mail nowhere: what the removal queues is held back (see measure()).
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["EMAIL_URL"] = "dummy://"
    from bench._common import peak_rss_mb, print_result

    result = measure(args.listings, workers=args.workers)
    result["peak_rss_mb"] = peak_rss_mb()
    print_result(result)


if __name__ == "__main__":
    main()
