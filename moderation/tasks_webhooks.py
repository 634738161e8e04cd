"""Celery tasks of the marketplace webhooks: ids in, one service call. Safe to run twice.

Registered with the worker through ``CELERY_IMPORTS`` (backoffice/settings.py); beat runs
``dispatch_webhooks`` every ten seconds (migration 0035_outbox).
"""

from celery import shared_task

from moderation.services import webhooks


@shared_task(name="moderation.deliver_webhooks", ignore_result=True)
def deliver_webhooks(endpoint_id: int) -> dict:
    """Send one endpoint's due deliveries, in order, for up to ``WEBHOOK_SEND_BUDGET_SECONDS``.

    Returns at once when another worker is sending to it (it holds the endpoint's row) or
    nothing is due. Stopped for time with more due, it queues its own next run; a delivery
    waiting for a retry is picked up by beat's ``dispatch_webhooks`` when its time comes (a
    countdown message held for an hour by a Redis broker would be delivered twice).
    """
    run = webhooks.deliver_to_endpoint(endpoint_id=endpoint_id)
    if run.more and not deliver_webhooks.app.conf.task_always_eager:
        deliver_webhooks.delay(endpoint_id)
    return run.as_dict()


@shared_task(name="moderation.dispatch_webhooks", ignore_result=True)
def dispatch_webhooks() -> list[int]:
    """Beat, every ten seconds (and after a removal chunk): a sending task per endpoint with something due."""
    due = webhooks.endpoints_due()
    for endpoint_id in due:
        deliver_webhooks.delay(endpoint_id)
    return due
