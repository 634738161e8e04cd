"""Enforcement events for the marketplaces, written in the decision's own transaction (DESIGN §3, rule 12).

Each service that changes what a marketplace must show calls one function here, inside its
transaction and after it changed (and so locked) the rows the event is about:

- ``listing_delisted`` / ``listing_reinstated``: one listing (a take-down, a granted appeal, an undo);
- ``removal_delistings_sql`` (PostgreSQL: CTEs joined to a removal chunk's UPDATE … RETURNING) and
  ``removal_delistings`` (its SQLite twin): the listings of a removal chunk;
- ``sanction_delistings``: the listings an account freeze took down, for a whole sweep range;
- ``merchant_statuses_changed``: stores blocked or lifted, accounts frozen or closed;
- ``categories_retired``, ``policy_changed``: to every marketplace in the policy's scope.

One event per marketplace per call, its listing (or merchant) ids batched in it, split every
``WEBHOOK_MAX_IDS_PER_EVENT``: a chunk of 20,000 listings is a handful of events, not 20,000.
Each event gets a pending delivery for each endpoint of its marketplace in the same statement or
transaction, and the endpoints' senders are woken after commit (``moderation.tasks_webhooks``).
A decision rolled back takes its events with it; one committed cannot lose them.

Order: an event's id is its ``sequence``. A decision writes its event after it updated the
rows the event is about, so a later decision about the same listing or merchant waited for the
earlier one's commit on that row's lock and draws a larger id. Each endpoint receives its
events in id order (``moderation.services.webhooks``), so a later event about a listing never
arrives before an earlier one, batch or not.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from moderation.bulk import insert_rows
from moderation.models import CategoryRemoval, OutboxEvent, Policy, WebhookDelivery, WebhookEndpoint
from sellers.models import Category, Listing, Merchant

EventType = OutboxEvent.Type

# Ids per event: 20,000 ids are about 150 KB of JSON, a body every web server accepts.
DEFAULT_MAX_IDS_PER_EVENT = 20_000


def max_ids_per_event() -> int:
    return max(1, int(getattr(settings, "WEBHOOK_MAX_IDS_PER_EVENT", DEFAULT_MAX_IDS_PER_EVENT)))


@dataclass(frozen=True)
class EventDraft:
    marketplace_id: int
    event_type: str
    subject: str
    payload: dict[str, Any]


def policy_ref(policy: Policy | None) -> dict[str, Any] | None:
    """How an event names a policy: its stable slug and the version that decided."""
    return None if policy is None else {"slug": policy.slug, "version": policy.version}


def _batched(ids: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


# --- Writing events (any database) -------------------------------------------------------------


def write_events(drafts: Iterable[EventDraft], *, at: datetime | None = None) -> int:
    """Insert the events, a pending delivery per endpoint of each one's marketplace; wake the senders after commit.

    Three statements whatever the number of events (the events, the endpoints, the deliveries).
    Inside the decision's transaction. Returns how many events.
    """
    at = at or timezone.now()
    rows = [
        {
            "uuid": uuid.uuid4(),
            "marketplace_id": draft.marketplace_id,
            "event_type": draft.event_type,
            "subject": draft.subject[:100],
            "payload": draft.payload,
            "created_at": at,
        }
        for draft in drafts
    ]
    if not rows:
        return 0
    inserted = insert_rows(OutboxEvent, rows, returning=("id", "marketplace_id"))
    endpoints: dict[int, list[int]] = defaultdict(list)
    for endpoint_id, marketplace_id in WebhookEndpoint.objects.filter(
        marketplace_id__in={marketplace_id for _, marketplace_id in inserted}
    ).values_list("pk", "marketplace_id"):
        endpoints[marketplace_id].append(endpoint_id)
    deliveries = [
        {
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "status": WebhookDelivery.Status.PENDING,
            "pending_since": at,
            "next_attempt_at": at,
            "created_at": at,
        }
        for event_id, marketplace_id in inserted
        for endpoint_id in endpoints.get(marketplace_id, [])
    ]
    insert_rows(WebhookDelivery, deliveries)
    wake_senders_after_commit({delivery["endpoint_id"] for delivery in deliveries})
    return len(inserted)


def wake_senders_after_commit(endpoint_ids: Iterable[int] | None = None) -> None:
    """After commit, a sending task per endpoint (``None``: every endpoint with something due).

    A task that finds the endpoint busy, or nothing due, returns at once: waking twice is harmless.
    """
    from moderation.tasks_webhooks import deliver_webhooks, dispatch_webhooks

    if endpoint_ids is None:
        transaction.on_commit(dispatch_webhooks.delay)
        return
    for endpoint_id in sorted(endpoint_ids):
        transaction.on_commit(partial(deliver_webhooks.delay, endpoint_id))


def listings_changed(
    *, event_type: str, listing_ids: Iterable[int], subject: str, data: dict[str, Any], at: datetime | None = None
) -> int:
    """One event per marketplace of these listings, their ids batched in it (in order). Returns how many events."""
    ids = sorted(set(listing_ids))
    if not ids:
        return 0
    by_marketplace: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    for listing_id, marketplace_id, external_id in (
        Listing.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "merchant__marketplace_id", "external_id")
    ):
        by_marketplace[marketplace_id].append((listing_id, external_id))
    size = max_ids_per_event()
    return write_events(
        (
            EventDraft(marketplace_id, event_type, subject, {**data, **_listing_ids(part)})
            for marketplace_id, listings_there in sorted(by_marketplace.items())
            for part in _batched(listings_there, size)
        ),
        at=at,
    )


def _listing_ids(listings: Sequence[tuple[int, str | None]]) -> dict[str, list]:
    """Our ids, and beside each the marketplace's own (``external_ids``; null for a listing the
    sellers' API created): the marketplace finds the listing to hide by the id it gave it."""
    return {
        "listing_ids": [listing_id for listing_id, _external in listings],
        "external_ids": [external_id for _listing, external_id in listings],
    }


def listing_delisted(listing: Listing, *, reason: str, policy: Policy | None = None, at: datetime | None = None) -> int:
    """One listing came down (``reason``: taken_down, held_for_review…)."""
    return listings_changed(
        event_type=EventType.LISTINGS_DELISTED,
        listing_ids=[listing.pk],
        subject=f"listing:{listing.pk}",
        data={"status": listing.status, "reason": reason, "policy": policy_ref(policy)},
        at=at,
    )


def listing_reinstated(
    listing: Listing, *, reason: str, policy: Policy | None = None, at: datetime | None = None
) -> int:
    """One listing is back (``reason``: appeal_granted, decision_undone, review_cleared)."""
    return listings_changed(
        event_type=EventType.LISTINGS_REINSTATED,
        listing_ids=[listing.pk],
        subject=f"listing:{listing.pk}",
        data={"status": listing.status, "reason": reason, "policy": policy_ref(policy)},
        at=at,
    )


def merchant_statuses_changed(
    changes: Sequence[tuple[int, str, datetime | None]], *, at: datetime | None = None
) -> int:
    """Merchants whose enforcement status changed, as (merchant, status, until): one event per marketplace."""
    if not changes:
        return 0
    # The marketplace's own id beside ours (null for a merchant registered here, not synced).
    marketplace_of = {
        pk: (marketplace_id, external_id)
        for pk, marketplace_id, external_id in Merchant.objects.filter(
            pk__in=[merchant_id for merchant_id, _, _ in changes]
        ).values_list("pk", "marketplace_id", "external_id")
    }
    by_marketplace: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for merchant_id, status, until in sorted(changes, key=lambda change: change[0]):
        marketplace_id, external_id = marketplace_of[merchant_id]
        by_marketplace[marketplace_id].append(
            {
                "id": merchant_id,
                "external_id": external_id,
                "status": status,
                "until": until.isoformat() if until else None,
            }
        )
    size = max_ids_per_event()
    drafts = []
    for marketplace_id, merchants in sorted(by_marketplace.items()):
        for start in range(0, len(merchants), size):
            part = merchants[start : start + size]
            subject = f"merchant:{part[0]['id']}" if len(part) == 1 else f"merchants:{part[0]['id']}-{part[-1]['id']}"
            drafts.append(EventDraft(marketplace_id, EventType.MERCHANTS_STATUS_CHANGED, subject, {"merchants": part}))
    return write_events(drafts, at=at)


def categories_retired(*, removal: CategoryRemoval, at: datetime | None = None) -> int:
    """The categories this removal retired, to every marketplace of its policy (the tree is shared)."""
    categories = [
        {"id": pk, "slug": slug, "path": path}
        for pk, slug, path in Category.objects.filter(retired_by_removal=removal)
        .order_by("path")
        .values_list("pk", "slug", "path")
    ]
    if not categories:
        return 0
    payload = {"categories": categories, "removal": removal.pk, "policy": policy_ref(removal.policy)}
    return write_events(
        (
            EventDraft(marketplace_id, EventType.CATEGORIES_RETIRED, f"removal:{removal.pk}", payload)
            for marketplace_id in sorted(removal.policy.marketplaces.values_list("pk", flat=True))
        ),
        at=at,
    )


def policy_changed(policy: Policy, *, event_type: str, at: datetime | None = None) -> int:
    """A policy announced or taking effect, to every marketplace in its scope."""
    payload = {
        "policy": {**(policy_ref(policy) or {}), "id": policy.pk, "title": policy.title},
        "status": policy.status,
        "announced_at": policy.announced_at,
        "effective_at": policy.effective_at,
        "enforcement_starts_at": policy.enforcement_starts_at,
        "categories": sorted(policy.categories.values_list("slug", flat=True)),
    }
    # Times as text now: the row keeps what is sent, whichever encoder reads it back.
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    return write_events(
        (
            EventDraft(marketplace_id, event_type, f"policy:{policy.pk}", payload)
            for marketplace_id in sorted(policy.marketplaces.values_list("pk", flat=True))
        ),
        at=at,
    )


# --- Set-based: a removal chunk, a sweep's freezes ----------------------------------------------


def _removal_data(*, removal_id: int, policy_id: int | None) -> dict[str, Any]:
    policy = Policy.objects.filter(pk=policy_id).first() if policy_id else None
    return {
        "status": Listing.Status.DELISTED,
        "reason": "category_removed",
        "removal": removal_id,
        "policy": policy_ref(policy),
    }


def _deliveries_sql(events: str) -> str:
    """INSERT a pending delivery per endpoint for each row of ``events`` (id, marketplace_id)."""
    return f"""
        INSERT INTO {WebhookDelivery._meta.db_table}
            (endpoint_id, event_id, status, attempts, pending_since, next_attempt_at, last_attempt_at,
             delivered_at, last_status_code, last_response, last_error, replays, created_at)
        SELECT endpoint.id, {events}.id, 'pending', 0, %(outbox_at)s, %(outbox_at)s, NULL,
               NULL, NULL, '', '', 0, %(outbox_at)s
        FROM {events} JOIN {WebhookEndpoint._meta.db_table} AS endpoint
            ON endpoint.marketplace_id = {events}.marketplace_id
    """


def _listing_events_ctes(rows: str) -> str:
    """CTEs (for a WITH) writing one event per marketplace of the listings ``rows`` selects (id,
    merchant_id, external_id).

    The ids go in order, split every ``%(outbox_max_ids)s``; the last CTE, ``outbox_deliveries``,
    returns the endpoints that have something new.
    """
    return f"""
        outbox_rows AS (
            SELECT merchant.marketplace_id, changed.id, changed.external_id,
                   (ROW_NUMBER() OVER (PARTITION BY merchant.marketplace_id ORDER BY changed.id) - 1)
                       / %(outbox_max_ids)s AS part
            FROM ({rows}) AS changed JOIN {Merchant._meta.db_table} AS merchant ON merchant.id = changed.merchant_id
        ), outbox_events AS (
            INSERT INTO {OutboxEvent._meta.db_table} (uuid, marketplace_id, event_type, subject, payload, created_at)
            SELECT gen_random_uuid(), marketplace_id, %(outbox_type)s, %(outbox_subject)s,
                   %(outbox_data)s::jsonb || jsonb_build_object(
                       'listing_ids', jsonb_agg(id ORDER BY id), 'external_ids', jsonb_agg(external_id ORDER BY id)
                   ),
                   %(outbox_at)s
            FROM outbox_rows GROUP BY marketplace_id, part ORDER BY marketplace_id, part
            RETURNING id, marketplace_id
        ), outbox_deliveries AS ({_deliveries_sql("outbox_events")} RETURNING endpoint_id)
    """


def _listing_event_params(*, event_type: str, subject: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "outbox_type": event_type,
        "outbox_subject": subject[:100],
        "outbox_data": json.dumps(data, cls=DjangoJSONEncoder),
        "outbox_at": at,
        "outbox_max_ids": max_ids_per_event(),
    }


def removal_delistings_sql(
    *, source: str, removal_id: int, policy_id: int | None, at: datetime
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: CTEs to append to a removal chunk's ``WITH``, writing the events of the rows
    ``source`` (a CTE of the delisted listings: id, merchant_id, external_id) delisted, and their parameters.

    The senders are woken after commit: which endpoints got deliveries is known only to the statement.
    """
    wake_senders_after_commit()
    params = _listing_event_params(
        event_type=EventType.LISTINGS_DELISTED,
        subject=f"removal:{removal_id}",
        data=_removal_data(removal_id=removal_id, policy_id=policy_id),
        at=at,
    )
    return _listing_events_ctes(f"SELECT id, merchant_id, external_id FROM {source}"), params


def removal_delistings(*, listing_ids: list[int], removal_id: int, policy_id: int | None, at: datetime) -> int:
    """The same for the SQLite twin (the demo), from the ids it is about to delist."""
    return listings_changed(
        event_type=EventType.LISTINGS_DELISTED,
        listing_ids=listing_ids,
        subject=f"removal:{removal_id}",
        data=_removal_data(removal_id=removal_id, policy_id=policy_id),
        at=at,
    )


def sanction_delistings(*, sanction_ids: list[int], policy: Policy, at: datetime) -> int:
    """The listings these sanctions just delisted (an account freeze takes all), one event per marketplace.

    PostgreSQL: one INSERT … SELECT over the listings the sanctions name (their foreign key's
    index), nothing read into Python. Returns how many endpoints got deliveries (PostgreSQL) or
    events (SQLite).
    """
    if not sanction_ids:
        return 0
    subject = (
        f"sanction:{sanction_ids[0]}"
        if len(sanction_ids) == 1
        else f"sanctions:{min(sanction_ids)}-{max(sanction_ids)}"
    )
    data = {"status": Listing.Status.DELISTED, "reason": "account_frozen", "policy": policy_ref(policy)}
    rows = f"""
        SELECT id, merchant_id, external_id FROM {Listing._meta.db_table}
        WHERE delisted_by_sanction_id = ANY(%(outbox_sanctions)s) AND status = 'delisted'
    """
    if connection.vendor != "postgresql":
        listing_ids = Listing.objects.filter(
            delisted_by_sanction_id__in=sanction_ids, status=Listing.Status.DELISTED
        ).values_list("pk", flat=True)
        return listings_changed(
            event_type=EventType.LISTINGS_DELISTED, listing_ids=listing_ids, subject=subject, data=data, at=at
        )
    params = _listing_event_params(event_type=EventType.LISTINGS_DELISTED, subject=subject, data=data, at=at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {_listing_events_ctes(rows)} SELECT DISTINCT endpoint_id FROM outbox_deliveries",
            {**params, "outbox_sanctions": list(sanction_ids)},
        )
        endpoint_ids = [endpoint_id for (endpoint_id,) in cursor.fetchall()]
    wake_senders_after_commit(endpoint_ids)
    return len(endpoint_ids)
