"""``/healthz``: is this deployment able to do its work right now?

For load balancers and on-call: the database answers, the broker accepts connections, and
beat has ticked recently (without beat no removal starts and no sanction escalates, yet
every page still works, which is why it is checked here and not left to be noticed).
Answers 200 when all three are up, 503 when any is down; no login, no secrets, no caching.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "down", named in the answer
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_broker() -> dict:
    from backoffice.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTHZ_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_beat() -> dict:
    """Beat's last tick: the newest ``last_run_at`` the database scheduler wrote for an enabled task."""
    from django.db.models import Max
    from django_celery_beat.models import PeriodicTask

    try:
        last_tick = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": type(error).__name__, "last_tick": None}
    stale_after = timedelta(seconds=settings.HEALTHZ_BEAT_STALE_SECONDS)
    ok = last_tick is not None and timezone.now() - last_tick <= stale_after
    return {
        "ok": ok,
        "last_tick": last_tick.isoformat() if last_tick else None,
        "stale_after_seconds": settings.HEALTHZ_BEAT_STALE_SECONDS,
    }


@never_cache
@require_GET
def healthz(request):
    database = check_database()
    checks = {
        "database": database,
        "broker": check_broker(),
        # Beat's tick is read from the database: unknown, not stale, when the database is down.
        "beat": check_beat() if database["ok"] else {"ok": False, "error": "database down", "last_tick": None},
    }
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "down", "checks": checks}, status=200 if healthy else 503)
