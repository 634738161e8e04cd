"""Benchmark: retire two categories holding half of the listings, through the real code path.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/retire_category.py --listings 2000000

1. Generates ``--listings`` listings (half of them in the two categories to retire) and a
   merchant per hundred listings, with set-based SQL (not timed).
2. Times the removal as production runs it: ``start_removal`` claims it, retires the
   categories and plans the chunks; the chunks run on ``--workers`` processes (2 by
   default, as two Celery workers would run them); the last one writes a notice per
   merchant: chunks, audit events, progress, notices. E-mail delivery, queued for other
   workers, is timed apart.
3. Puts the listings back, empties the audit table, vacuums, and times the hand-written
   baseline: one UPDATE of the listings and one INSERT … SELECT of their audit rows, in
   one transaction.

Last line: ``{"benchmark": "retire_category", "listings": …, "seconds": …, "baseline_seconds": …,
"ratio": …, "chunk_size": …, "peak_rss_mb": …}`` (``listings`` = the number delisted).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Chunks run inline as Celery tasks; e-mails go nowhere.
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"

from bench._common import (  # noqa: E402
    QueryCounter,
    peak_rss_mb,
    print_result,
    run_on_workers,
    settle_database,
    throwaway_database,
)


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def generate(listings: int) -> dict:
    """Marketplace, categories, merchants and listings, generated in SQL."""
    from django.db import connection

    from moderation.services.audit import SystemActor
    from sellers import services as catalog

    actor = SystemActor("bench")
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    banned = [
        catalog.create_category(actor=actor, name="Blockchain Miners", parent=root),
        catalog.create_category(actor=actor, name="Blockchain Miner Accessories", parent=root),
    ]
    others = [catalog.create_category(actor=actor, name=f"Gadgets {n}", parent=root) for n in range(1, 9)]
    merchants = max(listings // 100, 10)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sellers_merchant (marketplace_id, store_name, company_name, country, contact_email,
                                          language, enforcement_status, payouts_held, created_at)
            SELECT %s, 'Store ' || n, 'Company ' || n || ' Ltd.', 'CN', 'seller' || n || '@example.com',
                   CASE WHEN n %% 3 = 0 THEN 'en' ELSE 'zh-hans' END, 'active', false, now()
            FROM generate_series(1, %s) AS n
            """,
            [marketplace.pk, merchants],
        )
        cursor.execute("SELECT min(id), max(id) FROM sellers_merchant")
        first_merchant, last_merchant = cursor.fetchone()
        banned_ids = [c.pk for c in banned]
        other_ids = [c.pk for c in others]
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
                "banned": banned_ids,
                "others": other_ids,
                "listings": listings,
            },
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sellers_listing")
        cursor.execute("VACUUM ANALYZE sellers_merchant")
    settle_database()
    return {"marketplace": marketplace, "banned": banned, "merchants": merchants}


def removal_chunk(chunk_id: int) -> None:
    from moderation.services.removals import run_removal_chunk

    run_removal_chunk(chunk_id=chunk_id)


def run_real(data: dict, chunk_size: int, workers: int) -> tuple[int, float, float, int]:
    from django.conf import settings
    from django.utils import timezone

    from moderation.models import CategoryRemoval
    from moderation.services.audit import SystemActor
    from moderation.services.notices import send_pending_notices as deliver_all
    from moderation.services.policies import ClauseText, announce_policy, create_policy
    from moderation.services.removals import schedule_removal, start_removal
    from moderation.tasks import run_removal_chunk as run_removal_chunk_task
    from moderation.tasks import send_pending_notices

    settings.REMOVAL_CHUNK_SIZE = chunk_size
    actor = SystemActor("bench")
    now = timezone.now()
    policy = create_policy(
        actor=actor,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Mining machines are prohibited.",
        marketplaces=[data["marketplace"]],
        categories=data["banned"],
        clauses=[ClauseText(1, "Mining hardware and software", "Bitcoin miners are prohibited.")],
        effective_at=now - timedelta(minutes=1),
        enforcement_starts_at=now + timedelta(days=7),
    )
    # Announced with its notices to every merchant hit: not timed (it happens days before).
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(minutes=2))
    removal = schedule_removal(actor=actor, policy=policy, categories=data["banned"], scheduled_for=now)
    log(f"dry run: {removal.dry_run['listings']} listings of {removal.dry_run['merchants']} merchants")
    # E-mail delivery is queued for other workers in production; here it is held back
    # and timed on its own after the removal.
    # The chunks go to ``workers`` processes, as they would to Celery workers.
    queued_mailings, queued_chunks = [], []
    started = time.perf_counter()
    with (
        QueryCounter() as queries,
        mock.patch.object(send_pending_notices, "delay", lambda *args: queued_mailings.append(args)),
        mock.patch.object(run_removal_chunk_task, "delay", queued_chunks.append),
    ):
        start_removal(removal_id=removal.pk)
        run_on_workers(removal_chunk, queued_chunks, workers=workers)
    seconds = time.perf_counter() - started
    mail_started = time.perf_counter()
    sent = deliver_all()
    email_seconds = time.perf_counter() - mail_started
    log(f"e-mail: {sent} notices sent in {email_seconds:.1f} s (not part of the removal's time)")
    removal.refresh_from_db()
    if removal.status != CategoryRemoval.Status.COMPLETED or removal.listings_done != removal.dry_run["listings"]:
        raise SystemExit(f"removal ended {removal.status} with {removal.listings_done} delisted")
    log(
        f"real path: {seconds:.1f} s, {removal.chunks_total} chunks, {queries.count} queries, "
        f"{removal.merchants_notified} notices"
    )
    return removal.listings_done, seconds, email_seconds, policy.pk


def restore(data: dict) -> None:
    """Undo the real run so the baseline starts from the same rows (not timed)."""
    from django.db import connection

    banned_ids = [c.pk for c in data["banned"]]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sellers_listing SET status = 'live', previous_status = '', delisted_at = NULL, "
            "delisted_reason = '' WHERE category_id = ANY(%s)",
            [banned_ids],
        )
        # TRUNCATE is the one way the append-only trigger leaves open, to the tables' owner.
        cursor.execute("TRUNCATE moderation_auditevent CASCADE")
        cursor.execute("VACUUM ANALYZE sellers_listing")
    settle_database()


def run_baseline(data: dict, policy_id: int) -> tuple[int, float]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from moderation.models import AuditVerb
    from sellers.models import Listing

    banned_ids = [c.pk for c in data["banned"]]
    content_type = ContentType.objects.get_for_model(Listing).pk
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sellers_listing
            SET status = 'delisted', previous_status = status, delisted_at = now(),
                delisted_reason = 'Category closed.', updated_at = now()
            WHERE status = 'live' AND category_id = ANY(%s)
            """,
            [banned_ids],
        )
        delisted = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO moderation_auditevent
                (occurred_at, actor_id, actor_name, verb, target_type_id, target_id, target_repr,
                 merchant_id, policy_id, before, after, reason)
            SELECT now(), NULL, 'task:baseline', %s, %s, id, LEFT(title, 200), merchant_id, %s,
                   '{"status": "live"}'::jsonb, '{"status": "delisted"}'::jsonb, ''
            FROM sellers_listing WHERE status = 'delisted' AND category_id = ANY(%s)
            """,
            [int(AuditVerb.LISTING_DELISTED_BY_REMOVAL), content_type, policy_id, banned_ids],
        )
    seconds = time.perf_counter() - started
    log(f"baseline: {seconds:.1f} s for {delisted} listings")
    return delisted, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=2_000_000, help="total listings; half are retired")
    parser.add_argument("--workers", type=int, default=2, help="processes running the chunks (default 2)")
    parser.add_argument("--chunk-size", type=int, default=None, help="default: REMOVAL_CHUNK_SIZE (20000)")
    args = parser.parse_args()

    with throwaway_database("bench_retire"):
        from django.conf import settings

        chunk_size = args.chunk_size or settings.REMOVAL_CHUNK_SIZE
        log(f"generating {args.listings} listings…")
        data = generate(args.listings)
        delisted, seconds, email_seconds, policy_id = run_real(data, chunk_size, args.workers)
        restore(data)
        baseline_delisted, baseline_seconds = run_baseline(data, policy_id)
        if baseline_delisted != delisted:
            raise SystemExit(f"baseline delisted {baseline_delisted}, the real path {delisted}")

    print_result(
        {
            "benchmark": "retire_category",
            "listings": delisted,
            "seconds": round(seconds, 2),
            "baseline_seconds": round(baseline_seconds, 2),
            "ratio": round(seconds / baseline_seconds, 3),
            "chunk_size": chunk_size,
            "workers": args.workers,
            "email_seconds": round(email_seconds, 2),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
