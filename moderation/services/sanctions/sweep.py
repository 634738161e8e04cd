"""The sweep: every policy past its grace, its merchants range by range, the ladder applied to each.

Beat runs ``run_escalation``'s parts as tasks (expiries, then one ``escalate_range`` per
range); ``manage.py run_escalation`` runs it inline; a violation that adds points queues
``escalate_merchants`` for its merchant. Per range the ledger is read without locks (as
values: in most ranges nobody is due), the merchants that are due are claimed (``FOR UPDATE
SKIP LOCKED``: a concurrent sweep skips them) and read again under the claim, then decided and
written (``ladder.py``). A sanction's ``cause`` is unique, so whatever races past the claim
still issues it once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from moderation.bulk import plan_id_ranges
from moderation.models import Policy, Sanction
from moderation.selectors.ledger import STANDING, counted_violations, ladder_of, read_ledger, sweep_policies
from moderation.services.audit import Actor
from moderation.services.sanctions.expiry import expire_sanctions
from moderation.services.sanctions.ladder import ESCALATION_ACTOR, ESCALATION_CHUNK_SIZE, decide, write_sanctions
from sellers.models import Merchant


def escalation_chunks(
    *, policy: Policy, at: datetime, chunk_size: int = ESCALATION_CHUNK_SIZE
) -> list[tuple[int, int]]:
    """Inclusive merchant-id ranges of ``chunk_size`` merchants holding points or sanctions under the policy.

    One query (``plan_id_ranges``); each range ends at its own last merchant.
    """
    with_points = counted_violations(policy=policy, at=at).order_by().values_list("merchant_id", flat=True)
    with_sanctions = (
        Sanction.objects.filter(policy__slug=policy.slug, status__in=STANDING)
        .order_by()
        .values_list("merchant_id", flat=True)
    )
    points_sql, points_params = with_points.query.sql_with_params()
    sanctions_sql, sanctions_params = with_sanctions.query.sql_with_params()
    _, ranges = plan_id_ranges(
        ids_sql=f"SELECT merchant_id AS id FROM ({points_sql} UNION {sanctions_sql}) AS merchants",
        params=[*points_params, *sanctions_params],
        chunk_size=chunk_size,
        cover_gaps=False,
    )
    return ranges


def escalate_range(
    *, policy: Policy, first_id: int, last_id: int, at: datetime | None = None, actor: Actor = ESCALATION_ACTOR
) -> int:
    """Apply what the ladder says to the merchants in one id range. Returns the sanctions issued."""
    return _escalate(policy=policy, at=at or timezone.now(), actor=actor, id_range=(first_id, last_id))


def escalate_merchants(*, merchant_ids: list[int], at: datetime | None = None, actor: Actor = ESCALATION_ACTOR) -> int:
    """The same for a few named merchants (a violation just added points): every policy past its grace."""
    at = at or timezone.now()
    return sum(_escalate(policy=policy, at=at, actor=actor, merchant_ids=merchant_ids) for policy in sweep_policies(at))


def _escalate(*, policy: Policy, at: datetime, actor: Actor, id_range=None, merchant_ids=None) -> int:
    ladder = ladder_of(policy)
    if not ladder:
        return 0
    # First a read without locks: in most ranges nobody is due, and nothing is locked.
    rows = read_ledger(policy=policy, merchant_ids=merchant_ids, id_range=id_range, at=at, models=False)
    due_ids = [row.merchant_id for row in rows.values() if decide(row, policy=policy, ladder=ladder, at=at)]
    if not due_ids:
        return 0
    with transaction.atomic():
        # The claim: a concurrent sweep holding some of these merchants keeps them; the
        # rest are read again under lock, so what is decided is what is committed.
        claimed = list(
            Merchant.objects.select_for_update(skip_locked=True)
            .filter(pk__in=due_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not claimed:
            return 0
        rows = read_ledger(policy=policy, merchant_ids=claimed, at=at)
        dues = [due for row in rows.values() if (due := decide(row, policy=policy, ladder=ladder, at=at))]
        return len(write_sanctions(dues, policy=policy, ladder=ladder, at=at, actor=actor))


def run_escalation(
    *,
    at: datetime | None = None,
    actor: Actor = ESCALATION_ACTOR,
    chunk_size: int = ESCALATION_CHUNK_SIZE,
    queue_range: Callable[[int, int, int], object] | None = None,
) -> dict:
    """The whole sweep as of one moment: expiries, then every policy's ladder range by range.

    Inline by default (``{"expired", "issued"}``). Beat's task passes ``queue_range``
    (``escalate_range.delay``): each range goes to it as ``(policy_id, first_id, last_id)`` to run
    on the workers, and the counts are ``{"expired", "ranges"}``. One sweep, written once, whose
    expiries, policies and ranges all read the clock once.
    """
    at = at or timezone.now()
    expired = expire_sanctions(at=at, actor=actor)
    issued = ranges = 0
    for policy in sweep_policies(at):
        for first_id, last_id in escalation_chunks(policy=policy, at=at, chunk_size=chunk_size):
            ranges += 1
            if queue_range is not None:
                queue_range(policy.pk, first_id, last_id)
            else:
                issued += escalate_range(policy=policy, first_id=first_id, last_id=last_id, at=at, actor=actor)
    return {"expired": expired, "ranges": ranges} if queue_range else {"expired": expired, "issued": issued}
