"""The sync batch: applied, ignored or refused per event; idempotent; safe against reordering; set-based."""

from __future__ import annotations

from decimal import Decimal

import pytest

from moderation.models import AuditEvent, AuditVerb
from sellers.models import Listing, ListingSyncState, ListingVersion, Merchant
from tests.integration_api.conftest import (
    deletion_event,
    listing_event,
    merchant_event,
    results,
    send,
)

pytestmark = pytest.mark.django_db


def catalog_state() -> list[tuple]:
    return [
        *Merchant.objects.order_by("pk").values_list("pk", "external_id", "external_version", "store_name"),
        *Listing.objects.order_by("pk").values_list(
            "pk", "external_id", "external_version", "title", "price", "status", "version", "category_id"
        ),
    ]


def test_a_batch_creates_merchants_and_their_listings(alibaba, service_account, graphics_cards, rules_in_effect):
    account, _key = service_account
    answer = send(
        alibaba,
        merchant_event("M-1"),
        listing_event("L-1", merchant="M-1"),
        listing_event("L-2", merchant="M-1", title="Mechanical keyboard 87 keys"),
    )
    assert answer["counts"] == {"applied": 3, "ignored": 0, "refused": 0}
    assert [(row["index"], row["type"], row["id"]) for row in answer["results"]] == [
        (0, "merchant.upserted", "M-1"),
        (1, "listing.upserted", "L-1"),
        (2, "listing.upserted", "L-2"),
    ]
    merchant = Merchant.objects.get(external_id="M-1")
    assert (merchant.marketplace_id, merchant.external_version, merchant.user) == (account.marketplace_id, 1, None)
    listings = Listing.objects.filter(external_id__in=["L-1", "L-2"]).order_by("external_id")
    assert [(lst.merchant_id, lst.status, lst.version, lst.price) for lst in listings] == [
        (merchant.pk, "live", 1, Decimal("599.00")),
        (merchant.pk, "live", 1, Decimal("599.00")),
    ]
    assert ListingVersion.objects.filter(listing__in=listings, number=1).count() == 2
    events = AuditEvent.objects.filter(verb__in=[AuditVerb.MERCHANT_REGISTERED, AuditVerb.LISTING_CREATED])
    assert {(event.actor_id, event.actor_name) for event in events} == {(account.user_id, "svc:alibaba:catalog-sync")}
    assert sorted(event.verb for event in events) == [121, 131, 131]


def test_the_same_batch_twice_changes_nothing(alibaba, graphics_cards, rules_in_effect):
    batch = [merchant_event("M-1"), listing_event("L-1"), deletion_event("L-2", 3)]
    send(alibaba, *batch)
    state, trail = catalog_state(), AuditEvent.objects.count()
    again = send(alibaba, *batch)
    assert results(again) == [("ignored", "stale")] * 3
    assert again["counts"] == {"applied": 0, "ignored": 3, "refused": 0}
    assert catalog_state() == state
    assert AuditEvent.objects.count() == trail


def test_an_older_version_arriving_late_is_ignored(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", 5, title="RTX 4070, version 5"))
    late = send(alibaba, listing_event("L-1", 4, title="RTX 4070, version 4"), listing_event("L-1", 5, price="1.00"))
    assert results(late) == [("ignored", "superseded"), ("ignored", "stale")]
    listing = Listing.objects.get(external_id="L-1")
    assert (listing.title, listing.external_version, listing.price) == ("RTX 4070, version 5", 5, Decimal("599.00"))


def test_of_several_events_for_one_listing_in_a_batch_the_newest_wins(alibaba, graphics_cards, rules_in_effect):
    answer = send(
        alibaba,
        merchant_event("M-1"),
        listing_event("L-1", 1, title="first"),
        listing_event("L-1", 3, title="third"),
        listing_event("L-1", 2, title="second"),
    )
    assert results(answer) == [("applied", ""), ("ignored", "superseded"), ("applied", ""), ("ignored", "superseded")]
    assert Listing.objects.get(external_id="L-1").title == "third"


def test_a_deletion_before_its_listing_keeps_the_late_upsert_out(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    first = send(alibaba, deletion_event("L-9", 5))
    assert results(first) == [("ignored", "unknown")]
    assert ListingSyncState.objects.get(external_id="L-9").outcome == "deleted"
    late = send(alibaba, listing_event("L-9", 4))
    assert results(late) == [("ignored", "stale")]
    assert not Listing.objects.filter(external_id="L-9").exists()
    newer = send(alibaba, listing_event("L-9", 6))
    assert results(newer) == [("applied", "")]
    assert Listing.objects.get(external_id="L-9").status == "live"


def test_a_deletion_removes_a_live_listing_and_a_newer_upsert_lists_it_again(
    alibaba, service_account, graphics_cards, rules_in_effect
):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", 1))
    assert results(send(alibaba, deletion_event("L-1", 2))) == [("applied", "")]
    listing = Listing.objects.get(external_id="L-1")
    assert (listing.status, listing.external_version) == ("removed_by_seller", 2)
    removed = AuditEvent.objects.get(verb=AuditVerb.LISTING_REMOVED_BY_SELLER, target_id=listing.pk)
    assert removed.actor_id == service_account[0].user_id
    assert (removed.before["status"], removed.after["status"]) == ("live", "removed_by_seller")
    assert results(send(alibaba, listing_event("L-1", 3))) == [("applied", "")]
    listing.refresh_from_db()
    assert (listing.status, listing.external_version, listing.version) == ("live", 3, 1)


def test_a_deletion_of_a_delisted_listing_keeps_the_decision_and_changes_what_an_appeal_restores(
    alibaba, graphics_cards, rules_in_effect
):
    from django.utils import timezone

    send(alibaba, merchant_event("M-1"), listing_event("L-1", 1))
    Listing.objects.filter(external_id="L-1").update(
        status="delisted", previous_status="live", delisted_at=timezone.now(), delisted_reason="Taken down."
    )
    assert results(send(alibaba, deletion_event("L-1", 2))) == [("applied", "")]
    listing = Listing.objects.get(external_id="L-1")
    assert (listing.status, listing.previous_status) == ("delisted", "removed_by_seller")


def test_an_edit_makes_a_new_content_version_and_a_price_change_does_not(
    alibaba, service_account, graphics_cards, rules_in_effect
):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", 1))
    listing = Listing.objects.get(external_id="L-1")
    send(alibaba, listing_event("L-1", 2, price="549.00"))
    listing.refresh_from_db()
    assert (listing.version, listing.price, listing.external_version) == (1, Decimal("549.00"), 2)
    send(alibaba, listing_event("L-1", 3, price="549.00", title="RTX 4070 Super"))
    listing.refresh_from_db()
    assert (listing.version, listing.title) == (2, "RTX 4070 Super")
    assert list(ListingVersion.objects.filter(listing=listing).values_list("number", "title")) == [
        (1, "Graphics card RTX 4070 L-1"),
        (2, "RTX 4070 Super"),
    ]
    edits = AuditEvent.objects.filter(verb=AuditVerb.LISTING_EDITED, target_id=listing.pk).order_by("id")
    assert [(event.before["price"], event.after["price"], event.after["external_version"]) for event in edits] == [
        ("599.00", "549.00", 2),
        ("549.00", "549.00", 3),
    ]
    assert edits[1].before["title"] == "Graphics card RTX 4070 L-1"
    assert {event.actor_name for event in edits} == {"svc:alibaba:catalog-sync"}


def test_a_merchant_update_is_audited_and_tells_the_old_contact_address(
    alibaba, graphics_cards, rules_in_effect, django_capture_on_commit_callbacks, mailoutbox
):
    send(alibaba, merchant_event("M-1", 1, contact_email="old@shop.example"))
    with django_capture_on_commit_callbacks(execute=True):
        send(alibaba, merchant_event("M-1", 2, contact_email="new@shop.example", store_name="Renamed store"))
    merchant = Merchant.objects.get(external_id="M-1")
    assert (merchant.contact_email, merchant.store_name, merchant.external_version) == (
        "new@shop.example",
        "Renamed store",
        2,
    )
    edited = AuditEvent.objects.get(verb=AuditVerb.MERCHANT_EDITED, target_id=merchant.pk)
    assert edited.before == {"store_name": "Store M-1", "contact_email": "old@shop.example", "external_version": 1}
    assert edited.after == {"store_name": "Renamed store", "contact_email": "new@shop.example", "external_version": 2}
    assert sorted(message.to[0] for message in mailoutbox) == ["new@shop.example", "old@shop.example"]


def test_two_merchants_may_not_share_a_store_name(alibaba, merchant_b, rules_in_effect):
    answer = send(
        alibaba,
        merchant_event("M-1", store_name="Guangzhou Gadget Supply"),  # merchant B's, registered here
        merchant_event("M-2", store_name="New store"),
        merchant_event("M-3", store_name="New store"),
    )
    assert results(answer) == [("refused", ""), ("applied", ""), ("refused", "")]
    assert answer["results"][0]["errors"] == {"store_name": ["This marketplace has a store of that name already."]}
    assert Merchant.objects.filter(external_id__isnull=False).count() == 1
