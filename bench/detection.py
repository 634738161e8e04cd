"""Benchmark: detection at scale and against hostile text, and the rules' quality on the corpora.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/detection.py --listings 1000000

1. Generates ``--listings`` listings in SQL: 85 % ordinary goods, 15 % the labelled
   corpus's rows (tests/data/detection/corpus.jsonl: banned products in every disguise and
   their innocent look-alikes), and the reference policy with its rules.
2. The bulk scan of every listing through the real code path (its chunks on ``--workers``
   processes, 2 by default, as two Celery workers would run them: read, normalise, match on
   RE2, queue) against PostgreSQL matching the rules' terms with one ``~*`` regex in a
   single SELECT (``scan_ratio``; goal ≤ 1.0). The SELECT sees no disguise: it is the
   cost of asking the database, not a detector of the same quality.
3. Scoring single listings at the field limits (title 200 characters, description 10,000,
   attributes 50 keys / 10,000 characters), with adversarial texts among them: long digit
   runs, long repetitions of a rule's prefix or of a hash rate, 10,000 CJK characters,
   mixed scripts, zero-width and emoji separators, spelt-out letters and leetspeak
   (``single_p50_ms``, ``single_p99_ms``, ``single_max_ms``; goal p99 ≤ 5 ms): the decision
   a seller's request waits for (flagged or not, the clause, the field). The highlights a
   moderator's page adds are timed too (``single_highlights_p99_ms``), after one warm-up
   pass over the same listings, as in a worker that has seen these characters before.
4. Precision and recall of the reference rules on both corpora together.

Last line: ``{"benchmark": "detection", "listings": …, "scan_seconds": …, "scan_baseline_seconds": …,
"scan_ratio": …, "single_p50_ms": …, "single_p99_ms": …, "single_max_ms": …, "single_highlights_p99_ms": …,
"corpus_precision": …, "corpus_recall": …}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"

from bench._common import (  # noqa: E402
    measure_scan,
    print_result,
    settle_database,
    throwaway_database,
)
from bench._generate import insert_sellers  # noqa: E402

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "data" / "detection"
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


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def corpus_rows(name: str) -> list[dict]:
    with (CORPORA / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def generate(listings: int):
    from django.db import connection
    from django.utils import timezone

    from moderation.demo import REFERENCE_CLAUSES, seed_reference_rules
    from moderation.services.audit import SystemActor
    from moderation.services.policies import announce_policy, create_policy
    from sellers import services as catalog

    actor = SystemActor("bench")
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    categories = [catalog.create_category(actor=actor, name=f"Goods {n}", parent=root) for n in range(1, 9)]
    texts = ORDINARY + [(row["title"], row["description"]) for row in corpus_rows("corpus.jsonl")]
    attributes = [{}] * len(ORDINARY) + [row["attributes"] for row in corpus_rows("corpus.jsonl")]
    corpus_size = len(texts) - len(ORDINARY)
    merchants = max(listings // 50, 10)
    with connection.cursor() as cursor:
        first_merchant = insert_sellers(cursor, marketplace_id=marketplace.pk, merchants=merchants)
        # 15 % of the rows are the corpus's (banned in every disguise, and look-alikes), the rest ordinary.
        cursor.execute(
            """
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price,
                                         currency, status, delisted_reason, previous_status, created_at, updated_at)
            SELECT %(first)s + (n::bigint * 7919) %% %(merchants)s,
                   (%(categories)s::bigint[])[1 + n %% 8],
                   (%(titles)s::text[])[k] || ' #' || n, (%(descriptions)s::text[])[k],
                   (%(attributes)s::jsonb[])[k], 10 + n %% 3000, 'USD', 'live', '', '', now(), now()
            FROM (
                SELECT n, CASE WHEN n %% 100 < 15 THEN %(ordinary)s + 1 + (n / 100) %% %(corpus)s
                               ELSE 1 + n %% %(ordinary)s END AS k
                FROM generate_series(1, %(listings)s) AS n
            ) AS rows
            """,
            {
                "first": first_merchant,
                "merchants": merchants,
                "categories": [c.pk for c in categories],
                "titles": [title for title, _ in texts],
                "descriptions": [description for _, description in texts],
                "attributes": [json.dumps(value, ensure_ascii=False) for value in attributes],
                "ordinary": len(ORDINARY),
                "corpus": corpus_size,
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
        body="Mining machines and virtual currencies are prohibited.",
        marketplaces=[marketplace],
        clauses=REFERENCE_CLAUSES,
        effective_at=now - timedelta(days=1),
        enforcement_starts_at=now + timedelta(days=7),
    )
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=2))
    seed_reference_rules(actor=actor, policy=policy)
    return policy


# --- Single listings at the field limits ---------------------------------------------

TITLE_LIMIT, DESCRIPTION_LIMIT, ATTRIBUTE_KEYS, ATTRIBUTES_LIMIT = 200, 10_000, 50, 10_000
CJK = "".join(chr(code) for code in range(0x4E00, 0x4E00 + 3000)) + "矿机挖比特币"  # common ideographs first
CONFUSABLE = "аеорсхАВЕКМНОРСТХіјѕαοινρτυ"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u00ad"


def _fit(text: str, limit: int) -> str:
    return (text * (limit // max(len(text), 1) + 1))[:limit]


def hostile_listings(count: int, rng: random.Random) -> list[dict]:
    """Listings at the field limits, a third of them adversarial."""
    corpus = corpus_rows("corpus.jsonl")
    makers = [
        lambda: "1" * DESCRIPTION_LIMIT,
        lambda: _fit("1 TH/s ", DESCRIPTION_LIMIT),
        lambda: _fit("antmine", DESCRIPTION_LIMIT),
        lambda: _fit("b i t c o ", DESCRIPTION_LIMIT),
        lambda: "".join(rng.choice(CJK) for _ in range(DESCRIPTION_LIMIT)),
        lambda: "矿" * DESCRIPTION_LIMIT,
        lambda: "".join(rng.choice(CONFUSABLE + "abcdefghij 0123456789") for _ in range(DESCRIPTION_LIMIT)),
        lambda: "".join(rng.choice("bitcoin") + rng.choice(ZERO_WIDTH) for _ in range(DESCRIPTION_LIMIT // 2)),
        lambda: _fit("m🔥", DESCRIPTION_LIMIT),
        lambda: _fit("b1tc0 ", DESCRIPTION_LIMIT),
        lambda: _fit("Ａｎｔ ｍｉｎｅｒ ", DESCRIPTION_LIMIT),
        lambda: _fit("a.", DESCRIPTION_LIMIT),
    ]
    listings = []
    for n in range(count):
        row = corpus[n % len(corpus)]
        if n % 3 == 0:
            description = makers[(n // 3) % len(makers)]()
        else:
            description = _fit(row["description"] + " " + rng.choice(ORDINARY)[1] + " ", DESCRIPTION_LIMIT)
        attributes = {f"attribute {k:02d}": _fit(row["title"], 190) for k in range(ATTRIBUTE_KEYS)}
        listings.append(
            {"title": _fit(row["title"] + " ", TITLE_LIMIT), "description": description, "attributes": attributes}
        )
    return listings


def measure_single(policy, *, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds per listing: deciding (what a seller's request waits for: flagged or not,
    the clause and the field), and deciding with the highlights a moderator's page shows."""
    from moderation.selectors.detection import policy_matcher

    matcher = policy_matcher(policy)
    listings = hostile_listings(count, random.Random(2021))
    for listing in listings:
        _ = matcher.score(**listing).spans  # a warm process: every character's table entry filled once
    deciding, highlighting = [], []
    for listing in listings:
        started = time.perf_counter()
        result = matcher.score(**listing)
        _ = (result.flagged, result.clause, result.fields)
        deciding.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _ = matcher.score(**listing).spans
        highlighting.append((time.perf_counter() - started) * 1000)
    return deciding, highlighting


def corpus_figures(policy) -> tuple[float, float]:
    from moderation.detection.evaluation import evaluate, load_corpus
    from moderation.selectors.detection import policy_matcher

    matcher = policy_matcher(policy)
    rows = load_corpus(CORPORA / "corpus.jsonl") + load_corpus(CORPORA / "holdout.jsonl")
    for name in ("corpus.jsonl", "holdout.jsonl"):
        part = evaluate(matcher, load_corpus(CORPORA / name))
        log(f"{name}: precision {part.precision:.3f}, recall {part.recall:.3f}")
    report = evaluate(matcher, rows)
    return report.precision, report.recall


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="processes running the scan's chunks (default 2)")
    parser.add_argument("--singles", type=int, default=3000, help="single listings scored at the field limits")
    args = parser.parse_args()

    with throwaway_database("bench_detection"):
        log(f"generating {args.listings} listings…")
        policy = generate(args.listings)
        scan_seconds, baseline, scanned, opened, matched = measure_scan(policy, workers=args.workers)
        log(
            f"bulk scan: {scanned} listings in {scan_seconds:.1f} s, {opened} items opened; "
            f"one ~* SELECT: {baseline:.1f} s ({matched} rows)"
        )
        samples, highlighted = measure_single(policy, count=args.singles)
        log(
            f"single listings at the limits: p50 {statistics.median(samples):.2f} ms, "
            f"p99 {percentile(samples, 0.99):.2f} ms, max {max(samples):.2f} ms; with highlights "
            f"p50 {statistics.median(highlighted):.2f} ms, p99 {percentile(highlighted, 0.99):.2f} ms"
        )
        precision, recall = corpus_figures(policy)

    print_result(
        {
            "benchmark": "detection",
            "listings": args.listings,
            "scan_seconds": round(scan_seconds, 2),
            "scan_baseline_seconds": round(baseline, 2),
            "scan_ratio": round(scan_seconds / baseline, 3),
            "single_p50_ms": round(statistics.median(samples), 3),
            "single_p99_ms": round(percentile(samples, 0.99), 3),
            "single_max_ms": round(max(samples), 3),
            "single_highlights_p99_ms": round(percentile(highlighted, 0.99), 3),
            "corpus_precision": round(precision, 4),
            "corpus_recall": round(recall, 4),
        }
    )


if __name__ == "__main__":
    main()
