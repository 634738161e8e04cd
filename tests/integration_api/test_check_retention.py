"""The pre-publication checks are kept LISTING_CHECK_RETENTION_DAYS, then purged in batches by a daily task."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from moderation.models import AuditEvent, AuditVerb
from sellers import tasks
from sellers.integration.retention import purge_listing_checks
from sellers.models import Listing, ListingCheck
from tests.integration_api.conftest import CHECK, listing_event, merchant_event, send

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def make_checks(service_account):
    """``make_checks(n, age)``: n checks of Alibaba.com's account, answered ``age`` ago."""
    account = service_account[0]

    def make(count: int, age: timedelta) -> list[ListingCheck]:
        at = timezone.now() - age
        return ListingCheck.objects.bulk_create(
            ListingCheck(
                account=account,
                marketplace_id=account.marketplace_id,
                content_sha256="0" * 64,
                decision=ListingCheck.Decision.ALLOW,
                created_at=at,
            )
            for _ in range(count)
        )

    return make


def deletes(queries) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith("DELETE")]


def test_checks_past_the_retention_are_purged_and_recent_ones_kept(make_checks, settings):
    settings.LISTING_CHECK_RETENTION_DAYS = 30
    old = make_checks(3, timedelta(days=30, minutes=1))
    kept = make_checks(2, timedelta(days=29, hours=23))

    run = purge_listing_checks()

    assert (run.deleted, run.batches, run.more) == (3, 1, False)
    assert set(ListingCheck.objects.values_list("pk", flat=True)) == {check.pk for check in kept}
    assert not ListingCheck.objects.filter(pk__in=[check.pk for check in old]).exists()


def test_the_retention_is_the_setting_or_the_days_asked(make_checks, settings):
    settings.LISTING_CHECK_RETENTION_DAYS = 7
    make_checks(1, timedelta(days=8))
    make_checks(1, timedelta(days=3))

    assert purge_listing_checks().deleted == 1
    assert purge_listing_checks(older_than_days=2).deleted == 1
    assert not ListingCheck.objects.exists()
    with pytest.raises(ValueError, match="at least a day"):
        purge_listing_checks(older_than_days=0)


def test_a_backlog_goes_in_batches_one_delete_each_oldest_first(make_checks):
    make_checks(25, timedelta(days=90))
    newest_old = make_checks(1, timedelta(days=31))
    make_checks(4, timedelta(days=1))

    with CaptureQueriesContext(connection) as queries:
        run = purge_listing_checks(batch_size=10)

    assert (run.deleted, run.batches, run.more) == (26, 3, False)
    assert len(deletes(queries.captured_queries)) == 3  # 10, 10, 6: nothing read into Python first
    assert all(not query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)
    assert ListingCheck.objects.count() == 4
    assert not ListingCheck.objects.filter(pk=newest_old[0].pk).exists()


def test_it_stops_when_its_time_is_up_and_says_there_is_more(make_checks):
    make_checks(25, timedelta(days=90))

    first = purge_listing_checks(batch_size=10, time_budget=0)

    assert (first.deleted, first.batches, first.more) == (10, 1, True)
    assert ListingCheck.objects.count() == 15
    assert purge_listing_checks(batch_size=10).deleted == 15


def test_a_second_run_deletes_nothing(make_checks):
    make_checks(5, timedelta(days=45))
    make_checks(5, timedelta(days=2))
    assert purge_listing_checks().deleted == 5

    with CaptureQueriesContext(connection) as queries:
        again = purge_listing_checks()

    assert (again.deleted, again.batches, again.more) == (0, 1, False)
    assert len(deletes(queries.captured_queries)) == 1  # one DELETE that found nothing
    assert ListingCheck.objects.count() == 5


def test_a_purge_writes_no_audit_event_and_logs_its_count(make_checks, caplog):
    make_checks(3, timedelta(days=45))
    events = AuditEvent.objects.count()

    with caplog.at_level("INFO", logger="sellers.integration.retention"):
        purge_listing_checks()

    assert AuditEvent.objects.count() == events
    assert "Purged 3 pre-publication checks" in caplog.text


def test_the_trail_keeps_the_id_of_a_purged_check_and_an_upsert_citing_it_is_refused(
    alibaba, graphics_cards, rules_in_effect, travel
):
    """The listing's audit event holds the check's id as text: after the purge it names a check no longer stored."""
    send(alibaba, merchant_event("M-1"))
    asked = alibaba.post(
        CHECK, {"merchant": "M-1", "category": "graphics-cards", "title": "RTX 4070 12GB"}, format="json"
    ).json()
    send(alibaba, listing_event("L-1", title="RTX 4070 12GB", check_id=asked["id"]))
    created = AuditEvent.objects.get(verb=AuditVerb.LISTING_CREATED)

    travel.by(timedelta(days=31))
    assert purge_listing_checks().deleted == 1

    assert not ListingCheck.objects.filter(pk=asked["id"]).exists()
    created.refresh_from_db()
    assert created.after["check"] == asked["id"]
    late = send(alibaba, listing_event("L-2", title="RTX 4070 12GB", check_id=asked["id"]))
    assert late["results"][0]["errors"] == {"check_id": ["No check of this marketplace has this id."]}
    assert not Listing.objects.filter(external_id="L-2").exists()


# --- the task and its schedule -------------------------------------------------------------------------------


def test_the_task_purges_and_answers_what_it_did(make_checks):
    make_checks(2, timedelta(days=45))
    answer = tasks.purge_listing_checks.delay().get()
    assert (answer["deleted"], answer["batches"], answer["more"]) == (2, 1, False)
    assert not ListingCheck.objects.exists()


def test_a_worker_finds_the_task():
    """In a fresh interpreter (this one imported sellers.tasks already): what a worker imports at start."""
    code = (
        "import django; django.setup()\n"
        "from backoffice.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print('sellers.purge_listing_checks' in app.tasks)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings_test"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip().splitlines()[-1:] == ["True"], done.stderr[-2000:]


def test_beat_purges_once_a_day_after_migrate():
    task = PeriodicTask.objects.get(name="Pre-publication check purge")
    assert (task.task, task.interval.every, task.interval.period, task.enabled) == (
        "sellers.purge_listing_checks",
        86400,
        "seconds",
        True,
    )


def test_the_migration_drops_its_schedule_when_reversed_and_makes_it_again():
    migration = importlib.import_module("sellers.migrations.0011_purge_checks_schedule")

    migration.drop_schedule(apps, None)
    assert not PeriodicTask.objects.filter(task="sellers.purge_listing_checks").exists()
    migration.create_schedule(apps, None)
    migration.create_schedule(apps, None)  # twice: still one
    assert PeriodicTask.objects.filter(task="sellers.purge_listing_checks").count() == 1
