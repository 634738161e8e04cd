"""The tier rule, stated once in moderation/tiers.py and asked everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moderation.models import Appeal, ReviewItem
from moderation.tiers import may_work_tier, role_for_tier, tiers_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_tiers_of_both_queues_are_the_rules_tiers():
    assert set(ReviewItem.Tier.values) == set(Appeal.Tier.values) == {"moderator", "senior"}


def test_a_moderator_works_their_own_tier_only(moderator):
    assert may_work_tier(moderator, ReviewItem.Tier.MODERATOR)
    assert not may_work_tier(moderator, ReviewItem.Tier.SENIOR)
    assert tiers_for(moderator) == ["moderator"]


def test_a_senior_works_both(senior):
    assert may_work_tier(senior, Appeal.Tier.SENIOR) and may_work_tier(senior, Appeal.Tier.MODERATOR)
    assert tiers_for(senior) == ["moderator", "senior"]


def test_a_policy_admin_works_no_senior_tier(policy_admin):
    assert not may_work_tier(policy_admin, ReviewItem.Tier.SENIOR)


@pytest.mark.parametrize("tier, role", [("moderator", "moderator"), ("senior", "senior moderator")])
def test_the_role_a_tier_needs(tier, role):
    assert role_for_tier(tier).value == role


def test_no_module_restates_the_rule():
    """``tier == …SENIOR and not has_role(…)`` was written six times; now it is asked of tiers.py."""
    restated = re.compile(r"Tier\.SENIOR\s+and\s+not\s+has_role|has_role\([^)]*SENIOR_MODERATOR\)\s*\n?\s*else\s*\[")
    offenders = [
        f"{path.relative_to(ROOT)}"
        for folder in ("moderation", "sellers", "backoffice")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
        and path != ROOT / "moderation" / "tiers.py"
        and restated.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
