"""Removals without surprises: an innocent category needs a stated reason, one removal at a time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from moderation.models import AuditEvent, AuditVerb, CategoryRemoval
from moderation.selectors.removals import removal_dry_run
from moderation.services import removals
from tests.concurrency import race


@pytest.fixture
def cards(make_listing, merchant_a, merchant_b, graphics_cards):
    """Forty innocent graphics cards: the category the mining policy must not retire by accident."""
    return [
        make_listing(merchant_a if n % 2 else merchant_b, graphics_cards, title=f"RTX 40{n:02d} gaming card")
        for n in range(40)
    ]


def test_the_dry_run_shows_what_the_rules_say_of_a_sample(announced_policy, mining_rules, cards, graphics_cards):
    dry_run = removal_dry_run([graphics_cards], policy=announced_policy)

    assert (dry_run["sampled"], dry_run["flagged_percent"], dry_run["rules_disagree"]) == (40, 0, True)
    assert len(dry_run["sample"]) == 20 and dry_run["sample"][0]["title"].startswith("RTX")
    assert dry_run["not_named"] == ["Graphics Cards"]


def test_an_innocent_category_needs_a_reason_and_the_reason_is_audited(
    policy_admin, announced_policy, mining_rules, cards, graphics_cards
):
    with pytest.raises(ValidationError) as refused:
        removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[graphics_cards])
    message = refused.value.message_dict["override_reason"][0]
    assert "does not name Graphics Cards" in message and "flag only 0%" in message
    assert not CategoryRemoval.objects.exists()

    removal = removals.schedule_removal(
        actor=policy_admin,
        policy=announced_policy,
        categories=[graphics_cards],
        override_reason="Mining rigs are sold here as graphics cards; the legal team decided.",
    )
    event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_SCHEDULED, target_id=removal.pk)
    assert event.reason.startswith("Mining rigs are sold here")
    assert event.after["override"] is True and event.after["not_named_by_policy"] == ["Graphics Cards"]


def test_the_banned_categories_need_no_reason(
    policy_admin, announced_policy, mining_rules, miners, make_listing, merchant_a
):
    make_listing(merchant_a, miners, title="Antminer S19 Pro 110TH/s")
    removal = removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners])
    assert removal.dry_run["flagged_percent"] == 100


@pytest.mark.postgres
def test_two_admins_scheduling_the_same_category_at_once_schedule_one(
    transactional_db, policy_admin, announced_policy, miners
):
    def schedule(_n):
        return removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners])

    results, errors = race(schedule, [(1,), (2,)])
    assert CategoryRemoval.objects.count() == 1
    assert sum(isinstance(error, ValidationError) for error in errors) == 1
