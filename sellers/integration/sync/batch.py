"""``apply_sync_batch``: a batch read, its events deduplicated, merchants then listings applied."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from sellers.integration.events import (
    MAX_EVENTS_PER_BATCH,
    Event,
    MerchantUpsert,
    Unreadable,
    read_event,
)
from sellers.integration.sync.listings import ListingSync
from sellers.integration.sync.merchants import MerchantSync
from sellers.integration.sync.outcomes import IGNORED, REFUSED, SUPERSEDED, BatchResult, Outcome, event_type
from sellers.integration.sync.statements import lock_objects
from sellers.models import MarketplaceServiceAccount


def _kind(event: Event) -> str:
    return "merchant" if isinstance(event, MerchantUpsert) else "listing"


def apply_sync_batch(*, account: MarketplaceServiceAccount, events: list[Any]) -> BatchResult:
    """Apply a batch of a marketplace's events as its service account; one outcome per event, in order.

    Raises ``ValidationError`` on ``events`` (nothing applied) when the batch is not a list of
    1 to ``MAX_EVENTS_PER_BATCH`` items. Two transactions: the batch, then its new banned listings'
    refusals (step 5 of the module's docstring); a failure in the second leaves the first applied,
    and a second delivery answers both.
    """
    if not isinstance(events, list) or not events:
        raise ValidationError(
            {"events": [_("Send a list of 1 to %(limit)s events.") % {"limit": MAX_EVENTS_PER_BATCH}]}
        )
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise ValidationError(
            {
                "events": [
                    _("At most %(limit)s events per request; this one has %(count)s.")
                    % {"limit": MAX_EVENTS_PER_BATCH, "count": len(events)}
                ]
            }
        )
    outcomes: dict[int, Outcome] = {}
    winners: dict[tuple[str, str], Event] = {}
    # sellers.limits builds its messages' wording with gettext whether or not a text is refused: read
    # without a language first (half the time of reading), then again, in the caller's, the few refused.
    with translation.override(None):
        read = [read_event(index, data) for index, data in enumerate(events)]
    for index, event in enumerate(read):
        if isinstance(event, Unreadable):
            event = read_event(index, events[index])
        if isinstance(event, Unreadable):
            outcomes[index] = Outcome(index, event.type, event.external_id, REFUSED, errors=event.errors)
            continue
        key = (_kind(event), event.external_id)
        held = winners.get(key)
        if held is None or event.version > held.version:
            winners[key] = event
            loser = held
        else:
            loser = event
        if loser is not None:
            outcomes[loser.index] = Outcome(loser.index, event_type(loser), loser.external_id, IGNORED, SUPERSEDED)
    listing_sync = ListingSync(account, defer_new_banned=True)
    if winners:
        with transaction.atomic():
            # Store names too: two new merchants of one name in two batches at once get one refusal.
            store_names = [
                ("store", event.store_name) for event in winners.values() if isinstance(event, MerchantUpsert)
            ]
            lock_objects(account.marketplace_id, [*winners, *store_names])
            merchant_events = [event for event in winners.values() if isinstance(event, MerchantUpsert)]
            listing_events = [event for event in winners.values() if not isinstance(event, MerchantUpsert)]
            if merchant_events:
                outcomes.update(MerchantSync(account).apply(sorted(merchant_events, key=lambda e: e.index)))
            if listing_events:
                outcomes.update(listing_sync.apply(sorted(listing_events, key=lambda e: e.index)))
        if listing_sync.deferred:
            # New listings of banned products: refused and recorded after the batch commits, each a
            # violation with its notice, as the sellers' API records a refused creation outside the
            # listing's transaction. The violation locks its merchant's row: held for these few, not
            # for the batch, so the merchant's other listings in a concurrent batch do not wait for it.
            # A second delivery in between finds the first's refusal recorded (ListingSyncState).
            with transaction.atomic():
                lock_objects(
                    account.marketplace_id, [("listing", event.external_id) for event in listing_sync.deferred]
                )
                outcomes.update(ListingSync(account, defer_new_banned=False).apply(listing_sync.deferred))
    return BatchResult([outcomes[index] for index in range(len(events))])
