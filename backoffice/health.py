"""``/healthz``: is this deployment able to do its work right now?

For load balancers and on-call: the database answers, the broker accepts connections, and
beat has ticked recently (without beat no removal starts and no sanction escalates, yet
every page still works, which is why it is checked here and not left to be noticed).
Answers 200 when all three are up, 503 when any is down; no login, no secrets, no caching.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
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


# Beat's heartbeat, in the shared cache (the database cache in the demo, Redis in production):
# written when beat starts (``beat_init``, backoffice/celery.py) and by the heartbeat task beat
# sends every 30 seconds. The database scheduler writes ``last_run_at`` only every
# few minutes, and never before a task first runs, so on its own it read "beat down" for the
# first minutes of every start.
BEAT_HEARTBEAT_KEY = "backoffice:beat-heartbeat"


def record_beat_heartbeat(*, at: datetime | None = None) -> None:
    """Beat is alive now (or ``at``). Kept with no expiry: its age is what /healthz judges."""
    cache.set(BEAT_HEARTBEAT_KEY, (at or timezone.now()).isoformat(), timeout=None)


def beat_heartbeat() -> datetime | None:
    """The last heartbeat, or None if none was written (or the cache lost it)."""
    try:
        value = cache.get(BEAT_HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001 - a cache down leaves the scheduler's own ticks to decide
        return None
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def check_beat() -> dict:
    """Beat's last tick: its heartbeat, or the newest ``last_run_at`` the database scheduler wrote
    for an enabled task, whichever is newer."""
    from django.db.models import Max
    from django_celery_beat.models import PeriodicTask

    try:
        last_run = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": type(error).__name__, "last_tick": None}
    last_tick = max((tick for tick in (last_run, beat_heartbeat()) if tick is not None), default=None)
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
