"""/healthz counts beat as up from the moment beat starts, not from the scheduler's first sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.signals import beat_init
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from backoffice.celery import app
from backoffice.health import BEAT_HEARTBEAT_KEY, beat_heartbeat, record_beat_heartbeat
from moderation import tasks


@pytest.fixture
def fresh_start(db):
    """``make run`` on a new database: no periodic task has run yet, no heartbeat either."""
    PeriodicTask.objects.update(last_run_at=None)
    assert beat_heartbeat() is None


def beat_check(client) -> dict:
    return client.get("/healthz").json()["checks"]["beat"]


def test_beat_is_healthy_as_soon_as_it_starts(client, fresh_start):
    assert beat_check(client)["ok"] is False
    beat_init.send(sender=None)
    check = beat_check(client)
    assert check["ok"] is True
    assert check["last_tick"] is not None


def test_the_heartbeat_task_keeps_beat_healthy_between_the_schedulers_syncs(client, fresh_start, settings):
    record_beat_heartbeat(at=timezone.now() - timedelta(seconds=settings.HEALTHZ_BEAT_STALE_SECONDS + 5))
    assert beat_check(client)["ok"] is False
    tasks.beat_heartbeat.delay()
    assert beat_check(client)["ok"] is True


def test_a_stale_heartbeat_is_beat_down(client, fresh_start, settings):
    record_beat_heartbeat(at=timezone.now() - timedelta(seconds=settings.HEALTHZ_BEAT_STALE_SECONDS + 1))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["ok"] is False


def test_the_newer_of_heartbeat_and_scheduler_tick_decides(client, fresh_start, settings):
    record_beat_heartbeat(at=timezone.now() - timedelta(seconds=settings.HEALTHZ_BEAT_STALE_SECONDS + 60))
    PeriodicTask.objects.filter(enabled=True).update(last_run_at=timezone.now() - timedelta(seconds=10))
    assert beat_check(client)["ok"] is True


def test_a_garbled_heartbeat_counts_as_none(client, fresh_start):
    from django.core.cache import cache

    cache.set(BEAT_HEARTBEAT_KEY, "not a time")
    assert beat_heartbeat() is None
    assert beat_check(client)["ok"] is False


def test_beat_sends_the_heartbeat_every_thirty_seconds(db):
    from django_celery_beat.schedulers import ModelEntry

    entry = app.conf.beat_schedule["Beat heartbeat"]
    assert entry == {"task": "moderation.beat_heartbeat", "schedule": 30.0}
    ModelEntry.from_entry("Beat heartbeat", app=app, **entry)  # what the database scheduler does at start
    heartbeat = PeriodicTask.objects.get(name="Beat heartbeat")
    assert (heartbeat.task, heartbeat.interval.every, heartbeat.interval.period) == (
        "moderation.beat_heartbeat",
        30,
        "seconds",
    )
