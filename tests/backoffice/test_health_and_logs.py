"""/healthz with each component down, and the request id on log lines."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from backoffice.observability import JsonFormatter, RequestIdFilter, current_request_id


@pytest.fixture
def beat_ticked(db):
    PeriodicTask.objects.filter(enabled=True).update(last_run_at=timezone.now() - timedelta(seconds=30))


@pytest.fixture
def broker_down():
    """The broker refuses connections: a Redis URL on a port nothing listens on."""
    from kombu import Connection

    from backoffice.celery import app

    with mock.patch.object(app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0")):
        yield


def test_healthy_when_all_three_answer(client, beat_ticked):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "beat": True,
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_database_down_is_503(client, beat_ticked):
    with mock.patch("backoffice.health.connection") as connection:
        connection.cursor.side_effect = OperationalError("connection refused")
        response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert checks["beat"]["ok"] is False  # read from the database: unknown


def test_the_broker_down_is_503(client, beat_ticked, broker_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False and checks["database"]["ok"] and checks["beat"]["ok"]


def test_beat_silent_for_too_long_is_503(client, db, settings):
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(seconds=settings.HEALTHZ_BEAT_STALE_SECONDS + 5))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["ok"] is False


def test_beat_that_never_ticked_is_503(client, db):
    PeriodicTask.objects.update(last_run_at=None)
    assert client.get("/healthz").json()["checks"]["beat"] == {
        "ok": False,
        "last_tick": None,
        "stale_after_seconds": 600,
    }


def test_healthz_needs_no_login_and_no_https(client, beat_ticked, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200  # exempt: load balancers probe over HTTP
    assert client.get("/backoffice/").status_code == 301


# --- Request ids and JSON lines ----------------------------------------------------------


def test_each_response_names_its_request_id_and_keeps_a_sane_one_it_was_given(client):
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    given = client.get("/accounts/login/", HTTP_X_REQUEST_ID="lb-7f3a9c21")
    assert given["X-Request-ID"] == "lb-7f3a9c21"
    forged = client.get("/accounts/login/", HTTP_X_REQUEST_ID='x"}\n{"level": "CRITICAL')
    assert forged["X-Request-ID"] != 'x"}\n{"level": "CRITICAL' and len(forged["X-Request-ID"]) == 32


def test_log_lines_of_a_request_are_json_with_its_request_id(client, moderator):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get("/backoffice/no-such-page/", HTTP_X_REQUEST_ID="req-00000042")
    finally:
        logger.removeHandler(handler)
    assert response.status_code in (302, 404)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "Django logs the 4xx answer"
    assert all(line["request_id"] == "req-00000042" for line in lines)
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert current_request_id() == ""  # forgotten once the response is done


def test_the_json_formatter_keeps_extra_fields_and_exceptions():
    record = logging.LogRecord("moderation", logging.ERROR, __file__, 1, "chunk %s failed", (7,), None)
    record.removal_id = 12
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "chunk 7 failed" and line["removal_id"] == 12
    assert "ValueError: boom" in line["exception"]
