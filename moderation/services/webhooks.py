"""Marketplace webhooks: the endpoints an admin manages, and the sending of their deliveries.

Sending, one endpoint at a time (``deliver_to_endpoint``), one delivery per transaction:

1. Lock the endpoint's row, skipping it if another worker holds it (``FOR UPDATE SKIP LOCKED``):
   that worker is sending the endpoint's line already; two never send to one endpoint at once,
   so they never send the same event at once either.
2. Take the endpoint's oldest pending delivery, the head of its line. If it waits for a retry,
   stop: nothing behind it may overtake it. A strict line per endpoint is what keeps every
   listing's events in order when an event carries thousands of listings: a batch and a later
   single-listing event share subjects nobody could index cheaply, and the line needs none.
3. POST it, signed as the Standard Webhooks specification says (``webhook-id``,
   ``webhook-timestamp``, ``webhook-signature``); short connect and read timeouts and a bound
   on the whole exchange, no redirect followed.
4. A 2xx answer: delivered. Anything else (or none): the attempt is counted, the next one
   comes after an exponential back-off with jitter; after three days pending the delivery
   fails and the line moves on. The endpoint's streak of failures grows: a day of nothing but
   failures (or ``WEBHOOK_DISABLE_AFTER_FAILURES`` in a row) disables it, and the admins are told.

A worker that dies between the POST and the commit leaves the delivery pending: it goes again
with the same ``webhook-id``, which receivers deduplicate on, so each event is processed once as
far as they can tell. A second run of the task finds the head delivered and sends nothing.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks.webhooks import Webhook

from backoffice.roles import Role, has_role
from backoffice.text import has_visible_text, one_line
from moderation.models import AuditVerb, OutboxEvent, WebhookDelivery, WebhookEndpoint
from moderation.services import webhook_addresses
from moderation.services.audit import Actor, SystemActor, actor_user, record_event
from moderation.services.outbox import wake_senders_after_commit
from sellers.models import Marketplace

logger = logging.getLogger(__name__)

SENDER = SystemActor("deliver_webhooks")
SECRET_PREFIX = "whsec_"
USER_AGENT = "ban-enforcement-backoffice-webhooks/1"
RESPONSE_EXCERPT_CHARS = 500
# Read at most this much of an answer: its start is all the page shows.
RESPONSE_READ_BYTES = 4096
REPLAY_MAX_EVENTS = 50_000

DEFAULTS: dict[str, Any] = {
    "WEBHOOK_CONNECT_TIMEOUT": 3.0,  # seconds to open the connection (TLS included)
    "WEBHOOK_READ_TIMEOUT": 10.0,  # seconds of silence while waiting for the answer
    "WEBHOOK_TOTAL_TIMEOUT": 15.0,  # seconds for the whole exchange, however the receiver trickles
    "WEBHOOK_RETRY_BASE_SECONDS": 2.0,  # the first retry comes after 1 to 2 s, then doubling…
    "WEBHOOK_RETRY_MAX_SECONDS": 3600.0,  # …up to an hour apart
    "WEBHOOK_RETRY_FOR_HOURS": 72,  # then the delivery fails (an admin may replay it)
    "WEBHOOK_DISABLE_AFTER_HOURS": 24,  # nothing but failures this long disables the endpoint…
    "WEBHOOK_DISABLE_AFTER_FAILURES": 50,  # …or this many in a row
    "WEBHOOK_SECRET_OVERLAP_HOURS": 24,  # after a rotation, the previous secret signs too this long
    "WEBHOOK_SEND_BUDGET_SECONDS": 60.0,  # one task sends this long, then queues the next
}


def setting(name: str) -> Any:
    """The project's value if it sets one (read at each call: a test's override applies), else ours."""
    return getattr(settings, name, DEFAULTS[name])


def http_allowed() -> bool:
    """Plain http:// addresses only for the demo and tests; a marketplace's endpoint is HTTPS."""
    return bool(getattr(settings, "WEBHOOK_ALLOW_HTTP", settings.DEBUG))


def may_manage_webhooks(user) -> bool:
    """The one statement of who manages endpoints, sees their deliveries and replays: policy admins."""
    return has_role(user, Role.POLICY_ADMIN)


def _require_admin(actor: Actor) -> None:
    if isinstance(actor, User) and not may_manage_webhooks(actor):
        raise ValidationError(_("Only policy admins manage the marketplaces' webhooks."))


# --- Endpoints --------------------------------------------------------------------------------


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes: the form the Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_endpoint_url(url: str) -> str:
    """The address, trimmed; a field error when it is not one we will POST to."""
    url = (url or "").strip()
    schemes = ["https", "http"] if http_allowed() else ["https"]
    try:
        URLValidator(schemes=schemes)(url)
    except ValidationError:
        message = (
            _("Enter a full http:// or https:// address.")
            if http_allowed()
            else _("Enter a full https:// address: events are only sent encrypted.")
        )
        raise ValidationError({"url": message}) from None
    parts = urlsplit(url)
    if parts.username or parts.password:
        # It would be shown on the pages and in the audit trail: the secret signs instead.
        raise ValidationError({"url": _("Leave user names and passwords out of the address.")})
    if parts.fragment:
        raise ValidationError({"url": _("An address with a #fragment cannot be posted to.")})
    if len(url) > WebhookEndpoint._meta.get_field("url").max_length:  # type: ignore[operator]
        raise ValidationError({"url": _("Keep the address to 500 characters.")})
    webhook_addresses.ensure_public_address(url)  # the send checks again: what a name resolves to may change
    return url


@transaction.atomic
def create_endpoint(*, actor: Actor, marketplace: Marketplace, url: str) -> tuple[WebhookEndpoint, str]:
    """A marketplace's endpoint; returns it with its secret, which is shown once.

    Events from now on are delivered to it; earlier ones by a replay of their time range.
    """
    _require_admin(actor)
    url = validate_endpoint_url(url)
    # The marketplace's row first: two admins creating at once make one endpoint, the other a clear refusal.
    Marketplace.objects.select_for_update().filter(pk=marketplace.pk).values_list("pk", flat=True).first()
    if WebhookEndpoint.objects.filter(marketplace=marketplace).exists():
        raise ValidationError(
            {"marketplace": _("%(marketplace)s has an endpoint already.") % {"marketplace": marketplace}}
        )
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        marketplace=marketplace, url=url, secret=secret, created_by=actor_user(actor)
    )
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED,
        target=endpoint,
        after={"marketplace": marketplace.code, "url": url},
    )
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("marketplace").get(pk=endpoint.pk)


@transaction.atomic
def rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once; the previous one signs beside it for a day, while the marketplace switches."""
    _require_admin(actor)
    endpoint = _locked(endpoint)
    now = timezone.now()
    secret = new_secret()
    overlap_until = now + timedelta(hours=setting("WEBHOOK_SECRET_OVERLAP_HOURS"))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret=endpoint.secret, previous_secret_until=overlap_until, secret=secret, secret_rotated_at=now
    )
    endpoint.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_SECRET_ROTATED,
        target=endpoint,
        after={"previous_secret_signs_until": overlap_until},
    )
    return endpoint, secret


@transaction.atomic
def change_endpoint_url(*, actor: Actor, endpoint: WebhookEndpoint, url: str) -> WebhookEndpoint:
    _require_admin(actor)
    url = validate_endpoint_url(url)
    endpoint = _locked(endpoint)
    if url == endpoint.url:
        return endpoint
    before = {"url": endpoint.url}
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=url)
    endpoint.refresh_from_db()
    record_event(
        actor=actor, verb=AuditVerb.WEBHOOK_ENDPOINT_EDITED, target=endpoint, before=before, after={"url": url}
    )
    return endpoint


@transaction.atomic
def disable_endpoint(*, actor: Actor, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Stop sending to it (its deliveries wait, in order, for it to be enabled again)."""
    _require_admin(actor)
    if not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why the endpoint is disabled.")})
    endpoint = _locked(endpoint)
    if not endpoint.active:
        raise ValidationError(_("This endpoint is disabled already."))
    return _disable(endpoint, actor=actor, reason=reason.strip(), now=timezone.now())


def _disable(endpoint: WebhookEndpoint, *, actor: Actor, reason: str, now: datetime) -> WebhookEndpoint:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_at=now, disabled_reason=reason)
    endpoint.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_ENDPOINT_DISABLED,
        target=endpoint,
        before={"active": True},
        after={"active": False, "consecutive_failures": endpoint.consecutive_failures},
        reason=reason,
    )
    return endpoint


@transaction.atomic
def enable_endpoint(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Send again: the deliveries that waited go first, in order, each with three days of retries again."""
    _require_admin(actor)
    endpoint = _locked(endpoint)
    if endpoint.active:
        raise ValidationError(_("This endpoint is enabled already."))
    now = timezone.now()
    before = {"active": False, "disabled_reason": endpoint.disabled_reason}
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=True, disabled_at=None, disabled_reason="", consecutive_failures=0, failing_since=None
    )
    waiting = WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
        attempts=0, pending_since=now, next_attempt_at=now
    )
    endpoint.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_ENDPOINT_ENABLED,
        target=endpoint,
        before=before,
        after={"active": True, "deliveries_waiting": waiting},
    )
    wake_senders_after_commit([endpoint.pk])
    return endpoint


# --- Replays ----------------------------------------------------------------------------------


def _back_to_pending(deliveries, *, now: datetime) -> int:
    return deliveries.exclude(status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=0,
        pending_since=now,
        next_attempt_at=now,
        delivered_at=None,
        replays=F("replays") + 1,
    )


@transaction.atomic
def replay_delivery(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send one event again, with its own webhook-id: a receiver that kept it ignores it, one that lost it has it.

    It takes its place in the endpoint's line by its sequence (before anything newer still waiting).
    """
    _require_admin(actor)
    now = timezone.now()
    if not _back_to_pending(WebhookDelivery.objects.filter(pk=delivery.pk), now=now):
        raise ValidationError(_("This event is waiting to be sent already."))
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery.pk)
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED,
        target=delivery.endpoint,
        after={"event": delivery.event_id, "webhook_id": str(delivery.event.uuid)},
    )
    wake_senders_after_commit([delivery.endpoint_id])
    return delivery


@transaction.atomic
def replay_range(*, actor: Actor, endpoint: WebhookEndpoint, start: datetime, end: datetime) -> int:
    """Send again every event of the endpoint's marketplace written in [start, end), in order.

    Events written before the endpoint existed get their first delivery. Refused above
    ``REPLAY_MAX_EVENTS`` events: ask for a shorter range. Returns how many will be sent.
    """
    _require_admin(actor)
    if start >= end:
        raise ValidationError({"end": _("The end must come after the start.")})
    endpoint = _locked(endpoint)
    events = OutboxEvent.objects.filter(
        marketplace_id=endpoint.marketplace_id, created_at__gte=start, created_at__lt=end
    )
    total = events.count()
    if total > REPLAY_MAX_EVENTS:
        raise ValidationError(
            {
                "start": _("%(count)s events in that range: replay at most %(max)s at once.")
                % {"count": total, "max": REPLAY_MAX_EVENTS}
            }
        )
    now = timezone.now()
    replayed = _back_to_pending(WebhookDelivery.objects.filter(endpoint=endpoint, event__in=events), now=now)
    missing = list(events.exclude(deliveries__endpoint=endpoint).values_list("pk", flat=True))
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint, event_id=event_id, pending_since=now, next_attempt_at=now, created_at=now
            )
            for event_id in missing
        ],
        ignore_conflicts=True,  # a delivery a concurrent decision just made for this endpoint is there already
        batch_size=5000,
    )
    record_event(
        actor=actor,
        verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED,
        target=endpoint,
        after={"from": start, "to": end, "replayed": replayed, "first_delivered": len(missing)},
    )
    wake_senders_after_commit([endpoint.pk])
    return replayed + len(missing)


# --- What is sent -----------------------------------------------------------------------------


def event_body(event: OutboxEvent, *, marketplace_code: str) -> bytes:
    """The JSON document of an event, the same bytes at every attempt (Standard Webhooks' shape:
    ``type``, ``timestamp``, ``data``)."""
    document = {
        "type": event.event_type,
        "timestamp": event.created_at,
        "data": {
            "id": str(event.uuid),
            "sequence": event.pk,
            "subject": event.subject,
            "marketplace": marketplace_code,
            **event.payload,
        },
    }
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def signature(endpoint: WebhookEndpoint, *, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, and the previous secret's beside it
    (space-separated, as the specification allows) while a rotation's overlap lasts."""
    signatures = [Webhook(endpoint.secret).sign(msg_id, timestamp, body)]
    if endpoint.previous_secret and endpoint.previous_secret_until and timestamp < endpoint.previous_secret_until:
        signatures.append(Webhook(endpoint.previous_secret).sign(msg_id, timestamp, body))
    return " ".join(signatures)


def signed_headers(endpoint: WebhookEndpoint, event: OutboxEvent, body: bytes, *, at: datetime) -> dict[str, str]:
    msg_id = str(event.uuid)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(endpoint, msg_id=msg_id, timestamp=at, body=body),
    }


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, timed out, cut)
    excerpt: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def clean_excerpt(raw: bytes) -> str:
    """The start of an answer as the page may show it: text, one line, no control or bidi character."""
    return one_line(raw.decode("utf-8", errors="replace"), max_length=RESPONSE_EXCERPT_CHARS)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url``: a connect timeout, a read timeout, and a bound on the whole exchange
    (a receiver trickling its answer a byte at a time is cut off). Redirects are not followed.

    The host is resolved once and refused if any of its addresses is private (``webhook_addresses``);
    the connection goes to the addresses checked, while TLS and the Host header still name the host.
    """
    parts = urlsplit(url)
    try:
        addresses = webhook_addresses.resolve_for_sending(
            parts.hostname or "", parts.port or webhook_addresses.default_port(parts.scheme)
        )
    except webhook_addresses.AddressRefused as refusal:
        return Answer(None, error=str(refusal))
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=setting("WEBHOOK_CONNECT_TIMEOUT"))

    def connect_to_the_addresses_checked(_address, timeout, *_rest) -> socket.socket:
        return webhook_addresses.connect_to(addresses, timeout)

    # http.client opens its socket through this attribute (socket.create_connection by default, which
    # would resolve the name again: a rebinding answer in between would reach a private address).
    connection._create_connection = connect_to_the_addresses_checked  # type: ignore[attr-defined]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to cut
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(setting("WEBHOOK_TOTAL_TIMEOUT"), cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(setting("WEBHOOK_READ_TIMEOUT"))
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = clean_excerpt(response.read(RESPONSE_READ_BYTES))
        return Answer(response.status, excerpt)
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = "no answer within the time allowed" if cut.is_set() else f"{type(error).__name__}: {error}"
        return Answer(None, error=one_line(reason, max_length=RESPONSE_EXCERPT_CHARS))
    finally:
        timer.cancel()
        connection.close()


def retry_delay(attempts: int) -> timedelta:
    """After the ``attempts``-th failure: exponential (base × 2^(n-1), capped) with "equal jitter"
    (half of it fixed, half random), so endpoints failing together do not retry together."""
    ceiling = min(
        setting("WEBHOOK_RETRY_BASE_SECONDS") * 2 ** min(max(attempts - 1, 0), 30), setting("WEBHOOK_RETRY_MAX_SECONDS")
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not a secret


# --- Sending ----------------------------------------------------------------------------------


@dataclass
class SendRun:
    """What one call of ``deliver_to_endpoint`` did, and what should happen next."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed (not deliveries given up)
    busy: bool = False  # another worker holds the endpoint (or it is gone)
    retry_at: datetime | None = None  # the head waits for a retry until then
    more: bool = False  # stopped for time with deliveries due: queue another run
    disabled: bool = False
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "failed": self.failed,
            "busy": self.busy,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "more": self.more,
            "disabled": self.disabled,
        }


def deliver_to_endpoint(*, endpoint_id: int, time_budget: float | None = None) -> SendRun:
    """Send the endpoint's due deliveries in order, one transaction each, until none is due, one
    fails (it then waits for its retry, and so does the line behind it) or time runs out."""
    budget = setting("WEBHOOK_SEND_BUDGET_SECONDS") if time_budget is None else time_budget
    started = time.monotonic()
    run = SendRun()
    while True:
        with transaction.atomic():
            endpoint = (
                WebhookEndpoint.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("marketplace")
                .filter(pk=endpoint_id)
                .first()
            )
            if endpoint is None:
                run.busy = True
                return run
            if not endpoint.active:
                return run
            head = (
                WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING)
                .select_related("event")
                .order_by("event_id")
                .first()
            )
            if head is None:
                return run
            now = timezone.now()
            if head.next_attempt_at > now:
                run.retry_at = head.next_attempt_at
                return run
            body = event_body(head.event, marketplace_code=endpoint.marketplace.code)
            answer = post(endpoint.url, body=body, headers=signed_headers(endpoint, head.event, body, at=now))
            run.sent += 1
            # The attempt is over when the answer is: the clock that counts retries reads then.
            now = timezone.now()
            if answer.delivered:
                _record_delivered(endpoint, head, answer, now=now)
                run.delivered += 1
            else:
                run.failed += 1
                run.retry_at = _record_failed(endpoint, head, answer, now=now)
                run.disabled = not endpoint.active  # _record_failed disables it when its streak is too long
                if run.retry_at is not None or run.disabled:
                    return run
        if time.monotonic() - started >= budget:
            run.more = True
            return run


def _attempt_fields(answer: Answer, now: datetime) -> dict[str, Any]:
    return {
        "attempts": F("attempts") + 1,
        "last_attempt_at": now,
        "last_status_code": answer.status,
        "last_response": answer.excerpt,
        "last_error": answer.error,
    }


def _record_delivered(endpoint: WebhookEndpoint, delivery: WebhookDelivery, answer: Answer, *, now: datetime) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.DELIVERED, delivered_at=now, **_attempt_fields(answer, now)
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=0, failing_since=None, last_success_at=now
    )


def _record_failed(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, answer: Answer, *, now: datetime
) -> datetime | None:
    """Count the failure; returns when the delivery is tried again (None: it failed for good).

    Then the endpoint's streak: disabled, with the admins told, when it has failed for
    ``WEBHOOK_DISABLE_AFTER_HOURS`` without a success or ``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row.
    """
    next_attempt_at = now + retry_delay(delivery.attempts + 1)
    gives_up = next_attempt_at > delivery.pending_since + timedelta(hours=setting("WEBHOOK_RETRY_FOR_HOURS"))
    fields = _attempt_fields(answer, now)
    if gives_up:
        fields["status"] = WebhookDelivery.Status.FAILED
    else:
        fields["next_attempt_at"] = next_attempt_at
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(**fields)
    failing_since = endpoint.failing_since or now
    failures = endpoint.consecutive_failures + 1
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=failures, failing_since=failing_since)
    endpoint.consecutive_failures, endpoint.failing_since = failures, failing_since
    too_long = now - failing_since >= timedelta(hours=setting("WEBHOOK_DISABLE_AFTER_HOURS"))
    if too_long or failures >= setting("WEBHOOK_DISABLE_AFTER_FAILURES"):
        last = f"HTTP {answer.status}" if answer.status is not None else answer.error
        reason = (
            f"Every delivery failed since {failing_since:%Y-%m-%d %H:%M} UTC ({failures} attempts in a row); "
            f"the last one: {last}."
        )
        _disable(endpoint, actor=SENDER, reason=reason, now=now)
        endpoint_id = endpoint.pk
        transaction.on_commit(lambda: tell_admins_endpoint_disabled(endpoint_id=endpoint_id))
    return None if gives_up else next_attempt_at


def webhook_admins() -> list[str]:
    """The addresses of those who can enable an endpoint again: superusers and policy admins."""
    return sorted(
        set(
            User.objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(groups__name=Role.POLICY_ADMIN.value))
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def tell_admins_endpoint_disabled(*, endpoint_id: int) -> int:
    """E-mail the admins that a marketplace no longer hears the decisions (after the commit that disabled it).

    A mail server down must not undo the disabling: the failure is logged, and the Operations
    page shows the endpoint in red either way. Returns how many were written to.
    """
    endpoint = WebhookEndpoint.objects.select_related("marketplace").filter(pk=endpoint_id).first()
    recipients = webhook_admins()
    if endpoint is None or not recipients:
        return 0
    waiting = WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).count()
    body = (
        f"The webhook endpoint of {endpoint.marketplace} ({endpoint.url}) was disabled: "
        f"{endpoint.disabled_reason}\n\n"
        f"{waiting} events wait for it, in order. {endpoint.marketplace} does not hear of delistings, "
        "blocked stores or retired categories until it is enabled again (Operations → Marketplace webhooks)."
    )
    try:
        send_mail(
            f"Webhook of {endpoint.marketplace} disabled: the marketplace no longer hears the decisions",
            body,
            None,
            recipients,
        )
    except Exception:  # noqa: BLE001 - the endpoint stays disabled and the page says so
        logger.exception("could not e-mail the admins that webhook endpoint %s was disabled", endpoint_id)
        return 0
    return len(recipients)


def endpoints_due(*, now: datetime | None = None) -> list[int]:
    """Enabled endpoints with a pending delivery whose time has come (beat wakes their senders)."""
    now = now or timezone.now()
    return sorted(
        set(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__active=True
            ).values_list("endpoint_id", flat=True)
        )
    )
