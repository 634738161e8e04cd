"""The reference timeline: grace, the first sweep after it, and a merchant climbing the whole ladder."""

from __future__ import annotations

from datetime import timedelta

from moderation.models import Sanction, Violation
from moderation.selectors.ledger import merchant_points
from moderation.services.sanctions import run_escalation
from sellers.models import Listing, Merchant
from tests.moderation.conftest import AFTER_GRACE, IN_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403


def test_a_merchant_climbs_every_step_of_the_reference_ladder(
    travel, announced_policy, merchant_a, violate, make_listing, graphics_cards
):
    travel.to(IN_GRACE)
    grace = violate(merchant_a, 8)
    assert all(not v.counts_toward_sanctions and v.points == 0 for v in grace)
    assert run_escalation()["issued"] == 0

    travel.to(AFTER_GRACE)
    assert run_escalation()["issued"] == 0  # grace violations never count
    violate(merchant_a, 8)
    assert merchant_points(merchant_a, policy=announced_policy) == 8
    run_escalation()
    warning = Sanction.objects.get(merchant=merchant_a)
    assert warning.kind == "warning" and warning.step.threshold == 6

    travel.by(timedelta(days=4))  # past the warning's compliance window
    violate(merchant_a, 4)  # 12 points
    run_escalation()
    block = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (block.kind, block.step.threshold) == ("store_block", 12)
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == Merchant.EnforcementStatus.STORE_BLOCKED
    assert merchant_a.enforcement_until == block.ends_at

    travel.by(timedelta(days=8))  # the block expires
    run_escalation()
    block.refresh_from_db()
    merchant_a.refresh_from_db()
    assert block.status == "expired" and merchant_a.enforcement_status == "active"

    violate(merchant_a, 12)  # 24
    run_escalation()
    assert Sanction.objects.filter(merchant=merchant_a).latest("id").step.threshold == 24
    travel.by(timedelta(days=15))
    live = make_listing(merchant_a, graphics_cards, title="RTX 3080")
    violate(merchant_a, 12)  # 36
    run_escalation()
    freeze = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (freeze.kind, freeze.step.threshold, freeze.delists_all) == ("account_freeze", 36, True)
    live.refresh_from_db()
    assert (live.status, live.delisted_by_sanction_id, live.previous_status) == ("delisted", freeze.pk, "live")
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.payouts_held) == ("frozen", True)

    travel.by(timedelta(days=22))  # the freeze ends; the listings it removed stay removed
    run_escalation()
    merchant_a.refresh_from_db()
    live.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.payouts_held, live.status) == ("active", False, "delisted")
    violate(merchant_a, 12)  # 48
    run_escalation()
    closure = Sanction.objects.filter(merchant=merchant_a).latest("id")
    assert (closure.kind, closure.ends_at) == ("account_closure", None)
    merchant_a.refresh_from_db()
    assert (merchant_a.enforcement_status, merchant_a.enforcement_until, merchant_a.payouts_held) == (
        "closed",
        None,
        True,
    )

    assert run_escalation() == {"expired": 0, "issued": 0}  # a second sweep changes nothing
    assert Violation.objects.filter(merchant=merchant_a).count() == 14
    assert [s.kind for s in Sanction.objects.filter(merchant=merchant_a).order_by("id")] == [
        "warning",
        "store_block",
        "store_block",
        "account_freeze",
        "account_closure",
    ]
    assert Listing.objects.filter(merchant=merchant_a, status="live").count() == 0
