"""The runtime role and the outbox: events are facts; a delivery's state may change, not what it names.

Every other test here runs as the runtime role already (when the suite is granted one): writing
events and deliveries, locking endpoints, recording attempts all work with these grants.
"""

from __future__ import annotations

from unittest import mock

import pytest

from backoffice.management.commands.grant_runtime_role import append_only_tables
from moderation.models import OutboxEvent, WebhookDelivery
from moderation.models.outbox import DELIVERY_STATE_FIELDS
from moderation.services.outbox import EventDraft, write_events
from tests.backoffice.test_runtime_role import refusal, runtime  # noqa: F401 - a fixture
from tests.conftest import connect_as

pytestmark = pytest.mark.postgres


def test_the_outbox_tables_are_append_only_but_for_the_delivery_state():
    tables = append_only_tables()
    assert tables[OutboxEvent._meta.db_table] == ()
    assert set(tables[WebhookDelivery._meta.db_table]) == set(DELIVERY_STATE_FIELDS)
    assert "endpoint_id" not in tables[WebhookDelivery._meta.db_table]


@pytest.mark.django_db(transaction=True)
def test_the_runtime_role_may_record_an_attempt_but_not_rewrite_an_event_or_a_delivery(
    runtime,  # noqa: F811
    marketplace,
    other_marketplace,
    endpoint_for,
):
    endpoint, _ = endpoint_for(marketplace)
    other, _ = endpoint_for(other_marketplace)
    with mock.patch("moderation.tasks_webhooks.deliver_webhooks.delay"):
        write_events(
            [EventDraft(marketplace.pk, OutboxEvent.Type.LISTINGS_DELISTED, "listing:1", {"listing_ids": [1]})]
        )
    event, delivery = OutboxEvent.objects.get(), WebhookDelivery.objects.get()

    for statement in (
        f"UPDATE moderation_outboxevent SET payload = '{{}}' WHERE id = {event.pk}",
        f"DELETE FROM moderation_outboxevent WHERE id = {event.pk}",
        f"UPDATE moderation_webhookdelivery SET endpoint_id = {other.pk} WHERE id = {delivery.pk}",
        f"UPDATE moderation_webhookdelivery SET event_id = event_id WHERE id = {delivery.pk}",
        f"DELETE FROM moderation_webhookdelivery WHERE id = {delivery.pk}",
    ):
        assert "permission denied" in refusal(runtime, statement), statement

    with connect_as(runtime) as own:
        own.execute(
            "UPDATE moderation_webhookdelivery SET status = 'delivered', attempts = attempts + 1, "
            "last_status_code = 204 WHERE id = %s",
            [delivery.pk],
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.endpoint_id) == ("delivered", 1, endpoint.pk)
