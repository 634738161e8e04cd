"""How long the pre-publication checks are kept: ``LISTING_CHECK_RETENTION_DAYS`` (30 by default),
then a daily task (``sellers.tasks.purge_listing_checks``, beat's "Pre-publication check purge")
deletes them.

A check may go while the trail still cites it. An upsert that cites a check (``check_id``) puts its id,
and only its id, into the listing's LISTING_CREATED or LISTING_EDITED audit event
(``after["check"]``, as text). What the trail must prove is there without it: the listing's content,
the decision taken on it and its grounds are in the listing's own events and the moderation
records; the check is the question asked before (nothing is recorded against a merchant for it).
So a citation older than the retention names a check no longer stored. Keeping every cited check
instead would mean searching the trail's JSON for each batch, to keep rows nobody reads after the
upsert. An upsert citing a check already purged is refused like one citing an unknown id ("No check
of this marketplace has this id"): a marketplace checks just before it publishes, not a month before.

A purge is housekeeping of derived records, not a decision: it writes no audit event (the trail
says who decided what), and logs its count.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sellers.models import ListingCheck

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
# Checks per DELETE, oldest first (by listing_check_created_idx), each batch in a transaction of
# its own: a backlog of millions never holds one long transaction, nor a huge WAL record, nor
# the rows' locks for long. 10,000 rows of ~200 bytes are about 2 MB of table and index to remove.
PURGE_BATCH_SIZE = 10_000
# One run deletes this long, then the task queues the next (a first purge may face months of checks).
PURGE_TIME_BUDGET_SECONDS = 60.0


@dataclass(frozen=True)
class PurgeRun:
    """What one call of ``purge_listing_checks`` did."""

    cutoff: datetime  # checks made before it were deleted
    deleted: int
    batches: int
    more: bool  # stopped for time with whole batches still coming: queue another run

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "deleted": self.deleted, "batches": self.batches, "more": self.more}


def retention_days() -> int:
    return int(getattr(settings, "LISTING_CHECK_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def purge_listing_checks(
    *,
    older_than_days: int | None = None,
    batch_size: int = PURGE_BATCH_SIZE,
    time_budget: float = PURGE_TIME_BUDGET_SECONDS,
) -> PurgeRun:
    """Delete the checks made more than ``older_than_days`` (default: the retention) days ago.

    1. The cutoff is read once: checks made while it runs are never candidates.
    2. Each batch is one DELETE of the oldest ``batch_size`` checks before it, committed alone.
    3. A batch shorter than ``batch_size`` was the last; otherwise go on while the time budget lasts.

    Safe to run twice or at once on two workers: a second run finds nothing to delete, and two at
    once delete disjoint rows or wait on each other's, never more than the cutoff allows.
    """
    days = retention_days() if older_than_days is None else older_than_days
    if days < 1:
        raise ValueError("Checks are kept at least a day: an upsert may cite the one just answered.")
    if batch_size < 1:
        raise ValueError("A batch holds at least one check.")
    cutoff = timezone.now() - timedelta(days=days)
    deadline = time.monotonic() + time_budget
    deleted = batches = 0
    more = False
    while True:
        oldest = ListingCheck.objects.filter(created_at__lt=cutoff).order_by("created_at").values("pk")[:batch_size]
        # Nothing points at a check, and nobody listens for its deletion: Django sends this as one
        # DELETE … WHERE id IN (SELECT … LIMIT n), without reading the rows first.
        with transaction.atomic():
            count, _by_model = ListingCheck.objects.filter(pk__in=oldest).delete()
        deleted += count
        batches += 1
        if count < batch_size:
            break
        if time.monotonic() >= deadline:
            more = True
            break
    if deleted:
        logger.info(
            "Purged %d pre-publication checks made before %s (%d batches).", deleted, cutoff.isoformat(), batches
        )
    return PurgeRun(cutoff=cutoff, deleted=deleted, batches=batches, more=more)
