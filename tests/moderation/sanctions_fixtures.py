"""Fixtures for the points, ladder and sanctions tests: the reference policy with its penalty rules.

Import them into a test module (``from tests.moderation.sanctions_fixtures import *``): the
module's ``announced_policy`` then carries the reference points table and ladder.
"""

from __future__ import annotations

import pytest

from moderation.demo import REFERENCE_LADDER, REFERENCE_POINTS
from moderation.services.policies import announce_policy
from moderation.services.sanctions import set_penalty_rules
from tests.moderation.conftest import ANNOUNCED

__all__ = ["announced_policy", "take_down", "violate"]


@pytest.fixture
def announced_policy(draft_policy, policy_admin):
    """The reference policy, with the demo's points table and ladder, announced on 2021-09-27."""
    set_penalty_rules(actor=policy_admin, policy=draft_policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    return announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)


@pytest.fixture
def take_down(moderator, open_item, make_listing, miners):
    """``take_down(merchant, kind=…)``: a live listing, flagged, taken down by a moderator now."""
    from moderation.services.queue import take_down_listing

    counter = iter(range(1, 10_000))

    def take(merchant, *, kind="prohibited_listing", category=None, actor=None, clause=None):
        listing = make_listing(merchant, category or miners, title=f"Antminer S19 unit {next(counter)}")
        item = open_item(listing)
        return take_down_listing(actor=actor or moderator, item=item, kind=kind, clause=clause)

    return take


@pytest.fixture
def violate(take_down):
    """``violate(merchant, points)``: evasion take-downs (4 points each, uncapped) adding up to ``points``."""

    def add(merchant, points: int):
        assert points % 4 == 0, "evasions cost 4 points each under the reference table"
        return [take_down(merchant, kind="keyword_evasion") for _ in range(points // 4)]

    return add
