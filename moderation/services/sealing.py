"""Sealing the audit trail in chained checkpoints, and verifying the seal.

A checkpoint hashes a batch of events in id order (SHA-256 over their canonical form) and
chains that hash to the previous checkpoint's. Verification recomputes every batch and the
chain: an edited event changes its batch's hash, a deleted or inserted one its count, a
rewritten or removed checkpoint breaks the chain after it, and an event written after a
seal but dated before it (a back-dated insert) shows in its time.

The subtlety is concurrency. An event's id is drawn when its INSERT runs but the row is seen
only when its transaction commits: a transaction still in flight can commit an id lower than
ids already sealed, and verification would then find an honest event "inserted" into a
sealed range. So the sealer seals only up to a bound below which every transaction that drew
an id has ended. Every INSERT statement into the trail first takes a shared advisory lock
for the rest of its transaction (a statement trigger, migration 0025), before its ids are
drawn; the sealer takes that lock exclusively in a short transaction, reads ``max(id)`` and
the database's time, and commits. Holding the lock proves that no inserting transaction was
running; later ones draw higher ids (sequences hand out increasing numbers: Django's have no
per-session cache). SQLite (the demo) has one writer at a time, whose uncommitted ids are all
above the committed ``max(id)``: no lock there.

The canonical form of a batch is the JSON text (ASCII, no spaces) of the array of its rows,
each row the array of every column of the event (``EVENT_COLUMNS``): NULL is ``null`` and
text is a JSON string, so NULL and "" differ and no separator can be forged. Times are the
database's text of them (UTC, microseconds); the JSON columns are the database's text too:
jsonb's text output on PostgreSQL is canonical (keys sorted, one spacing), SQLite's is the
text stored. Rows are read with a raw cursor in id-range pages, never as model instances: a
million events seal in a few seconds (bench/audit_seal.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from moderation.models import AuditCheckpoint, AuditEvent, AuditVerification
from moderation.models.audit import EVENT_COLUMNS, GENESIS_HASH
from moderation.services.audit import Actor, actor_label

logger = logging.getLogger(__name__)

# The advisory lock every insert into the trail shares; migration 0025's trigger spells the
# same number. No other advisory lock in the project uses it.
SEAL_LOCK_KEY = 6_173_720_911
# How long the sealer waits for inserts in flight. While it waits, new inserts queue behind
# it, so the wait is short; if it runs out, this round is skipped and the next one tries.
SEAL_LOCK_TIMEOUT_MS = 1000
LOCK_NOT_AVAILABLE = "55P03"

# Events per checkpoint: about a second of hashing, and 10 checkpoint rows per million events.
CHECKPOINT_EVENTS = 100_000
# Rows per SELECT: 10,000 events are about 3 MB of text in this process.
PAGE_EVENTS = 10_000
# Below every id: the first checkpoint's range starts here.
MIN_ID = -(2**63)
MAX_PROBLEMS = 100


def backdate_tolerance() -> timedelta:
    """How far before the previous seal a newly sealed event may be dated.

    An event's time is taken by the code that writes it, before its INSERT and its commit
    (a removal chunk or an escalation range writes the time it started), on an application
    server's clock: a few minutes' lag is honest. Read at each call, like STUCK_AFTER_MINUTES.
    """
    return timedelta(minutes=settings.AUDIT_BACKDATE_TOLERANCE_MINUTES)


# --- The canonical form ----------------------------------------------------------------------


def _page_sql() -> str:
    """One page of events in id order, every column as the text that is hashed."""
    if connection.vendor == "postgresql":
        as_text = {
            "occurred_at": "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
            "before": "before::text",
            "after": "after::text",
        }
    else:
        # An expression, not the column: Django's SQLite converter would parse a datetime column.
        as_text = {"occurred_at": "CAST(occurred_at AS TEXT)"}
    columns = ", ".join(as_text.get(column, column) for column in EVENT_COLUMNS)
    return f"SELECT {columns} FROM moderation_auditevent WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"


class _Batch:
    """A batch of events being hashed: the running SHA-256 of the JSON array of its rows.

    Pages are joined with "," so the hash does not depend on the page size.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"[")
        self.count = 0
        self.first_id: int | None = None
        self.last_id: int | None = None
        self.earliest: str | None = None  # the database's text of the times: ordered as text
        self.latest: str | None = None

    def add(self, rows: list[tuple]) -> None:
        text = json.dumps(rows, separators=(",", ":"))
        if self.count:
            self._sha.update(b",")
        self._sha.update(text[1:-1].encode("ascii"))
        if self.first_id is None:
            self.first_id = rows[0][0]
        self.last_id = rows[-1][0]
        self.count += len(rows)
        times = [row[1] for row in rows]
        earliest, latest = min(times), max(times)
        self.earliest = earliest if self.earliest is None else min(self.earliest, earliest)
        self.latest = latest if self.latest is None else max(self.latest, latest)

    def hexdigest(self) -> str:
        sha = self._sha.copy()
        sha.update(b"]")
        return sha.hexdigest()


def _read_batch(cursor, *, after_id: int, upto: int, limit: int | None = None) -> _Batch:
    """Hash the events with ``after_id < id <= upto`` in id order (at most ``limit``)."""
    batch, sql = _Batch(), _page_sql()
    while limit is None or batch.count < limit:
        page = PAGE_EVENTS if limit is None else min(PAGE_EVENTS, limit - batch.count)
        cursor.execute(sql, [after_id, upto, page])
        rows = cursor.fetchall()
        if not rows:
            break
        batch.add(rows)
        after_id = rows[-1][0]
        if len(rows) < page:
            break
    return batch


def _instant(text_or_value) -> datetime | None:
    """A time read from the database (text, or a datetime) as an aware UTC datetime; None if unreadable."""
    value: datetime | None
    if isinstance(text_or_value, datetime):
        value = text_or_value
    else:
        try:
            value = parse_datetime(text_or_value or "")
        except ValueError:
            value = None
        if value is None:
            return None
    return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value.astimezone(UTC)


def checkpoint_hash(checkpoint: AuditCheckpoint) -> str:
    """The chain hash: SHA-256 of every field of the checkpoint, the previous hash among them."""
    fields = [
        checkpoint.sequence,
        checkpoint.first_event_id,
        checkpoint.last_event_id,
        checkpoint.event_count,
        checkpoint.bound_event_id,
        checkpoint.batch_hash,
        checkpoint.previous_hash,
        checkpoint.sealed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        checkpoint.earliest_occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        checkpoint.latest_occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode("ascii")).hexdigest()


# --- Sealing ---------------------------------------------------------------------------------

BUSY, LOST = "busy", "lost"


@dataclass
class SealResult:
    """What one sealing run wrote. ``skipped``: BUSY (inserts in flight held the lock past
    the timeout: nothing written, the next run tries again) or LOST (another sealer wrote
    the next checkpoint first: this one stopped)."""

    checkpoints: list[AuditCheckpoint] = field(default_factory=list)
    skipped: str = ""

    @property
    def events(self) -> int:
        return sum(checkpoint.event_count for checkpoint in self.checkpoints)


def _seal_bound() -> tuple[int | None, datetime] | None:
    """``(max(id), the database's time)`` once every transaction that drew an event id has
    ended; None when inserts in flight held the lock past the timeout.

    Durable: inside a longer transaction the exclusive lock would be held to its end, and
    every audited action would wait for it.
    """
    try:
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{SEAL_LOCK_TIMEOUT_MS}ms"])
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
                cursor.execute("SELECT max(id), clock_timestamp() FROM moderation_auditevent")
            else:
                # No parameters: the % of strftime stays as it is.
                cursor.execute("SELECT max(id), strftime('%Y-%m-%d %H:%M:%f', 'now') FROM moderation_auditevent")
            upper, now = cursor.fetchone()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            logger.info("audit sealing skipped: inserts in flight held the seal lock for %s ms", SEAL_LOCK_TIMEOUT_MS)
            return None
        raise
    database_now = _instant(now)
    assert database_now is not None  # the database's own clock, in its own format
    return upper, database_now


def seal_audit_events(
    *, actor: Actor, checkpoint_events: int = CHECKPOINT_EVENTS, time_budget: float | None = None
) -> SealResult:
    """Seal the events written since the last checkpoint into checkpoints of at most
    ``checkpoint_events`` events each. Nothing new: nothing is written.

    1. Fix the upper bound (``_seal_bound``): every event at or below it has committed. If
       inserts in flight keep the lock past the timeout, skip this round (BUSY).
    2. From the last checkpoint on, hash the events up to the bound in id order, page by
       page; each full batch (and the last, partial one) becomes a checkpoint chained to the
       one before, written in its own transaction: a backlog of millions is sealed in
       committed steps, and a crash keeps the checkpoints already written.
    3. Two sealers at once both try the same next sequence number; the unique index lets one
       insert through and the other stops (LOST): the chain never forks.
    4. With a ``time_budget`` (seconds), no new batch is started once it is spent; the next
       run goes on from the last checkpoint.

    No AuditEvent of its own: the checkpoint row is the record, and an event per run would
    leave something new to seal every time.
    """
    if checkpoint_events < 1:
        raise ValueError("checkpoint_events must be at least 1.")
    started = time.monotonic()
    result = SealResult()
    bound = _seal_bound()
    if bound is None:
        result.skipped = BUSY
        return result
    upper, sealed_at = bound
    last = AuditCheckpoint.objects.order_by("-sequence").first()
    sequence, previous_hash, after_id = (
        (last.sequence, last.chain_hash, last.last_event_id) if last else (0, GENESIS_HASH, MIN_ID)
    )
    if upper is None or upper <= after_id:
        return result
    with connection.cursor() as cursor:
        while after_id < upper:
            if time_budget is not None and result.checkpoints and time.monotonic() - started > time_budget:
                break
            batch = _read_batch(cursor, after_id=after_id, upto=upper, limit=checkpoint_events)
            if not batch.count:
                break  # the ids left below the bound were rolled back
            # A batch with events has its first and last, and their times are the database's own text.
            earliest, latest = _instant(batch.earliest), _instant(batch.latest)
            assert batch.first_id is not None and batch.last_id is not None
            assert earliest is not None and latest is not None
            checkpoint = AuditCheckpoint(
                sequence=sequence + 1,
                first_event_id=batch.first_id,
                last_event_id=batch.last_id,
                event_count=batch.count,
                bound_event_id=upper,
                batch_hash=batch.hexdigest(),
                previous_hash=previous_hash,
                sealed_at=sealed_at,
                earliest_occurred_at=earliest,
                latest_occurred_at=latest,
                sealed_by=actor_label(actor),
            )
            checkpoint.chain_hash = checkpoint_hash(checkpoint)
            try:
                with transaction.atomic(durable=True):
                    checkpoint.save()
            except IntegrityError:
                # Another sealer wrote this sequence number first: its chain stands.
                result.skipped = LOST
                break
            result.checkpoints.append(checkpoint)
            # The chain hash in the logs too: kept outside the database, it anchors the chain
            # against someone who could rewrite both the events and the checkpoints.
            logger.info(
                "audit checkpoint #%s sealed: events %s to %s (%s), chain hash %s",
                checkpoint.sequence,
                checkpoint.first_event_id,
                checkpoint.last_event_id,
                checkpoint.event_count,
                checkpoint.chain_hash,
            )
            sequence, previous_hash, after_id = checkpoint.sequence, checkpoint.chain_hash, checkpoint.last_event_id
    return result


# --- Verification ----------------------------------------------------------------------------

# What a mismatch means.
CHAIN = "chain"  # a checkpoint does not follow the one before (removed, reordered, rewritten)
ALTERED = "altered"  # a checkpoint's own fields no longer give its chain hash
EDITED = "edited"  # as many events as sealed, but they hash differently
DELETED = "deleted"  # fewer events than sealed in the checkpoint's range
INSERTED = "inserted"  # more events than sealed in the checkpoint's range
BACKDATED = "backdated"  # written after a seal, dated before it by more than the tolerance


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    sequence: int | None = None  # the checkpoint; None for an event not sealed yet
    event_id: int | None = None


@dataclass
class VerificationResult:
    """What ``verify_audit_chain`` found. ``verified_through``: the last checkpoint up to
    which everything matched; ``problems``: every mismatch, the first one first."""

    started_at: datetime
    finished_at: datetime | None = None
    checkpoints_checked: int = 0
    events_checked: int = 0
    last_checkpoint: AuditCheckpoint | None = None
    verified_through: AuditCheckpoint | None = None
    problems: list[Problem] = field(default_factory=list)
    events_unsealed: int = 0
    verification: AuditVerification | None = None  # the row recorded, when an actor was given

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def first_failed_sequence(self) -> int | None:
        return next((p.sequence for p in self.problems if p.sequence is not None), None)


def _range(first: int, last: int) -> str:
    return f"ids {first}–{last}"


def _count_problem(checkpoint: AuditCheckpoint, batch: _Batch) -> Problem:
    """Fewer or more events than were sealed in the checkpoint's range: say which, and name an id when we can."""
    sealed, found = checkpoint.event_count, batch.count
    head = (
        f"checkpoint #{checkpoint.sequence} sealed {sealed:,} events "
        f"({_range(checkpoint.first_event_id, checkpoint.last_event_id)}); {found:,} are there now"
    )
    if found < sealed:
        message, event_id = f"{head}: {sealed - found:,} deleted", None
        if batch.first_id != checkpoint.first_event_id:
            event_id = checkpoint.first_event_id
            message += f" (event #{event_id}, the first it sealed, is gone)"
        elif batch.last_id != checkpoint.last_event_id:
            event_id = checkpoint.last_event_id
            message += f" (event #{event_id}, the last it sealed, is gone)"
        return Problem(DELETED, message, checkpoint.sequence, event_id)
    message, event_id = f"{head}: {found - sealed:,} inserted into the sealed range", None
    if batch.first_id is not None and batch.first_id < checkpoint.first_event_id:
        event_id = batch.first_id
        message += f" (event #{event_id} comes before the first it sealed)"
    return Problem(INSERTED, message, checkpoint.sequence, event_id)


@dataclass(frozen=True)
class _Round:
    """One sealing run: the bound it fixed (every event up to it had committed) and when.
    An event above the bound was written after ``sealed_at``."""

    bound: int
    sealed_at: datetime
    sequence: int  # its last checkpoint, to name it


class _Rounds:
    """The sealing runs met so far along the chain, in order of their bounds.

    A backlog sealed late (the sealer was down, or a run stopped on its time budget) holds
    events dated long before its own seal: that is honest. What cannot be honest is an event
    above an earlier run's bound (so written after that run's seal) dated before that seal.
    """

    def __init__(self) -> None:
        self._rounds: list[_Round] = []
        self._bounds: list[int] = []

    def add(self, checkpoint: AuditCheckpoint) -> None:
        if self._rounds and checkpoint.bound_event_id == self._bounds[-1]:
            # The same bound fixed again later (nothing new in between): above it, events came after both.
            self._rounds[-1] = _Round(checkpoint.bound_event_id, checkpoint.sealed_at, checkpoint.sequence)
        elif not self._bounds or checkpoint.bound_event_id > self._bounds[-1]:  # lower: a rewritten row
            self._rounds.append(_Round(checkpoint.bound_event_id, checkpoint.sealed_at, checkpoint.sequence))
            self._bounds.append(checkpoint.bound_event_id)

    def segments(self, after_id: int, upto: int | None) -> list[tuple[int, int | None, _Round]]:
        """The parts of the ids ``after_id < id <= upto`` above an earlier run's bound, each with
        the latest such run: ``(from_id, to_id, run)`` (``to_id`` None: no end)."""
        found = []
        index = max(bisect_right(self._bounds, after_id) - 1, 0)
        while index < len(self._rounds) and (upto is None or self._rounds[index].bound < upto):
            following = self._bounds[index + 1] if index + 1 < len(self._bounds) else None
            to_id = upto if following is None else (following if upto is None else min(following, upto))
            found.append((max(after_id, self._rounds[index].bound), to_id, self._rounds[index]))
            index += 1
        return found


def _backdated(
    segments: list[tuple[int, int | None, _Round]], *, tolerance: timedelta, sealed_in: str
) -> tuple[int, str] | None:
    """The first event of the segments dated before its earlier run's seal by more than the tolerance."""
    for from_id, to_id, run in segments:
        events = AuditEvent.objects.filter(id__gt=from_id, occurred_at__lt=run.sealed_at - tolerance)
        if to_id is not None:
            events = events.filter(id__lte=to_id)
        found = events.order_by("id").values_list("id", "occurred_at").first()
        if found is None:
            continue
        event_id, occurred_at = found
        return (
            event_id,
            f"event #{event_id} ({sealed_in}) is dated {occurred_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"{_duration(run.sealed_at - occurred_at)} before checkpoint #{run.sequence} was sealed "
            f"({run.sealed_at:%Y-%m-%d %H:%M:%S} UTC), and was written after it: an insert back-dated "
            f"(tolerance {_duration(tolerance)})",
        )
    return None


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _check_checkpoint(
    cursor, checkpoint: AuditCheckpoint, previous: AuditCheckpoint | None, rounds: _Rounds, tolerance: timedelta
) -> tuple[list[Problem], int]:
    """Everything wrong with one checkpoint and its events, and how many events its range holds."""
    problems = []
    expected_sequence = previous.sequence + 1 if previous else 1
    if checkpoint.sequence != expected_sequence:
        after = f"after #{previous.sequence}" if previous else "at the start"
        problems.append(
            Problem(
                CHAIN,
                f"checkpoint #{expected_sequence} is missing: #{checkpoint.sequence} comes {after}",
                checkpoint.sequence,
            )
        )
    if checkpoint.previous_hash != (previous.chain_hash if previous else GENESIS_HASH):
        before = f"#{previous.sequence}'s chain hash" if previous else "the start of the chain"
        problems.append(
            Problem(
                CHAIN,
                f"checkpoint #{checkpoint.sequence} does not chain to {before}: "
                "a checkpoint before it was rewritten or removed",
                checkpoint.sequence,
            )
        )
    if checkpoint_hash(checkpoint) != checkpoint.chain_hash:
        problems.append(
            Problem(
                ALTERED,
                f"checkpoint #{checkpoint.sequence}'s fields no longer give its chain hash: "
                "the checkpoint was rewritten",
                checkpoint.sequence,
            )
        )
    lower = previous.last_event_id if previous else MIN_ID
    batch = _read_batch(cursor, after_id=lower, upto=checkpoint.last_event_id)
    if batch.count != checkpoint.event_count:
        problems.append(_count_problem(checkpoint, batch))
    elif batch.hexdigest() != checkpoint.batch_hash:
        problems.append(
            Problem(
                EDITED,
                f"checkpoint #{checkpoint.sequence}: its {batch.count:,} events "
                f"({_range(checkpoint.first_event_id, checkpoint.last_event_id)}) no longer give the sealed hash: "
                "an event was edited (or one deleted and another inserted in its place)",
                checkpoint.sequence,
            )
        )
    segments = rounds.segments(lower, checkpoint.last_event_id)
    earliest = _instant(batch.earliest)
    # Most batches are dated after every earlier seal: no query then.
    if segments and earliest is not None and earliest < segments[-1][2].sealed_at - tolerance:
        found = _backdated(segments, tolerance=tolerance, sealed_in=f"sealed in checkpoint #{checkpoint.sequence}")
        if found:
            problems.append(Problem(BACKDATED, found[1], checkpoint.sequence, found[0]))
    return problems, batch.count


def verify_audit_chain(*, actor: Actor | None = None, tolerance: timedelta | None = None) -> VerificationResult:
    """Recompute the whole chain and every sealed batch; report each mismatch, the first one first.

    1. Checkpoints in sequence order: each must follow the one before (number and previous
       hash), give its own chain hash, and its id range (after the previous checkpoint's last
       id, up to its own) must hold exactly the events it sealed, hashing the same.
    2. An event in a later batch dated before the previous checkpoint was sealed, by more
       than ``tolerance``, was inserted back-dated; the same goes for the events not sealed
       yet, which are counted.
    3. With an ``actor``, the run is recorded (AuditVerification) for the Operations page; a
       mismatch is logged as an error (it means the trail was tampered with).

    Costs one pass over the sealed events: about as long as sealing them.
    """
    tolerance = backdate_tolerance() if tolerance is None else tolerance
    result = VerificationResult(started_at=timezone.now())
    previous: AuditCheckpoint | None = None
    rounds = _Rounds()
    # Ten rows per million events: read at once (no server-side cursor to hold open meanwhile).
    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    with connection.cursor() as cursor:
        for checkpoint in checkpoints:
            problems, events = _check_checkpoint(cursor, checkpoint, previous, rounds, tolerance)
            result.checkpoints_checked += 1
            result.events_checked += events
            if problems:
                result.problems.extend(problems)
            elif result.ok:
                result.verified_through = checkpoint
            previous = checkpoint
            rounds.add(checkpoint)
    result.last_checkpoint = previous
    after_id = previous.last_event_id if previous else MIN_ID
    result.events_unsealed = AuditEvent.objects.filter(id__gt=after_id).count()
    if result.events_unsealed:
        found = _backdated(rounds.segments(after_id, None), tolerance=tolerance, sealed_in="not sealed yet")
        if found:
            result.problems.append(Problem(BACKDATED, found[1], None, found[0]))
    result.finished_at = timezone.now()
    if not result.ok:
        logger.error(
            "audit trail verification failed: %s (%s problems)", result.problems[0].message, len(result.problems)
        )
    if actor is not None:
        result.verification = record_verification(actor=actor, result=result)
    return result


def record_verification(*, actor: Actor, result: VerificationResult) -> AuditVerification:
    first = result.first_problem
    return AuditVerification.objects.create(
        started_at=result.started_at,
        finished_at=result.finished_at or timezone.now(),
        verified_by=actor_label(actor),
        ok=result.ok,
        checkpoints_checked=result.checkpoints_checked,
        events_checked=result.events_checked,
        verified_through=result.verified_through,
        first_failed_sequence=result.first_failed_sequence,
        problem=first.message if first else "",
        problems=[asdict(problem) for problem in result.problems[:MAX_PROBLEMS]],
        events_unsealed=result.events_unsealed,
    )
