"""Who may work which tier of the review and appeal queues: the rule, stated once.

Both queues have two tiers with the same values: ``moderator`` (every moderator's work) and
``senior`` (escalated, for senior moderators). Views decide what to show with these functions,
services refuse with them, selectors narrow with them and templates ask ``may_work_tier``: a
change to the rule is one change here.
"""

from __future__ import annotations

from backoffice.roles import Role, has_role

MODERATOR_TIER = "moderator"
SENIOR_TIER = "senior"


def may_work_tier(user, tier: str) -> bool:
    """Whether ``user`` may claim and decide work of ``tier``: everyone their own, seniors both."""
    return tier != SENIOR_TIER or has_role(user, Role.SENIOR_MODERATOR)


def tiers_for(user) -> list[str]:
    """The tiers ``user`` works, for a ``tier__in`` filter."""
    return [MODERATOR_TIER, SENIOR_TIER] if has_role(user, Role.SENIOR_MODERATOR) else [MODERATOR_TIER]


def role_for_tier(tier: str) -> Role:
    """The role a person needs to work ``tier`` (a superuser or a role implying it also may)."""
    return Role.SENIOR_MODERATOR if tier == SENIOR_TIER else Role.MODERATOR
