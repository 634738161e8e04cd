"""The one retry policy of the tasks that retry, declared on them, and what it keeps of the loops it replaced."""

from __future__ import annotations

import inspect
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.conf import settings as django_settings

import backoffice.tasks
from backoffice.celery import app
from moderation import tasks
from moderation.models import CategoryRemoval, RemovalChunk, ScanChunk
from moderation.services import removals, scanning
from tests.moderation.test_removals import RUN_AT

RETRYING_TASKS = {"moderation.run_removal_chunk", "moderation.run_scan_chunk"}
# What the hand-written loops waited before each retry: 2, 4, 8 … seconds, at most a minute.
EXPECTED_COUNTDOWNS = [min(2**attempt, 60) for attempt in range(1, django_settings.REMOVAL_CHUNK_MAX_RETRIES + 1)]


@pytest.fixture
def removal(policy_admin, announced_policy, miners, miner_accessories, removal_catalog, settings):
    settings.REMOVAL_CHUNK_SIZE = 3
    return removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )


@pytest.fixture
def scan_catalog(in_grace, mining_rules, removal_catalog, monkeypatch):
    monkeypatch.setattr(scanning, "SCAN_CHUNK_SIZE", 3)


@pytest.fixture
def eager_retries():
    """Let eager Celery run a task's retries inline (see tests/moderation/test_removals.py)."""
    was = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = was


def project_tasks() -> dict:
    return {name: task for name, task in app.tasks.items() if name.startswith(("moderation.", "backoffice."))}


def test_every_task_that_retries_declares_the_one_retry_policy():
    retrying = {name for name, task in project_tasks().items() if getattr(task, "autoretry_for", ())}
    assert retrying == RETRYING_TASKS
    for name in RETRYING_TASKS:
        task = app.tasks[name]
        declared = {option: getattr(task, option) for option in tasks.RETRY_FAILED_CHUNK}
        assert declared == tasks.RETRY_FAILED_CHUNK, name
    assert tasks.RETRY_FAILED_CHUNK["autoretry_for"] == (Exception,)  # any error of the chunk's work, as before
    assert tasks.RETRY_FAILED_CHUNK["max_retries"] == django_settings.REMOVAL_CHUNK_MAX_RETRIES
    assert tasks.RETRY_FAILED_CHUNK["retry_jitter"] is False


def test_no_task_retries_by_hand():
    for module in (tasks, backoffice.tasks):
        source = inspect.getsource(module)
        assert ".retry(" not in source and "countdown" not in source, module.__name__


@pytest.fixture
def retries_of():
    """The ``retry`` calls a task makes (Celery's autoretry calls it with the countdown)."""

    def watch(task):
        return mock.patch.object(task, "retry", wraps=task.retry)

    return watch


def test_a_failing_removal_chunk_waits_as_before_between_its_retries(
    travel, removal, removal_catalog, eager_retries, retries_of, django_capture_on_commit_callbacks
):
    travel.to(RUN_AT)
    with (
        mock.patch.object(removals, "_delist_range", side_effect=OSError("disk full")),
        retries_of(tasks.run_removal_chunk) as retry,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert removals.start_removal(removal_id=removal.pk)

    assert [call.kwargs["countdown"] for call in retry.call_args_list] == EXPECTED_COUNTDOWNS
    assert all(isinstance(call.kwargs["exc"], OSError) for call in retry.call_args_list)
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.FAILED


def test_a_failing_scan_chunk_waits_as_before_between_its_retries(
    announced_policy, scan_catalog, eager_retries, retries_of, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(scanning, "scan_listings", side_effect=OSError("matcher crashed")),
        retries_of(tasks.run_scan_chunk) as retry,
        django_capture_on_commit_callbacks(execute=True),
    ):
        scan = scanning.start_policy_scan(policy=announced_policy)

    assert [call.kwargs["countdown"] for call in retry.call_args_list] == EXPECTED_COUNTDOWNS
    first = scan.chunks.get(number=1)
    assert (first.status, first.attempts) == (ScanChunk.Status.FAILED, len(EXPECTED_COUNTDOWNS) + 1)


def test_a_chunk_whose_work_is_done_is_not_retried_when_its_finish_fails(travel, removal, retries_of):
    travel.to(RUN_AT)
    with mock.patch.object(removals, "queue_pending_chunks"):
        assert removals.start_removal(removal_id=removal.pk)
    chunk = removal.chunks.order_by("number").first()
    with (
        mock.patch.object(removals, "finish_removal_if_done", side_effect=OSError("mail server down")),
        retries_of(tasks.run_removal_chunk) as retry,
        pytest.raises(tasks.ChunkFinishFailed) as raised,
    ):
        tasks.run_removal_chunk.delay(chunk.pk)

    assert isinstance(raised.value.__cause__, OSError)
    retry.assert_not_called()
    chunk.refresh_from_db()
    assert (chunk.status, chunk.attempts) == (RemovalChunk.Status.DONE, 0)  # its work stands, nothing counted
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.RUNNING


def test_a_chunk_that_fails_is_counted_then_retried_with_the_error_it_raised(travel, removal, retries_of):
    travel.to(RUN_AT)
    with mock.patch.object(removals, "queue_pending_chunks"):
        assert removals.start_removal(removal_id=removal.pk)
    chunk = removal.chunks.order_by("number").first()
    with (
        mock.patch.object(removals, "_delist_range", side_effect=ValueError("bad range")),
        retries_of(tasks.run_removal_chunk) as retry,
        pytest.raises(Retry) as raised,  # eager and propagating (the test settings): the retry surfaces here
    ):
        tasks.run_removal_chunk.delay(chunk.pk)

    assert isinstance(raised.value.exc, ValueError) and raised.value.when == 2  # seconds
    assert retry.call_count == 1 and isinstance(retry.call_args.kwargs["exc"], ValueError)
    chunk.refresh_from_db()
    assert (chunk.status, chunk.attempts) == (RemovalChunk.Status.PENDING, 1)
