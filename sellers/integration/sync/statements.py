"""The set-based statements of a batch: each writes or reads a thousand rows in one round trip.

PostgreSQL first; each has its SQLite twin (the demo), as ``moderation.bulk``'s do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection, models
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from moderation.bulk import insert_rows
from sellers.models import Category, Listing, ListingVersion


def lock_objects(marketplace_id: int, objects: Iterable[tuple[str, str]]) -> None:
    """A transaction-level advisory lock per object of the batch, taken in one statement in key order
    (two batches sharing objects take them in the same order: no deadlock between them).

    The key is 64 bits of a hash of (marketplace, kind, id): two objects sharing a key only wait on
    each other. SQLite (the demo) takes one writer at a time: nothing to lock.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"sync:{marketplace_id}:{kind}:{external_id}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for kind, external_id in objects
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(key)) FROM (SELECT unnest(%s::bigint[]) AS key ORDER BY 1) AS keys",
            [keys],
        )


def bulk_update(model, rows: list, fields: list[str]) -> None:
    """Write ``fields`` of every row in one UPDATE. PostgreSQL: from a JSON document unpacked by the
    server (``bulk_update`` writes a CASE per row and column: a 1,000-row statement of megabytes,
    slower to plan than to run). SQLite: ``bulk_update``."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields)
        return
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]

    def is_json(column) -> bool:
        return column.get_internal_type() == "JSONField"

    # A JSON column travels as its text, as Django writes it; decimals as strings and times in ISO 8601
    # to the microsecond, which PostgreSQL reads back exactly.
    document = [
        {
            "pk": row.pk,
            **{
                column.attname: (
                    json.dumps(getattr(row, column.attname), ensure_ascii=False)
                    if is_json(column)
                    else getattr(row, column.attname)
                )
                for column in columns
            },
        }
        for row in rows
    ]
    declared = ", ".join(
        [f"pk {model._meta.pk.db_type(connection)}"]
        + [f"{quote(column.attname)} {'text' if is_json(column) else column.db_type(connection)}" for column in columns]
    )
    assignments = ", ".join(
        f"{quote(column.column)} = r.{quote(column.attname)}" + ("::jsonb" if is_json(column) else "")
        for column in columns
    )
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM jsonb_to_recordset(%s::jsonb) AS r({declared}) "
            f"WHERE {table}.{quote(model._meta.pk.column)} = r.pk",
            [json.dumps(document, default=json_scalar, ensure_ascii=False)],
        )


def json_scalar(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot travel in a row")


def one_of(model, field: str, values: Iterable) -> Q | RawSQL:
    """``field IN (values)`` for up to a thousand values: on PostgreSQL one array parameter (``= ANY``),
    where the ORM prepares a placeholder per value (about 4 ms per thousand, five times per batch)."""
    values = list(values)
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(field).column)}"
    return RawSQL(f"{column} = ANY(%s)", (values,), output_field=BooleanField())


def insert_listings(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Insert new listings; (external id, id) of each. PostgreSQL: one statement from a JSON document
    whose attributes travel as JSON (``insert_rows`` writes each as a JSON string inside it: twice the
    encoding, a tenth of the insert's time). SQLite: ``insert_rows``."""
    if connection.vendor != "postgresql":
        return [(external_id, pk) for external_id, pk in insert_rows(Listing, rows, returning=("external_id", "id"))]
    quote = connection.ops.quote_name
    columns = [column for column in Listing._meta.concrete_fields if not column.db_returning]
    declared = ", ".join(
        f"{quote(column.attname)} {'jsonb' if isinstance(column, models.JSONField) else column.db_type(connection)}"
        for column in columns
    )
    names = ", ".join(quote(str(column.column)) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Listing._meta.db_table)} ({names}) "
            f"SELECT {', '.join('r.' + quote(column.attname) for column in columns)} "
            f"FROM jsonb_to_recordset(%s::jsonb) AS r({declared}) RETURNING external_id, id",
            [json.dumps(rows, default=json_scalar, ensure_ascii=False)],
        )
        return cursor.fetchall()


class Versioned(Protocol):
    """What a content version is read from: a listing, or a new one's row."""

    @property
    def pk(self) -> Any: ...
    @property
    def version(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def attributes(self) -> Any: ...
    @property
    def category_id(self) -> Any: ...


def insert_versions(listings: Sequence[Versioned], *, created_by: str, at: datetime) -> None:
    """Each listing's current content as its version ``listing.version``, once: a version recorded already
    stays (``sellers.versions.ensure_versions``' rule), in one statement (it builds a model instance per
    row: a tenth of a batch's time for a thousand)."""
    if not listings:
        return
    rows = [
        {
            "listing_id": listing.pk,
            "number": listing.version,
            "title": listing.title,
            "description": listing.description,
            "attributes": listing.attributes,
            "category_id": listing.category_id,
            "created_at": at,
            "created_by": created_by[:150],
        }
        for listing in listings
    ]
    if connection.vendor != "postgresql":
        ListingVersion.objects.bulk_create([ListingVersion(**row) for row in rows], ignore_conflicts=True)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sellers_listingversion (listing_id, number, title, description, attributes, category_id, "
            "created_at, created_by) "
            "SELECT r.listing_id, r.number, r.title, r.description, r.attributes, r.category_id, r.created_at, "
            "r.created_by FROM jsonb_to_recordset(%s::jsonb) AS r(listing_id bigint, number integer, title text, "
            "description text, attributes jsonb, category_id bigint, created_at timestamptz, created_by text) "
            "ON CONFLICT (listing_id, number) DO NOTHING",
            [json.dumps(rows, default=json_scalar, ensure_ascii=False)],
        )


def categories_for_share(slugs: list[str]) -> dict[str, Category]:
    """The categories of these slugs, with what retired them, locked FOR SHARE until the batch commits.

    A removal retires a category with an UPDATE, which waits for the share lock: it cannot retire
    one between this read and the batch's commit (and its chunks then see the batch's listings).
    Share locks do not wait on each other: concurrent batches in the same categories go on.
    (The sellers' API locks the category FOR UPDATE, one listing at a time.)
    """
    slugs = sorted(set(slugs))
    if not slugs:
        return {}
    queryset = Category.objects.filter(slug__in=slugs)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Category._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE slug = ANY(%s) ORDER BY id FOR SHARE", [slugs])
            cursor.fetchall()
    found = {category.slug: category for category in queryset.select_related("retired_by_removal__policy")}
    return found
