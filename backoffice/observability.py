"""Request ids and structured logs.

Every request gets an id (the caller's ``X-Request-ID`` when it sends a sane one, else a
new one), answered in the same header and written on every log line the request causes.
A Celery task queued while the request runs carries the id in its message headers, so the
worker's log lines for that task name the request that started it: one id follows a
moderator's click from the web process into the removal it scheduled.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.core.signals import request_finished
from django.dispatch import receiver

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may hand us: short and plain, so it cannot forge log structure.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def bind_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def unbind_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def new_request_id(offered: str | None = None) -> str:
    if offered and _SANE_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the chain, so everything after it (views, services, ``on_commit`` tasks) sees the id.

    The id stays bound until the response is closed (``request_finished``): Django logs a
    4xx or 5xx answer after the middleware chain has returned, and that line needs it most.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        bind_request_id(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="backoffice.forget_request_id")
def _forget_request_id_after_response(**_):
    bind_request_id("")


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or the task's) on every record, for any formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


# Attributes every LogRecord has; anything else on a record was passed with ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers index without a parsing rule."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# --- Celery: the id travels in the task message's headers -------------------------------

_task_tokens: dict[str, contextvars.Token] = {}


@before_task_publish.connect
def _send_request_id(headers=None, **_):
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def _receive_request_id(task_id=None, task=None, **_):
    # Custom message headers surface as attributes of the task's request context. A task
    # queued by beat or another task without one gets its own id, so its lines still group.
    request_id = getattr(task.request, "request_id", None) or current_request_id() or f"task-{task_id}"
    _task_tokens[task_id] = bind_request_id(request_id)


@task_postrun.connect
def _forget_request_id(task_id=None, **_):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        # A token made in another context (eager tasks in threads) cannot be reset here: nothing to undo.
        with contextlib.suppress(ValueError):
            unbind_request_id(token)
