"""The outbox: enforcement events for the marketplaces, and their delivery to each one's webhook.

A decision that changes what a marketplace must show (a listing delisted or reinstated, a
store blocked, an account frozen, a category retired, a policy announced) writes an
``OutboxEvent`` in its own transaction (DESIGN §3, rule 12), and a ``WebhookDelivery`` for
each endpoint of the event's marketplace. Celery sends the deliveries, signed as the Standard
Webhooks specification says (``moderation.services.webhooks``).

Events are facts: written once, never changed (``AppendOnlyModel``; the runtime role may only
INSERT and SELECT them). A delivery's state changes as it is tried: the runtime role may UPDATE
only the columns in ``DELIVERY_STATE_FIELDS``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from moderation.models.audit import AppendOnlyModel


class WebhookEndpoint(models.Model):
    """Where a marketplace hears of the decisions: one HTTPS address, signed with its secret.

    ``secret`` is ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks form). It is
    shown once, when made or rotated; after a rotation the previous one still signs, beside
    the new one, until ``previous_secret_until``, so the marketplace can switch without
    refusing a message. ``active`` false: nothing is sent (the deliveries wait, in order);
    ``disabled_reason`` says who or what stopped it.
    """

    marketplace = models.ForeignKey("sellers.Marketplace", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    # The failures in a row of the current streak, and when it began: what disables an endpoint.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["marketplace__name"]
        constraints = [
            # One address per marketplace: its events then have one order to keep.
            models.UniqueConstraint(fields=["marketplace"], name="webhook_endpoint_one_per_marketplace"),
            models.CheckConstraint(
                name="webhook_endpoint_disabled_has_time",
                condition=Q(active=True) | Q(disabled_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook of {self.marketplace}"


class OutboxEvent(AppendOnlyModel):
    """One thing a marketplace must hear, as it will be sent: a type, a subject, the data.

    ``uuid`` is the ``webhook-id`` header: the same on every attempt and every replay, so a
    receiver that remembers the ids it has processed processes each event once. The id is
    the event's ``sequence``: it grows with every event, and a later decision about the same
    listing or merchant always has a larger one (the decision locks the row before it writes
    the event, see ``moderation.services.outbox``).
    """

    class Type(models.TextChoices):
        LISTINGS_DELISTED = "listings.delisted", _("listings delisted")
        LISTINGS_REINSTATED = "listings.reinstated", _("listings reinstated")
        MERCHANTS_STATUS_CHANGED = "merchants.status_changed", _("merchants' status changed")
        CATEGORIES_RETIRED = "categories.retired", _("categories retired")
        POLICY_ANNOUNCED = "policy.announced", _("policy announced")
        POLICY_IN_EFFECT = "policy.in_effect", _("policy in effect")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    marketplace = models.ForeignKey("sellers.Marketplace", on_delete=models.PROTECT, related_name="outbox_events")
    event_type = models.CharField(max_length=40, choices=Type.choices)
    subject = models.CharField(max_length=100, help_text="What the event is about: listing:7, removal:3, policy:2…")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # A time range of one marketplace's events (replay of a range).
            models.Index(fields=["marketplace", "created_at"], name="outbox_marketplace_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk} ({self.subject})"

    @property
    def sequence(self) -> int:
        return self.pk


# What the runtime role may change in a delivery (grant_runtime_role): its state, nothing of what it names.
DELIVERY_STATE_FIELDS = (
    "status",
    "attempts",
    "pending_since",
    "next_attempt_at",
    "last_attempt_at",
    "delivered_at",
    "last_status_code",
    "last_response",
    "last_error",
    "replays",
)


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint: pending → delivered, or failed after three days of retries.

    An endpoint's pending deliveries go strictly in event order (its oldest first, and nothing
    after it while it waits for a retry), so a later event never overtakes an earlier one.
    A replay puts a delivery back to pending, at its place in that order.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Since when it waits (made or replayed): retries stop three days after.
    pending_since = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True, help_text="The start of the last answer, cleaned.")
    last_error = models.CharField(max_length=500, blank=True)
    replays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-event_id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # Also the endpoint's page (newest first) and a range replay's "already there".
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"),
            models.CheckConstraint(
                name="webhook_delivery_status_valid", condition=Q(status__in=["pending", "delivered", "failed"])
            ),
        ]
        indexes = [
            # The sender's head of the line: an endpoint's oldest pending delivery.
            models.Index(
                fields=["endpoint", "event"], name="webhook_delivery_pending_idx", condition=Q(status="pending")
            ),
            # The Operations page's count of deliveries given up, and the page's filter of them.
            models.Index(
                fields=["endpoint", "event"], name="webhook_delivery_failed_idx", condition=Q(status="failed")
            ),
        ]

    def __str__(self) -> str:
        return f"Event #{self.event_id} to endpoint #{self.endpoint_id}: {self.status}"
