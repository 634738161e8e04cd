"""Celery tasks: ids in, a service call, nothing else. Every task is safe to run twice."""

from celery import shared_task
from django.db import connection

from moderation.models import AuditEvent


@shared_task(name="moderation.ping")
def ping() -> dict:
    """Round-trip check for operators and tests: the worker is up and reaches the database."""
    return {"pong": True, "database": connection.vendor, "audit_events": AuditEvent.objects.count()}
