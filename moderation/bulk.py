"""Set-based machinery: id-range planning, the JSON bulk insert, and every vendor-specific statement.

Services call one function here for each set-based step; where PostgreSQL and SQLite (the
zero-setup demo) need different SQL, both versions sit side by side in that function, the
PostgreSQL one first. Production and CI run PostgreSQL; ``make test`` without DATABASE_URL
runs the SQLite twins, so a change to one twin is a change to both.

Nothing here decides anything: the services say which rows, this module says how to touch
many of them in a fixed number of statements.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models

from sellers.models import Listing, Merchant

# --- Planning id ranges ------------------------------------------------------------------------


def plan_id_ranges(
    *, ids_sql: str, params: Sequence[Any], chunk_size: int, cover_gaps: bool
) -> tuple[int, list[tuple[int, int]]]:
    """Split the ids ``ids_sql`` selects into inclusive ranges of ``chunk_size`` ids each.

    ``ids_sql`` selects one column named ``id``, each id once. One query: the database
    numbers the ids and sends back only the first and last of each range, not every id
    (the plan runs before any range can start). Returns (number of ids, [(first, last), …]).

    Ranges are bounds, not lists: a chunk re-applies its WHERE inside its range when it
    runs. ``cover_gaps``: each range reaches up to the id before the next range's first, so
    a row that enters the set between the plan and the run (inside a gap) is still taken;
    otherwise a range ends at its own last id.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, position, total FROM (
                SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position, COUNT(*) OVER () AS total
                FROM ({ids_sql}) AS ids
            ) AS numbered
            WHERE (position - 1) %% %s = 0 OR position %% %s = 0 OR position = total
            ORDER BY id
            """,
            [*params, chunk_size, chunk_size],
        )
        bounds = cursor.fetchall()
    if not bounds:
        return 0, []
    firsts = [pk for pk, position, _ in bounds if (position - 1) % chunk_size == 0]
    lasts = [pk for pk, position, total in bounds if position % chunk_size == 0 or position == total]
    if cover_gaps:
        lasts = [following - 1 for following in firsts[1:]] + lasts[-1:]
    return bounds[0][2], list(zip(firsts, lasts, strict=True))


def plan_listing_ranges(*, where: str, params: Sequence[Any], chunk_size: int) -> tuple[int, list[tuple[int, int]]]:
    """The listings ``WHERE <where>`` as id ranges of ``chunk_size`` listings (gaps covered), over an index on id."""
    return plan_id_ranges(
        ids_sql=f"SELECT id FROM sellers_listing WHERE {where}", params=params, chunk_size=chunk_size, cover_gaps=True
    )


# --- Writing many rows -------------------------------------------------------------------------


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot travel in a row")


def insert_rows(
    model: type[models.Model], rows: list[dict[str, Any]], *, returning: tuple[str, ...] = (), skip_existing: str = ""
) -> list[tuple]:
    """INSERT rows of ``model`` in one statement; the ``returning`` columns of each row inserted.

    A row maps field attnames to values; a field it leaves out takes the model's default,
    as in ``model(**row)``. ``skip_existing`` names a unique field: a row whose value is
    taken already (by a concurrent or repeated run) is skipped and not returned.

    On PostgreSQL the rows travel as one JSON document that the server unpacks
    (``jsonb_to_recordset``: as ``json`` the document was parsed twice, by the cast and the read):
    ``bulk_create`` binds each value of each row on the client (psycopg quotes every
    element of its UNNEST arrays in Python), which cost more than the inserts themselves
    for a few thousand notices or audit events. Like ``bulk_create``, this sends no
    signals and does not call ``save()``. Audit events go through
    ``moderation.services.audit.record_events``, which calls this.
    """
    if not rows:
        return []
    # Every column but the ones the database fills in (the id).
    columns = [column for column in model._meta.concrete_fields if not column.db_returning]
    names = {column.attname for column in columns}
    rows = [{**row} for row in rows]  # the caller's rows stay as they were
    for row in rows:
        if not names <= row.keys():
            for column in columns:
                if column.attname not in row:
                    row[column.attname] = column.get_default()
    if connection.vendor != "postgresql":
        return _insert_rows_with_orm(model, rows, returning=returning, skip_existing=skip_existing)
    for column in columns:
        if isinstance(column, models.JSONField):  # as Django stores it: through the field's own encoder
            encode, name = (column.encoder or json.JSONEncoder)().encode, column.attname
            for row in rows:
                if row[name] is not None:
                    row[name] = encode(row[name])
    quote = connection.ops.quote_name

    def unpacked(column) -> str:
        return f"r.{quote(column.attname)}" + ("::jsonb" if isinstance(column, models.JSONField) else "")

    def declared(column) -> str:
        kind = "text" if isinstance(column, models.JSONField) else column.db_type(connection)
        return f"{quote(column.attname)} {kind}"

    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(column.column) for column in columns)}) "
        f"SELECT {', '.join(unpacked(column) for column in columns)} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS r({', '.join(declared(column) for column in columns)})"
    )
    if skip_existing:
        sql += f" ON CONFLICT ({quote(model._meta.get_field(skip_existing).column)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_json_value, ensure_ascii=False)])
        return [tuple(found) for found in cursor.fetchall()] if returning else []


def _insert_rows_with_orm(model, rows: list[dict[str, Any]], *, returning, skip_existing: str) -> list[tuple]:
    """The same through ``bulk_create`` (SQLite: the demo). Its writers take turns, so reading first is enough."""
    instances = [model(**row) for row in rows]
    if skip_existing:
        taken = set(
            model.objects.filter(**{f"{skip_existing}__in": [row[skip_existing] for row in rows]}).values_list(
                skip_existing, flat=True
            )
        )
        instances = [instance for instance in instances if getattr(instance, skip_existing) not in taken]
    model.objects.bulk_create(instances)
    return [tuple(getattr(instance, name) for name in returning) for instance in instances]


# --- Merchants' enforcement status -------------------------------------------------------------


def write_merchant_statuses(statuses: list[tuple[int, str, datetime | None, bool]]) -> None:
    """(merchant, status, until, payouts held), in one UPDATE for all.

    PostgreSQL: from unnested arrays (a CASE per merchant, as ``bulk_update`` writes it, costs
    seconds for a few thousand merchants). SQLite: ``bulk_update``.
    """
    if not statuses:
        return
    if connection.vendor == "postgresql":
        ids, status, until, held = zip(*statuses, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE sellers_merchant AS m
                SET enforcement_status = new.status, enforcement_until = new.until, payouts_held = new.held
                FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::boolean[])
                    AS new(id, status, until, held)
                WHERE m.id = new.id
                """,
                [list(ids), list(status), list(until), list(held)],
            )
        return
    Merchant.objects.bulk_update(
        [
            Merchant(pk=pk, enforcement_status=status, enforcement_until=until, payouts_held=held)
            for pk, status, until, held in statuses
        ],
        ["enforcement_status", "enforcement_until", "payouts_held"],
    )


# --- Delisting a range of listings -------------------------------------------------------------


def delist_listing_range(
    *,
    first_id: int,
    last_id: int,
    category_ids: list[int],
    at: datetime,
    reason: str,
    removal_id: int,
    actor_name: str,
    verb: int,
    policy_id: int | None,
) -> dict[str, int]:
    """Delist the live listings of ``category_ids`` with ids in [first_id, last_id], one audit event each.

    The events say the listing went from live to delisted by this removal. Returns how many
    listings it took from each merchant (merchant id as text → count).
    """
    # Imported here: the door to the trail writes its rows through ``insert_rows`` above.
    from moderation.services import outbox
    from moderation.services.audit import events_insert_sql

    params = {
        # In SQLite's own text format (PostgreSQL takes the datetime as it is): a raw
        # parameter would be stored as "…+00:00" and never equal a time Django writes.
        "now": connection.ops.adapt_datetimefield_value(at),
        "reason": reason,
        "first": first_id,
        "last": last_id,
        "actor": actor_name,
        "verb": int(verb),
        "ct": ContentType.objects.get_for_model(Listing).pk,
        "policy": policy_id,
        "removal": removal_id,
        "before": json.dumps({"status": Listing.Status.LIVE}),
        "after": json.dumps({"status": Listing.Status.DELISTED, "removal": removal_id}),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: the UPDATE's RETURNING feeds the INSERT, so the audit rows
            # describe exactly the rows this statement delisted.
            audit = events_insert_sql(
                """
                SELECT %(now)s, NULL, %(actor)s, %(verb)s, %(ct)s, id, LEFT(title, 200),
                       merchant_id, %(policy)s, %(before)s::jsonb, %(after)s::jsonb, ''
                FROM delisted
                """
            )
            # The marketplaces' events of the same rows, in the same statement (DESIGN §3, rule 12).
            events, event_params = outbox.removal_delistings_sql(
                source="delisted", removal_id=removal_id, policy_id=policy_id, at=at
            )
            cursor.execute(
                f"""
                WITH delisted AS (
                    UPDATE sellers_listing
                    SET status = 'delisted', previous_status = status, delisted_at = %(now)s,
                        delisted_reason = %(reason)s, updated_at = %(now)s, delisted_by_removal_id = %(removal)s,
                        delisted_version = version
                    WHERE id BETWEEN %(first)s AND %(last)s AND status = 'live'
                      AND category_id = ANY(%(scope)s)
                    RETURNING id, merchant_id, title, external_id
                ), audit AS ({audit}), {events}
                SELECT merchant_id, COUNT(*) FROM delisted GROUP BY merchant_id
                """,
                {**params, "scope": category_ids, **event_params},
            )
            return {str(merchant_id): count for merchant_id, count in cursor.fetchall()}
        # SQLite: no data-modifying CTE, but a write transaction holds the whole database, so
        # statements over the same WHERE see the same rows.
        placeholders = ", ".join(str(int(pk)) for pk in category_ids) or "NULL"
        where = f"id BETWEEN %(first)s AND %(last)s AND status = 'live' AND category_id IN ({placeholders})"
        cursor.execute(
            events_insert_sql(
                f"""
                SELECT %(now)s, NULL, %(actor)s, %(verb)s, %(ct)s, id, SUBSTR(title, 1, 200),
                       merchant_id, %(policy)s, %(before)s, %(after)s, ''
                FROM sellers_listing WHERE {where}
                """
            ),
            params,
        )
        cursor.execute(f"SELECT merchant_id, COUNT(*) FROM sellers_listing WHERE {where} GROUP BY merchant_id", params)
        merchant_counts = {str(merchant_id): count for merchant_id, count in cursor.fetchall()}
        cursor.execute(f"SELECT id FROM sellers_listing WHERE {where}", params)
        outbox.removal_delistings(
            listing_ids=[pk for (pk,) in cursor.fetchall()], removal_id=removal_id, policy_id=policy_id, at=at
        )
        cursor.execute(
            f"""
            UPDATE sellers_listing
            SET status = 'delisted', previous_status = status, delisted_at = %(now)s,
                delisted_reason = %(reason)s, updated_at = %(now)s, delisted_by_removal_id = %(removal)s,
                delisted_version = version
            WHERE {where}
            """,
            params,
        )
        return merchant_counts


# --- Commit durability -----------------------------------------------------------------------


def skip_wal_flush_at_commit() -> None:
    """This transaction's commit does not wait for its WAL flush (PostgreSQL; SQLite has no such knob).

    Only for work that a crash may lose whole and that runs again by itself: the caller says why.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
