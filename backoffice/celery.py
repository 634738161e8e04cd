"""The Celery app: ``celery -A backoffice worker`` and ``celery -A backoffice beat``.

Configuration comes from Django's settings (the ``CELERY_`` names), so the broker is the
one in ``CELERY_BROKER_URL``: Redis in production and CI, the filesystem in the demo.
"""

import os

from celery import Celery

import backoffice.observability  # noqa: F401 - a task carries the request id of the request that queued it

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
