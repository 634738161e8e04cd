"""Duplicate groups: listings with the same or nearly the same content, decided together.

Grouping happens as review items arrive (``open_review_items`` calls ``group_new_items`` in its
transaction, for the items it created: detection of one listing, a bulk scan's chunk, a
reinstatement), never when a page is viewed. Each item's listing is fingerprinted
(``moderation.detection.fingerprint``) and the item joins the group whose founding content is
its exact copy, or the most similar one at ``SIMILARITY_THRESHOLD`` or above; otherwise it founds
a group of its own, the centre its later copies find. An item's ``duplicate_group`` is set only
once its group has two members (the founder's with the first that joins): the queue shows a
group where there is something to decide together, and an item alike to none is never written
to twice.

Set-based per batch of arrivals (``LOOKUP_BATCH`` items): one probe for exact copies, one for
LSH candidates, one read of the candidates' signatures, then the writes (new groups, their
bands, the items' group, the sizes, the audit events) in a handful of statements, whatever the
number of items. The comparisons between the batch's own items happen in memory.

Concurrency: two transactions grouping at once would not see each other's new groups, and two
copies arriving in two scan chunks would found two groups. On PostgreSQL grouping takes a
transaction-level advisory lock, so groupings run one after the other, each seeing what the
previous one committed (read committed: every statement takes a fresh snapshot). The lock is
taken after the items are inserted and held until the caller's commit. Under it the transaction
writes new rows, group sizes and the ``duplicate_group`` of founders: a founder being decided
meanwhile is locked by that moderator's transaction, which only delays the grouping, since
deciding never opens review items and so never waits for this lock. SQLite runs one writer at a
time.

Deciding a group's members goes through the queue's own services, one member at a time, each in
its own transaction (``decide_group``): every member gets its violation, its notice with the
statement of reasons, and its audit events, exactly as if decided on its own page.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models
from django.db.models import Case, F, IntegerField, Value, When, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text
from moderation.detection.fingerprint import (
    SIMILARITY_THRESHOLD,
    Fingerprint,
    fingerprint,
    signature_from_bytes,
)
from moderation.models import (
    AuditVerb,
    DuplicateGroup,
    DuplicateSignatureBand,
    Policy,
    PolicyClause,
    ReviewItem,
    Violation,
)
from moderation.services.audit import Actor, EventRow, record_events
from moderation.services.queue import BulkOutcome, dismiss_item, take_down_listing
from sellers.models import Listing

# Arrivals fingerprinted and looked up together: 1,000 items make 16,000 band keys, one IN list
# within SQLite's limit of 32,766 parameters (PostgreSQL takes them as one array: ``_bigints``).
LOOKUP_BATCH = 1_000
# Groups read per band key at most, the oldest first. A band key is shared by the groups of
# near-identical content: a wave of copies that keep missing the threshold (estimates scatter by
# about 0.05) founds many, and text built to collide could found thousands. Past the cap the
# newer ones go unread: an item may found a group instead of joining one, which costs a
# moderator a second look, never a wrong decision; and a lookup costs the same whatever the wave.
GROUPS_PER_KEY = 4
# Per arriving item, the candidate groups compared, those sharing the most bands first.
CANDIDATES_COMPARED = 8
# Rows per statement when setting the items' group and inserting band rows (16 a group): on SQLite,
# three parameters a row, within its limit of 32,766.
WRITE_BATCH = 1_000
# The advisory lock that serialises grouping on PostgreSQL (any constant: this one is crc32("duplicate-groups")).
GROUPING_LOCK = zlib.crc32(b"duplicate-groups")


@dataclass(eq=False)  # compared and hashed by identity: the batch counts them in Counters
class _Group:
    """A group as the batch sees it: a stored one (``pk`` set) or one this batch founds."""

    pk: int | None
    signature: tuple[int, ...]
    founder_id: int | None = None
    size: int = 0  # members before this batch (0: founded by it)
    joined: list[int] = field(default_factory=list)  # this batch's items, in order
    fingerprint: Fingerprint | None = None  # for a group founded now: what its row and bands are cut from

    @property
    def size_after(self) -> int:
        return self.size + len(self.joined)

    @property
    def newly_shown(self) -> list[int]:
        """The items whose ``duplicate_group`` this batch sets: a group of one shows nobody, so
        its founder is shown with the first item that joins it."""
        if self.size_after < 2:
            return []
        founder = [self.founder_id] if self.size == 1 and self.founder_id is not None else []
        return founder + self.joined


def group_new_items(*, items: Sequence[tuple[int, Listing]], policy: Policy, actor: Actor, now: datetime) -> int:
    """Put each new review item in its duplicate group, founding groups as needed. Returns how many
    items joined a group that already had a member (an existing one or one this call founded).

    ``items``: (review item id, its listing) for the items just created, in creation order.
    Runs inside the caller's transaction (``open_review_items``).
    """
    arrivals = []
    known: dict[tuple[str, str], Fingerprint | None] = {}  # a wave of copies is fingerprinted once
    for item_id, listing in items:
        content = (listing.title, listing.description)
        found = known[content] if content in known else known.setdefault(content, fingerprint(*content))
        if found is not None:  # nothing left to compare (a title of emoji only): not grouped
            arrivals.append((item_id, found))
    if not arrivals:
        return 0
    _serialise_grouping()
    grouped = 0
    iterator = iter(arrivals)
    while batch := list(islice(iterator, LOOKUP_BATCH)):
        grouped += _group_batch(batch, policy=policy, actor=actor, now=now)
    return grouped


def _serialise_grouping() -> None:
    """Wait for any other transaction that is grouping, until it commits (see the module docstring)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GROUPING_LOCK])


def _group_batch(batch: list[tuple[int, Fingerprint]], *, policy: Policy, actor: Actor, now: datetime) -> int:
    """1. Read the existing groups the batch may join (exact copies, then LSH candidates).
    2. Place each item, in order, against those and the groups founded earlier in the batch.
    3. Write the new groups and their bands, the items' group, the sizes, the audit events."""
    existing, by_exact, by_band = _existing_candidates(batch)
    founded: list[_Group] = []
    for item_id, found in batch:
        group = by_exact.get(found.exact_key) or _most_similar(found, by_band)
        if group is None:
            group = _Group(pk=None, signature=found.signature, founder_id=item_id, fingerprint=found)
            founded.append(group)
            by_exact[found.exact_key] = group
            for key in found.band_keys:
                same_band = by_band.setdefault(key, [])
                if len(same_band) < GROUPS_PER_KEY:  # as when read back: the oldest first
                    same_band.append(group)
        group.joined.append(item_id)
    joined = [group for group in existing if group.joined]
    _write(founded, joined, now=now)
    touched = [*founded, *joined]
    _audit(touched, policy=policy, actor=actor, now=now)
    # A group's founder found nothing similar; every other member did.
    return sum(len(group.joined) - (group.size == 0) for group in touched)


def _existing_candidates(
    batch: list[tuple[int, Fingerprint]],
) -> tuple[list[_Group], dict[int, _Group], dict[int, list[_Group]]]:
    """The stored groups the batch may join: the exact copies of its items (by exact key), and the
    groups that share an LSH band with one of them, at most ``GROUPS_PER_KEY`` per band key (the
    oldest: a wave of copies gathers in its first groups). Three queries."""
    exact_keys = {found.exact_key for _item, found in batch}
    band_keys = {key for _item, found in batch for key in found.band_keys}
    exact = dict(
        DuplicateGroup.objects.filter(exact_key__in=_bigints(exact_keys))
        .order_by("-pk")  # the oldest last, so it wins the dict: copies gather in one group
        .values_list("exact_key", "pk")
    )
    rank = Window(RowNumber(), partition_by=[F("key")], order_by=[F("group_id").asc()])
    rows = (
        DuplicateSignatureBand.objects.filter(key__in=_bigints(band_keys))
        .annotate(rank=rank)
        .filter(rank__lte=GROUPS_PER_KEY)
        .values_list("key", "group_id")
    )
    groups_by_key: dict[int, list[int]] = {}
    for key, group_id in rows:
        groups_by_key.setdefault(key, []).append(group_id)
    wanted = set(exact.values()).union(*groups_by_key.values())
    stored = (
        DuplicateGroup.objects.filter(pk__in=wanted).values_list("pk", "signature", "size", "founder_id")
        if wanted
        else []
    )
    groups = {
        pk: _Group(pk=pk, signature=signature_from_bytes(signature), size=size, founder_id=founder_id)
        for pk, signature, size, founder_id in stored
    }
    by_exact = {key: groups[pk] for key, pk in exact.items() if pk in groups}
    by_band = {key: [groups[pk] for pk in group_ids if pk in groups] for key, group_ids in groups_by_key.items()}
    return list(groups.values()), by_exact, by_band


def _bigints(values: set[int]):
    """The right side of an ``__in`` over many 64-bit keys: on PostgreSQL one array parameter
    (``IN (SELECT unnest(%s::bigint[]))``), since psycopg spent more time turning a batch's 16,000
    separate parameters into a query than the server took to answer it (measured); elsewhere the list."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [sorted(values)])
    return values


def _most_similar(found: Fingerprint, by_band: dict[int, list[_Group]]) -> _Group | None:
    """The candidate group most similar to ``found``, if any reaches the threshold."""
    sharing = Counter(group for key in found.band_keys for group in by_band.get(key, ()))
    best, best_estimate = None, 0.0
    for group, _shared in sharing.most_common(CANDIDATES_COMPARED):
        estimate = found.similarity_to(group.signature)
        if estimate >= SIMILARITY_THRESHOLD and estimate > best_estimate:
            best, best_estimate = group, estimate
    return best


def _write(founded: list[_Group], joined: list[_Group], *, now: datetime) -> None:
    """The batch's writes, a few statements whatever its size: the groups it founds and their
    bands, the group of each item that now has a similar one, and the sizes of the stored groups
    it joined. An item alone in its group is not written to (most items, and a scan's cost)."""
    # A group this batch founds always has its founder and fingerprint (``_group_batch`` sets both).
    rows = [
        DuplicateGroup(
            founder_id=group.founder_id,  # type: ignore[misc]  # set for every founded group
            exact_key=group.fingerprint.exact_key,  # type: ignore[union-attr]  # idem
            signature=group.fingerprint.signature_bytes(),  # type: ignore[union-attr]  # idem
            size=len(group.joined),
            created_at=now,
        )
        for group in founded
    ]
    DuplicateGroup.objects.bulk_create(rows)  # ids come back (RETURNING, PostgreSQL and SQLite alike)
    for group, row in zip(founded, rows, strict=True):
        group.pk = row.pk
    bands: list[tuple[int, int, int]] = []
    for group in founded:
        assert group.pk is not None and group.fingerprint is not None  # just stored, cut from its fingerprint
        bands.extend((group.pk, band, key) for band, key in enumerate(group.fingerprint.band_keys))
    _insert_bands(bands)
    _set_groups(
        [(item_id, group.pk) for group in [*founded, *joined] if group.pk is not None for item_id in group.newly_shown]
    )
    if joined:
        # F(): the new members are added to what is stored, not to what was read.
        DuplicateGroup.objects.filter(pk__in=[group.pk for group in joined]).update(
            size=F("size")
            + Case(
                *(When(pk=group.pk, then=Value(len(group.joined))) for group in joined),
                default=Value(0),
                output_field=IntegerField(),
            )
        )


def _insert_bands(rows: list[tuple[int, int, int]]) -> None:
    """The band rows of the groups just founded: (group, band, key), ``WRITE_BATCH`` rows a statement.

    Hand-written, where ``bulk_create`` would do: it prepares each value of each row in Python,
    16 rows a group, and took 0.47 s of a 2,400-item scan's 2.1 s of grouping in bench/queue.py's
    data (measured, most of it preparing values); the rows are plain integers.
    """
    table = connection.ops.quote_name(DuplicateSignatureBand._meta.db_table)
    fields = [DuplicateSignatureBand._meta.get_field(name) for name in ("group", "band", "key")]
    columns = ", ".join(
        connection.ops.quote_name(str(field.column)) for field in fields if isinstance(field, models.Field)
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), WRITE_BATCH):
            with_rows, params = _integer_rows(
                "new_band", ("group_id", "band", "key"), rows[start : start + WRITE_BATCH]
            )
            cursor.execute(f"{with_rows} INSERT INTO {table} ({columns}) SELECT * FROM new_band", params)


def _set_groups(pairs: list[tuple[int, int]]) -> None:
    """``duplicate_group`` of each (item, group), ``WRITE_BATCH`` rows a statement.

    Hand-written, where Django's ``bulk_update`` would do: that writes one ``CASE WHEN id = …``
    branch per row, and on bench/queue.py's data it took 0.57 s for a scan's 2,400 grouped items
    against 0.17 s for this join (measured, PostgreSQL). SQLite runs it too (3.33 and later:
    ``UPDATE … FROM``).
    """
    table = connection.ops.quote_name(ReviewItem._meta.db_table)
    column = connection.ops.quote_name(ReviewItem._meta.get_field("duplicate_group").column)
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), WRITE_BATCH):
            with_rows, params = _integer_rows("assigned", ("item_id", "group_id"), pairs[start : start + WRITE_BATCH])
            cursor.execute(
                f"{with_rows} UPDATE {table} SET {column} = assigned.group_id "
                f"FROM assigned WHERE {table}.id = assigned.item_id",
                params,
            )


def _integer_rows(name: str, columns: tuple[str, ...], rows: Sequence[tuple[int, ...]]) -> tuple[str, list]:
    """``WITH name (columns) AS (…)`` over rows of integers, and its parameters: on PostgreSQL
    one array a column (``unnest``), since psycopg spends longer turning thousands of separate
    parameters into a query than the server takes to run it (measured); elsewhere ``VALUES``."""
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(["%s::bigint[]"] * len(columns))
        return f"WITH {name} ({names}) AS (SELECT * FROM unnest({arrays}))", [
            list(values) for values in zip(*rows, strict=True)
        ]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"WITH {name} ({names}) AS (VALUES {', '.join([row] * len(rows))})", [value for r in rows for value in r]


def _audit(touched: list[_Group], *, policy: Policy, actor: Actor, now: datetime) -> None:
    """One event per group that this batch made a group of two or more (``DUPLICATE_GROUP_FORMED``)
    or added members to (``DUPLICATE_GROUP_JOINED``); a group of one is only a centre, not news.

    Grouping decides nothing about anyone, so it is recorded per group, not per item: a scan
    chunk that gathers 300 copies writes one event, listing them.
    """
    for verb, these in (
        (AuditVerb.DUPLICATE_GROUP_FORMED, [group for group in touched if group.size < 2]),
        (AuditVerb.DUPLICATE_GROUP_JOINED, [group for group in touched if group.size >= 2]),
    ):
        record_events(
            actor=actor,
            verb=verb,
            target_type=DuplicateGroup,
            at=now,
            rows=[
                EventRow(
                    target_id=group.pk,
                    target_repr=f"Similar listings #{group.pk}",
                    policy_id=policy.pk,
                    before={"size": group.size},
                    after={"size": group.size_after, "items": group.newly_shown},
                )
                for group in these
                if group.newly_shown and group.pk is not None
            ],
        )


# --- Deciding a group -------------------------------------------------------------------------


def decide_group(
    *,
    actor,
    group: DuplicateGroup,
    item_ids: Iterable[int],
    decision: str,
    reason: str = "",
    clause: PolicyClause | None = None,
    kind: str = Violation.Kind.PROHIBITED_LISTING,
) -> list[BulkOutcome]:
    """Decide the chosen members of a group, each through the queue's own service in its own
    transaction: a take-down records the member's violation, delists its listing and sends its
    merchant a notice with the statement of reasons; a dismissal keeps its reason per item.

    One member refused (decided by someone else meanwhile, held by another moderator, escalated
    beyond the actor, no clause to cite) leaves the others decided; each outcome is reported, in
    the order of the ids. An id that is not a member of ``group`` is refused, not decided: the
    page asked about this group only.

    ``clause`` applies to members of its policy; the others cite the clause their own matching
    rules point to, as each would on its own page.
    """
    if decision not in {ReviewItem.Decision.TAKEN_DOWN, ReviewItem.Decision.DISMISSED}:
        raise ValidationError({"decision": _("Choose take down or dismiss.")})
    if decision == ReviewItem.Decision.DISMISSED and not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why these are not violations.")})
    wanted = list(dict.fromkeys(item_ids))
    members = {item.pk: item for item in ReviewItem.objects.filter(duplicate_group=group, pk__in=wanted)}
    outcomes = []
    for item_id in wanted:
        item = members.get(item_id)
        if item is None:
            outcomes.append(BulkOutcome(item_id, False, _("Not one of these similar listings.")))
            continue
        try:
            if decision == ReviewItem.Decision.TAKEN_DOWN:
                cited = clause if clause is not None and clause.policy_id == item.policy_id else None
                take_down_listing(actor=actor, item=item, clause=cited, reason=reason, kind=kind)
            else:
                dismiss_item(actor=actor, item=item, reason=reason)
        except (ValidationError, IntegrityError) as error:
            message = " ".join(getattr(error, "messages", [str(error)]))
            outcomes.append(BulkOutcome(item_id, False, message))
        else:
            outcomes.append(BulkOutcome(item_id, True, "done"))
    return outcomes
