"""Reads for the webhook pages and the Operations page's line about them.

The index and the Operations line cost a fixed number of queries whatever the number of
deliveries: counts are aggregated per endpoint in one query, failures in another.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Func, IntegerField, Max, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from moderation.models import WebhookDelivery, WebhookEndpoint
from sellers.models import Marketplace

PENDING, DELIVERED, FAILED = (
    WebhookDelivery.Status.PENDING,
    WebhookDelivery.Status.DELIVERED,
    WebhookDelivery.Status.FAILED,
)


def endpoint_overview() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with its deliveries counted by status and its last delivery's time."""
    return (
        WebhookEndpoint.objects.select_related("marketplace")
        .annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=PENDING)),
            delivered=Count("deliveries", filter=Q(deliveries__status=DELIVERED)),
            failed=Count("deliveries", filter=Q(deliveries__status=FAILED)),
            last_delivered_at=Max("deliveries__delivered_at"),
        )
        .order_by("marketplace__name")
    )


def marketplaces_without_endpoint() -> QuerySet[Marketplace]:
    return Marketplace.objects.filter(webhook_endpoints__isnull=True).order_by("name")


class JsonArrayLength(Func):
    """How many elements a JSON array holds (NULL for anything else), counted by the database."""

    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_array_length", **extra_context)


def endpoint_deliveries(endpoint: WebhookEndpoint, *, status: str = "") -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest event first (the unique index on endpoint and event, read backwards).

    Without the events' payloads (a removal's event holds up to 20,000 listing ids): how many
    listings or merchants each names is counted in the query.
    """
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .defer("event__payload")
        .annotate(
            listings=JsonArrayLength(KeyTransform("listing_ids", "event__payload")),
            merchants=JsonArrayLength(KeyTransform("merchants", "event__payload")),
        )
        .order_by("-event_id")
    )
    return deliveries.filter(status=status) if status else deliveries


def line_head(endpoint: WebhookEndpoint) -> WebhookDelivery | None:
    """The delivery every other pending one waits behind."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint, status=PENDING)
        .select_related("event")
        .order_by("event_id")
        .first()
    )


@dataclass(frozen=True)
class WebhookProblems:
    disabled: list[WebhookEndpoint]
    failing: list[WebhookEndpoint]  # enabled, their last attempts failed
    failed_deliveries: int  # given up after the days of retries

    @property
    def any(self) -> bool:
        return bool(self.disabled or self.failing or self.failed_deliveries)


def webhook_problems() -> WebhookProblems:
    """What the Operations page shows in red: endpoints disabled or failing, deliveries given up.

    One query: the endpoints in trouble, each with its count of deliveries given up (the partial
    index of failed deliveries).
    """
    troubled = list(
        WebhookEndpoint.objects.select_related("marketplace")
        .annotate(given_up=Count("deliveries", filter=Q(deliveries__status=FAILED)))
        .filter(Q(active=False) | Q(consecutive_failures__gt=0) | Q(given_up__gt=0))
        .order_by("marketplace__name")
    )
    return WebhookProblems(
        disabled=[endpoint for endpoint in troubled if not endpoint.active],
        failing=[endpoint for endpoint in troubled if endpoint.active and endpoint.consecutive_failures],
        failed_deliveries=sum(endpoint.given_up for endpoint in troubled),
    )
