"""An escalation sweep on two real workers that are killed mid-sweep: each sanction issued once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from moderation.demo import REFERENCE_CLAUSES, REFERENCE_LADDER, REFERENCE_POINTS
from moderation.models import AuditEvent, AuditVerb, Notice, Sanction, SanctionKind, Violation
from moderation.services import sanctions
from moderation.services.audit import SystemActor
from moderation.services.policies import announce_policy, create_policy, put_due_policies_in_effect
from moderation.services.violations import record_violation
from moderation.tasks import escalate_merchants, escalate_range, run_escalation, send_pending_notices
from sellers import services as catalog
from sellers.models import Merchant
from tests.chaos.conftest import assert_each_notice_mailed_once, kill_during, resend_after_lease, settle, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.broker, pytest.mark.postgres]

MERCHANTS = 300
RANGE_SIZE = 10  # merchants per escalate_range task: 30 tasks
KILLS = 3
# Per ten merchants, what the ladder (6: warning, 12: store block) owes each now.
WARNING_DUE = {0, 1, 2, 3}  # 8 points, nothing issued yet: the warning at 6
BLOCK_DUE = {4, 5, 6}  # 12 points, warned long ago and its time to comply is over: the store block at 12
PRIOR_WARNING_DUE = {7, 8}  # 12 points and never warned: a warning first (no suspension without one)
NOTHING_DUE = {9}  # 4 points


@pytest.fixture
def ledger(transactional_db):
    """A policy past its grace with the reference ladder, and 300 merchants with violations on record.

    Made through the services: violations recorded (their own escalation, queued after each,
    is held back: the sweep under test is to find them all due), and the warnings the block
    group got fifteen days ago issued by a sweep run then.
    """
    system = SystemActor("tests")
    now = timezone.now()
    marketplace = catalog.create_marketplace(
        actor=system, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    electronics = catalog.create_category(actor=system, name="Consumer Electronics")
    miners = catalog.create_category(actor=system, name="Blockchain Miners", parent=electronics)
    policy = create_policy(
        actor=system,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Virtual currency mining machines are prohibited on the marketplace.",
        marketplaces=[marketplace],
        categories=[miners],
        clauses=REFERENCE_CLAUSES,
        effective_at=now - timedelta(days=300),
        enforcement_starts_at=now - timedelta(days=290),
    )
    sanctions.set_penalty_rules(actor=system, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    policy = announce_policy(actor=system, policy=policy, announced_at=now - timedelta(days=310))
    put_due_policies_in_effect(actor=system)
    policy.refresh_from_db()
    clause = policy.clauses.get(number=1)
    merchants = [
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Rig Store {n}",
            company_name=f"Rig Trading {n} Co., Ltd.",
            country="CN",
            contact_email=f"rigs{n}@example.com",
            language=Merchant.Language.CHINESE if n % 3 else Merchant.Language.ENGLISH,
        )
        for n in range(MERCHANTS)
    ]
    group = {merchant.pk: n % 10 for n, merchant in enumerate(merchants)}

    def evasions(merchant_id: int, count: int, days_ago: int) -> None:
        for i in range(count):
            with transaction.atomic():  # the service locks the merchant: it runs in its caller's transaction
                record_violation(
                    actor=SystemActor("moderator"),
                    merchant_id=merchant_id,
                    policy=policy,
                    kind=Violation.Kind.KEYWORD_EVASION,  # 4 points, no daily cap
                    clause=clause,
                    automated_detection=False,
                    automated_decision=False,
                    evidence={"title": f"A.n.t.m.i.n.e.r S19 #{i}"},
                    at=now - timedelta(days=days_ago, minutes=i),
                )

    with mock.patch.object(escalate_merchants, "delay"):
        for merchant_id, g in group.items():
            if g in BLOCK_DUE:
                evasions(merchant_id, 2, days_ago=20)
        # Fifteen days ago a sweep warned them (3 days to comply) ...
        warned = sanctions.run_escalation(at=now - timedelta(days=15))
        assert warned == {"expired": 0, "issued": sum(1 for g in group.values() if g in BLOCK_DUE)}
        # ... and they went on: 12 points now. The others' violations came since.
        for merchant_id, g in group.items():
            if g in BLOCK_DUE:
                evasions(merchant_id, 1, days_ago=5)
            elif g in WARNING_DUE:
                evasions(merchant_id, 2, days_ago=10)
            elif g in PRIOR_WARNING_DUE:
                evasions(merchant_id, 3, days_ago=10)
            else:
                evasions(merchant_id, 1, days_ago=10)
    return {"policy": policy, "group": group}


def test_workers_killed_mid_sweep_issue_each_sanction_exactly_once(workers, rng, ledger):
    policy, group = ledger["policy"], ledger["group"]
    slug = policy.slug
    before = {
        "sanction": Sanction.objects.order_by("-pk").values_list("pk", flat=True).first(),
        "notice": Notice.objects.order_by("-pk").values_list("pk", flat=True).first(),
        "event": AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first(),
    }
    warnings = dict(Sanction.objects.values_list("merchant_id", "pk"))
    due = {merchant_id: g for merchant_id, g in group.items() if g not in NOTHING_DUE}

    workers.start_both()
    began = time.monotonic()
    # What beat's run_escalation does, with ranges of 10 merchants instead of 5,000.
    ranges = sanctions.escalation_chunks(policy=policy, at=timezone.now(), chunk_size=RANGE_SIZE)
    assert len(ranges) == MERCHANTS // RANGE_SIZE
    for first_id, last_id in ranges:
        escalate_range.delay(policy.pk, first_id, last_id)

    issued = Sanction.objects.filter(pk__gt=before["sanction"])
    kills = kill_during(
        workers, rng, kills=KILLS, progress=issued.count, total=len(due), finished=lambda: issued.count() == len(due)
    )
    settle(workers)
    print(f"sweep done {time.monotonic() - began:.1f} s after it was queued; kills {kills}")
    # Beat's next sweep (the whole ladder, one range) finds nobody due any more.
    run_escalation.delay()
    send_pending_notices.delay()
    settle(workers)
    interrupted = resend_after_lease()

    assert len(workers.kills) == KILLS
    # Each merchant due got the one sanction due, under its cause; nobody else got any.
    assert Counter(issued.values_list("merchant_id", flat=True)) == Counter(dict.fromkeys(due, 1))
    expected = {}
    for merchant_id, g in due.items():
        if g in WARNING_DUE:
            expected[merchant_id] = (SanctionKind.WARNING, f"ladder:{slug}:{merchant_id}:6:after:0")
        elif g in BLOCK_DUE:
            expected[merchant_id] = (
                SanctionKind.STORE_BLOCK,
                f"ladder:{slug}:{merchant_id}:12:after:{warnings[merchant_id]}",
            )
        else:
            expected[merchant_id] = (SanctionKind.WARNING, f"warning:{slug}:{merchant_id}:before:12:after:0")
    assert {s["merchant_id"]: (s["kind"], s["cause"]) for s in issued.values("merchant_id", "kind", "cause")} == (
        expected
    )
    # Each linked once to the violations behind it (2 or 3 evasions).
    links = Counter(
        Sanction.violations.through.objects.filter(sanction__in=issued).values_list("sanction__merchant_id", flat=True)
    )
    assert links == {merchant_id: 2 if g in WARNING_DUE else 3 for merchant_id, g in due.items()}

    # One audit event per sanction; the store blocks changed their merchants' status, once each.
    new_events = AuditEvent.objects.filter(pk__gt=before["event"])
    issued_events = new_events.filter(verb=AuditVerb.SANCTION_ISSUED).values_list("target_id", flat=True)
    assert Counter(issued_events) == Counter(issued.values_list("pk", flat=True))
    blocked = {merchant_id for merchant_id, g in due.items() if g in BLOCK_DUE}
    status_events = new_events.filter(verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED).values_list("target_id", flat=True)
    assert Counter(status_events) == Counter(blocked)
    store_blocked = Merchant.objects.filter(enforcement_status=Merchant.EnforcementStatus.STORE_BLOCKED)
    assert set(store_blocked.values_list("pk", flat=True)) == blocked

    # One notice per sanction (its statement of reasons), with its audit event, e-mailed once.
    notices = Notice.objects.filter(pk__gt=before["notice"])
    keys = Counter(notices.values_list("dedupe_key", flat=True))
    assert keys == Counter(f"sanction:{pk}" for pk in issued.values_list("pk", flat=True))
    assert Counter(notices.values_list("kind", flat=True)) == {
        Notice.Kind.WARNING: sum(1 for g in due.values() if g not in BLOCK_DUE),
        Notice.Kind.SANCTION: len(blocked),
    }
    created = new_events.filter(verb=AuditVerb.NOTICE_CREATED).values_list("target_id", flat=True)
    assert Counter(created) == Counter(notices.values_list("pk", flat=True))
    mailed = assert_each_notice_mailed_once(notices, workers, interrupted=interrupted)
    print(f"e-mail: {mailed}")


def test_a_worker_killed_mid_mailing_leaves_at_most_one_message_sent_twice(workers, rng, ledger):
    """The sweep's statements of reasons are being e-mailed when their worker is killed.

    The other notices of its batch stay claimed until their lease passes, then go out; the one
    message the mail server took but the worker had not marked yet may go out twice.
    """
    policy = ledger["policy"]
    before = Notice.objects.order_by("-pk").values_list("pk", flat=True).first()
    notices = Notice.objects.filter(pk__gt=before)
    workers.start_both()
    for first_id, last_id in sanctions.escalation_chunks(policy=policy, at=timezone.now(), chunk_size=RANGE_SIZE):
        escalate_range.delay(policy.pk, first_id, last_id)

    def mailer_mid_batch():
        """A worker running send_pending_notices while its batch is partly sent."""
        sending = notices.filter(email_status=Notice.EmailStatus.SENDING).count()
        # Started, and with several messages still to go: a batch about to end could finish
        # between this look and the kill, and the kill would then interrupt nothing.
        if sending < 3 or not notices.filter(email_status=Notice.EmailStatus.SENT).exists():
            return None
        running = {slot: i.running_task() or "" for slot, i in workers.current.items()}
        return next((slot for slot, task in sorted(running.items()) if "send_pending_notices" in task), None)

    slot = wait_for(mailer_mid_batch, what="a batch of e-mail half sent", every=0.002)
    time.sleep(rng.uniform(0, 0.003))
    print(f"killed {workers.kill_and_restart(slot)} with {notices.filter(email_status='sent').count()} mailed")
    send_pending_notices.delay()
    settle(workers)
    interrupted = resend_after_lease()

    assert interrupted, "the kill left no claimed notice: it did not interrupt the sending"
    assert notices.count() == sum(1 for g in ledger["group"].values() if g not in NOTHING_DUE)
    mailed = assert_each_notice_mailed_once(notices, workers, interrupted=interrupted)
    print(f"e-mail: {mailed}")
