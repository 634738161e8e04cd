"""Benchmark: the review queue page, "claim next" and the bulk scan, against their baselines.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/queue.py --listings 1000000

1. Generates ``--listings`` listings in SQL in the demo catalog's proportions (12 % mining
   products, 6 % innocent look-alikes such as data-mining books and mining helmets, the rest
   ordinary goods), and the reference policy's detection rules.
2. Queue page (default filters, by priority), server time through Django's test client:
   - SQL queries for 25 and for 100 rows per page;
   - its time with 1,000 open items and with 100,000 (``scale_ratio``);
   - against the Django admin's change list of the same items, same page size (``admin_ratio``).
3. "Claim next" through the service against the same statements through a cursor (``claim_ratio``).
4. The bulk scan of every listing through the real code path (its chunks on ``--workers``
   processes, 2 by default, as two Celery workers would run them) against PostgreSQL
   matching the same terms with one ``~*`` regex in a single SELECT (``scan_ratio``).

Last line: ``{"benchmark": "queue", "queries_25": …, "queries_100": …, "scale_ratio": …, "admin_ratio": …,
"claim_ratio": …, "scan_seconds": …, "scan_baseline_seconds": …, "scan_ratio": …}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file is named
# like the standard library's ``queue`` (which psycopg and Celery import): drop the folder.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
# As in production (README), the pages sit behind a TLS-terminating proxy that says so, and
# their static files are collected (hashed names) before they are served.
os.environ["BEHIND_PROXY"] = "1"
STATIC_DIR = Path(tempfile.mkdtemp(prefix="bench_queue_static_"))
os.environ["STATIC_ROOT"] = str(STATIC_DIR)

from bench._common import (  # noqa: E402
    QueryCounter,
    measure_scan,
    print_result,
    settle_database,
    throwaway_database,
)

MINING_TITLES = [
    "Antminer S19 Pro 110TH/s Bitcoin miner",
    "Whatsminer M30S 88TH/s SHA-256 mining machine",
    "比特币矿机 蚂蚁 S19 二手",
    "Litecoin L3+ 504MH/s scrypt ASIC miner",
    "6 GPU mining rig frame for Ethereum",
]
LOOKALIKE_TITLES = [
    "Data Mining: Concepts and Techniques (3rd edition)",
    "Mining safety helmet with LED lamp",
    "NVIDIA RTX 3080 gaming graphics card",
    "Gold panning kit for beginners",
]
ORDINARY_TITLES = [
    "USB-C charging cable 2 m",
    "Wireless mechanical keyboard",
    "Stainless steel water bottle 750 ml",
    "Bluetooth earbuds with charging case",
    "LED desk lamp with USB port",
    "Phone case for iPhone 13, shockproof",
]


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def timed(function, *, repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def generate(listings: int) -> dict:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.utils import timezone

    from moderation.demo import seed_reference_rules
    from moderation.services.audit import SystemActor
    from moderation.services.policies import ClauseText, announce_policy, create_policy
    from sellers import services as catalog

    actor = SystemActor("bench")
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    categories = [catalog.create_category(actor=actor, name=f"Gadgets {n}", parent=root) for n in range(1, 9)]
    merchants = max(listings // 50, 10)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sellers_merchant (marketplace_id, store_name, company_name, country, contact_email,
                                          language, enforcement_status, payouts_held, created_at)
            SELECT %s, 'Store ' || n, 'Company ' || n || ' Ltd.', 'CN', 'seller' || n || '@example.com',
                   'en', 'active', false, now()
            FROM generate_series(1, %s) AS n
            """,
            [marketplace.pk, merchants],
        )
        cursor.execute("SELECT min(id) FROM sellers_merchant")
        first_merchant = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price,
                                         currency, status, delisted_reason, previous_status, created_at, updated_at)
            SELECT %(first)s + (n::bigint * 7919) %% %(merchants)s,
                   (%(categories)s::bigint[])[1 + n %% 8],
                   CASE WHEN n %% 100 < 12 THEN (%(mining)s::text[])[1 + n %% 5]
                        WHEN n %% 100 < 18 THEN (%(lookalike)s::text[])[1 + n %% 4]
                        ELSE (%(ordinary)s::text[])[1 + n %% 6] END || ' #' || n,
                   'Fast shipping from Shenzhen. Wholesale prices, OEM welcome.', '{}'::jsonb,
                   10 + n %% 3000, 'USD', 'live', '', '', now(), now()
            FROM generate_series(1, %(listings)s) AS n
            """,
            {
                "first": first_merchant,
                "merchants": merchants,
                "categories": [c.pk for c in categories],
                "mining": MINING_TITLES,
                "lookalike": LOOKALIKE_TITLES,
                "ordinary": ORDINARY_TITLES,
                "listings": listings,
            },
        )
        cursor.execute("VACUUM ANALYZE sellers_listing")
    settle_database()
    now = timezone.now()
    policy = create_policy(
        actor=actor,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Mining machines are prohibited.",
        marketplaces=[marketplace],
        clauses=[ClauseText(1, "Mining hardware and software", "Bitcoin miners are prohibited.")],
        effective_at=now - timedelta(days=1),
        enforcement_starts_at=now + timedelta(days=7),
    )
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=2))
    seed_reference_rules(actor=actor, policy=policy)
    moderator = User.objects.create_user("bench-moderator", password="bench")
    moderator.groups.add(Group.objects.get(name="moderator"))
    admin = User.objects.create_superuser("bench-admin", "admin@example.com", "bench")
    return {"policy": policy, "moderator": moderator, "admin": admin}


def open_items(policy, count: int) -> None:
    """Open ``count`` review items on mining listings, set-based (the queue's contents, not timed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO moderation_reviewitem
                (listing_id, policy_id, merchant_id, marketplace_id, category_id, source, tier, score,
                 matched_terms, spans, priority, status, due_at, decision, decision_reason, created_at)
            SELECT l.id, %(policy)s, l.merchant_id, m.marketplace_id, l.category_id, 'detection', 'moderator',
                   10 + l.id %% 40, '["antminer"]'::jsonb, '{}'::jsonb, 10 + l.id %% 40, 'open',
                   now() + interval '1 day' - (l.id %% 48) * interval '1 hour', '', '', now()
            FROM sellers_listing l JOIN sellers_merchant m ON m.id = l.merchant_id
            WHERE l.status = 'live' AND NOT EXISTS (
                SELECT 1 FROM moderation_reviewitem r WHERE r.listing_id = l.id AND r.policy_id = %(policy)s
            )
            ORDER BY l.id LIMIT %(count)s
            """,
            {"policy": policy.pk, "count": count},
        )
        cursor.execute("ANALYZE moderation_reviewitem")


def page_time(client, url: str, *, repeat: int = 15) -> float:
    def fetch():
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    return timed(fetch, repeat=repeat)


def page_queries(client, url: str) -> int:
    client.get(url)  # warm: sessions, content types
    with QueryCounter() as counter:
        response = client.get(url)
    assert response.status_code == 200, (response.status_code, response.content[:500])
    return counter.count


def measure_claim(policy, moderator) -> tuple[float, float]:
    """Claim next through the service vs the same two statements through a cursor; each claim released."""
    from django.db import connection, transaction
    from django.utils import timezone

    from moderation.models import ReviewItem
    from moderation.services.queue import claim_next_item

    def release():
        ReviewItem.objects.filter(status="claimed").update(status="open", claimed_by=None, claimed_until=None)

    def service():
        claim_next_item(actor=moderator)
        release()

    def bare():
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT id FROM moderation_reviewitem
                WHERE (status = 'open' OR (status = 'claimed' AND claimed_until < %s)) AND tier IN ('moderator')
                ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED
                """,
                [now],
            )
            (item_id,) = cursor.fetchone()
            cursor.execute(
                "UPDATE moderation_reviewitem SET status = 'claimed', claimed_by_id = %s, claimed_until = %s "
                "WHERE id = %s",
                [moderator.pk, now + timedelta(minutes=15), item_id],
            )
            cursor.execute(
                "INSERT INTO moderation_auditevent (occurred_at, actor_id, actor_name, verb, target_type_id, "
                "target_id, target_repr, merchant_id, policy_id, before, after, reason) "
                "VALUES (%s, %s, %s, 402, (SELECT id FROM django_content_type WHERE model = 'reviewitem'), "
                "%s, '', NULL, %s, '{}'::jsonb, '{}'::jsonb, '')",
                [now, moderator.pk, moderator.username, item_id, policy.pk],
            )
        release()

    return timed(service, repeat=50), timed(bare, repeat=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="processes running the scan's chunks (default 2)")
    args = parser.parse_args()

    with throwaway_database("bench_queue"):
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client

        call_command("collectstatic", interactive=False, verbosity=0)

        log(f"generating {args.listings} listings…")
        data = generate(args.listings)
        policy, moderator, admin = data["policy"], data["moderator"], data["admin"]
        # Over HTTPS, as production serves the pages (with DEBUG off, plain HTTP is redirected).
        https = {"X-Forwarded-Proto": "https"}
        moderators, admins = Client(headers=https), Client(headers=https)
        moderators.force_login(moderator)
        admins.force_login(admin)

        open_items(policy, 1_000)
        settings.REVIEW_QUEUE_PAGE_SIZE = 25
        queries_25 = page_queries(moderators, "/backoffice/queue/")
        settings.REVIEW_QUEUE_PAGE_SIZE = 100
        queries_100 = page_queries(moderators, "/backoffice/queue/")
        settings.REVIEW_QUEUE_PAGE_SIZE = 50
        small = page_time(moderators, "/backoffice/queue/")
        open_items(policy, 99_000)
        large = page_time(moderators, "/backoffice/queue/")
        admin_time = page_time(admins, "/admin/moderation/reviewitem/?o=-6.1")  # same order: priority, id
        log(
            f"queue page: {small * 1000:.1f} ms at 1,000 open items, {large * 1000:.1f} ms at 100,000; "
            f"admin change list {admin_time * 1000:.1f} ms; queries {queries_25} (25 rows), {queries_100} (100 rows)"
        )

        claim, claim_bare = measure_claim(policy, moderator)
        log(f"claim next: {claim * 1000:.2f} ms, bare SQL {claim_bare * 1000:.2f} ms")

        # The 100,000 items opened above stay: the scan skips listings that have one open.
        scan_seconds, baseline_seconds, scanned, _opened, matched = measure_scan(policy, workers=args.workers)
        log(
            f"bulk scan: {scanned} listings in {scan_seconds:.1f} s; one ~* SELECT: {baseline_seconds:.1f} s "
            f"({matched} rows)"
        )

    shutil.rmtree(STATIC_DIR, ignore_errors=True)
    print_result(
        {
            "benchmark": "queue",
            "queries_25": queries_25,
            "queries_100": queries_100,
            "scale_ratio": round(large / small, 3),
            "admin_ratio": round(large / admin_time, 3),
            "claim_ratio": round(claim / claim_bare, 3),
            "scan_seconds": round(scan_seconds, 2),
            "scan_baseline_seconds": round(baseline_seconds, 2),
            "scan_ratio": round(scan_seconds / baseline_seconds, 3),
        }
    )


if __name__ == "__main__":
    main()
