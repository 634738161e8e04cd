"""Benchmark: seed the demo catalog at scale, through the same code as ``manage.py seed_demo``.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/seed.py --listings 1000000

Creates a throwaway database on that server, migrates it, seeds, drops it, and prints as
its last line ``{"benchmark": "seed", "rows": …, "seconds": …, "rows_per_second": …}``
(rows = listings seeded; seconds = the seeding alone, not the migration). There is no
hand-written baseline to compare with: the target is a million listings within 3 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import QueryCounter, peak_rss_mb, print_result, throwaway_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()

    with throwaway_database("bench_seed"):
        from moderation import demo
        from sellers.models import Listing

        def progress(message: str) -> None:
            print(f"  {time.perf_counter() - started:6.1f} s  {message}", file=sys.stderr, flush=True)

        started = time.perf_counter()
        with QueryCounter() as queries:
            summary = demo.seed_reference_case(seed=args.seed, listings=args.listings, progress=progress)
        seconds = time.perf_counter() - started
        rows = Listing.objects.count()
        if rows != summary.listings:
            raise SystemExit(f"seeded {summary.listings} listings but the table holds {rows}")

    print_result(
        {
            "benchmark": "seed",
            "rows": rows,
            "seconds": round(seconds, 1),
            "rows_per_second": round(rows / seconds),
            "merchants": summary.merchants,
            "queries": queries.count,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
