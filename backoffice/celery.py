"""The Celery app: ``celery -A backoffice worker`` and ``celery -A backoffice beat``.

Configuration comes from Django's settings (the ``CELERY_`` names), so the broker is the
one in ``CELERY_BROKER_URL``: Redis in production and CI, the filesystem in the demo.
"""

import os

from celery import Celery
from celery.signals import beat_init

import backoffice.observability  # noqa: F401 - a task carries the request id of the request that queued it

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat's heartbeat (backoffice/health.py): a task beat sends every 30 seconds keeps it fresh.
# Declared here rather than in a migration: the database scheduler copies this schedule into
# its table when beat starts.
app.conf.beat_schedule = {
    "Beat heartbeat": {"task": "moderation.beat_heartbeat", "schedule": 30.0},
}


@beat_init.connect
def _beat_started(sender=None, **kwargs) -> None:
    """Beat is up: say so at once, so /healthz is healthy from its first tick, not its first sync."""
    from backoffice.health import record_beat_heartbeat

    record_beat_heartbeat()
