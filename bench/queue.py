"""Benchmark: the review queue page, its search, "claim next", the moderator's loop and the bulk
scan, against their baselines and goals.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/queue.py --listings 1000000

Run as production runs (DEBUG off, HTTPS behind a proxy, collected static files, the database
cache). Opens 100,000 items at most: ``--listings 100000`` or more gives the 10^5 open items the
goals are set at (``open_items`` says how many there were).

1. Generates ``--listings`` listings in SQL in the demo catalog's proportions (12 % mining
   products, 6 % innocent look-alikes such as data-mining books and mining helmets, the rest
   ordinary goods), and the reference policy's detection rules.
2. Queue page (default filters, by priority), server time through Django's test client:
   - SQL queries for 25 and for 100 rows per page;
   - its time with 1,000 open items and with 100,000 (``scale_ratio``);
   - against the Django admin's change list of the same items, same page size (``admin_ratio``).
3. Search, at 100,000 open items: the page with ``?q=`` a model name ("antminer"), a Chinese word
   inside titles ("挖矿") and the start of a word ("whatsmin"), each found in 2 % of the items,
   the counts beside the filters on; the plain page and the searches take turns. ``plain_ms``,
   ``search_ms`` (the slowest search, viewed again: its counts cached a few seconds as the
   header's are), ``search_ratio`` = search_ms / plain_ms, goal <= 1.5; ``search_first_ms``, the
   slowest search's first view (its counts counted).
4. "Claim next" through the service against the same statements through a cursor (``claim_ratio``).
5. The moderator's loop through the pages, at 100,000 open items: open the claimed item, take it
   down (a clause, a note to the merchant), which claims the next one and opens it. ``loop_ms``,
   the median of one loop per item (server time; the tasks it queues are not run), goal <= 60 ms;
   ``loop_queries``, its SQL statements.
6. The bulk scan of every listing through the real code path (its chunks on ``--workers``
   processes, 2 by default, as two Celery workers would run them) against PostgreSQL
   matching the same terms with one ``~*`` regex in a single SELECT (``scan_ratio``).

Last line: ``{"benchmark": "queue", "queries_25": …, "queries_100": …, "scale_ratio": …, "admin_ratio": …,
"claim_ratio": …, "scan_seconds": …, "scan_baseline_seconds": …, "scan_ratio": …, "open_items": …,
"plain_ms": …, "search_ms": …, "search_ratio": …, "search_first_ms": …, "loop_ms": …, "loop_queries": …}``.
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
    "以太坊显卡挖矿实战课",
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
                   CASE WHEN n %% 100 < 12 THEN (%(mining)s::text[])[1 + n %% 6]
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
    """Open ``count`` review items on live listings, set-based (the queue's contents, not timed).

    Each cites the policy's first clause, as an item opened by its rules does.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO moderation_reviewitem
                (listing_id, policy_id, merchant_id, marketplace_id, category_id, source, tier, score,
                 matched_terms, spans, priority, status, due_at, decision, decision_reason, created_at, clause_id,
                 search_text)
            SELECT l.id, %(policy)s, l.merchant_id, m.marketplace_id, l.category_id, 'detection', 'moderator',
                   10 + l.id %% 40, '["antminer"]'::jsonb, '{}'::jsonb, 10 + l.id %% 40, 'open',
                   now() + interval '1 day' - (l.id %% 48) * interval '1 hour', '', '', now(),
                   (SELECT id FROM moderation_policyclause WHERE policy_id = %(policy)s ORDER BY number LIMIT 1),
                   {search_text}
            FROM sellers_listing l JOIN sellers_merchant m ON m.id = l.merchant_id
            WHERE l.status = 'live' AND NOT EXISTS (
                SELECT 1 FROM moderation_reviewitem r WHERE r.listing_id = l.id AND r.policy_id = %(policy)s
            )
            ORDER BY l.id LIMIT %(count)s
            """.replace("{search_text}", SEARCH_TEXT_SQL),
            {"policy": policy.pk, "count": count},
        )
        # As autovacuum would after so many inserts: statistics, and the search index's pending
        # list of new entries merged into it (read in full by every search until then).
        cursor.execute("VACUUM ANALYZE moderation_reviewitem")
    check_search_text()


# moderation.search.search_text in SQL, for the texts generated here (ASCII, and Chinese with no
# Traditional nor full-width character): each text lower-cased, every Chinese character a word of
# its own, blanks collapsed, padded; one line each. ``check_search_text`` compares it with the code's.
SEARCH_TEXT_SQL = """
    concat_ws(E'\\n',
        regexp_replace(regexp_replace(' ' || lower(m.store_name) || ' ', '([一-鿿])', ' \\1 ', 'g'), '\\s+', ' ', 'g'),
        regexp_replace(regexp_replace(' ' || lower(l.title) || ' ', '([一-鿿])', ' \\1 ', 'g'), '\\s+', ' ', 'g'),
        regexp_replace(regexp_replace(' ' || lower(l.description) || ' ', '([一-鿿])', ' \\1 ', 'g'), '\\s+', ' ', 'g'))
"""


def check_search_text() -> None:
    """The items' search text written in SQL is the one the services write (a sample of each title)."""
    from moderation.models import ReviewItem
    from moderation.search import search_text

    sample = ReviewItem.objects.select_related("listing", "merchant").order_by("listing_id")[:40]
    for item in sample:
        expected = search_text(
            store_name=item.merchant.store_name, title=item.listing.title, description=item.listing.description
        )
        assert item.search_text == expected, (item.search_text, expected)


def open_item_count() -> int:
    from moderation.models import ReviewItem

    return ReviewItem.objects.filter(status__in=["open", "claimed"]).count()


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


# A moderator's searches: a model name that a few % of the items carry, a Chinese word inside a
# title ("挖矿", no spaces around it), and the start of a word as one types it.
SEARCHES = {"word": "antminer", "chinese": "挖矿", "partial": "whatsmin"}


def measure_searches(client, *, rounds: int = 15) -> tuple[float, dict[str, float], dict[str, float]]:
    """Median seconds of the plain queue page and of the page with each search, the counts beside
    the filters on: (plain, {search: seconds}, {search: seconds of its first view}).

    The plain page and the searches take turns, round after round, so that whatever else loads the
    machine weighs on both alike. Viewed again, a search's counts are cached a few seconds per
    moderator and search, as the header's figures are (and as the plain page is timed); its first
    view counts the matching items by every filter's options (the header's figures cached, as
    another moderator's view leaves them). Each search must find rows and show its counts, or it
    measures nothing.
    """
    from urllib.parse import urlencode

    from django.core.cache import cache

    plain_url = "/backoffice/queue/"
    urls = {name: f"{plain_url}?{urlencode({'q': text})}" for name, text in SEARCHES.items()}
    for name, url in urls.items():
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200, (name, response.status_code)
        assert '<tr data-href="/backoffice/queue/' in page, f"the search {SEARCHES[name]!r} found no item"
        assert "Detection (" in page, f"no counts beside the filters with the search {SEARCHES[name]!r}"

    def seconds(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        return elapsed

    plain, again = [], {name: [] for name in urls}
    for _ in range(rounds):
        plain.append(seconds(plain_url))
        for name, url in urls.items():
            again[name].append(seconds(url))
    first = {name: [] for name in urls}
    for _ in range(rounds // 2):
        for name, url in urls.items():
            cache.clear()
            client.get(plain_url)  # the header's figures, as the last view of anyone left them
            first[name].append(seconds(url))
    median = statistics.median
    return median(plain), {n: median(v) for n, v in again.items()}, {n: median(v) for n, v in first.items()}


def search_hits() -> dict[str, int]:
    """How many open items each search finds (through the queue's filter, untimed)."""
    from moderation.filters import ReviewItemFilter
    from moderation.models import ReviewItem

    items = ReviewItem.objects.filter(status__in=["open", "claimed"])
    return {
        name: ReviewItemFilter(user=None).filter_search(items, "q", text).count() for name, text in SEARCHES.items()
    }


def measure_loop(client, policy, *, items: int = 60, warm_up: int = 5) -> tuple[list[float], float]:
    """The moderator's loop through the pages, as server time: open the claimed item, take it down
    (a clause and a note to the merchant), which claims the next one and sends the browser to it.

    Tasks the decision queues after commit (the notice's e-mail, the escalation check) are
    recorded, not run: a Celery worker runs them, not the request. Returns the seconds of each
    loop and the SQL statements of one, on average.
    """
    from unittest import mock

    from celery.app.task import Task

    from moderation.models import ReviewItem

    clause = policy.clauses.order_by("number").values_list("pk", flat=True).first()

    def item_id(response) -> int:
        assert response.status_code == 302, (response.status_code, response.content[:300])
        return int(response["Location"].rstrip("/").rsplit("/", 1)[1])

    def one_loop(current: int) -> int:
        page = client.get(f"/backoffice/queue/{current}/")
        assert page.status_code == 200, page.status_code
        decided = client.post(
            f"/backoffice/queue/{current}/take-down/",
            {"clause": clause, "kind": "prohibited_listing", "reason": "Mining hardware is prohibited here."},
        )
        return item_id(decided)

    samples, queries = [], []
    with mock.patch.object(Task, "apply_async"):
        current = item_id(client.post("/backoffice/queue/claim-next/"))
        for number in range(warm_up + items):
            started = time.perf_counter()
            with QueryCounter() as counter:
                following = one_loop(current)
            elapsed = time.perf_counter() - started
            assert ReviewItem.objects.filter(pk=current, decision="taken_down").exists()
            current = following
            if number >= warm_up:
                samples.append(elapsed)
                queries.append(counter.count)
        ReviewItem.objects.filter(status="claimed").update(status="open", claimed_by=None, claimed_until=None)
    return samples, statistics.mean(queries)


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
        small_count = open_item_count()
        small = page_time(moderators, "/backoffice/queue/")
        open_items(policy, 99_000)
        large_count = open_item_count()
        large = page_time(moderators, "/backoffice/queue/")
        admin_time = page_time(admins, "/admin/moderation/reviewitem/?o=-6.1")  # same order: priority, id
        log(
            f"queue page: {small * 1000:.1f} ms at {small_count:,} open items, {large * 1000:.1f} ms at "
            f"{large_count:,}; admin change list {admin_time * 1000:.1f} ms; queries {queries_25} (25 rows), "
            f"{queries_100} (100 rows)"
        )

        (plain, searches, first_views), hits = measure_searches(moderators), search_hits()
        search, search_first = max(searches.values()), max(first_views.values())
        log(
            "search: "
            + ", ".join(
                f"{text!r} {searches[name] * 1000:.1f} ms, first view {first_views[name] * 1000:.1f} ms "
                f"({hits[name]:,} items)"
                for name, text in SEARCHES.items()
            )
            + f"; the page without: {plain * 1000:.1f} ms"
        )

        claim, claim_bare = measure_claim(policy, moderator)
        log(f"claim next: {claim * 1000:.2f} ms, bare SQL {claim_bare * 1000:.2f} ms")

        loops, loop_queries = measure_loop(moderators, policy)
        loop_p50 = statistics.median(loops)
        log(
            f"moderator's loop (open, take down, next): p50 {loop_p50 * 1000:.1f} ms, "
            f"max {max(loops) * 1000:.1f} ms over {len(loops)} items; {loop_queries:.1f} queries each"
        )

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
            "open_items": large_count,
            "plain_ms": round(plain * 1000, 1),
            "search_ms": round(search * 1000, 1),
            "search_ratio": round(search / plain, 3),
            "search_first_ms": round(search_first * 1000, 1),
            "loop_ms": round(loop_p50 * 1000, 1),
            "loop_queries": round(loop_queries, 1),
        }
    )


if __name__ == "__main__":
    main()
