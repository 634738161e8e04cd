"""Every decision against one merchant, in one list: listings delisted by a category removal,
violations (a moderator's take-down, a refused re-listing) and sanctions.

One statement per page, whatever the merchant's history or the page size: a UNION ALL of
three index-backed reads (the merchant's delisted listings, violations and sanctions),
ordered and cut in the database and counted in the same pass (``count(*) OVER ()``); then,
for the page's rows only, the appeal pending against each and whether a granted appeal
ended a delisting, each an index probe.

Hand-written SQL rather than the ORM's union: building and compiling three annotated
querysets cost several times what running them did, on the sellers' API's busiest list
(bench/api.py). Values are always bound parameters; only this module's fixed fragments go
into the text. It runs on PostgreSQL and on SQLite (the demo); where they differ (``_VENDOR``,
the moments' types and booleans) says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from moderation.models.appeals import OPEN_STATUSES

# A row of the list, as decision_page answers it (the list's own names: the models have fields of these names).
COLUMNS = (
    "key",
    "kind",
    "object_id",
    "measure",
    "status",
    "policy_id",
    "policy_title",
    "appeal_window_days",
    "clause_number",
    "listing_id",
    "summary",
    "decided_at",
    "automated",
)
# What each part of the union gives, in this order. The policy's title and window and the
# clause's number are looked up for the page's rows only, after the cut: fewer joins to plan
# and run than in each part, for every decision of the merchant.
PART_COLUMNS = (
    "key",
    "kind",
    "object_id",
    "measure",
    "status",
    "policy_id",
    "clause_id",
    "listing_id",
    "summary",
    "decided_at",
    "automated",
)
# Statuses under which a decision still weighs on the merchant, so an appeal can be filed.
IN_FORCE = frozenset({"active", "expired"})

# A violation's summary is the listing title its evidence recorded.
_VENDOR = {
    "postgresql": {"evidence_title": "v.evidence ->> 'title'"},
    "sqlite": {"evidence_title": "json_extract(v.evidence, '$.title')"},
}


@dataclass(frozen=True)
class _Part:
    columns: dict[str, str]  # PART_COLUMNS name → its expression; "decided_at" orders the list
    source: str
    merchant: str  # the rows of one merchant, and the index that finds them
    # A delisting's status is no column: it is "overturned" once an appeal against it was granted (_GRANTED).
    status_from_appeals: bool = False


PARTS = {
    "delisting": _Part(
        columns={
            "key": "'delisting-' || l.id",
            "kind": "'delisting'",
            "object_id": "l.id",
            "measure": "'listing_delisted'",
            "status": "'active'",
            "policy_id": "r.policy_id",
            "clause_id": "CAST(NULL AS bigint)",
            "listing_id": "l.id",
            "summary": "l.title",
            "decided_at": "l.delisted_at",
            "automated": "true",
        },
        source="sellers_listing AS l JOIN moderation_categoryremoval AS r ON r.id = l.delisted_by_removal_id",
        merchant="l.merchant_id = %(merchant)s AND l.status = 'delisted'",  # listing_merchant_status_idx
        status_from_appeals=True,
    ),
    "violation": _Part(
        columns={
            "key": "'violation-' || v.id",
            "kind": "'violation'",
            "object_id": "v.id",
            "measure": "v.kind",
            "status": "v.status",
            "policy_id": "v.policy_id",
            "clause_id": "v.clause_id",
            "listing_id": "v.listing_id",
            "summary": "{evidence_title}",
            "decided_at": "v.decided_at",
            "automated": "v.automated_decision",
        },
        source="moderation_violation AS v",
        merchant="v.merchant_id = %(merchant)s",  # the merchant foreign key's index
    ),
    "sanction": _Part(
        columns={
            "key": "'sanction-' || s.id",
            "kind": "'sanction'",
            "object_id": "s.id",
            "measure": "s.kind",
            "status": "s.status",
            "policy_id": "s.policy_id",
            "clause_id": "CAST(NULL AS bigint)",
            "listing_id": "CAST(NULL AS bigint)",
            "summary": "s.reason",
            "decided_at": "s.starts_at",
            "automated": "s.automated",
        },
        source="moderation_sanction AS s",
        merchant="s.merchant_id = %(merchant)s",  # sanction_merchant_idx
    ),
}

# Whether an appeal against the decision ``key`` was granted (migration 0019's
# appeal_granted_decision_idx): a granted appeal ends a delisting even when the listing
# could not go back (its category is closed).
_GRANTED = "EXISTS (SELECT 1 FROM moderation_appeal AS g WHERE g.decision_key = {key} AND g.status = 'granted')"
# The appeal pending against it: at most one (the unique index appeal_one_open_per_decision).
_OPEN = "SELECT o.id FROM moderation_appeal AS o WHERE o.decision_key = {key} AND o.status IN ({statuses})"
_OPEN_STATUSES = ", ".join(f"'{status}'" for status in OPEN_STATUSES)


@dataclass(frozen=True)
class DecisionFilters:
    """What the list is narrowed to (the API's DecisionFilter validated it), and its order."""

    kind: str | None = None
    policy_id: int | None = None
    status: str | None = None
    decided_after: datetime | None = None
    decided_before: datetime | None = None
    object_id: int | None = None
    newest_first: bool = True


def _part_sql(kind: str, filters: DecisionFilters) -> str | None:
    """One part's SELECT, or None when the filters leave nothing of it."""
    part = PARTS[kind]
    where = [part.merchant]
    if filters.policy_id is not None:
        where.append(f"{part.columns['policy_id']} = %(policy)s")
    if filters.decided_after is not None:
        where.append(f"{part.columns['decided_at']} >= %(after)s")
    if filters.decided_before is not None:
        where.append(f"{part.columns['decided_at']} < %(before)s")
    if filters.object_id is not None:
        where.append(f"{part.columns['object_id']} = %(object)s")
    if filters.status and not part.status_from_appeals:
        where.append(f"{part.columns['status']} = %(status)s")
    elif filters.status == "overturned":
        # Only with a status asked for is every delisting checked for a granted appeal;
        # otherwise only the page's rows are (see _page_sql).
        where.append(_GRANTED.format(key=part.columns["key"]))
    elif filters.status == "active":
        where.append("NOT " + _GRANTED.format(key=part.columns["key"]))
    elif filters.status:
        return None  # a delisting is never expired or lifted
    vendor = _VENDOR[connection.vendor]
    columns = ", ".join(f"{part.columns[name].format(**vendor)} AS {name}" for name in PART_COLUMNS)
    return f"SELECT {columns} FROM {part.source} WHERE {' AND '.join(where)}"


def _page_sql(filters: DecisionFilters) -> str | None:
    candidates = [_part_sql(kind, filters) for kind in PARTS if filters.kind in (None, kind)]
    parts = [part for part in candidates if part]
    if not parts:
        return None
    direction = "DESC" if filters.newest_first else "ASC"

    def order(table: str) -> str:
        return f"{table}.decided_at {direction}, {table}.key {direction}"  # the key breaks ties: pages never overlap

    return f"""
        SELECT page.key, page.kind, page.object_id, page.measure,
               CASE WHEN page.kind <> 'delisting' THEN page.status
                    WHEN {_GRANTED.format(key="page.key")} THEN 'overturned'
                    ELSE 'active' END,
               page.policy_id, p.title, p.appeal_window_days,
               (SELECT c.number FROM moderation_policyclause AS c WHERE c.id = page.clause_id),
               page.listing_id, page.summary, page.decided_at, page.automated,
               ({_OPEN.format(key="page.key", statuses=_OPEN_STATUSES)}),
               page.total
        FROM (
            SELECT decisions.*, count(*) OVER () AS total
            FROM ({" UNION ALL ".join(parts)}) AS decisions
            ORDER BY {order("decisions")}
            LIMIT %(limit)s OFFSET %(offset)s
        ) AS page
        JOIN moderation_policy AS p ON p.id = page.policy_id
        ORDER BY {order("page")}
    """


def _moment(value) -> datetime:
    # PostgreSQL answers aware datetimes; SQLite, through a union, the text Django stored (UTC).
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def decision_page(merchant_id: int, filters: DecisionFilters, *, limit: int, offset: int = 0) -> tuple[list[dict], int]:
    """One page of the merchant's decisions and how many there are in all: one query.

    Each row has the ``COLUMNS`` and ``open_appeal`` (the id of the appeal pending against
    it, or None), ``appeal_deadline`` and ``appealable``. A page past the end is empty, and
    its total unknown: 0 then.
    """
    sql = _page_sql(filters)
    if sql is None:
        return [], 0
    moment = connection.ops.adapt_datetimefield_value  # SQLite compares the text Django stores
    params = {
        "merchant": merchant_id,
        "policy": filters.policy_id,
        "after": moment(filters.decided_after),
        "before": moment(filters.decided_before),
        "object": filters.object_id,
        "status": filters.status,
        "limit": limit,
        "offset": offset,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    now = timezone.now()
    rows = []
    for *values, open_appeal, _total in fetched:
        row = dict(zip(COLUMNS, values, strict=True))
        row["decided_at"] = decided_at = _moment(row["decided_at"])
        row["automated"] = bool(row["automated"])  # SQLite answers 0 or 1
        row["open_appeal"] = open_appeal
        row["appeal_deadline"] = deadline = decided_at + timedelta(days=row["appeal_window_days"])
        row["appealable"] = row["status"] in IN_FORCE and now <= deadline and open_appeal is None
        rows.append(row)
    return rows, (fetched[0][-1] if fetched else 0)


def merchant_decision(merchant_id: int, kind: str, object_id: int) -> dict | None:
    """One of the merchant's decisions by kind and id (``violation``, 12); None when it is not one of theirs."""
    rows, _total = decision_page(merchant_id, DecisionFilters(kind=kind, object_id=object_id), limit=1)
    return rows[0] if rows else None
