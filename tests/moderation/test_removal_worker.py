"""A due removal run by a real Celery worker on Redis, against the test database."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from celery.result import AsyncResult, EagerResult

from moderation.models import AuditEvent, AuditVerb, CategoryRemoval, Notice, RemovalChunk
from moderation.services import removals
from moderation.tasks import start_due_removals
from sellers.models import Category, Listing

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def wait_for(predicate, *, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"not reached within {timeout} s")


def test_a_worker_runs_a_due_removal_end_to_end(
    celery_worker_process,
    settings,
    policy_admin,
    announced_policy,
    miners,
    miner_accessories,
    removal_catalog,
):
    # transactional_db (through the worker fixture): these rows are committed, so the worker sees them.
    # The reference timeline is in the past, so the removal is due as soon as it is scheduled.
    settings.REMOVAL_CHUNK_SIZE = 3
    removal = removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )

    sent = start_due_removals.delay()
    assert isinstance(sent, AsyncResult) and not isinstance(sent, EagerResult)
    assert sent.get(timeout=30) == [removal.pk]

    def completed():
        removal.refresh_from_db()
        return removal.status == CategoryRemoval.Status.COMPLETED

    wait_for(completed, timeout=60)

    doomed = removal_catalog["doomed_ids"]
    assert removal.listings_total == removal.listings_done == len(doomed) == 13
    assert removal.chunks.count() == removal.chunks_done == 5
    assert set(removal.chunks.values_list("status", flat=True)) == {RemovalChunk.Status.DONE}
    assert set(Listing.objects.filter(pk__in=doomed).values_list("status", "previous_status")) == {("delisted", "live")}
    assert set(Listing.objects.filter(pk__in=removal_catalog["kept_ids"]).values_list("status", flat=True)) == {"live"}
    events = AuditEvent.objects.filter(verb=AuditVerb.LISTING_DELISTED_BY_REMOVAL)
    assert Counter(events.values_list("target_id", flat=True)) == Counter(doomed)
    assert Category.objects.filter(retired_by_removal=removal).count() == 3
    notices = Notice.objects.filter(kind=Notice.Kind.LISTINGS_DELISTED)
    assert Counter(notices.values_list("merchant_id", flat=True)) == Counter(
        dict.fromkeys(removal_catalog["doomed"], 1)
    )
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_STARTED, target_id=removal.pk).get().actor_name == (
        "task:start_due_removals"
    )

    # The next beat tick finds nothing to do and changes nothing.
    before = (AuditEvent.objects.count(), Notice.objects.count())
    assert start_due_removals.delay().get(timeout=30) == []
    assert (AuditEvent.objects.count(), Notice.objects.count()) == before
