"""The reference policy of the demo: Alibaba.com's 2021 ban on virtual-currency mining machines.

Its text, clauses, points table, ladder and dates are in ``data/policy.json``.
``seed_reference_policy`` writes it through the same services a policy admin uses, so the
demo's audit trail and notices are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from moderation.demo.data_files import load
from moderation.demo.rules import seed_reference_rules
from moderation.models import CategoryRemoval, Policy, SanctionKind, Violation
from moderation.services.audit import Actor
from moderation.services.policies import ClauseText, announce_policy, create_policy
from moderation.services.removals import schedule_removal
from moderation.services.sanctions import PointsText, StepText, set_penalty_rules
from sellers.models import Category, Marketplace

_policy = load("policy.json")

REFERENCE_SLUG: str = _policy["slug"]
REFERENCE_TITLE: str = _policy["title"]
REFERENCE_BODY: str = _policy["body"]
REFERENCE_TIMEZONE: str = _policy["timezone"]
SHANGHAI = ZoneInfo(REFERENCE_TIMEZONE)
HISTORICAL_ANNOUNCEMENT = datetime.fromisoformat(_policy["historical"]["announced"]).replace(tzinfo=SHANGHAI)
HISTORICAL_EFFECT = datetime.fromisoformat(_policy["historical"]["effective"]).replace(tzinfo=SHANGHAI)
HISTORICAL_ENFORCEMENT = datetime.fromisoformat(_policy["historical"]["enforcement_starts"]).replace(tzinfo=SHANGHAI)
BANNED_CATEGORY_SLUGS: tuple[str, ...] = tuple(_policy["banned_category_slugs"])
# How far ahead the demo's removal runs, so a newcomer sees it scheduled, then running.
DEMO_LEAD_TIME = timedelta(minutes=_policy["demo_lead_minutes"])

# The announcement's parts, one clause each: the machines and their accessories, the
# software, the tutorials and strategies, and the currencies themselves (already banned).
REFERENCE_CLAUSES = [ClauseText(**clause) for clause in _policy["clauses"]]

# What a violation costs: general violations share the daily cap of 6 points; evading the
# ban (distorted keywords, a misplaced category) and trying to re-list count per infringement.
REFERENCE_POINTS = [PointsText(**{**row, "kind": Violation.Kind(row["kind"])}) for row in _policy["points"]]
# Alibaba.com's published ladder, mapped onto the sanctions the ban brings.
REFERENCE_LADDER = [StepText(**{**row, "kind": SanctionKind(row["kind"])}) for row in _policy["ladder"]]


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
        title=REFERENCE_TITLE,
        body=REFERENCE_BODY,
        # The category tree is shared by the group's marketplaces, so closing these
        # categories reaches all of them: the policy says so by naming them all.
        marketplaces=list(Marketplace.objects.all()),
        categories=categories,
        clauses=REFERENCE_CLAUSES,
        timezone_name=REFERENCE_TIMEZONE,
        effective_at=effective,
        enforcement_starts_at=enforcement,
    )
    seed_reference_rules(actor=actor, policy=policy)
    set_penalty_rules(actor=actor, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    policy = announce_policy(actor=actor, policy=policy, announced_at=announced)
    removal = schedule_removal(actor=actor, policy=policy, categories=categories, scheduled_for=effective)
    return PolicySeed(policy=policy, removal=removal)
