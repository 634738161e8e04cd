"""Celery tasks of the catalog side: one service call each, safe to run twice.

Found by the worker through the Celery app's ``autodiscover_tasks`` (every installed app's
``tasks`` module); beat runs ``purge_listing_checks`` daily (migration 0011_purge_checks_schedule).
"""

from celery import shared_task

from sellers.integration import retention


@shared_task(name="sellers.purge_listing_checks", ignore_result=True)
def purge_listing_checks() -> dict:
    """Beat, daily: delete the pre-publication checks past ``LISTING_CHECK_RETENTION_DAYS``, in batches.

    Stopped for time with old checks left (a first purge of a long backlog), it queues its own next run.
    """
    run = retention.purge_listing_checks()
    if run.more and not purge_listing_checks.app.conf.task_always_eager:
        purge_listing_checks.delay()
    return run.as_dict()
