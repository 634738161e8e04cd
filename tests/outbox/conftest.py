"""Fixtures for the outbox: a real HTTP receiver in a thread, endpoints pointing at it, and a sender loop.

The receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 (no mocks): each request is recorded
with its headers and body; what it answers is scripted per request (``receiver.script``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from moderation.models import OutboxEvent, WebhookDelivery
from moderation.services import webhooks
from tests.moderation.conftest import (  # noqa: F401 - fixtures, re-exported for these tests
    after_grace,
    announced_policy,
    asic_miners,
    draft_policy,
    in_grace,
    merchant_c,
    merchant_d,
    mining_rules,
    open_item,
    other_moderator,
    other_senior,
    removal_catalog,
    travel,
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


# What the receiver does with the n-th request (0-based): (status, body), or a callable that may block.
Behaviour = Callable[[int, "Received"], tuple[int, bytes]]


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    script: Behaviour = lambda n, request: (204, b"")  # noqa: E731 - the default: accept everything
    lock: threading.Lock = field(default_factory=threading.Lock)

    def documents(self, secret: str) -> list[dict]:
        """Every request's JSON, after checking its signature with the package's reference ``Webhook.verify``."""
        return [Webhook(secret).verify(request.body, request.headers) for request in self.requests]

    def first_receipts(self) -> list[str]:
        """The webhook-ids in the order they first arrived: what a receiver that dedupes processes."""
        seen: list[str] = []
        for request in self.requests:
            if request.webhook_id not in seen:
                seen.append(request.webhook_id)
        return seen


@pytest.fixture
def receiver():
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            request = Received({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            with state.lock:
                number = len(state.requests)
                state.requests.append(request)
            status, body = state.script(number, request)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the sender gave up waiting and closed the connection

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/marketplace"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """Plain HTTP to the local receiver; short timeouts, so a receiver that hangs is given up on quickly."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_READ_TIMEOUT = 0.5
    settings.WEBHOOK_TOTAL_TIMEOUT = 3.0
    return settings


@pytest.fixture
def endpoint_for(policy_admin, receiver):
    """``endpoint_for(marketplace)``: (its endpoint at the receiver, made by the policy admin, its secret)."""

    def make(marketplace, url=None):
        return webhooks.create_endpoint(actor=policy_admin, marketplace=marketplace, url=url or receiver.url)

    return make


def deliver_everything(endpoint, clock=None, *, rounds: int = 50) -> int:
    """Run the sender until nothing is pending, moving the clock to each retry's time (no sleeping)."""
    sent = 0
    for _ in range(rounds):
        run = webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk)
        sent += run.sent
        if run.retry_at is not None and clock is not None:
            clock.to(run.retry_at)
            continue
        if run.busy or run.disabled or not run.sent:
            break
    return sent


def pending(endpoint) -> int:
    return WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).count()


def events_of(marketplace, event_type=None):
    events = OutboxEvent.objects.filter(marketplace=marketplace).order_by("id")
    return events.filter(event_type=event_type) if event_type else events


LATER = timedelta(minutes=1)
