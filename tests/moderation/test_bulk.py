"""The set-based machinery (``moderation.bulk``): one id-range planner for listings and merchants."""

from __future__ import annotations

import random

import pytest

from moderation.bulk import plan_id_ranges

IDS = [1, 2, 3, 7, 8, 20, 21]


def ids_sql(ids: list[int]) -> str:
    # A literal set of ids that both PostgreSQL and SQLite read.
    return " UNION ALL ".join(f"SELECT {pk} AS id" for pk in ids) if ids else "SELECT 1 AS id WHERE 1 = 0"


def reference(ids: list[int], chunk_size: int, *, cover_gaps: bool) -> list[tuple[int, int]]:
    """The ranges, worked out in Python from every id."""
    firsts = ids[::chunk_size]
    if cover_gaps:
        return [(first, (firsts[n + 1] - 1) if n + 1 < len(firsts) else ids[-1]) for n, first in enumerate(firsts)]
    return [(ids[n], ids[min(n + chunk_size, len(ids)) - 1]) for n in range(0, len(ids), chunk_size)]


@pytest.mark.parametrize(
    ("chunk_size", "cover_gaps", "expected"),
    [
        (3, False, [(1, 3), (7, 20), (21, 21)]),
        (3, True, [(1, 6), (7, 20), (21, 21)]),
        (7, True, [(1, 21)]),
        (100, False, [(1, 21)]),
        (1, True, [(1, 1), (2, 2), (3, 6), (7, 7), (8, 19), (20, 20), (21, 21)]),
    ],
)
def test_it_splits_the_ids_into_ranges(db, chunk_size, cover_gaps, expected):
    assert plan_id_ranges(ids_sql=ids_sql(IDS), params=[], chunk_size=chunk_size, cover_gaps=cover_gaps) == (
        len(IDS),
        expected,
    )


@pytest.mark.parametrize("cover_gaps", [False, True])
def test_no_ids_make_no_ranges_and_one_id_one(db, cover_gaps):
    assert plan_id_ranges(ids_sql=ids_sql([]), params=[], chunk_size=5, cover_gaps=cover_gaps) == (0, [])
    assert plan_id_ranges(ids_sql=ids_sql([42]), params=[], chunk_size=5, cover_gaps=cover_gaps) == (1, [(42, 42)])


def test_every_id_falls_in_exactly_one_range_whatever_the_sizes(db):
    draw = random.Random(16)
    for _ in range(20):
        ids = sorted(draw.sample(range(1, 500), draw.randint(1, 60)))
        chunk_size = draw.randint(1, 25)
        for cover_gaps in (False, True):
            total, ranges = plan_id_ranges(
                ids_sql=ids_sql(ids), params=[], chunk_size=chunk_size, cover_gaps=cover_gaps
            )
            assert (total, ranges) == (len(ids), reference(ids, chunk_size, cover_gaps=cover_gaps))
            assert all(sum(first <= pk <= last for first, last in ranges) == 1 for pk in ids)
