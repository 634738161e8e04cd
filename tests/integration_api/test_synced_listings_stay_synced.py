"""A listing its marketplace syncs in is changed by the sync only: a change made here alone would have
moderation judge content the marketplace does not show (a banned listing "cleaned" here while the
marketplace still sells it), or stop judging one it still shows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from moderation.models import AuditEvent
from sellers import services as catalog
from sellers.models import Listing, Merchant
from tests.api.conftest import token_client
from tests.conftest import make_user
from tests.integration_api.conftest import listing_event, merchant_event, send

pytestmark = pytest.mark.django_db

REFUSAL = "This listing is synced from its marketplace's own systems: change or remove it there."


@pytest.fixture
def synced(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"), listing_event("L-1", title="RTX 4070 12GB"))
    return Listing.objects.get(external_id="L-1")


@pytest.fixture
def seller_of_synced(synced):
    """An account an administrator linked to the synced merchant (synced merchants have none of their own)."""
    user = make_user("synced-seller")
    Merchant.objects.filter(pk=synced.merchant_id).update(user=user)
    return user


def test_the_sellers_api_refuses_to_edit_a_synced_listing_and_changes_nothing(synced, seller_of_synced):
    events = AuditEvent.objects.count()
    response = token_client(seller_of_synced).patch(
        f"/api/v1/listings/{synced.pk}/", {"title": "Graphics card"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [REFUSAL]}
    assert Listing.objects.get(pk=synced.pk).title == "RTX 4070 12GB"
    assert AuditEvent.objects.count() == events


def test_the_services_refuse_an_edit_or_a_removal_of_a_synced_listing(synced, system):
    for change in (
        lambda: catalog.edit_listing(actor=system, listing=synced, title="Graphics card"),
        lambda: catalog.remove_listing_by_seller(actor=system, listing=synced),
    ):
        with pytest.raises(ValidationError) as refused:
            change()
        assert refused.value.messages == [REFUSAL]
    assert Listing.objects.get(pk=synced.pk).status == Listing.Status.LIVE
