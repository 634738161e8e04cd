"""Points, the ladder and sanctions: the daily cap, expiry, grace, decisions, the sweep, manual sanctions, effects."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import translation

from moderation import tasks
from moderation.models import AuditEvent, AuditVerb, Notice, Sanction, Violation
from moderation.selectors.ledger import merchant_points
from moderation.services.audit import SystemActor
from moderation.services.sanctions import (
    ESCALATION_ACTOR,
    PRIOR_WARNING_DAYS,
    LedgerRow,
    decide,
    escalate_range,
    escalation_chunks,
    issue_manual_sanction,
    ladder_of,
    lift_sanction,
    read_ledger,
    recompute_enforcement_status,
    run_escalation,
    write_sanctions,
)
from moderation.services.transparency import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_TERMINATED,
    MONETARY_SUSPENSION,
    PROVISION_TOTAL_SUSPENSION,
    PROVISION_TOTAL_TERMINATION,
    VISIBILITY_REMOVED,
)
from moderation.services.violations import record_violation
from sellers import services as catalog
from sellers.models import Listing, Merchant
from sellers.selectors import visible_listings
from sellers.services import MerchantRestricted
from tests.concurrency import run_in_threads
from tests.moderation.conftest import AFTER_GRACE, EFFECTIVE, ENFORCEMENT, IN_GRACE, SHANGHAI
from tests.moderation.sanctions_fixtures import *  # noqa: F403

SLUG = "virtual-currency-mining"
POLICY_TITLE = "Virtual currency mining machines"
REASON = "Repeated listings of Bitcoin mining machines after the ban took effect."
LIFT_REASON = "The merchant removed every mining product and proved it."


def events(verb, **filters):
    return AuditEvent.objects.filter(verb=verb, **filters)


def written() -> tuple[int, int, int]:
    """What a refused action must leave as it was."""
    return Sanction.objects.count(), AuditEvent.objects.count(), Notice.objects.count()


def latest_sanction(merchant) -> Sanction:
    return Sanction.objects.filter(merchant=merchant).select_related("step").latest("id")


def status_of(merchant) -> tuple:
    merchant.refresh_from_db()
    return merchant.enforcement_status, merchant.enforcement_until, merchant.payouts_held


def manual(actor, merchant, policy, kind, days=None, reason=REASON) -> Sanction:
    return issue_manual_sanction(
        actor=actor, merchant=merchant, policy=policy, kind=kind, reason=reason, duration_days=days
    )


def shown(policy, moment) -> str:
    """A time as the English notices print it: in the policy's timezone, "20 October 2021, 10:01"."""
    local = policy.local(moment)
    return f"{local.day} {local:%B %Y, %H:%M}"


def shown_zh(policy, moment) -> str:
    """The same in the Chinese notices: "2021年10月20日 10:01"."""
    local = policy.local(moment)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def refused(call, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    return error.value


def warn_through_the_ladder(travel, merchant, violate) -> Sanction:
    """8 points, a sweep: the ladder's warning. The clock is then past its 3 days to comply."""
    violate(merchant, 8)
    travel.by(timedelta(minutes=1))
    assert run_escalation()["issued"] == 1
    warning = latest_sanction(merchant)
    assert (warning.kind, warning.step.threshold) == ("warning", 6)
    travel.to(warning.compliance_deadline + timedelta(hours=1))
    return warning


# --- 1. the daily cap ------------------------------------------------------------------------


def test_general_take_downs_share_a_daily_cap_of_six_points_per_shanghai_day(
    after_grace, announced_policy, merchant_b, take_down
):
    first_day = [take_down(merchant_b) for _ in range(4)]  # 2021-10-20 10:00 Shanghai
    assert [v.points for v in first_day] == [2, 2, 2, 0]
    assert all(v.points_capped and v.counts_toward_sanctions for v in first_day)
    capped_event = events(AuditVerb.VIOLATION_RECORDED, target_id=first_day[-1].pk).get()
    assert (capped_event.after["points"], capped_event.after["counts_toward_sanctions"]) == (0, True)

    after_grace.to(datetime(2021, 10, 20, 23, 59, 59, tzinfo=SHANGHAI))
    assert take_down(merchant_b).points == 0  # still the 20th in Shanghai

    # 2021-10-20 16:00:01 UTC: the same day in UTC, a new one in the policy's timezone.
    after_grace.to(datetime(2021, 10, 21, 0, 0, 1, tzinfo=SHANGHAI))
    next_day = [take_down(merchant_b) for _ in range(4)]
    assert [v.points for v in next_day] == [2, 2, 2, 0]

    stored = list(Violation.objects.filter(merchant=merchant_b).values_list("points", flat=True))
    assert len(stored) == 9
    assert merchant_points(merchant_b, policy=announced_policy) == sum(stored) == 12


def test_the_daily_cap_is_per_merchant(after_grace, announced_policy, merchant_a, merchant_b, take_down):
    assert [take_down(merchant_b).points for _ in range(4)] == [2, 2, 2, 0]
    assert [take_down(merchant_a).points for _ in range(3)] == [2, 2, 2]
    assert merchant_points(merchant_a, policy=announced_policy) == 6
    assert merchant_points(merchant_b, policy=announced_policy) == 6


def test_evasions_are_never_capped_and_leave_the_general_cap_untouched(
    after_grace, announced_policy, merchant_b, take_down
):
    evasions = [take_down(merchant_b, kind="keyword_evasion") for _ in range(3)]
    evasions.append(take_down(merchant_b, kind="category_evasion"))
    assert [(v.points, v.points_capped) for v in evasions] == [(4, False)] * 4
    general = [take_down(merchant_b) for _ in range(4)]
    assert [v.points for v in general] == [2, 2, 2, 0]  # the 16 evasion points did not use up the cap
    assert [take_down(merchant_b, kind="keyword_evasion").points for _ in range(2)] == [4, 4]
    total = sum(Violation.objects.filter(merchant=merchant_b).values_list("points", flat=True))
    assert merchant_points(merchant_b, policy=announced_policy) == total == 30


# --- 2. points lapse ------------------------------------------------------------------------


def test_points_and_the_ladder_position_lapse_after_points_valid_days(
    after_grace, announced_policy, merchant_b, violate
):
    assert announced_policy.points_valid_days == 365
    start = after_grace.now()
    violate(merchant_b, 8)
    assert run_escalation()["issued"] == 1
    warning = latest_sanction(merchant_b)
    row = read_ledger(policy=announced_policy, merchant_ids=[merchant_b.pk], at=start)[merchant_b.pk]
    assert (row.points, row.position, row.warning, row.latest_ladder_id) == (8, warning, warning, warning.pk)

    after_grace.to(start + timedelta(days=365))
    assert merchant_points(merchant_b, policy=announced_policy) == 8  # the 365th day still counts

    after_grace.to(start + timedelta(days=366))
    assert merchant_points(merchant_b, policy=announced_policy) == 0
    row = read_ledger(policy=announced_policy, merchant_ids=[merchant_b.pk], at=after_grace.now())[merchant_b.pk]
    assert (row.points, row.position, row.warning) == (0, None, None)
    assert row.latest_ladder_id == warning.pk  # kept for the next cause
    assert run_escalation() == {"expired": 0, "issued": 0}

    # New points climb from the bottom again: a new warning, not a step above the old one.
    violate(merchant_b, 8)
    assert run_escalation()["issued"] == 1
    fresh = latest_sanction(merchant_b)
    assert (fresh.kind, fresh.step.threshold, fresh.points, fresh.previous) == ("warning", 6, 8, None)
    assert fresh.cause == f"ladder:{SLUG}:{merchant_b.pk}:6:after:{warning.pk}"
    assert fresh.cause != warning.cause


# --- 3. grace --------------------------------------------------------------------------------


def test_a_violation_in_grace_takes_the_listing_down_without_points(in_grace, announced_policy, merchant_b, take_down):
    violation = take_down(merchant_b, kind="keyword_evasion")
    assert (violation.counts_toward_sanctions, violation.points) == (False, 0)
    violation.listing.refresh_from_db()
    assert violation.listing.status == Listing.Status.DELISTED
    notice = Notice.objects.get(merchant=merchant_b, kind=Notice.Kind.LISTING_TAKEN_DOWN)
    assert notice.dedupe_key == f"violation:{violation.pk}"
    event = events(AuditVerb.VIOLATION_RECORDED, target_id=violation.pk).get()
    assert (event.after["counts_toward_sanctions"], event.after["points"]) == (False, 0)
    assert merchant_points(merchant_b, policy=announced_policy) == 0
    assert run_escalation() == {"expired": 0, "issued": 0}  # the ladder does not run in grace


def test_the_first_sweep_after_grace_ignores_grace_violations_and_applies_later_ones(
    travel, announced_policy, merchant_a, merchant_b, take_down, violate
):
    travel.to(IN_GRACE)
    grace = violate(merchant_a, 12)
    travel.to(ENFORCEMENT - timedelta(seconds=1))  # 2021-10-14 23:59:59 Shanghai
    grace.append(take_down(merchant_a, kind="keyword_evasion"))
    assert {(v.counts_toward_sanctions, v.points) for v in grace} == {(False, 0)}
    assert Listing.objects.filter(merchant=merchant_a, status="delisted").count() == 4

    travel.to(ENFORCEMENT)  # 2021-10-15 00:00 Shanghai: the first counting moment
    on_the_dot = take_down(merchant_a)
    assert (on_the_dot.counts_toward_sanctions, on_the_dot.points) == (True, 2)
    travel.to(ENFORCEMENT + timedelta(seconds=1))
    counted = violate(merchant_b, 8)
    assert {(v.counts_toward_sanctions, v.points) for v in counted} == {(True, 4)}

    moment = travel.to(ENFORCEMENT + timedelta(minutes=1))
    assert run_escalation() == {"expired": 0, "issued": 1}
    assert not Sanction.objects.filter(merchant=merchant_a).exists()  # 2 counting points only
    warning = Sanction.objects.get()
    assert (warning.merchant, warning.kind, warning.points, warning.starts_at) == (merchant_b, "warning", 8, moment)
    assert set(warning.violations.all()) == set(counted)


# --- 4. decide(): the ladder as a pure function -----------------------------------------------

AT = AFTER_GRACE + timedelta(days=30)
MID = 4242
LATEST = 7  # the newest ladder sanction's id in the rows that hold a position


def ladder_cause(threshold: int, latest: int = LATEST) -> str:
    return f"ladder:{SLUG}:{MID}:{threshold}:after:{latest}"


def warning_cause(before: int, latest: int = LATEST) -> str:
    return f"warning:{SLUG}:{MID}:before:{before}:after:{latest}"


def on_the_ladder(steps: dict, threshold: int, days_ago: float) -> Sanction:
    """An unsaved ladder sanction at ``threshold`` that started ``days_ago`` before AT."""
    step = steps[threshold]
    starts = AT - timedelta(days=days_ago)
    deadline = starts + timedelta(days=step.compliance_days) if step.compliance_days else None
    return Sanction(merchant_id=MID, policy=step.policy, step=step, kind=step.kind, starts_at=starts,
                    compliance_deadline=deadline)  # fmt: skip


D = timedelta(days=1)
# points, position (threshold, started days ago), warning on record ("position" or (threshold, days ago)),
# a flagged live listing since (before AT), the last re-listing attempt (before AT),
# expected (kind, threshold, cause, one step up for not complying) or None.
LADDER_CASES = [
    pytest.param(5, None, None, None, None, None, id="5 points: below the first step"),
    pytest.param(6, None, None, None, None, ("warning", 6, ladder_cause(6, 0), False), id="6 points: the warning"),
    pytest.param(
        12, (6, 4), "position", None, None, ("store_block", 12, ladder_cause(12), False),
        id="12 points, the warning's deadline passed: the 7-day block",
    ),
    pytest.param(12, (6, 1), "position", None, None, None, id="12 points, the warning's time still running"),
    pytest.param(
        24, None, None, None, None, ("warning", 6, warning_cause(24, 0), False),
        id="24 points and no warning on record: a warning first",
    ),
    pytest.param(
        30, (6, 4), "position", None, None, ("store_block", 24, ladder_cause(24), False),
        id="30 points after the warning: the step the points reach, not the next one",
    ),
    pytest.param(
        12, (12, 8), (6, 12), 5 * D, None, ("store_block", 24, ladder_cause(24), True),
        id="block past its deadline, still a flagged live listing: one step up",
    ),
    pytest.param(
        12, (12, 7), (6, 12), 5 * D, None, ("store_block", 24, ladder_cause(24), True),
        id="block at its deadline to the second, still a flagged live listing: one step up",
    ),
    pytest.param(12, (12, 8), (6, 12), None, None, None, id="block past its deadline, compliant: nothing"),
    pytest.param(
        12, (12, 8), (6, 12), D / 2, None, None, id="block past its deadline, flagged only after it: nothing"
    ),
    pytest.param(
        12, (12, 8), (6, 12), None, 6 * D, ("store_block", 24, ladder_cause(24), True),
        id="block past its deadline, a re-listing attempt since it started: one step up",
    ),
    pytest.param(
        12, (12, 8), (6, 12), None, 9 * D, None, id="block past its deadline, the attempt was before it: nothing"
    ),
    pytest.param(12, (12, 3), (6, 12), 2 * D, None, None, id="flagged, but the block's deadline not reached"),
    pytest.param(
        12, (12, 8), (6, 1), 5 * D, None, None, id="non-compliant, but a newer warning's time is still running"
    ),
    pytest.param(
        36, (12, 8), (6, 12), 5 * D, None, ("account_freeze", 36, ladder_cause(36), False),
        id="non-compliant with points beyond the next step: the points decide",
    ),
    pytest.param(
        36, (36, 22), (6, 40), 5 * D, None, ("account_closure", 48, ladder_cause(48), True),
        id="freeze past its deadline, non-compliant: the closure",
    ),
    pytest.param(
        48, (36, 2), (6, 30), None, None, ("account_closure", 48, ladder_cause(48), False),
        id="48 points: the closure, whatever the freeze's time to comply",
    ),
    pytest.param(60, (48, 10), (6, 40), 5 * D, 5 * D, None, id="at the top of the ladder: nothing more"),
    pytest.param(
        24, (12, 8), None, None, None, ("warning", 12, warning_cause(24), False),
        id="a block on record but no warning within the period: a warning at the block's threshold first",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("points", "position", "warning", "flagged", "relisted", "expected"), LADDER_CASES)
def test_decide_applies_the_ladder(
    announced_policy, django_assert_num_queries, points, position, warning, flagged, relisted, expected
):
    ladder = ladder_of(announced_policy)
    steps = {step.threshold: step for step in ladder}
    held = on_the_ladder(steps, *position) if position else None
    row = LedgerRow(
        MID,
        points=points,
        position=held,
        warning=held if warning == "position" else (on_the_ladder(steps, *warning) if warning else None),
        latest_ladder_id=LATEST if held else 0,
        flagged_since=AT - flagged if flagged else None,
        last_relist_at=AT - relisted if relisted else None,
    )
    with django_assert_num_queries(0):  # pure: the row and the ladder only
        due = decide(row, policy=announced_policy, ladder=ladder, at=AT)
    if expected is None:
        assert due is None
        return
    kind, threshold, cause, step_up = expected
    assert (due.merchant_id, due.step.kind, due.step.threshold, due.points) == (MID, kind, threshold, points)
    assert due.cause == cause
    assert due.prior_warning is cause.startswith("warning:")
    assert due.noncompliance is step_up
    assert due.previous is held


def test_a_prior_warning_above_the_ladders_warning_step_is_made_up_with_three_days_to_comply(announced_policy):
    ladder = ladder_of(announced_policy)
    block = on_the_ladder({step.threshold: step for step in ladder}, 12, 8)
    due = decide(LedgerRow(MID, points=24, position=block, latest_ladder_id=LATEST), policy=announced_policy,
                 ladder=ladder, at=AT)  # fmt: skip
    assert due.prior_warning
    assert (due.step.pk, due.step.kind, due.step.threshold) == (None, "warning", 12)
    assert due.step.compliance_days == PRIOR_WARNING_DAYS == 3
    assert due.step.duration_days is None


def test_the_cause_names_the_latest_ladder_sanction_so_a_later_climb_is_a_new_sanction(announced_policy):
    ladder = ladder_of(announced_policy)
    first = decide(LedgerRow(MID, points=6), policy=announced_policy, ladder=ladder, at=AT)
    later = decide(LedgerRow(MID, points=6, latest_ladder_id=31), policy=announced_policy, ladder=ladder, at=AT)
    assert first.step == later.step
    assert (first.cause, later.cause) == (ladder_cause(6, 0), ladder_cause(6, 31))
    prior = decide(LedgerRow(MID, points=12), policy=announced_policy, ladder=ladder, at=AT)
    prior_later = decide(LedgerRow(MID, points=12, latest_ladder_id=31), policy=announced_policy, ladder=ladder, at=AT)
    assert (prior.cause, prior_later.cause) == (warning_cause(12, 0), warning_cause(12, 31))


# --- 5. the prior warning, end to end ---------------------------------------------------------


def test_twelve_points_with_no_warning_bring_a_warning_first_then_the_block_at_its_deadline(
    after_grace, announced_policy, merchant_b, violate
):
    violate(merchant_b, 12)
    first_sweep = after_grace.by(timedelta(minutes=1))
    assert run_escalation() == {"expired": 0, "issued": 1}
    warning = Sanction.objects.select_related("step").get(merchant=merchant_b)
    assert (warning.kind, warning.step.threshold, warning.points, warning.previous) == ("warning", 6, 12, None)
    assert (warning.starts_at, warning.ends_at) == (first_sweep, None)
    assert warning.compliance_deadline == first_sweep + timedelta(days=3)
    assert warning.cause == f"warning:{SLUG}:{merchant_b.pk}:before:12:after:0"
    assert warning.reason.startswith(f"your account held 12 penalty points under “{POLICY_TITLE}”")
    assert "a formal warning comes first, before any suspension" in warning.reason
    assert (warning.automated, warning.issued_by, warning.issued_by_name) == (True, None, "task:run_escalation")
    assert status_of(merchant_b) == ("active", None, False)
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.WARNING).count() == 1

    after_grace.by(timedelta(days=1))
    assert run_escalation()["issued"] == 0
    after_grace.to(warning.compliance_deadline - timedelta(seconds=1))
    assert run_escalation()["issued"] == 0

    at_deadline = after_grace.to(warning.compliance_deadline)
    assert run_escalation() == {"expired": 0, "issued": 1}
    block = latest_sanction(merchant_b)
    assert (block.kind, block.step.threshold, block.points, block.previous) == ("store_block", 12, 12, warning)
    assert (block.starts_at, block.ends_at) == (at_deadline, at_deadline + timedelta(days=7))
    assert block.compliance_deadline == at_deadline + timedelta(days=7)
    assert block.cause == f"ladder:{SLUG}:{merchant_b.pk}:12:after:{warning.pk}"
    assert status_of(merchant_b) == ("store_blocked", block.ends_at, False)
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.SANCTION).count() == 1
    assert run_escalation()["issued"] == 0


# --- 6. expiry ----------------------------------------------------------------------------------


def test_a_block_expires_at_its_end_and_the_merchant_is_active_again(
    after_grace, announced_policy, merchant_b, violate
):
    warning = warn_through_the_ladder(after_grace, merchant_b, violate)
    violate(merchant_b, 4)
    assert run_escalation()["issued"] == 1
    block = latest_sanction(merchant_b)
    assert status_of(merchant_b) == ("store_blocked", block.ends_at, False)

    after_grace.to(block.ends_at - timedelta(seconds=1))
    assert run_escalation() == {"expired": 0, "issued": 0}
    sweep = after_grace.to(block.ends_at + timedelta(minutes=1))  # the beat comes a little after the end
    status_events = events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant_b).count()
    assert run_escalation() == {"expired": 1, "issued": 0}

    block.refresh_from_db()
    assert (block.status, block.ended_at, block.ended_by_name) == ("expired", block.ends_at, "task:run_escalation")
    assert status_of(merchant_b) == ("active", None, False)
    expired = events(AuditVerb.SANCTION_EXPIRED).get()
    assert (expired.target_id, expired.merchant_id, expired.policy_id, expired.occurred_at) == (
        block.pk,
        merchant_b.pk,
        announced_policy.pk,
        sweep,
    )
    assert (expired.before, expired.after, expired.actor_name) == (
        {"status": "active"},
        {"status": "expired"},
        "task:run_escalation",
    )
    changed = events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant_b)
    assert changed.count() == status_events + 1
    assert changed.latest("id").before == {"status": "store_blocked", "until": block.ends_at.isoformat()}
    assert changed.latest("id").after == {"status": "active", "until": None, "payouts_held": False}
    ended = Notice.objects.get(kind=Notice.Kind.SANCTION_ENDED)
    assert (ended.merchant, ended.policy, ended.dedupe_key, ended.restricts) == (
        merchant_b,
        announced_policy,
        f"sanction:{block.pk}:ended",
        False,
    )
    assert f"It ended on {shown(announced_policy, sweep)} (Asia/Shanghai)." in ended.body
    assert "Its time ran out." in ended.body
    warning.refresh_from_db()
    assert warning.status == "active"  # a warning has no end
    assert run_escalation() == {"expired": 0, "issued": 0}
    assert Notice.objects.filter(kind=Notice.Kind.SANCTION_ENDED).count() == 1


def test_listings_delisted_by_a_freeze_stay_delisted_when_it_expires(
    after_grace, announced_policy, merchant_b, violate, make_listing, graphics_cards
):
    shop = [make_listing(merchant_b, graphics_cards, title=f"RTX 3080 graphics card #{n}") for n in range(2)]
    warn_through_the_ladder(after_grace, merchant_b, violate)
    violate(merchant_b, 28)  # 36 points
    frozen_at = after_grace.now()
    assert run_escalation()["issued"] == 1
    freeze = latest_sanction(merchant_b)
    assert (freeze.kind, freeze.step.threshold, freeze.delists_all) == ("account_freeze", 36, True)
    assert freeze.ends_at == frozen_at + timedelta(days=21)
    assert status_of(merchant_b) == ("frozen", freeze.ends_at, True)
    delisted = list(Listing.objects.filter(pk__in=[listing.pk for listing in shop]).order_by("pk"))
    assert {(x.status, x.previous_status, x.delisted_by_sanction_id, x.delisted_at) for x in delisted} == {
        ("delisted", "live", freeze.pk, frozen_at)
    }
    assert events(AuditVerb.SANCTION_ISSUED, target_id=freeze.pk).get().after["listings_delisted"] == 2

    after_grace.to(freeze.ends_at)
    assert run_escalation() == {"expired": 1, "issued": 0}
    freeze.refresh_from_db()
    assert (freeze.status, freeze.ended_at) == ("expired", freeze.ends_at)
    assert status_of(merchant_b) == ("active", None, False)
    after = list(Listing.objects.filter(pk__in=[listing.pk for listing in shop]).order_by("pk"))
    assert [(x.status, x.delisted_by_sanction_id, x.updated_at) for x in after] == [
        (x.status, x.delisted_by_sanction_id, x.updated_at) for x in delisted
    ]
    assert not visible_listings().filter(merchant=merchant_b).exists()
    ended = Notice.objects.get(dedupe_key=f"sanction:{freeze.pk}:ended")
    assert "The listings removed with this account freeze are not restored by its end" in ended.body


# --- 7. the merchant's status -----------------------------------------------------------------------


def test_the_status_follows_the_most_severe_active_sanction(after_grace, announced_policy, merchant_b, senior, system):
    now = after_grace.now()

    def changes():
        return events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant_b)

    manual(senior, merchant_b, announced_policy, "warning")
    assert status_of(merchant_b) == ("active", None, False)
    assert not changes().exists()  # a warning changes nothing

    block = manual(senior, merchant_b, announced_policy, "store_block", 14)
    assert status_of(merchant_b) == ("store_blocked", now + timedelta(days=14), False)
    assert changes().count() == 1

    freeze = manual(senior, merchant_b, announced_policy, "account_freeze", 3)
    assert status_of(merchant_b) == ("frozen", now + timedelta(days=3), True)  # the freeze's end, not the block's
    assert changes().count() == 2
    assert changes().latest("id").before == {"status": "store_blocked", "until": block.ends_at.isoformat()}
    assert changes().latest("id").after == {
        "status": "frozen",
        "until": freeze.ends_at.isoformat(),
        "payouts_held": True,
    }

    assert recompute_enforcement_status([merchant_b.pk], actor=system) == 0
    assert changes().count() == 2  # nothing changed, nothing recorded

    after_grace.by(timedelta(hours=1))
    lift_sanction(actor=senior, sanction=freeze, reason=LIFT_REASON)
    assert status_of(merchant_b) == ("store_blocked", block.ends_at, False)
    assert changes().count() == 3
    lifted = changes().latest("id")
    assert (lifted.after, lifted.actor, lifted.reason) == (
        {"status": "store_blocked", "until": block.ends_at.isoformat(), "payouts_held": False},
        senior,
        "A sanction ended (sanction lifted).",
    )

    manual(senior, merchant_b, announced_policy, "account_closure")
    assert status_of(merchant_b) == ("closed", None, True)  # the closure wins, with no end
    assert changes().count() == 4


def test_of_two_blocks_the_later_end_counts_and_an_unchanged_status_is_not_recorded(
    after_grace, announced_policy, merchant_b, senior
):
    manual(senior, merchant_b, announced_policy, "warning")
    longer = manual(senior, merchant_b, announced_policy, "store_block", 14)
    manual(senior, merchant_b, announced_policy, "store_block", 7)
    assert status_of(merchant_b) == ("store_blocked", longer.ends_at, False)
    assert events(AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant_b).count() == 1


def test_recomputing_repairs_a_stale_status_and_records_the_change(
    after_grace, announced_policy, merchant_a, merchant_b, system
):
    stale_until = after_grace.now() + timedelta(days=3)
    Merchant.objects.filter(pk=merchant_b.pk).update(
        enforcement_status="frozen", enforcement_until=stale_until, payouts_held=True
    )
    assert recompute_enforcement_status([], actor=system) == 0
    assert recompute_enforcement_status([merchant_a.pk, merchant_b.pk], actor=system, reason="Repair.") == 1
    assert status_of(merchant_b) == ("active", None, False)
    change = events(AuditVerb.ENFORCEMENT_STATUS_CHANGED).get()
    assert (change.merchant_id, change.actor_name, change.reason) == (merchant_b.pk, "task:tests", "Repair.")
    assert change.before == {"status": "frozen", "until": stale_until.isoformat()}
    assert change.after == {"status": "active", "until": None, "payouts_held": False}


# --- 8. manual sanctions -------------------------------------------------------------------------


@pytest.fixture
def warned(after_grace, announced_policy, merchant_b, senior, take_down):
    """Merchant B: 4 points and a senior moderator's warning on record."""
    take_down(merchant_b)
    take_down(merchant_b)
    return manual(senior, merchant_b, announced_policy, "warning")


def test_a_senior_moderator_issues_a_store_block_with_its_record(after_grace, announced_policy, merchant_b, senior,
                                                                 warned):  # fmt: skip
    now = after_grace.now()
    block = manual(senior, merchant_b, announced_policy, "store_block", 7, reason=f"  {REASON}  ")
    assert (block.kind, block.status, block.step, block.automated) == ("store_block", "active", None, False)
    assert (block.starts_at, block.ends_at, block.compliance_deadline) == (now, now + timedelta(days=7), None)
    assert (block.issued_by, block.issued_by_name, block.reason, block.points) == (senior, "senior", REASON, 4)
    assert block.cause.startswith("manual:")
    assert set(block.violations.all()) == set(Violation.objects.filter(merchant=merchant_b))
    issued = events(AuditVerb.SANCTION_ISSUED, target_id=block.pk).get()
    assert (issued.actor, issued.merchant_id, issued.policy_id, issued.reason) == (
        senior,
        merchant_b.pk,
        announced_policy.pk,
        REASON,
    )
    ends_at = DjangoJSONEncoder().default(block.ends_at)
    assert issued.after == {"kind": "store_block", "ends_at": ends_at, "points": 4, "manual": True}
    notice = Notice.objects.get(dedupe_key=f"sanction:{block.pk}")
    assert (notice.kind, notice.restricts) == (Notice.Kind.SANCTION, True)
    assert notice.appeal_deadline == now + timedelta(days=180)
    assert status_of(merchant_b) == ("store_blocked", block.ends_at, False)


def test_a_plain_moderator_cannot_issue_or_lift_a_sanction(
    after_grace, announced_policy, merchant_b, moderator, senior, warned
):
    before = written()
    error = refused(manual, actor=moderator, merchant=merchant_b, policy=announced_policy, kind="warning")
    assert error.messages == ["Only senior moderators issue or lift sanctions."]
    error = refused(lift_sanction, actor=moderator, sanction=warned, reason=LIFT_REASON)
    assert error.messages == ["Only senior moderators issue or lift sanctions."]
    assert written() == before
    warned.refresh_from_db()
    assert warned.status == "active"


@pytest.mark.parametrize(
    ("kind", "reason", "days", "field"),
    [
        pytest.param("store_block", "Too short.", 7, "reason", id="reason under 20 characters"),
        pytest.param("store_block", "                         x", 7, "reason", id="reason of blanks"),
        pytest.param("store_block", REASON, None, "duration_days", id="block without a duration"),
        pytest.param("account_freeze", REASON, 0, "duration_days", id="freeze of 0 days"),
        pytest.param("store_block", REASON, 366, "duration_days", id="block over 365 days"),
        pytest.param("warning", REASON, 7, "duration_days", id="warning with a duration"),
        pytest.param("account_closure", REASON, 30, "duration_days", id="closure with a duration"),
        pytest.param("demotion", REASON, None, "kind", id="unknown kind"),
    ],
)
def test_a_manual_sanction_with_bad_input_is_refused_writing_nothing(
    after_grace, announced_policy, merchant_b, senior, warned, kind, reason, days, field
):
    before = written()
    error = refused(
        manual, actor=senior, merchant=merchant_b, policy=announced_policy, kind=kind, days=days, reason=reason
    )
    assert field in error.message_dict
    assert written() == before
    assert status_of(merchant_b) == ("active", None, False)


@pytest.mark.parametrize(
    ("kind", "days"), [("store_block", 7), ("account_freeze", 21), ("account_closure", None)]
)  # fmt: skip
def test_a_suspension_without_a_warning_on_record_is_refused_naming_the_warning(
    after_grace, announced_policy, merchant_b, senior, take_down, kind, days
):
    take_down(merchant_b)
    before = written()
    error = refused(manual, actor=senior, merchant=merchant_b, policy=announced_policy, kind=kind, days=days)
    assert list(error.message_dict) == ["kind"]
    assert "No warning is on record" in error.message_dict["kind"][0]
    assert "issue a warning first" in error.message_dict["kind"][0]
    assert written() == before
    assert status_of(merchant_b) == ("active", None, False)


def test_a_warning_that_has_lapsed_does_not_count_as_on_record(after_grace, announced_policy, merchant_b, senior):
    manual(senior, merchant_b, announced_policy, "warning")
    after_grace.by(timedelta(days=366))
    before = written()
    error = refused(manual, actor=senior, merchant=merchant_b, policy=announced_policy, kind="store_block", days=7)
    assert "kind" in error.message_dict
    assert written() == before


def test_a_listing_restriction_needs_no_prior_warning(after_grace, announced_policy, merchant_b, senior):
    restriction = manual(senior, merchant_b, announced_policy, "listing_restriction", 5)
    assert (restriction.kind, restriction.status) == ("listing_restriction", "active")
    assert status_of(merchant_b) == ("active", None, False)  # the store stays open


def test_no_manual_sanction_under_a_policy_not_yet_in_effect(travel, announced_policy, merchant_b, senior):
    travel.to(EFFECTIVE - timedelta(hours=1))
    before = written()
    error = refused(manual, actor=senior, merchant=merchant_b, policy=announced_policy, kind="warning")
    assert list(error.message_dict) == ["policy"]
    assert written() == before


def test_a_closed_account_cannot_be_closed_again(after_grace, announced_policy, merchant_b, senior, warned):
    manual(senior, merchant_b, announced_policy, "account_closure")
    before = written()
    error = refused(manual, actor=senior, merchant=merchant_b, policy=announced_policy, kind="account_closure")
    assert error.message_dict == {"kind": ["This account is closed already."]}
    assert written() == before


def test_lifting_a_sanction_no_longer_active_is_refused(after_grace, announced_policy, merchant_b, senior, warned):
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    lifted = lift_sanction(actor=senior, sanction=block, reason=f" {LIFT_REASON} ")
    assert (lifted.status, lifted.ended_at, lifted.ended_by_name, lifted.end_reason) == (
        "lifted",
        after_grace.now(),
        "senior",
        LIFT_REASON,
    )
    assert events(AuditVerb.SANCTION_LIFTED, target_id=block.pk).get().after == {"status": "lifted"}
    assert Notice.objects.filter(dedupe_key=f"sanction:{block.pk}:ended").count() == 1
    before = written()
    error = refused(lift_sanction, actor=senior, sanction=block, reason=LIFT_REASON)
    assert error.messages == ["This sanction is not active any more."]
    assert written() == before

    expiring = manual(senior, merchant_b, announced_policy, "store_block", 1)
    after_grace.by(timedelta(days=1))
    assert run_escalation()["expired"] == 1
    before = written()
    assert refused(lift_sanction, actor=senior, sanction=expiring, reason=LIFT_REASON).messages == [
        "This sanction is not active any more."
    ]
    assert written() == before
    expiring.refresh_from_db()
    assert expiring.status == "expired"


def test_lifting_without_a_reason_is_refused(after_grace, announced_policy, merchant_b, senior, warned):
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    before = written()
    assert "reason" in refused(lift_sanction, actor=senior, sanction=block, reason="   sorry   ").message_dict
    assert written() == before
    block.refresh_from_db()
    assert block.status == "active"
    assert status_of(merchant_b) == ("store_blocked", block.ends_at, False)


# --- 9. effects in the catalog -------------------------------------------------------------------


@pytest.fixture
def shop(after_grace, merchant_b, make_listing, graphics_cards):
    return make_listing(merchant_b, graphics_cards, title="RTX 3080 graphics card")


def listing_row(listing) -> tuple:
    return Listing.objects.filter(pk=listing.pk).values_list("status", "title", "price", "updated_at").get()


def test_a_blocked_store_cannot_create_or_edit_listings(
    after_grace, announced_policy, merchant_b, senior, warned, shop, graphics_cards
):
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    merchant_b.refresh_from_db()
    row, listings, created_events = listing_row(shop), Listing.objects.count(), events(AuditVerb.LISTING_CREATED)
    created_before = created_events.count()

    with pytest.raises(MerchantRestricted) as error:
        catalog.create_listing(
            actor=merchant_b.user, merchant=merchant_b, category=graphics_cards, title="RX 6800", price=Decimal("579")
        )
    assert isinstance(error.value, PermissionDenied)
    message = str(error.value)
    assert message.startswith(f"Store blocked until {block.ends_at:%Y-%m-%d %H:%M} UTC")
    assert f"under the policy “{POLICY_TITLE}” (sanction #{block.pk})" in message

    with pytest.raises(MerchantRestricted, match=f"sanction #{block.pk}"):
        catalog.edit_listing(actor=merchant_b.user, listing=shop, price=Decimal("1"))

    assert (Listing.objects.count(), created_events.count()) == (listings, created_before)
    assert listing_row(shop) == row
    assert not events(AuditVerb.LISTING_EDITED).exists()


def test_a_blocked_store_may_still_take_its_own_listing_down(
    after_grace, announced_policy, merchant_b, senior, warned, shop
):
    manual(senior, merchant_b, announced_policy, "store_block", 7)
    removed = catalog.remove_listing_by_seller(actor=merchant_b.user, listing=shop)
    assert removed.status == Listing.Status.REMOVED_BY_SELLER
    assert events(AuditVerb.LISTING_REMOVED_BY_SELLER, target_id=shop.pk).count() == 1


def test_a_frozen_account_cannot_take_its_own_listing_down(
    after_grace, announced_policy, merchant_b, senior, warned, shop
):
    freeze = manual(senior, merchant_b, announced_policy, "account_freeze", 21)
    row = listing_row(shop)
    with pytest.raises(MerchantRestricted, match=f"Account frozen until .* \\(sanction #{freeze.pk}\\)"):
        catalog.remove_listing_by_seller(actor=merchant_b.user, listing=shop)
    assert listing_row(shop) == row
    assert not events(AuditVerb.LISTING_REMOVED_BY_SELLER).exists()


def test_a_blocked_merchants_listings_are_hidden_without_changing_them(
    after_grace, announced_policy, merchant_a, merchant_b, senior, warned, shop, make_listing, graphics_cards
):
    other = make_listing(merchant_a, graphics_cards, title="RX 6800 graphics card")
    assert set(visible_listings()) == {shop, other}
    row = listing_row(shop)
    after_grace.by(timedelta(minutes=5))
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    assert set(visible_listings()) == {other}
    assert listing_row(shop) == row == ("live", "RTX 3080 graphics card", Decimal("2399.00"), row[3])

    after_grace.by(timedelta(minutes=5))
    lift_sanction(actor=senior, sanction=block, reason=LIFT_REASON)
    assert set(visible_listings()) == {shop, other}
    assert listing_row(shop) == row


def test_a_listing_restriction_stops_new_listings_but_leaves_the_store_visible(
    after_grace, announced_policy, merchant_b, senior, shop, graphics_cards
):
    restriction = manual(senior, merchant_b, announced_policy, "listing_restriction", 5)
    with pytest.raises(MerchantRestricted, match=f"Listing restriction until .* \\(sanction #{restriction.pk}\\)"):
        catalog.create_listing(
            actor=merchant_b.user, merchant=merchant_b, category=graphics_cards, title="RX 6800", price=Decimal("579")
        )
    assert set(visible_listings()) == {shop}


def test_once_the_block_expires_the_merchant_sells_again(
    after_grace, announced_policy, merchant_b, senior, warned, graphics_cards
):
    manual(senior, merchant_b, announced_policy, "store_block", 7)
    after_grace.by(timedelta(days=7))
    assert run_escalation()["expired"] == 1
    merchant_b.refresh_from_db()
    listing = catalog.create_listing(
        actor=merchant_b.user, merchant=merchant_b, category=graphics_cards, title="RX 6800", price=Decimal("579")
    )
    assert listing in visible_listings()


# --- 10. re-listing a banned product -----------------------------------------------------------------


def attempt(merchant, category, title="Antminer S19 Pro 110TH/s") -> ValidationError:
    before = Listing.objects.count()
    with pytest.raises(ValidationError) as error:
        catalog.create_listing(actor=merchant.user or SystemActor("tests"), merchant=merchant, category=category,
                               title=title, price=Decimal("2399"))  # fmt: skip
    assert Listing.objects.count() == before  # nothing saved
    return error.value


def test_listing_a_banned_product_after_grace_is_refused_and_recorded_as_an_attempt(
    after_grace, announced_policy, mining_rules, merchant_b, graphics_cards
):
    error = attempt(merchant_b, graphics_cards)
    violation = Violation.objects.get(merchant=merchant_b)
    assert error.message_dict == {
        "title": [
            f"This listing offers a product banned under the policy “{POLICY_TITLE}”, clause 1 "
            f"(“{violation.clause.title}”): see its title. It was not saved; the attempt is recorded "
            f"(violation #{violation.pk})."
        ]
    }
    assert (violation.kind, violation.listing, violation.policy, violation.clause.number) == (
        "relist_attempt",
        None,
        announced_policy,
        1,
    )
    assert (violation.automated_detection, violation.automated_decision) == (True, True)
    assert (violation.points, violation.points_capped, violation.counts_toward_sanctions) == (2, False, True)
    assert (violation.decided_by, violation.decided_by_name, violation.decided_at) == (
        None,
        "task:listing_refusal",
        after_grace.now(),
    )
    assert violation.evidence["title"] == "Antminer S19 Pro 110TH/s"
    assert events(AuditVerb.VIOLATION_RECORDED, target_id=violation.pk).get().after["points"] == 2
    notice = Notice.objects.get(merchant=merchant_b)
    assert (notice.kind, notice.dedupe_key, notice.restricts, notice.policy) == (
        Notice.Kind.LISTING_REFUSED,
        f"violation:{violation.pk}",
        True,
        announced_policy,
    )
    assert notice.transparency["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert not events(AuditVerb.LISTING_CREATED, merchant=merchant_b).exists()
    assert notice.subject == "Statement of reasons: your listing “Antminer S19 Pro 110TH/s” was refused"
    assert "This attempt added 2 penalty points; your account now holds 2 points under this policy." in notice.body


def test_a_banned_listing_in_grace_is_refused_but_costs_no_points(
    in_grace, announced_policy, mining_rules, merchant_b, graphics_cards
):
    attempt(merchant_b, graphics_cards)
    violation = Violation.objects.get(merchant=merchant_b)
    assert (violation.kind, violation.points, violation.counts_toward_sanctions) == ("relist_attempt", 0, False)
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_REFUSED).count() == 1


def test_editing_a_listing_into_a_banned_product_is_refused_and_recorded_against_it(
    after_grace, announced_policy, mining_rules, merchant_b, shop
):
    row = listing_row(shop)
    with pytest.raises(ValidationError) as error:
        catalog.edit_listing(actor=merchant_b.user, listing=shop, title="Whatsminer M30S 88TH/s")
    assert "title" in error.value.message_dict
    violation = Violation.objects.get(merchant=merchant_b)
    assert (violation.kind, violation.listing, violation.points) == ("relist_attempt", shop, 2)
    assert listing_row(shop) == row


def test_repeated_attempts_add_up_uncapped_and_cross_a_step(
    after_grace, announced_policy, mining_rules, merchant_b, graphics_cards
):
    for n in range(4):
        attempt(merchant_b, graphics_cards, title=f"Whatsminer M30S #{n}")
    attempts = list(Violation.objects.filter(merchant=merchant_b))
    assert [(v.kind, v.points) for v in attempts] == [("relist_attempt", 2)] * 4
    assert merchant_points(merchant_b, policy=announced_policy) == 8  # above the daily cap of 6
    assert Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_REFUSED).count() == 4
    last = Notice.objects.filter(merchant=merchant_b, kind=Notice.Kind.LISTING_REFUSED).latest("id")
    assert "your account now holds 8 points under this policy" in last.body

    after_grace.by(timedelta(minutes=1))
    assert run_escalation()["issued"] == 1
    warning = latest_sanction(merchant_b)
    assert (warning.kind, warning.step.threshold, warning.points) == ("warning", 6, 8)
    assert set(warning.violations.all()) == set(attempts)


def test_an_attempt_during_a_sanction_moves_the_merchant_up_at_its_deadline(
    after_grace, announced_policy, mining_rules, merchant_b, merchant_d, graphics_cards
):
    for merchant in (merchant_b, merchant_d):
        for n in range(3):
            attempt(merchant, graphics_cards, title=f"Antminer S19 #{n}")
    after_grace.by(timedelta(minutes=1))
    assert run_escalation()["issued"] == 2
    warning_b, warning_d = latest_sanction(merchant_b), latest_sanction(merchant_d)
    assert warning_b.compliance_deadline == warning_d.compliance_deadline

    after_grace.by(timedelta(days=1))
    attempt(merchant_b, graphics_cards, title="Antminer S21")  # 8 points: not enough for the block
    assert merchant_points(merchant_b, policy=announced_policy) == 8
    after_grace.to(warning_b.compliance_deadline - timedelta(seconds=1))
    assert run_escalation()["issued"] == 0

    after_grace.to(warning_b.compliance_deadline)
    assert run_escalation()["issued"] == 1  # merchant D stopped in time
    block = latest_sanction(merchant_b)
    assert (block.kind, block.step.threshold, block.points, block.previous) == ("store_block", 12, 8, warning_b)
    assert latest_sanction(merchant_d) == warning_d
    assert block.reason.startswith(f"your account held 8 penalty points under “{POLICY_TITLE}”")
    assert block.reason.endswith("the ladder moves one step up, to “Store blocked”.")


# --- 11. idempotency ----------------------------------------------------------------------------------


def test_a_second_sweep_issues_nothing_and_writes_nothing(after_grace, announced_policy, merchant_b, violate):
    violate(merchant_b, 8)
    after_grace.by(timedelta(minutes=1))
    assert run_escalation() == {"expired": 0, "issued": 1}
    before = written()
    assert run_escalation() == {"expired": 0, "issued": 0}
    after_grace.by(timedelta(hours=1))
    assert run_escalation() == {"expired": 0, "issued": 0}
    assert written() == before
    assert events(AuditVerb.SANCTION_ISSUED).count() == 1


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 6])
def test_the_ranges_hold_every_merchant_with_points_or_a_standing_sanction_once(
    after_grace, announced_policy, marketplace, system, violate, chunk_size
):
    merchants = [
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Store {n}",
            company_name=f"Store {n} Co., Ltd.",
            country="CN",
            contact_email=f"store{n}@example.com",
        )
        for n in range(6)
    ]
    violate(merchants[0], 8)
    assert run_escalation()["issued"] == 1
    after_grace.by(timedelta(days=366))  # its points lapse, its warning stands
    for merchant in merchants[1:5]:  # and the last one holds neither
        violate(merchant, 4)
    held = sorted(merchant.pk for merchant in merchants[:5])
    expected = [(held[i], held[min(i + chunk_size, len(held)) - 1]) for i in range(0, len(held), chunk_size)]
    assert escalation_chunks(policy=announced_policy, at=after_grace.now(), chunk_size=chunk_size) == expected


def test_escalating_the_same_range_twice_issues_once(after_grace, announced_policy, merchant_b, merchant_d, violate):
    violate(merchant_b, 8)
    violate(merchant_d, 4)  # not due
    at = after_grace.by(timedelta(minutes=1))
    ((first_id, last_id),) = escalation_chunks(policy=announced_policy, at=at)
    assert (first_id, last_id) == (min(merchant_b.pk, merchant_d.pk), max(merchant_b.pk, merchant_d.pk))
    assert escalate_range(policy=announced_policy, first_id=first_id, last_id=last_id, at=at) == 1
    before = written()
    assert escalate_range(policy=announced_policy, first_id=first_id, last_id=last_id, at=at) == 0
    assert written() == before
    assert list(Sanction.objects.values_list("merchant_id", flat=True)) == [merchant_b.pk]


def test_the_database_refuses_a_second_sanction_with_the_same_cause(after_grace, announced_policy, merchant_b, violate):
    violate(merchant_b, 8)
    assert run_escalation()["issued"] == 1
    warning = latest_sanction(merchant_b)
    duplicate = Sanction(
        merchant=merchant_b,
        policy=announced_policy,
        step=warning.step,
        kind=warning.kind,
        cause=warning.cause,
        issued_by_name="tests",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert Sanction.objects.count() == 1


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(timedelta(0), id="same instant"),
        pytest.param(timedelta(seconds=1), id="a second later"),
    ],
)
def test_writing_a_due_sanction_already_issued_writes_nothing_more(
    after_grace, announced_policy, merchant_b, violate, later
):
    """What ``cause`` guards: a sweep whose ledger was read before another one's sanction was written."""
    violate(merchant_b, 8)
    at = after_grace.by(timedelta(minutes=1))
    ladder = ladder_of(announced_policy)
    row = read_ledger(policy=announced_policy, merchant_ids=[merchant_b.pk], at=at)[merchant_b.pk]
    due = decide(row, policy=announced_policy, ladder=ladder, at=at)
    assert len(write_sanctions([due], policy=announced_policy, ladder=ladder, at=at, actor=ESCALATION_ACTOR)) == 1
    before = written()
    again = write_sanctions([due], policy=announced_policy, ladder=ladder, at=at + later, actor=ESCALATION_ACTOR)
    assert again == []
    assert written() == before


# --- 12. two sweeps at once (PostgreSQL: SKIP LOCKED) ---------------------------------------------------


@pytest.fixture
def committed_merchants_due(transactional_db, travel, announced_policy, marketplace, system):
    """30 committed merchants with 8 points each and nothing issued yet (their own escalation is held back)."""
    travel.to(AFTER_GRACE)
    merchants = [
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Miner shop {n:02}",
            company_name=f"Miner shop {n:02} Ltd.",
            country="CN",
            contact_email=f"shop{n}@miners.example",
        )
        for n in range(30)
    ]
    with mock.patch.object(tasks.escalate_merchants, "delay") as escalate_later:
        for merchant in merchants:
            with transaction.atomic():
                for _ in range(2):
                    record_violation(
                        actor=system,
                        merchant_id=merchant.pk,
                        policy=announced_policy,
                        kind=Violation.Kind.KEYWORD_EVASION,
                        clause=None,
                        automated_detection=False,
                        automated_decision=False,
                        evidence={"title": "Antm1ner S19"},
                    )
    assert escalate_later.call_count == 60
    assert not Sanction.objects.exists()
    travel.by(timedelta(minutes=1))
    return merchants


@pytest.mark.postgres
def test_two_sweeps_at_once_issue_one_sanction_per_merchant(committed_merchants_due):
    results = run_in_threads(lambda: run_escalation(chunk_size=4), [(), ()])
    assert sum(result["issued"] for result in results) == 30
    per_merchant = {}
    for merchant_id, kind in Sanction.objects.values_list("merchant_id", "kind"):
        per_merchant.setdefault(merchant_id, []).append(kind)
    assert per_merchant == {merchant.pk: ["warning"] for merchant in committed_merchants_due}
    sanction_ids = sorted(Sanction.objects.values_list("pk", flat=True))
    issued = events(AuditVerb.SANCTION_ISSUED)
    assert sorted(issued.values_list("target_id", flat=True)) == sanction_ids
    notices = Notice.objects.filter(kind=Notice.Kind.WARNING)
    assert sorted(notices.values_list("dedupe_key", flat=True)) == sorted(f"sanction:{pk}" for pk in sanction_ids)
    assert run_escalation() == {"expired": 0, "issued": 0}


# --- 13. the statement of reasons of a sanction ------------------------------------------------------------


def common_fields(notice: Notice, automated_decision: str) -> None:
    fields = notice.transparency
    assert fields["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert fields["content_type"] == ["CONTENT_TYPE_PRODUCT"]
    assert fields["automated_decision"] == automated_decision
    assert fields["puid"] == notice.puid
    assert notice.restricts


@pytest.mark.parametrize(
    ("more_points", "kind", "measure"),
    [
        pytest.param(4, "store_block", {"decision_provision": PROVISION_TOTAL_SUSPENSION}, id="12: store block"),
        pytest.param(
            28,
            "account_freeze",
            {
                "decision_provision": PROVISION_TOTAL_SUSPENSION,
                "decision_monetary": MONETARY_SUSPENSION,
                "decision_account": ACCOUNT_SUSPENDED,
                "decision_visibility": [VISIBILITY_REMOVED],
            },
            id="36: account freeze",
        ),
        pytest.param(
            40,
            "account_closure",
            {"decision_provision": PROVISION_TOTAL_TERMINATION, "decision_account": ACCOUNT_TERMINATED},
            id="48: account closure",
        ),
    ],
)
def test_a_ladder_sanctions_notice_carries_its_transparency_fields(
    after_grace, announced_policy, merchant_b, violate, make_listing, graphics_cards, more_points, kind, measure
):
    make_listing(merchant_b, graphics_cards, title="RTX 3080 graphics card")
    warning = warn_through_the_ladder(after_grace, merchant_b, violate)
    violate(merchant_b, more_points)
    assert run_escalation()["issued"] == 1
    sanction = latest_sanction(merchant_b)
    assert sanction.kind == kind
    notice = Notice.objects.get(dedupe_key=f"sanction:{sanction.pk}")
    assert (notice.kind, notice.merchant, notice.policy) == (Notice.Kind.SANCTION, merchant_b, announced_policy)
    assert notice.appeal_deadline == sanction.starts_at + timedelta(days=180)
    common_fields(notice, "AUTOMATED_DECISION_PARTIALLY")
    fields = notice.transparency
    assert {key: fields.get(key) for key in measure} == measure
    end = sanction.ends_at.date().isoformat() if sanction.ends_at else None
    assert fields["end_date_service_restriction"] == end
    if kind == "account_freeze":
        assert (fields["end_date_monetary_restriction"], fields["end_date_account_restriction"]) == (end, end)
    else:
        assert "decision_visibility" not in fields
    assert str(sanction.points) in fields["decision_facts"]

    warning_notice = Notice.objects.get(dedupe_key=f"sanction:{warning.pk}")
    assert warning_notice.kind == Notice.Kind.WARNING
    common_fields(warning_notice, "AUTOMATED_DECISION_PARTIALLY")
    assert warning_notice.transparency["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    assert "decision_provision" not in warning_notice.transparency
    assert warning_notice.puid != notice.puid


def test_a_manual_sanctions_notice_says_a_person_decided(after_grace, announced_policy, merchant_b, senior, warned):
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    closure = manual(senior, merchant_b, announced_policy, "account_closure")
    notices = {n.dedupe_key: n for n in Notice.objects.filter(kind__in=[Notice.Kind.WARNING, Notice.Kind.SANCTION])}
    assert set(notices) == {f"sanction:{s.pk}" for s in (warned, block, closure)}
    for notice in notices.values():
        common_fields(notice, "AUTOMATED_DECISION_NOT_AUTOMATED")
    assert len({notice.puid for notice in notices.values()}) == 3
    block_fields = notices[f"sanction:{block.pk}"].transparency
    assert (block_fields["decision_provision"], block_fields["end_date_service_restriction"]) == (
        PROVISION_TOTAL_SUSPENSION,
        block.ends_at.date().isoformat(),
    )
    closure_fields = notices[f"sanction:{closure.pk}"].transparency
    assert (closure_fields["decision_provision"], closure_fields["decision_account"]) == (
        PROVISION_TOTAL_TERMINATION,
        ACCOUNT_TERMINATED,
    )
    assert "a senior moderator applied" in block_fields["decision_facts"]
    assert REASON in block_fields["decision_facts"]


def test_a_freeze_that_removed_no_listing_does_not_declare_content_removed(
    after_grace, announced_policy, merchant_b, violate
):
    warn_through_the_ladder(after_grace, merchant_b, violate)
    violate(merchant_b, 28)  # every listing of merchant B was taken down already
    assert run_escalation()["issued"] == 1
    freeze = latest_sanction(merchant_b)
    assert freeze.kind == "account_freeze"
    assert events(AuditVerb.SANCTION_ISSUED, target_id=freeze.pk).get().after["listings_delisted"] == 0
    fields = Notice.objects.get(dedupe_key=f"sanction:{freeze.pk}").transparency
    assert fields["decision_account"] == ACCOUNT_SUSPENDED
    assert "decision_visibility" not in fields


@pytest.mark.parametrize(
    ("more_points", "measure", "subject"),
    [
        pytest.param(
            4,
            ["from  12 points: Store blocked, 7 days   <- this measure"],
            "Statement of reasons: your store on Alibaba.com is blocked until {end}",
            id="12: store block",
        ),
        pytest.param(
            28,
            [
                "from  36 points: Account frozen, 21 days, all live listings removed   <- this measure",
                "All 1 live listing of your store was removed with this measure",
                "your payouts are held",
            ],
            "Statement of reasons: your account on Alibaba.com is frozen until {end}",
            id="36: account freeze",
        ),
        pytest.param(
            40,
            ["from  48 points: Account closed   <- this measure", "The closure is permanent", "Next step: none"],
            "Statement of reasons: your account on Alibaba.com is closed",
            id="48: account closure",
        ),
    ],
)
def test_a_ladder_sanctions_notice_tells_the_points_the_measure_its_end_and_how_to_appeal(
    after_grace, announced_policy, merchant_b, violate, make_listing, graphics_cards, more_points, measure, subject
):
    make_listing(merchant_b, graphics_cards, title="RTX 3080 graphics card")
    warn_through_the_ladder(after_grace, merchant_b, violate)
    violate(merchant_b, more_points)
    assert run_escalation()["issued"] == 1
    sanction = latest_sanction(merchant_b)
    notice = Notice.objects.get(dedupe_key=f"sanction:{sanction.pk}")
    start, end = shown(announced_policy, sanction.starts_at), None
    if sanction.ends_at:
        end = shown(announced_policy, sanction.ends_at)
        assert notice.subject == subject.format(end=end.split(",")[0])
        assert f"{sanction.get_kind_display()}, from {start} until {end} (Asia/Shanghai)." in notice.body
    else:
        assert notice.subject == subject
        assert f"{sanction.get_kind_display()}, from {start} (Asia/Shanghai)." in notice.body
    assert notice.language == "en"
    assert f"your account reached {sanction.points} penalty points under this policy" in notice.body
    assert f"Your points when this measure was issued: {sanction.points}." in notice.body
    for words in measure:
        assert words in notice.body
    appeal = shown(announced_policy, notice.appeal_deadline)
    assert f"You may appeal until {appeal} (Asia/Shanghai)" in notice.body
    assert f"decision “sanction-{sanction.pk}”" in notice.body


def test_a_warning_notice_tells_the_points_and_the_deadline_to_comply(
    after_grace, announced_policy, merchant_b, violate
):
    warning = warn_through_the_ladder(after_grace, merchant_b, violate)
    notice = Notice.objects.get(dedupe_key=f"sanction:{warning.pk}")
    assert notice.subject == f"Formal warning under {POLICY_TITLE}: your store on Alibaba.com may be restricted"
    assert f"A formal warning, recorded against your account on {shown(announced_policy, warning.starts_at)}" in (
        notice.body
    )
    assert "your account reached 8 penalty points under this policy" in notice.body
    assert "from   6 points: Warning   <- this warning" in notice.body
    assert f"By {shown(announced_policy, warning.compliance_deadline)} (Asia/Shanghai), remove every listing" in (
        notice.body
    )
    assert f"You may appeal until {shown(announced_policy, notice.appeal_deadline)} (Asia/Shanghai)" in notice.body


def test_a_prior_warnings_notice_says_the_points_already_reach_a_suspension(
    after_grace, announced_policy, merchant_b, violate
):
    violate(merchant_b, 12)
    after_grace.by(timedelta(minutes=1))
    assert run_escalation()["issued"] == 1
    warning = latest_sanction(merchant_b)
    body = Notice.objects.get(dedupe_key=f"sanction:{warning.pk}").body
    assert "Your points have already reached a step of the penalty ladder that restricts your store" in body
    assert f"it may apply from {shown(announced_policy, warning.compliance_deadline)} (Asia/Shanghai)" in body
    assert "from  12 points: Store blocked, 7 days   <- reached by your points" in body


def test_a_manual_sanctions_notice_gives_the_senior_moderators_reason(
    after_grace, announced_policy, merchant_b, senior, warned
):
    block = manual(senior, merchant_b, announced_policy, "store_block", 7)
    body = Notice.objects.get(dedupe_key=f"sanction:{block.pk}").body
    assert f"a senior moderator decided this measure. Their reason:\n  {REASON}" in body
    assert "Decision: taken by a senior moderator, not by automated means." in body
    assert f"until {shown(announced_policy, block.ends_at)} (Asia/Shanghai)" in body


def test_a_chinese_speaking_merchant_gets_the_sanction_in_chinese(after_grace, announced_policy, merchant_a, violate):
    assert merchant_a.language == "zh-hans"
    warning = warn_through_the_ladder(after_grace, merchant_a, violate)
    violate(merchant_a, 4)
    assert run_escalation()["issued"] == 1
    block = latest_sanction(merchant_a)
    notice = Notice.objects.get(dedupe_key=f"sanction:{block.pk}")
    end = shown_zh(announced_policy, block.ends_at)
    assert notice.language == "zh-hans"
    assert notice.subject == f"处理理由说明：您在 Alibaba.com 的店铺已被屏蔽，至 {end.split()[0]} 止"
    body = notice.body
    assert f"屏蔽店铺，自 {shown_zh(announced_policy, block.starts_at)} 起至 {end}（Asia/Shanghai）止。" in body
    assert "您的账户在本规则下的累计扣分已达 12 分" in body
    assert "作出本措施时您的累计扣分：12 分。" in body
    assert "满  12 分：屏蔽店铺 7 天   ← 本次措施" in body
    assert f"您可在 {shown_zh(announced_policy, notice.appeal_deadline)}（Asia/Shanghai）之前通过卖家 API" in body
    assert "Statement of reasons" not in notice.subject + body
    warning_notice = Notice.objects.get(dedupe_key=f"sanction:{warning.pk}")
    assert (warning_notice.language, warning_notice.subject) == (
        "zh-hans",
        f"正式警告：依据《{POLICY_TITLE}》，您在 Alibaba.com 的店铺可能受到限制",
    )
    assert "累计扣分已达 8 分" in warning_notice.body


def test_what_a_sanction_stores_is_english_whatever_the_moderators_language(
    after_grace, announced_policy, merchant_b, senior, warned
):
    # A senior moderator working in Chinese: the page is Chinese, the record is not.
    with translation.override("zh-hans"):
        block = manual(senior, merchant_b, announced_policy, "store_block", 7)
        lift_sanction(actor=senior, sanction=block, reason="Lifted after the merchant's call.")
    facts = Notice.objects.get(dedupe_key=f"sanction:{block.pk}").transparency["decision_facts"]
    assert "applied “Store blocked”" in facts or "applied “store blocked”" in facts.lower()
    events = AuditEvent.objects.filter(
        target_id=block.pk, verb__in=[AuditVerb.SANCTION_ISSUED, AuditVerb.SANCTION_LIFTED]
    )
    assert all(event.target_repr.isascii() for event in events), [e.target_repr for e in events]
    status_reasons = AuditEvent.objects.filter(verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED, merchant=merchant_b)
    assert all(event.reason.isascii() for event in status_reasons)
