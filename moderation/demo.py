"""The reference policy of the demo: Alibaba.com's 2021 ban on virtual-currency mining machines.

``seed_reference_policy`` writes it through the same services a policy admin uses, so the
demo's audit trail and notices are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from moderation.demo_rules import seed_reference_rules
from moderation.models import CategoryRemoval, Policy, SanctionKind, Violation
from moderation.services.audit import Actor
from moderation.services.policies import ClauseText, announce_policy, create_policy
from moderation.services.removals import schedule_removal
from moderation.services.sanctions import PointsText, StepText, set_penalty_rules
from sellers.models import Category, Marketplace

REFERENCE_SLUG = "virtual-currency-mining"
SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORICAL_ANNOUNCEMENT = datetime(2021, 9, 27, 10, 0, tzinfo=SHANGHAI)
HISTORICAL_EFFECT = datetime(2021, 10, 8, tzinfo=SHANGHAI)
HISTORICAL_ENFORCEMENT = datetime(2021, 10, 15, tzinfo=SHANGHAI)
BANNED_CATEGORY_SLUGS = ["blockchain-miners", "blockchain-miner-accessories"]
# How far ahead the demo's removal runs, so a newcomer sees it scheduled, then running.
DEMO_LEAD_TIME = timedelta(minutes=3)

# The announcement's parts, one clause each: the machines and their accessories, the
# software, the tutorials and strategies, and the currencies themselves (already banned).
REFERENCE_CLAUSES = [
    ClauseText(
        1,
        "Mining hardware",
        "Hardware used to obtain virtual currencies is prohibited: mining machines such as Bitcoin and "
        "Litecoin miners, GPU mining rigs, hash boards, mining power supplies, rig frames and other "
        "accessories made or sold for mining.",
    ),
    ClauseText(
        2,
        "Mining software and firmware",
        "Software used to obtain virtual currencies is prohibited: mining programs, mining operating "
        "systems, and firmware for mining machines.",
    ),
    ClauseText(
        3,
        "Mining tutorials and strategies",
        "Tutorials, strategies and courses for obtaining virtual currencies, such as tutorials on "
        "mining, are prohibited.",
    ),
    ClauseText(
        4,
        "Virtual currencies",
        "Virtual currencies themselves, such as Bitcoin, Litecoin, BeaoCoin, QuarkCoin and Ethereum, "
        "remain prohibited, as are wallets or cards preloaded with them.",
    ),
]

# What a violation costs: general violations share the daily cap of 6 points; evading the
# ban (distorted keywords, a misplaced category) and trying to re-list count per infringement.
REFERENCE_POINTS = [
    PointsText(Violation.Kind.PROHIBITED_LISTING, 2, daily_cap_applies=True),
    PointsText(Violation.Kind.KEYWORD_EVASION, 4, daily_cap_applies=False),
    PointsText(Violation.Kind.CATEGORY_EVASION, 4, daily_cap_applies=False),
    PointsText(Violation.Kind.RELIST_ATTEMPT, 2, daily_cap_applies=False),
]
# Alibaba.com's published ladder, mapped onto the sanctions the ban brings.
REFERENCE_LADDER = [
    StepText(6, SanctionKind.WARNING, compliance_days=3),
    StepText(12, SanctionKind.STORE_BLOCK, duration_days=7, compliance_days=7),
    StepText(24, SanctionKind.STORE_BLOCK, duration_days=14, compliance_days=14),
    StepText(36, SanctionKind.ACCOUNT_FREEZE, duration_days=21, compliance_days=21, delists_all=True),
    StepText(48, SanctionKind.ACCOUNT_CLOSURE),
]

REFERENCE_BODY = (
    "To comply with the applicable laws and regulations, the marketplace prohibits the sale "
    "of virtual currency mining machines from the effective date. The categories “Blockchain "
    "Miners” and “Blockchain Miner Accessories” are closed and their listings removed. Until the "
    "end of the grace period, listings found breaking these rules are taken down and their "
    "merchants warned; afterwards each violation adds penalty points, and merchants who keep "
    "listing banned products have their stores blocked and their accounts frozen or closed."
)


@dataclass(frozen=True)
class PolicySeed:
    policy: Policy
    removal: CategoryRemoval

    def lines(self) -> list[str]:
        policy, removal = self.policy, self.removal
        return [
            f"Policy “{policy}” ({policy.slug}), announced {policy.local(policy.announced_at):%Y-%m-%d %H:%M}, "
            f"in effect {policy.local(policy.effective_at):%Y-%m-%d %H:%M}, "
            f"grace until {policy.local(policy.enforcement_starts_at):%Y-%m-%d %H:%M} ({policy.timezone})",
            f"  {policy.notices.count()} merchants notified of the announcement; "
            f"{policy.detection_rules.count()} detection rules "
            f"(try: python manage.py scan_text --policy {policy.slug})",
            f"  penalty ladder: {'; '.join(str(step) for step in policy.escalation_steps.all())}",
            f"  removal #{removal.pk} of {removal.dry_run['listings']} listings "
            f"({removal.dry_run['merchants']} merchants) scheduled for "
            f"{policy.local(removal.scheduled_for):%Y-%m-%d %H:%M}: watch it on /backoffice/removals/{removal.pk}/",
        ]


def seed_reference_policy(*, actor: Actor, historical: bool = False) -> PolicySeed:
    """Create, announce and schedule the reference policy.

    ``historical``: the real dates (announced 2021-09-27, in effect 2021-10-08, grace until
    2021-10-15, Asia/Shanghai); the removal is overdue and runs as soon as beat ticks.
    Otherwise the same shape placed relative to now: announced now, in effect a few
    minutes from now (the removal's time), grace for a week after that.
    """
    if historical:
        announced, effective, enforcement = HISTORICAL_ANNOUNCEMENT, HISTORICAL_EFFECT, HISTORICAL_ENFORCEMENT
    else:
        announced = timezone.now()
        effective = (announced + DEMO_LEAD_TIME).replace(second=0, microsecond=0) + timedelta(minutes=1)
        enforcement = effective + timedelta(days=7)
    categories = list(Category.objects.filter(slug__in=BANNED_CATEGORY_SLUGS).order_by("path"))
    policy = create_policy(
        actor=actor,
        slug=REFERENCE_SLUG,
        title="Virtual currency mining machines",
        body=REFERENCE_BODY,
        # The category tree is shared by the group's marketplaces, so closing these
        # categories reaches all of them: the policy says so by naming them all.
        marketplaces=list(Marketplace.objects.all()),
        categories=categories,
        clauses=REFERENCE_CLAUSES,
        timezone_name="Asia/Shanghai",
        effective_at=effective,
        enforcement_starts_at=enforcement,
    )
    seed_reference_rules(actor=actor, policy=policy)
    set_penalty_rules(actor=actor, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    policy = announce_policy(actor=actor, policy=policy, announced_at=announced)
    removal = schedule_removal(actor=actor, policy=policy, categories=categories, scheduled_for=effective)
    return PolicySeed(policy=policy, removal=removal)
