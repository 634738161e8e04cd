"""Delivery to a real local HTTP receiver: signed, retried, in order, once per id, disabled when it keeps failing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backoffice.roles import Role
from moderation.models import AuditEvent, AuditVerb, OutboxEvent, WebhookDelivery, WebhookEndpoint
from moderation.services import queue, webhooks
from moderation.services.outbox import EventDraft, write_events
from moderation.services.undo import undo_decision
from moderation.tasks_webhooks import deliver_webhooks, dispatch_webhooks
from tests.conftest import make_user
from tests.outbox.conftest import deliver_everything, pending

pytestmark = pytest.mark.postgres

Type = OutboxEvent.Type


def an_event(marketplace, n: int = 1, *, listing_ids=None) -> None:
    """An event as a decision writes it (with its deliveries), about listing ``n``."""
    payload = {"listing_ids": listing_ids or [n], "n": n}
    write_events([EventDraft(marketplace.pk, Type.LISTINGS_DELISTED, f"listing:{n}", payload)])


# --- the signature ------------------------------------------------------------------------------------


def test_the_signature_is_the_specifications_test_vector():
    endpoint = WebhookEndpoint(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    at = datetime.fromtimestamp(1614265330, tz=UTC)

    signed = webhooks.signature(
        endpoint, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=at, body=b'{"test": 2432232314}'
    )

    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_an_event_arrives_once_signed_as_the_reference_verification_expects(marketplace, receiver, endpoint_for):
    endpoint, secret = endpoint_for(marketplace)
    an_event(marketplace, 7, listing_ids=[7, 8, 9])
    event = OutboxEvent.objects.get()

    run = webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk)

    assert (run.sent, run.delivered, run.failed) == (1, 1, 0)
    [request] = receiver.requests
    assert request.headers["webhook-id"] == str(event.uuid)
    assert request.headers["content-type"] == "application/json"
    document = Webhook(secret).verify(request.body, request.headers)  # the package's reference check
    assert document["type"] == "listings.delisted"
    assert document["data"] == {
        "id": str(event.uuid),
        "sequence": event.pk,
        "subject": "listing:7",
        "marketplace": "alibaba",
        "listing_ids": [7, 8, 9],
        "n": 7,
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request.body, request.headers)  # another secret: refused
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert delivery.delivered_at is not None


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(
    travel, marketplace, receiver, endpoint_for, policy_admin
):
    travel.to(datetime.now(UTC))  # the reference check compares the timestamp with the real clock
    endpoint, old = endpoint_for(marketplace)
    endpoint, new = webhooks.rotate_secret(actor=policy_admin, endpoint=endpoint)
    an_event(marketplace, 1)
    deliver_everything(endpoint)
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    assert AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_SECRET_ROTATED, target_id=endpoint.pk).exists()

    event = OutboxEvent.objects.get()
    later = endpoint.previous_secret_until + timedelta(seconds=1)
    signed = webhooks.signature(endpoint, msg_id=str(event.uuid), timestamp=later, body=b"{}")
    assert signed == Webhook(new).sign(str(event.uuid), later, b"{}")  # the old one no longer signs


# --- failures, timeouts, slowness: every event exactly once per id, in order ----------------------------


def test_a_failing_receiver_gets_each_event_again_later_with_the_same_id_and_the_answer_is_recorded(
    travel, marketplace, receiver, endpoint_for
):
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, secret = endpoint_for(marketplace)
    hostile = "Server \x1b[31merror\u202e \n" + "x" * 2000
    receiver.script = lambda n, request: (503, hostile.encode()) if n == 0 else (200, b"ok")
    an_event(marketplace, 1)

    first = webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk)

    assert (first.sent, first.failed) == (1, 1)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    # Bounded and cleaned: one line, no escape or bidi control, at most 500 characters.
    assert delivery.last_response.startswith("Server [31merror x")
    assert len(delivery.last_response) == 500
    assert not any(c in delivery.last_response for c in "\x1b\u202e\n")
    # Retried after 1 to 2 seconds (exponential back-off with jitter), not before.
    assert timedelta(seconds=1) <= delivery.next_attempt_at - travel.now() <= timedelta(seconds=2)
    assert webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk).sent == 0
    endpoint.refresh_from_db()
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (1, travel.now())

    travel.to(delivery.next_attempt_at)
    assert webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk).delivered == 1

    assert [r.webhook_id for r in receiver.requests] == [str(OutboxEvent.objects.get().uuid)] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_response) == (
        "delivered",
        2,
        200,
        "ok",
    )
    endpoint.refresh_from_db()
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (0, None)


def test_the_back_off_doubles_with_jitter_up_to_its_ceiling():
    for attempts, low, high in [(1, 1, 2), (2, 2, 4), (3, 4, 8), (10, 512, 1024), (30, 1800, 3600)]:
        delays = [webhooks.retry_delay(attempts).total_seconds() for _ in range(50)]
        assert all(low <= delay <= high for delay in delays)
    assert len({webhooks.retry_delay(5) for _ in range(20)}) > 1  # jittered


def test_a_receiver_that_times_out_or_answers_slowly_still_gets_each_event_once_per_id_in_order(
    travel, marketplace, receiver, endpoint_for
):
    """The first request hangs past the read timeout (the sender gives up: a failure, though the
    receiver got it); the second answers late but within it; the rest at once."""
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, _ = endpoint_for(marketplace)
    release = threading.Event()

    def script(n, request):
        if n == 0:
            release.wait(5)  # past the sender's 0.5 s read timeout
        elif n == 1:
            time.sleep(0.1)  # slow, but inside it
        return 200, b""

    receiver.script = script
    for n in range(1, 4):
        an_event(marketplace, n)

    first = webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk)
    release.set()

    assert (first.sent, first.failed) == (1, 1)
    head = WebhookDelivery.objects.order_by("event_id").first()
    assert head.last_error == "TimeoutError: timed out"
    assert head.last_status_code is None
    deliver_everything(endpoint, travel)

    events = [str(uuid) for uuid in OutboxEvent.objects.order_by("id").values_list("uuid", flat=True)]
    assert len(receiver.requests) == 4  # the first event twice (the receiver saw its id both times)
    assert receiver.first_receipts() == events  # once per id, in sequence
    assert pending(endpoint) == 0


def test_a_listings_later_event_is_never_delivered_before_an_earlier_one(
    in_grace, moderator, marketplace, merchant_b, miners, make_listing, open_item, receiver, endpoint_for
):
    endpoint, secret = endpoint_for(marketplace)
    listing = make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")
    item = open_item(listing, score=12)
    queue.take_down_listing(actor=moderator, item=item, reason="A Bitcoin miner.")
    in_grace.by(timedelta(minutes=1))
    undo_decision(actor=moderator, item=item)
    receiver.script = lambda n, request: (500, b"") if n < 3 else (200, b"")  # the take-down fails three times

    deliver_everything(endpoint, in_grace)

    ids = receiver.first_receipts()
    delisted, reinstated = OutboxEvent.objects.filter(subject=f"listing:{listing.pk}").order_by("id")
    assert ids == [str(delisted.uuid), str(reinstated.uuid)]
    assert [r.webhook_id for r in receiver.requests] == [str(delisted.uuid)] * 4 + [str(reinstated.uuid)]


def test_a_second_run_of_the_task_changes_nothing(marketplace, receiver, endpoint_for):
    endpoint, _ = endpoint_for(marketplace)
    an_event(marketplace, 1)
    deliver_webhooks(endpoint.pk)
    state = list(WebhookDelivery.objects.values())

    assert deliver_webhooks(endpoint.pk) == {
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "busy": False,
        "retry_at": None,
        "more": False,
        "disabled": False,
    }
    assert len(receiver.requests) == 1
    assert list(WebhookDelivery.objects.values()) == state


def test_beat_wakes_only_the_endpoints_with_something_due(marketplace, other_marketplace, receiver, endpoint_for):
    busy, _ = endpoint_for(marketplace)
    endpoint_for(other_marketplace)
    an_event(marketplace, 1)

    assert webhooks.endpoints_due() == [busy.pk]
    assert dispatch_webhooks() == [busy.pk]  # eager here: the woken task delivered it
    assert webhooks.endpoints_due() == []
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_event_send_it_once(marketplace, receiver, endpoint_for):
    endpoint, _ = endpoint_for(marketplace)
    with mock.patch.object(deliver_webhooks, "delay"):  # committed at once here: no eager send behind our back
        an_event(marketplace, 1)
    inside, release = threading.Event(), threading.Event()

    def script(n, request):
        inside.set()
        release.wait(5)  # the first worker is mid-send, holding the endpoint
        return 200, b""

    receiver.script = script
    runs = {}

    def worker(name):
        try:
            runs[name] = webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk)
        finally:
            connection.close()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    second.join(5)  # it does not wait for the lock: it skips the endpoint at once
    release.set()
    first.join(5)

    assert (runs["first"].sent, runs["first"].delivered) == (1, 1)
    assert (runs["second"].sent, runs["second"].busy) == (0, True)
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


# --- giving up, disabling, telling the admins -------------------------------------------------------------


def test_a_delivery_failing_for_three_days_fails_and_the_line_moves_on(
    travel, settings, marketplace, receiver, endpoint_for
):
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 1000  # only the delivery's own limit in play here
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 1000
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, _ = endpoint_for(marketplace)
    an_event(marketplace, 1)
    an_event(marketplace, 2)
    poisoned = OutboxEvent.objects.order_by("id").first()
    receiver.script = lambda n, request: (400, b"bad") if request.webhook_id == str(poisoned.uuid) else (200, b"")

    deliver_everything(endpoint, travel, rounds=500)

    first, second = WebhookDelivery.objects.order_by("event_id")
    assert first.status == "failed"
    assert first.last_attempt_at - first.pending_since <= timedelta(hours=72)
    assert first.attempts > 10
    assert second.status == "delivered"


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_admins_are_told(
    travel, settings, marketplace, receiver, endpoint_for, superuser, policy_admin, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 1000  # the day's rule, not the count's
    policy_admin.email = "policy@example.com"
    policy_admin.save()
    make_user("moderator-x", Role.MODERATOR, email="mod@example.com")
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, _ = endpoint_for(marketplace)
    receiver.script = lambda n, request: (500, b"down")
    an_event(marketplace, 1)
    an_event(marketplace, 2)

    with django_capture_on_commit_callbacks(execute=True):
        deliver_everything(endpoint, travel, rounds=500)

    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_at - endpoint.failing_since >= timedelta(hours=24)
    assert "HTTP 500" in endpoint.disabled_reason
    assert pending(endpoint) == 2  # nothing lost: both wait, in order
    disabled = AuditEvent.objects.get(verb=AuditVerb.WEBHOOK_ENDPOINT_DISABLED)
    assert (disabled.actor, disabled.actor_name, disabled.target_id) == (None, "task:deliver_webhooks", endpoint.pk)
    [message] = mail.outbox
    assert sorted(message.to) == ["policy@example.com", "root@example.com"]  # not the moderator
    assert "Alibaba.com" in message.subject and "2 events wait for it" in message.body
    # Disabled: nothing more is sent, and beat does not wake it.
    asked = len(receiver.requests)
    assert webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk).sent == 0
    assert webhooks.endpoints_due(now=travel.now() + timedelta(days=1)) == []
    assert len(receiver.requests) == asked


def test_n_failures_in_a_row_disable_an_endpoint_too(travel, settings, marketplace, receiver, endpoint_for):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, _ = endpoint_for(marketplace)
    receiver.script = lambda n, request: (502, b"")
    an_event(marketplace, 1)

    deliver_everything(endpoint, travel)

    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures, len(receiver.requests)) == (False, 3, 3)


def test_enabling_again_sends_the_backlog_first_in_order(travel, marketplace, receiver, endpoint_for, policy_admin):
    travel.to(datetime(2021, 10, 8, tzinfo=UTC))
    endpoint, _ = endpoint_for(marketplace)
    webhooks.disable_endpoint(actor=policy_admin, endpoint=endpoint, reason="The marketplace moves its servers.")
    for n in range(1, 4):
        an_event(marketplace, n)
    assert webhooks.deliver_to_endpoint(endpoint_id=endpoint.pk).sent == 0

    webhooks.enable_endpoint(actor=policy_admin, endpoint=endpoint)
    deliver_everything(endpoint, travel)

    assert receiver.first_receipts() == [
        str(u) for u in OutboxEvent.objects.order_by("id").values_list("uuid", flat=True)
    ]
    verbs = list(
        AuditEvent.objects.filter(target_id=endpoint.pk, verb__gte=430, verb__lt=440).values_list("verb", flat=True)
    )
    assert sorted(verbs) == [
        AuditVerb.WEBHOOK_ENDPOINT_CREATED,
        AuditVerb.WEBHOOK_ENDPOINT_DISABLED,
        AuditVerb.WEBHOOK_ENDPOINT_ENABLED,
    ]


# --- replays ------------------------------------------------------------------------------------------------


def test_replaying_one_event_sends_it_again_with_its_own_id_and_is_audited(
    marketplace, receiver, endpoint_for, policy_admin
):
    endpoint, _ = endpoint_for(marketplace)
    an_event(marketplace, 1)
    deliver_everything(endpoint)
    delivery = WebhookDelivery.objects.get()

    webhooks.replay_delivery(actor=policy_admin, delivery=delivery)
    with pytest.raises(ValidationError, match="waiting to be sent already"):
        webhooks.replay_delivery(actor=policy_admin, delivery=delivery)  # pending: nothing to replay
    deliver_everything(endpoint)

    assert [r.webhook_id for r in receiver.requests] == [str(delivery.event.uuid)] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.replays, delivery.attempts) == ("delivered", 1, 1)
    replay = AuditEvent.objects.get(verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED)
    assert (replay.actor, replay.after) == (
        policy_admin,
        {"event": delivery.event_id, "webhook_id": str(delivery.event.uuid)},
    )


def test_replaying_a_time_range_sends_its_events_in_order_even_those_from_before_the_endpoint(
    travel, marketplace, receiver, endpoint_for, policy_admin
):
    start = travel.to(datetime(2021, 10, 8, 1, tzinfo=UTC))
    an_event(marketplace, 1)  # before the endpoint existed: no delivery yet
    travel.by(timedelta(hours=1))
    endpoint, _ = endpoint_for(marketplace)
    an_event(marketplace, 2)
    deliver_everything(endpoint, travel)
    travel.by(timedelta(hours=1))
    end = travel.now()
    an_event(marketplace, 3)  # after the range: not replayed
    deliver_everything(endpoint, travel)
    receiver.requests.clear()

    count = webhooks.replay_range(actor=policy_admin, endpoint=endpoint, start=start, end=end)
    deliver_everything(endpoint, travel)

    one, two, three = OutboxEvent.objects.order_by("id")
    assert count == 2
    assert receiver.first_receipts() == [str(one.uuid), str(two.uuid)]
    assert WebhookDelivery.objects.get(event=one).replays == 0  # its first delivery
    assert WebhookDelivery.objects.get(event=two).replays == 1
    assert WebhookDelivery.objects.get(event=three).replays == 0
    replay = AuditEvent.objects.get(verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED)
    assert (replay.after["replayed"], replay.after["first_delivered"]) == (1, 1)


def test_a_range_ending_before_it_starts_is_refused_and_changes_nothing(marketplace, endpoint_for, policy_admin):
    endpoint, _ = endpoint_for(marketplace)
    moment = datetime(2021, 10, 8, tzinfo=UTC)
    with pytest.raises(ValidationError, match="end must come after the start"):
        webhooks.replay_range(actor=policy_admin, endpoint=endpoint, start=moment, end=moment)
    assert not AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED).exists()


# --- a real worker ----------------------------------------------------------------------------------------


@pytest.mark.broker
def test_a_real_worker_knows_the_tasks_and_delivers_after_commit(
    celery_worker_process, marketplace, receiver, endpoint_for
):
    """The worker process registers the webhook tasks (CELERY_IMPORTS) and is woken by the commit."""
    endpoint, secret = endpoint_for(marketplace)

    an_event(marketplace, 1)  # committed at once (transactional test): its on-commit wakes the worker's task

    for _ in range(200):  # polled, not timed: up to 20 s for the worker to pick it up
        if WebhookDelivery.objects.filter(endpoint=endpoint, status="delivered").exists():
            break
        time.sleep(0.1)
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "delivered"
    assert receiver.first_receipts() == [str(OutboxEvent.objects.get(marketplace=marketplace).uuid)]
    dispatch_webhooks.delay()  # beat's task is known to the worker too (nothing due: it sends nothing)
