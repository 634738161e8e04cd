"""A marketplace's systems sync their merchants and listings in: ``apply_sync_batch``.

A batch is up to 1,000 events (listing upserted, listing deleted, merchant upserted), each naming
its object by the marketplace's own id and carrying the object's version there. Each event ends
``applied``, ``ignored`` (``stale``: its version is not newer than the one stored; ``superseded``:
a newer event for the same object is in the batch; ``unknown``: a deletion of a listing never
synced) or ``refused`` (its field errors). Good events are applied whatever the bad ones say.

- Idempotent: an event delivered again has a version no newer than the one it stored, so it is
  ignored; an upsert refused as a banned product (its refusal is a recorded violation) is answered
  again from ``ListingSyncState``, and recorded once.
- Safe against reordering: an older version than the stored one is ignored, a deletion that comes
  before its listing is remembered (``ListingSyncState``) so the late upsert cannot bring it to life.
- The same rules as the sellers' API, from the same code: the limits on texts (``sellers.limits``,
  in ``events``), a sanction that closes the store (``ensure_merchant_may_sell``), banned content
  (``refuse_banned_content``: refused, the attempt recorded as a violation with its notice), a
  retired category (``ensure_category_accepts_listings``, naming the policy), the move out of a
  category being closed, and a listing that never changes merchant. What a batch does differently
  is *how*: set-based, a fixed number of statements whatever its size.

How one batch runs (steps 1 to 4 in one transaction):

1. Read each event (``events.read_event``); keep, per object, the event of the highest version.
2. Take a transaction-level advisory lock per object, in a fixed order: two batches naming the same
   new id cannot both create it, and batches naming different objects do not wait on each other.
3. Merchants: read the batch's by id (locked), check, insert the new ones in one statement, update
   the changed ones in one statement, one audit event each (``record_events``).
4. Listings: read the batch's by id (locked, in id order), their merchants, the categories (FOR
   SHARE: a removal cannot retire one under the batch, and concurrent batches do not wait on each
   other), the cited checks and the sync states, in one query each; match new and changed content
   against every policy in effect (compiled once); refuse per event; then one INSERT of the new
   listings, one UPDATE of the changed ones, their content versions, and one audit event per
   listing changed.
5. After the commit, new listings of banned products, in a short transaction of their own: the
   sellers' API's refusal, each recorded as a violation with its notice (about twenty statements
   each, and a lock on the merchant's row that a batch would hold till its end).

A batch of 1,000 new listings is about twenty statements. Content the rules flag is rare; its
refusal is the sellers' API's own, per listing.

Modules: ``batch`` (``apply_sync_batch``: steps 1, 2 and 5), ``merchants`` (step 3), ``listings``
(step 4), ``statements`` (the set-based SQL they run), ``outcomes`` (what each event ends as).
"""

from sellers.integration.sync.batch import apply_sync_batch
from sellers.integration.sync.outcomes import (
    APPLIED,
    IGNORED,
    REFUSED,
    STALE,
    SUPERSEDED,
    UNKNOWN,
    BatchResult,
    Outcome,
)

__all__ = [
    "APPLIED",
    "IGNORED",
    "REFUSED",
    "STALE",
    "SUPERSEDED",
    "UNKNOWN",
    "BatchResult",
    "Outcome",
    "apply_sync_batch",
]
