"""Splitting a set of listings into id ranges, for work spread over chunks and workers."""

from __future__ import annotations

from django.db import connection


def plan_id_ranges(*, where: str, params: list, chunk_size: int) -> tuple[int, list[tuple[int, int]]]:
    """Split the listings ``WHERE <where>`` into id ranges of ``chunk_size`` listings each.

    One pass over an index on id: the id of every ``chunk_size``-th listing starts a
    range. Returns (number of listings, [(first_id, last_id), …]). Ranges are bounds, not
    lists: a chunk re-applies the same WHERE inside its range when it runs.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, total FROM (
                SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position, COUNT(*) OVER () AS total
                FROM sellers_listing
                WHERE {where}
            ) numbered
            WHERE (position - 1) %% %s = 0 OR position = total
            ORDER BY id
            """,
            [*params, chunk_size],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0, []
    total = rows[0][1]
    last_id = rows[-1][0]
    starts = [row[0] for row in rows]
    if total > 1 and (total - 1) % chunk_size != 0:
        starts = starts[:-1]  # the last row marks where the final range ends, not a new start
    ranges = [(start, (starts[i + 1] - 1) if i + 1 < len(starts) else last_id) for i, start in enumerate(starts)]
    return total, ranges
