"""The reference policy carries the whole announcement: four clauses, rules for each, demo rows for each."""

from __future__ import annotations

from moderation import demo
from moderation.demo import REFERENCE_RULES, REFERENCE_SLUG
from moderation.models import DetectionRule, Policy, ReviewItem
from moderation.services.scanning import start_policy_scan

CLAUSES = {
    1: "Mining hardware",
    2: "Mining software and firmware",
    3: "Mining tutorials and strategies",
    4: "Virtual currencies",
}


def test_every_clause_of_the_announcement_has_its_own_rules():
    assert {rule.clause for rule in REFERENCE_RULES} == set(CLAUSES)
    for number in CLAUSES:
        strong = [rule for rule in REFERENCE_RULES if rule.clause == number and rule.weight >= 10]
        assert strong, f"clause {number} has no rule that flags alone"


def test_every_banned_demo_family_names_its_clause_and_every_clause_has_one():
    banned = [f for f in demo.FAMILIES if f.kind in (demo.Kind.BANNED, demo.Kind.BANNED_ELSEWHERE)]
    assert all(family.clause in CLAUSES for family in banned)
    assert {family.clause for family in banned} == set(CLAUSES)


def test_the_demos_scan_flags_listings_of_every_clause(db, settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    demo.seed_reference_case(seed=2021, listings=300)
    policy = Policy.objects.get(slug=REFERENCE_SLUG)
    assert dict(policy.clauses.values_list("number", "title")) == CLAUSES
    cited = set(DetectionRule.objects.filter(policy=policy).values_list("clause__number", flat=True))
    assert cited == set(CLAUSES)

    # The demo's policy takes effect a few minutes ahead: scan as it will then.
    Policy.objects.filter(pk=policy.pk).update(effective_at=policy.announced_at)
    with django_capture_on_commit_callbacks(execute=True):
        start_policy_scan(policy=policy)

    flagged_titles = list(ReviewItem.objects.filter(policy=policy).values_list("listing__title", flat=True))
    for number in CLAUSES:
        names = [
            name
            for family in demo.FAMILIES
            if family.clause == number
            for product in family.products
            for name in (product.en, product.zh)
        ]
        assert any(name in title for title in flagged_titles for name in names), f"no clause {number} listing flagged"
