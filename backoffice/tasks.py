"""Celery tasks of the back office itself (found by the app's autodiscovery, as moderation's are)."""

from celery import shared_task
from django.conf import settings

from backoffice import security


@shared_task(name="backoffice.summarize_sign_in_failures")
def summarize_sign_in_failures() -> int:
    """Beat, every minute: closed windows of failed sign-ins get their summary in the audit
    trail. Safe to run twice or side by side (rows are claimed with SKIP LOCKED); half the soft
    time limit for the work, the rest waits for the next run."""
    return security.summarize_sign_in_failures(time_budget=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)
