"""Fixtures for the sellers' API: token-authenticated clients, and a merchant with one decision of each kind.

``decisions_of(merchant)`` gives a merchant, after the grace period, a listing delisted by
the category removal, a moderator's take-down (a violation) and a sanction, through the
real services, so every endpoint has something to show and to appeal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from knox.settings import knox_settings
from rest_framework.test import APIClient

from moderation.models import Sanction, Violation
from moderation.services.sanctions import issue_manual_sanction
from sellers.models import ApiToken
from tests.moderation.conftest import (  # noqa: F401  (the enforcement fixtures, shared with these tests)
    AFTER_GRACE,
    after_grace,
    draft_policy,
    in_grace,
    mining_rules,
    open_item,
    other_moderator,
    other_senior,
    travel,
)
from tests.moderation.sanctions_fixtures import announced_policy, take_down, violate  # noqa: F401


def api_key_for(user, name: str = "tests") -> str:
    """A new API key for any account, straight from knox's manager (the service issues keys to
    merchants only: a staff account with a key is what the permission tests need to refuse).

    Made as if used a moment ago: a key's first use in a minute also writes its last use, and
    the query counts the tests assert are each request's own (tests/api/test_api_tokens.py
    checks that write).
    """
    _token, key = ApiToken.objects.create(
        user=user, name=name, expiry=knox_settings.TOKEN_TTL, last_used_at=timezone.now()
    )
    return key


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


@pytest.fixture
def api_anonymous():
    return APIClient()


@pytest.fixture
def api_a(merchant_a, merchant_user_a):
    return token_client(merchant_user_a)


@pytest.fixture
def api_b(merchant_b, merchant_user_b):
    return token_client(merchant_user_b)


@pytest.fixture
def api_moderator(moderator):
    return token_client(moderator)


@pytest.fixture
def api_admin(superuser):
    return token_client(superuser)


@dataclass
class Decisions:
    delisted: object  # a Listing delisted by the category removal
    violation: Violation  # a moderator's take-down
    sanction: Sanction  # a senior's warning

    @property
    def keys(self) -> list[str]:
        return [f"delisting-{self.delisted.pk}", f"violation-{self.violation.pk}", f"sanction-{self.sanction.pk}"]


@pytest.fixture
def decisions_of(travel, announced_policy, make_listing, miners, graphics_cards, take_down, senior, system):  # noqa: F811
    """``decisions_of(merchant, …)``: one decision of each kind against each merchant, clock at AFTER_GRACE.

    Call it once per test: the removal closes the category for good.
    """
    from moderation.models import RemovalChunk
    from moderation.services.removals import run_removal_chunk, schedule_removal, start_removal

    def make(*merchants) -> list[Decisions]:
        travel.to(AFTER_GRACE - timedelta(days=9))
        listed = [
            make_listing(merchant, miners, title=f"Antminer L7 of {merchant.store_name}") for merchant in merchants
        ]
        removal = schedule_removal(
            actor=system, policy=announced_policy, categories=[miners], scheduled_for=AFTER_GRACE - timedelta(days=8)
        )
        travel.to(AFTER_GRACE - timedelta(days=8))
        with mock.patch("moderation.services.removals.transaction.on_commit"):
            start_removal(removal_id=removal.pk, actor=system)
            for chunk in RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.PENDING):
                run_removal_chunk(chunk_id=chunk.pk, actor=system)
        travel.to(AFTER_GRACE)
        made = []
        for merchant, listing in zip(merchants, listed, strict=True):
            listing.refresh_from_db()
            violation = take_down(merchant, category=graphics_cards)  # its own category is closed by now
            sanction = issue_manual_sanction(
                actor=senior,
                merchant=merchant,
                policy=announced_policy,
                kind="warning",
                reason="Repeated listings of mining machines after the ban took effect.",
            )
            made.append(Decisions(delisted=listing, violation=violation, sanction=sanction))
        return made

    return make
