"""What a batch refuses, per event, with the sellers' API's own rules and words; the good events go through."""

from __future__ import annotations

import json

import pytest

from moderation.models import AuditEvent, Notice, Violation
from moderation.services.sanctions import issue_manual_sanction
from sellers.models import Listing, ListingSyncState, Merchant
from tests.integration_api.conftest import BATCH, listing_event, merchant_event, results, send

pytestmark = pytest.mark.django_db


def send_text(client, body: str, status: int = 200):
    """A body as written (json.dumps would refuse a lone surrogate in the test itself)."""
    response = client.post(BATCH, body, content_type="application/json")
    assert response.status_code == status, response.content[:2000]
    return response.json()


def test_a_batch_with_bad_rows_applies_the_good_ones_and_names_the_bad(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    events = [
        listing_event("GOOD-1"),
        listing_event("LONG", title="x" * 201),
        listing_event("NUL", title="RTX\u0000 4070"),
        listing_event("SURROGATE", description="__LONE__"),
        listing_event("DEEP", attributes={"a": [[[[[["deep"]]]]]]}),
        ["not", "an", "object"],
        {"type": "listing.renamed", "id": "X-1", "version": 1},
        listing_event("NEGATIVE", version=-1),
        listing_event("BOOL", version=True),
        {**listing_event("BAD ID"), "id": "bad id with spaces"},
        listing_event("PRICE", price="12.345"),
        listing_event("NOPE", merchant="M-404"),
        listing_event("NOCAT", category="no-such-category"),
        listing_event("MANY", attributes={f"k{n}": n for n in range(51)}),
        listing_event("GOOD-2", title="Mechanical keyboard"),
    ]
    body = json.dumps({"events": events}).replace("__LONE__", "\\ud800 text")
    before = Listing.objects.count()
    answer = send_text(alibaba, body)
    assert answer["counts"] == {"applied": 2, "ignored": 0, "refused": 13}
    by_index = answer["results"]
    assert [row["result"] for row in by_index] == ["applied", *["refused"] * 13, "applied"]
    errors = [set(row.get("errors", {})) for row in by_index]
    assert errors == [
        set(),
        {"title"},
        {"title"},
        {"description"},
        {"attributes"},
        {"non_field_errors"},
        {"type"},
        {"version"},
        {"version"},
        {"id"},
        {"price"},
        {"merchant"},
        {"category"},
        {"attributes"},
        set(),
    ]
    assert "201 characters long" in by_index[1]["errors"]["title"][0]
    assert "U+0000" in by_index[2]["errors"]["title"][0]
    assert "U+D800" in by_index[3]["errors"]["description"][0]
    # What was sent is never echoed: not the bad id, not the bad type.
    assert by_index[9]["id"] is None and by_index[6]["type"] is None
    assert by_index[3]["id"] == "SURROGATE"
    assert Listing.objects.count() == before + 2
    assert set(Listing.objects.values_list("external_id", flat=True)) == {"GOOD-1", "GOOD-2"}


def test_a_batch_of_1001_events_is_refused_whole(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    answer = send(alibaba, *[listing_event(f"L-{n}") for n in range(1001)], status=400)
    assert answer == {"events": ["At most 1000 events per request; this one has 1001."]}
    assert not Listing.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"events": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"events": {"type": "listing.deleted"}}',
        '{"events": []}',
        "[]",
        '{"events": [',
    ],
    ids=["too-deep", "not-a-list", "empty", "not-an-object", "not-json"],
)
def test_a_body_that_is_no_batch_is_400_and_changes_nothing(alibaba, graphics_cards, rules_in_effect, body):
    state = AuditEvent.objects.count()
    response = alibaba.post(BATCH, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert AuditEvent.objects.count() == state


def test_a_banned_listing_is_refused_naming_the_policy_and_recorded_once(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    banned = listing_event("L-1", title="Antminer S19 Pro 110TH/s Bitcoin miner")
    first = send(alibaba, banned, listing_event("L-2"))
    assert results(first) == [("refused", ""), ("applied", "")]
    message = first["results"][0]["errors"]["title"][0]
    assert "“Virtual currency mining machines”, clause 1" in message
    assert "antminer" not in message.lower() and "bitcoin" not in message.lower()
    merchant = Merchant.objects.get(external_id="M-1")
    violation = Violation.objects.get(merchant=merchant)
    assert (violation.kind, violation.listing_id) == ("relist_attempt", None)
    assert Notice.objects.filter(merchant=merchant, kind="listing_refused").count() == 1
    assert ListingSyncState.objects.get(external_id="L-1").outcome == "refused"
    # Delivered again: the same answer, nothing recorded twice.
    again = send(alibaba, banned)
    assert again["results"][0] == first["results"][0]
    assert Violation.objects.filter(merchant=merchant).count() == 1
    assert not Listing.objects.filter(external_id="L-1").exists()


def test_an_edit_to_banned_content_is_refused_and_the_listing_stays_as_it_was(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", 1))
    answer = send(alibaba, listing_event("L-1", 2, description="Whatsminer M30S hash board included"))
    assert set(answer["results"][0]["errors"]) == {"description"}
    listing = Listing.objects.get(external_id="L-1")
    assert (listing.external_version, listing.description) == (1, "Boxed, two-year warranty.")
    assert Violation.objects.get().listing_id == listing.pk


def test_a_listing_into_a_retired_category_is_refused_naming_the_policy(alibaba, retired_miners, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    answer = send(alibaba, listing_event("L-1", category="blockchain-miners", title="Cooling fan 120 mm"))
    assert answer["results"][0]["errors"] == {
        "category": [
            "The category “Blockchain Miners” was retired under the policy “Virtual currency mining machines” "
            "and accepts no listings."
        ]
    }
    assert not Listing.objects.exists()


def test_a_blocked_store_cannot_list_but_can_remove(alibaba, graphics_cards, rules_in_effect, senior, announced_policy):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", 1))
    merchant = Merchant.objects.get(external_id="M-1")
    reason = "Mining machines listed again after the warning."
    issue_manual_sanction(actor=senior, merchant=merchant, policy=announced_policy, kind="warning", reason=reason)
    issue_manual_sanction(
        actor=senior, merchant=merchant, policy=announced_policy, kind="store_block", duration_days=7, reason=reason
    )
    answer = send(alibaba, listing_event("L-2", 1), listing_event("L-1", 2, price="1.00"))
    assert results(answer) == [("refused", ""), ("refused", "")]
    assert "Store blocked" in answer["results"][0]["errors"]["merchant"][0]
    assert results(send(alibaba, deletion_event_of("L-1", 3))) == [("applied", "")]
    assert Listing.objects.get(external_id="L-1").status == "removed_by_seller"


def deletion_event_of(external_id: str, version: int) -> dict:
    return {"type": "listing.deleted", "id": external_id, "version": version}


def test_a_listing_never_changes_merchant(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), merchant_event("M-2"), listing_event("L-1", 1, merchant="M-1"))
    answer = send(alibaba, listing_event("L-1", 2, merchant="M-2"))
    assert answer["results"][0]["errors"] == {"merchant": ["A listing never changes merchant."]}
