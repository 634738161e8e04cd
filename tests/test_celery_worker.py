"""A real Celery worker process, on the Redis broker and the test database."""

from __future__ import annotations

import pytest
from celery.result import AsyncResult, EagerResult

from backoffice.observability import bind_request_id, unbind_request_id
from moderation.models import AuditEvent
from moderation.tasks import ping
from sellers import services as catalog

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def test_a_worker_answers_a_ping_from_the_test_database(celery_worker_process, system):
    # transactional_db: these rows are committed, so the worker's own connection sees them.
    catalog.create_marketplace(actor=system, code="taobao", name="Taobao", timezone_name="Asia/Shanghai")
    catalog.create_category(actor=system, name="Consumer Electronics")
    assert AuditEvent.objects.count() == 2

    sent = ping.delay()
    assert isinstance(sent, AsyncResult) and not isinstance(sent, EagerResult)
    assert sent.get(timeout=20) == {
        "pong": True,
        "database": "postgresql",
        "audit_events": 2,
        "request_id": f"task-{sent.id}",  # queued outside any request: the task's own id
    }
    assert sent.state == "SUCCESS"

    # The worker reads the database as it is now, not a snapshot taken when it started.
    catalog.create_marketplace(actor=system, code="xianyu", name="Xianyu", timezone_name="Asia/Shanghai")
    assert ping.delay().get(timeout=20)["audit_events"] == 3


def test_a_task_carries_the_request_id_of_the_request_that_queued_it(celery_worker_process):
    # RequestIdMiddleware binds the id for the request's duration; a task queued meanwhile
    # takes it along in its message headers, and the worker logs (and answers) under it.
    token = bind_request_id("req-1234abcd")
    try:
        sent = ping.delay()
    finally:
        unbind_request_id(token)
    assert sent.get(timeout=20)["request_id"] == "req-1234abcd"
