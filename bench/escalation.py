"""Benchmark: one escalation sweep over 100,000 merchants, 20,000 past a deadline, through the real code path.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/escalation.py --merchants 100000

1. Generates (not timed) the reference policy through the services (points table and
   ladder set on the draft, announced, in effect, past its grace), one marketplace, and
   with set-based SQL ``--merchants`` merchants, three listings each (one live, two taken
   down), their counted violations (decided within the counting period, points set), the
   sanctions they already hold and the open review items of their live listings. Per ten
   merchants:

   - 2 are due the 12-point store block, after a warning whose time to comply is over:
     one still had a flagged live listing at the deadline (8 points, non-compliant), one
     reached 12 points since;
   - 4 are below the first threshold (2 or 4 points);
   - 2 hold the warning their 8 points call for, its time to comply still running (and a
     flagged live listing);
   - 2 hold the store block their 14 points call for (and the warning before it), blocked
     for 5 more days (nothing expires during the sweep).

2. Times the sweep as production runs it: the beat task ``moderation.run_escalation``
   (expiries, the policies past grace, their merchant-id ranges) queues one
   ``moderation.escalate_range`` task per range; the ranges run on ``--workers``
   processes (2 by default, as two Celery workers would run them): claim, ledger, decision,
   sanctions, their links to the violations, audit events, notices, merchants' status.
   E-mail delivery, queued for other workers, is not timed. Queries are counted in every
   process (the planning's and each range's) and added up.
3. Deletes what the sweep wrote (sanctions, links, notices and audit events: the two
   append-only tables are emptied with TRUNCATE, the one way their triggers leave open),
   puts the merchants' status back, and (unless ``--no-inline``) times ``run_escalation``
   inline in one process, the figure without workers; then deletes that too.
4. Times the hand-written baseline: one SQL statement in one transaction that reads the
   same ledger (points per merchant, standing ladder sanctions and warnings, flagged live
   listings, re-listings), decides with the ladder, and writes the same sanctions, their
   violation links, their audit events, their notices (subject, body and transparency
   fields assembled in SQL) with theirs, and the merchants' new status with theirs.

The three runs must issue the same sanctions (merchant, kind, step, cause, points, previous,
end, deadline) and write as many links, notices and audit events of each verb.

Last line: ``{"benchmark": "escalation", "merchants": …, "seconds": …, "baseline_seconds": …, "ratio": …,
"queries": …, "sanctions": …, "workers": …, "ranges": …, "queries_per_range": …, "inline_seconds": …,
"inline_ratio": …, "inline_queries": …, "load_average": […], "peak_rss_mb": …}``.

``seconds`` and ``queries`` are the sweep on workers (the queries of all its processes);
``queries_per_range`` is the most one range ran, which should not grow with the merchants a
range holds; ``load_average`` is the machine's before the sweep and before the baseline (on
a shared machine the ratio is only as steady as it). ``--profile`` prints where the inline
run's time goes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Tasks run inline when called; e-mails go nowhere.
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"

from bench._common import (  # noqa: E402
    QueryCounter,
    peak_rss_mb,
    print_result,
    run_on_workers,
    settle_database,
    throwaway_database,
)

# Queries of the ranges, added up across the worker processes (shared memory, inherited by
# fork): total, the most in one range, ranges run.
RANGE_QUERIES = get_context("fork").Array("q", 3)
GENERATED_TABLES = [
    "sellers_merchant",
    "sellers_listing",
    "moderation_violation",
    "moderation_reviewitem",
    "moderation_sanction",
    "moderation_sanction_violations",
    "moderation_notice",
    "moderation_auditevent",
]


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def load_average() -> float:
    """The machine's 1-minute load average: on a shared machine, what the timings ran beside."""
    load = round(os.getloadavg()[0], 2)
    log(f"load average {load} on {os.cpu_count()} CPUs")
    return load


# --- Data ----------------------------------------------------------------------------------


def generate(merchants: int) -> dict:
    """The reference policy through the services; merchants and their records in SQL."""
    from django.db import connection
    from django.utils import timezone

    from moderation.demo import REFERENCE_BODY, REFERENCE_CLAUSES, REFERENCE_LADDER, REFERENCE_POINTS, REFERENCE_SLUG
    from moderation.models import EscalationStep, SanctionKind
    from moderation.services.audit import SystemActor
    from moderation.services.policies import announce_policy, create_policy, put_due_policies_in_effect
    from moderation.services.sanctions import set_penalty_rules
    from sellers import services as catalog

    actor = SystemActor("bench")
    now = timezone.now()
    marketplace = catalog.create_marketplace(
        actor=actor, code="alibaba", name="Alibaba.com", timezone_name="Asia/Shanghai"
    )
    root = catalog.create_category(actor=actor, name="Consumer Electronics")
    miners = catalog.create_category(actor=actor, name="Blockchain Miners", parent=root)
    # Created, given its points table and ladder as a draft, announced and put in effect
    # before any merchant exists (no announcement notices); its grace ended 290 days ago.
    policy = create_policy(
        actor=actor,
        slug=REFERENCE_SLUG,
        title="Virtual currency mining machines",
        body=REFERENCE_BODY,
        marketplaces=[marketplace],
        categories=[miners],
        clauses=REFERENCE_CLAUSES,
        effective_at=now - timedelta(days=300),
        enforcement_starts_at=now - timedelta(days=290),
    )
    set_penalty_rules(actor=actor, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    policy = announce_policy(actor=actor, policy=policy, announced_at=now - timedelta(days=310))
    put_due_policies_in_effect(actor=actor)
    policy.refresh_from_db()
    steps = {step.threshold: step for step in EscalationStep.objects.filter(policy=policy)}
    warning_step, block_step = steps[6], steps[12]
    assert warning_step.kind == SanctionKind.WARNING and block_step.kind == SanctionKind.STORE_BLOCK
    clause_id = policy.clauses.get(number=1).pk
    params = {
        "marketplace": marketplace.pk,
        "category": miners.pk,
        "policy": policy.pk,
        "slug": policy.slug,
        "title": policy.title,
        "clause": clause_id,
        "warning_step": warning_step.pk,
        "block_step": block_step.pk,
        "merchants": merchants,
        "now": now,
    }
    with connection.cursor() as cursor:
        # g = n % 10 picks the merchant's case (see the module's docstring):
        # 0 and 5 are due; 1, 2, 6, 7 below the first threshold; 3 and 8 warned, time running;
        # 4 and 9 store-blocked already.
        cursor.execute(
            """
            INSERT INTO sellers_merchant (marketplace_id, store_name, company_name, country, contact_email,
                                          language, enforcement_status, enforcement_until, payouts_held, created_at)
            SELECT %(marketplace)s, 'Store ' || n, 'Company ' || n || ' Ltd.', 'CN', 'seller' || n || '@example.com',
                   CASE WHEN n %% 3 = 0 THEN 'en' ELSE 'zh-hans' END, 'active', NULL, false,
                   %(now)s - interval '400 days'
            FROM generate_series(1, %(merchants)s) AS n
            """,
            params,
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_case AS "
            "SELECT id AS merchant_id, (row_number() OVER (ORDER BY id)) % 10 AS g FROM sellers_merchant"
        )
        cursor.execute("ALTER TABLE bench_case ADD PRIMARY KEY (merchant_id)")
        # Three listings each: the first live, the other two taken down (their violations).
        cursor.execute(
            """
            INSERT INTO sellers_listing (merchant_id, category_id, title, description, attributes, price, currency,
                                         status, delisted_reason, delisted_at, previous_status, created_at, updated_at)
            SELECT c.merchant_id, %(category)s, 'Antminer S19 Pro 110TH/s #' || c.merchant_id || '-' || k,
                   'Generated for the benchmark.', '{}'::jsonb, 10 + (c.merchant_id * 7 + k) %% 3000, 'USD',
                   CASE WHEN k = 1 THEN 'live' ELSE 'delisted' END,
                   CASE WHEN k = 1 THEN '' ELSE 'Taken down: a prohibited product.' END,
                   CASE WHEN k = 1 THEN NULL ELSE %(now)s - interval '30 days' END,
                   CASE WHEN k = 1 THEN '' ELSE 'live' END,
                   %(now)s - interval '350 days', %(now)s - interval '30 days'
            FROM bench_case c CROSS JOIN generate_series(1, 3) AS k
            ORDER BY c.merchant_id, k
            """,
            params,
        )
        # Points per case; 4-point keyword evasions, then a 2-point prohibited listing for the rest.
        cursor.execute(
            """
            WITH wanted AS (
                SELECT merchant_id, g,
                       CASE WHEN g IN (1, 6) THEN 2 WHEN g IN (2, 7) THEN 4 WHEN g IN (0, 3, 8) THEN 8
                            WHEN g = 5 THEN 12 ELSE 14 END AS points
                FROM bench_case
            ),
            listings AS (
                SELECT merchant_id, array_agg(id ORDER BY id) AS ids FROM sellers_listing GROUP BY merchant_id
            )
            INSERT INTO moderation_violation (merchant_id, listing_id, policy_id, clause_id, review_item_id, kind,
                                              decided_by_id, decided_by_name, decided_at, automated_detection,
                                              automated_decision, points, points_capped, counts_toward_sanctions,
                                              status, overturned_at, evidence, reason)
            SELECT w.merchant_id, l.ids[2 + j %% 2], %(policy)s, %(clause)s, NULL,
                   CASE WHEN least(4, w.points - 4 * (j - 1)) = 4 THEN 'keyword_evasion' ELSE 'prohibited_listing' END,
                   NULL, 'moderator' || (w.merchant_id %% 40),
                   %(now)s - interval '1 day' * (20 + (w.merchant_id * 13 + j * 17) %% 200) - interval '1 hour' * j,
                   j %% 2 = 0, false, least(4, w.points - 4 * (j - 1)),
                   least(4, w.points - 4 * (j - 1)) < 4, true, 'active', NULL,
                   jsonb_build_object('title', 'Antminer S19 Pro', 'terms', jsonb_build_array('antminer')), ''
            FROM wanted w
            JOIN listings l USING (merchant_id)
            CROSS JOIN LATERAL generate_series(1, (w.points + 3) / 4) AS j
            """,
            params,
        )
        # Open review items of the live listing: flagged 4 days ago (before the due warning's
        # deadline, 2 days ago) for case 0, 12 hours ago for cases 3 and 8.
        cursor.execute(
            """
            INSERT INTO moderation_reviewitem (listing_id, policy_id, merchant_id, marketplace_id, category_id,
                                               source, tier, score, matched_terms, spans, priority, status,
                                               due_at, decision, decision_reason, created_at, search_text)
            SELECT l.id, %(policy)s, c.merchant_id, %(marketplace)s, l.category_id, 'detection', 'moderator', 12,
                   '["antminer"]'::jsonb, '{}'::jsonb, 12, 'open',
                   opened + interval '24 hours', '', '', opened, ''
            FROM bench_case c
            JOIN sellers_listing l ON l.merchant_id = c.merchant_id AND l.status = 'live'
            CROSS JOIN LATERAL (
                SELECT %(now)s - CASE WHEN c.g = 0 THEN interval '4 days' ELSE interval '12 hours' END AS opened
            ) AS t
            WHERE c.g IN (0, 3, 8)
            """,
            params,
        )
        # The warnings the ladder issued at 6 points: time to comply over (cases 0, 5 and,
        # long ago, 4, 9), or still running (3, 8).
        cursor.execute(
            """
            INSERT INTO moderation_sanction (merchant_id, policy_id, step_id, kind, status, starts_at, ends_at,
                                             compliance_deadline, ended_at, points, delists_all, previous_id, cause,
                                             issued_by_id, issued_by_name, automated, reason, ended_by_name,
                                             end_reason)
            SELECT c.merchant_id, %(policy)s, %(warning_step)s, 'warning', 'active', issued, NULL,
                   issued + interval '3 days', NULL, 6, false, NULL,
                   'ladder:' || %(slug)s || ':' || c.merchant_id || ':6:after:0', NULL, 'task:run_escalation', true,
                   'your account held 6 penalty points under “' || %(title)s
                   || '”: the marketplace''s penalty ladder applies “Warning” at 6.', '', ''
            FROM bench_case c
            CROSS JOIN LATERAL (
                SELECT %(now)s - CASE WHEN c.g IN (0, 5) THEN interval '5 days'
                                      WHEN c.g IN (3, 8) THEN interval '1 day'
                                      ELSE interval '20 days' END AS issued
            ) AS t
            WHERE c.g IN (0, 5, 3, 8, 4, 9)
            ORDER BY c.merchant_id
            """,
            params,
        )
        # The store blocks of cases 4 and 9, escalated from their warning 2 days ago, 5 days to go.
        cursor.execute(
            """
            INSERT INTO moderation_sanction (merchant_id, policy_id, step_id, kind, status, starts_at, ends_at,
                                             compliance_deadline, ended_at, points, delists_all, previous_id, cause,
                                             issued_by_id, issued_by_name, automated, reason, ended_by_name,
                                             end_reason)
            SELECT c.merchant_id, %(policy)s, %(block_step)s, 'store_block', 'active', %(now)s - interval '2 days',
                   %(now)s + interval '5 days', %(now)s + interval '5 days', NULL, 12, false, w.id,
                   'ladder:' || %(slug)s || ':' || c.merchant_id || ':12:after:' || w.id, NULL,
                   'task:run_escalation', true,
                   'your account held 12 penalty points under “' || %(title)s
                   || '”: the marketplace''s penalty ladder applies “Store blocked” at 12.', '', ''
            FROM bench_case c
            JOIN moderation_sanction w ON w.merchant_id = c.merchant_id AND w.kind = 'warning'
            WHERE c.g IN (4, 9)
            ORDER BY c.merchant_id
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE sellers_merchant m SET enforcement_status = 'store_blocked', enforcement_until = s.ends_at
            FROM moderation_sanction s WHERE s.merchant_id = m.id AND s.kind = 'store_block' AND s.status = 'active'
            """
        )
        # What the runs are undone to: the merchants' status as generated.
        cursor.execute(
            "CREATE TABLE bench_merchant_before AS "
            "SELECT id, enforcement_status, enforcement_until, payouts_held FROM sellers_merchant"
        )
        cursor.execute("ALTER TABLE bench_merchant_before ADD PRIMARY KEY (id)")
        # The generation's own audit events (policy, catalog) and notices go: every run starts from empty tables.
        cursor.execute("TRUNCATE moderation_auditevent, moderation_notice CASCADE")
        cursor.execute("SELECT count(*), coalesce(max(id), 0) FROM moderation_sanction")
        sanctions, last_sanction_id = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM moderation_violation")
        (violations,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM bench_case WHERE g IN (0, 5)")
        (due,) = cursor.fetchone()
    vacuum()
    log(f"{merchants} merchants, {violations} violations, {sanctions} sanctions held, {due} merchants due")
    return {"policy": policy, "last_sanction_id": last_sanction_id, "due": due}


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in GENERATED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    settle_database()


def footprint(last_sanction_id: int) -> dict:
    """What a run wrote: its sanctions (as comparable tuples) and how many rows of each kind."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT merchant_id, kind, step_id, cause, points, previous_id, delists_all,
                   ends_at - starts_at, compliance_deadline - starts_at
            FROM moderation_sanction WHERE id > %s ORDER BY merchant_id, cause
            """,
            [last_sanction_id],
        )
        sanctions = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM moderation_sanction_violations WHERE sanction_id > %s", [last_sanction_id])
        (links,) = cursor.fetchone()
        cursor.execute("SELECT kind, count(*) FROM moderation_notice GROUP BY kind ORDER BY kind")
        notices = cursor.fetchall()
        cursor.execute("SELECT verb, count(*) FROM moderation_auditevent GROUP BY verb ORDER BY verb")
        events = cursor.fetchall()
        cursor.execute(
            """
            SELECT m.enforcement_status, count(*) FROM sellers_merchant m
            JOIN bench_merchant_before b ON b.id = m.id
            WHERE (m.enforcement_status, m.enforcement_until, m.payouts_held)
                  IS DISTINCT FROM (b.enforcement_status, b.enforcement_until, b.payouts_held)
            GROUP BY 1 ORDER BY 1
            """
        )
        statuses = cursor.fetchall()
    return {"sanctions": sanctions, "links": links, "notices": notices, "events": events, "statuses": statuses}


def describe(found: dict) -> str:
    return (
        f"{len(found['sanctions'])} sanctions, {found['links']} links, notices {found['notices']}, "
        f"events {found['events']}, merchants changed {found['statuses']}"
    )


def same_work(expected: dict, found: dict, what: str) -> None:
    if found != expected:
        differing = [key for key in expected if expected[key] != found[key]]
        log(f"expected: {describe(expected)}")
        log(f"{what}: {describe(found)}")
        if expected["sanctions"] != found["sanctions"]:
            missing = sorted(set(expected["sanctions"]) - set(found["sanctions"]))[:3]
            extra = sorted(set(found["sanctions"]) - set(expected["sanctions"]))[:3]
            log(f"e.g. missing {missing}, extra {extra}")
        raise SystemExit(f"{what} did not write what the sweep wrote ({', '.join(differing)} differ)")


def reset(last_sanction_id: int) -> None:
    """Undo a run (not timed): its sanctions and links, delistings, merchants' status, notices and audit events."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sellers_listing SET status = previous_status, previous_status = '', delisted_at = NULL,
                   delisted_reason = '', delisted_by_sanction_id = NULL
            WHERE delisted_by_sanction_id > %s
            """,
            [last_sanction_id],
        )
        cursor.execute(
            """
            UPDATE sellers_merchant m SET enforcement_status = b.enforcement_status,
                   enforcement_until = b.enforcement_until, payouts_held = b.payouts_held
            FROM bench_merchant_before b
            WHERE b.id = m.id AND (m.enforcement_status, m.enforcement_until, m.payouts_held)
                  IS DISTINCT FROM (b.enforcement_status, b.enforcement_until, b.payouts_held)
            """
        )
        cursor.execute("DELETE FROM moderation_sanction_violations WHERE sanction_id > %s", [last_sanction_id])
        cursor.execute("DELETE FROM moderation_sanction WHERE id > %s", [last_sanction_id])
        # TRUNCATE is the one way the append-only triggers leave open, to the tables' owner.
        cursor.execute("TRUNCATE moderation_auditevent, moderation_notice CASCADE")
    vacuum()


# --- The real path ---------------------------------------------------------------------------


def escalation_range(arguments: tuple[int, int, int]) -> None:
    """One queued ``moderation.escalate_range`` task, run as a worker runs it; its queries counted."""
    from moderation.tasks import escalate_range

    with QueryCounter() as queries:
        escalate_range.run(*arguments)
    with RANGE_QUERIES.get_lock():
        RANGE_QUERIES[0] += queries.count
        RANGE_QUERIES[1] = max(RANGE_QUERIES[1], queries.count)
        RANGE_QUERIES[2] += 1


def run_real(workers: int) -> tuple[float, int, int, int]:
    """The beat task plans (in this process), the ranges run on ``workers`` processes. (seconds, queries, …)."""
    from moderation.tasks import escalate_range, run_escalation, send_pending_notices

    RANGE_QUERIES[0] = RANGE_QUERIES[1] = RANGE_QUERIES[2] = 0
    queued_ranges, queued_mailings = [], []
    started = time.perf_counter()
    with (
        # E-mail delivery is queued for other workers in production: held back here.
        mock.patch.object(send_pending_notices, "delay", lambda *args: queued_mailings.append(args)),
        mock.patch.object(escalate_range, "delay", lambda *args: queued_ranges.append(args)),
    ):
        with QueryCounter() as planning:
            planned = run_escalation.run()
        run_on_workers(escalation_range, queued_ranges, workers=workers)
    seconds = time.perf_counter() - started
    if RANGE_QUERIES[2] != len(queued_ranges):
        raise SystemExit(f"{RANGE_QUERIES[2]} of {len(queued_ranges)} ranges ran")
    queries = planning.count + RANGE_QUERIES[0]
    log(
        f"real path on {workers} workers: {seconds:.2f} s, {planned['expired']} expired, {len(queued_ranges)} ranges, "
        f"{queries} queries ({planning.count} planning, at most {RANGE_QUERIES[1]} per range)"
    )
    return seconds, queries, len(queued_ranges), RANGE_QUERIES[1]


def run_inline(profile: bool = False) -> tuple[float, int, int]:
    """``run_escalation`` in this one process, as ``manage.py run_escalation`` runs it (``profile``: under cProfile)."""
    import cProfile
    import pstats

    from django.utils import timezone

    from moderation.services.sanctions import run_escalation
    from moderation.tasks import send_pending_notices

    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with QueryCounter() as queries, mock.patch.object(send_pending_notices, "delay", lambda *args: None):
        if profiler:
            profiler.enable()
        counts = run_escalation(at=timezone.now())
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
    log(f"real path inline: {seconds:.2f} s, {counts['issued']} issued, {queries.count} queries")
    return seconds, queries.count, counts["issued"]


# --- The baseline ------------------------------------------------------------------------------

BASELINE = """
WITH
versions AS (SELECT id FROM moderation_policy WHERE slug = %(slug)s),
kinds (kind, label, severity, status) AS (VALUES {kinds}),
violation_kinds (kind, label) AS (VALUES {violation_kinds}),
ladder AS (
    SELECT st.id, st.threshold, st.kind, st.duration_days, st.compliance_days, st.delists_all, k.label
    FROM moderation_escalationstep st JOIN kinds k ON k.kind = st.kind
    WHERE st.policy_id = %(policy)s
),
-- The ledger: points still counting, standing ladder sanctions, flagged live listings.
counted AS (
    SELECT id, merchant_id, listing_id, kind, points, decided_at, clause_id, automated_detection, evidence
    FROM moderation_violation
    WHERE policy_id IN (SELECT id FROM versions) AND status = 'active' AND counts_toward_sanctions
      AND decided_at >= %(since)s AND decided_at <= %(at)s
),
points AS (
    SELECT merchant_id, sum(points) AS points, max(decided_at) FILTER (WHERE kind = 'relist_attempt') AS relisted_at
    FROM counted GROUP BY merchant_id
),
held AS (
    SELECT s.id, s.merchant_id, s.kind, s.step_id, s.starts_at, s.compliance_deadline, st.threshold,
           s.status IN ('active', 'expired') AND s.starts_at >= %(since)s AS standing,
           s.starts_at >= %(since)s AND EXISTS (
               SELECT 1 FROM moderation_appeal a WHERE a.sanction_id = s.id AND a.status = 'granted'
           ) AS overturned
    FROM moderation_sanction s LEFT JOIN moderation_escalationstep st ON st.id = s.step_id
    WHERE s.policy_id IN (SELECT id FROM versions) AND (s.step_id IS NOT NULL OR s.kind = 'warning')
),
latest AS (
    SELECT merchant_id, max(id) AS id, max(threshold) FILTER (WHERE overturned) AS overturned_threshold
    FROM held WHERE step_id IS NOT NULL GROUP BY merchant_id
),
position AS (
    SELECT DISTINCT ON (merchant_id) merchant_id, id, threshold, starts_at, compliance_deadline
    FROM held WHERE standing AND step_id IS NOT NULL ORDER BY merchant_id, threshold DESC, id DESC
),
warned AS (
    SELECT DISTINCT ON (merchant_id) merchant_id, id, compliance_deadline
    FROM held WHERE standing AND kind = 'warning' ORDER BY merchant_id, id DESC
),
flagged AS (
    SELECT r.merchant_id, min(r.created_at) AS since
    FROM moderation_reviewitem r JOIN sellers_listing l ON l.id = r.listing_id
    WHERE r.policy_id IN (SELECT id FROM versions) AND r.status IN ('open', 'claimed') AND l.status = 'live'
    GROUP BY r.merchant_id
),
ledger AS (
    SELECT m.merchant_id, coalesce(p.points, 0) AS points, p.relisted_at,
           greatest(coalesce(pos.threshold, 0), coalesce(latest.overturned_threshold, 0)) AS current,
           pos.id AS position_id, pos.starts_at AS position_starts, pos.compliance_deadline AS deadline,
           coalesce(latest.id, 0) AS latest_id, w.id AS warning_id, w.compliance_deadline AS warning_deadline,
           f.since AS flagged_since
    FROM (SELECT merchant_id FROM points UNION SELECT merchant_id FROM held) AS m
    LEFT JOIN points p USING (merchant_id)
    LEFT JOIN position pos USING (merchant_id)
    LEFT JOIN latest USING (merchant_id)
    LEFT JOIN warned w USING (merchant_id)
    LEFT JOIN flagged f USING (merchant_id)
),
-- The decision: the step the points reach, or one step up for a merchant still
-- non-compliant at its deadline, whichever is higher.
targets AS (
    SELECT l.*, e.noncompliance, t.id AS target_id, t.threshold AS target_threshold, t.kind AS target_kind,
           t.duration_days, t.compliance_days, t.delists_all, t.label
    FROM ledger l
    LEFT JOIN LATERAL (
        SELECT id, threshold FROM ladder WHERE threshold <= l.points ORDER BY threshold DESC LIMIT 1
    ) AS reached ON true
    LEFT JOIN LATERAL (SELECT id, threshold FROM ladder WHERE threshold > l.current ORDER BY threshold LIMIT 1) AS up
        ON true
    CROSS JOIN LATERAL (
        SELECT coalesce(
                   l.deadline <= %(at)s
                   AND (l.flagged_since <= l.deadline OR l.relisted_at >= l.position_starts)
                   AND up.threshold > coalesce(CASE WHEN reached.threshold > l.current THEN reached.threshold END, 0),
                   false
               ) AS noncompliance
    ) AS e
    JOIN ladder t ON t.id = CASE WHEN e.noncompliance THEN up.id WHEN reached.threshold > l.current THEN reached.id END
),
warning_step AS (SELECT * FROM ladder WHERE kind = 'warning' ORDER BY threshold LIMIT 1),
dues AS (
    -- The step itself: not a suspension, or one whose warning's time to comply is over.
    SELECT merchant_id, points, position_id, target_id AS step_id, target_kind AS kind, duration_days,
           compliance_days, delists_all,
           'ladder:' || %(slug)s || ':' || merchant_id || ':' || target_threshold || ':after:' || latest_id AS cause,
           'your account held ' || points || ' penalty points under “' || %(title)s || '”'
           || CASE WHEN noncompliance
                   THEN ', and the deadline to comply with the previous measure had passed while listings the '
                        || 'policy bans remained or were re-listed: the ladder moves one step up, to “' || label
                        || '”.'
                   ELSE ': the marketplace''s penalty ladder applies “' || label || '” at ' || target_threshold
                        || '.' END AS reason
    FROM targets
    WHERE target_kind NOT IN ({suspensions})
       OR (warning_id IS NOT NULL AND (warning_deadline IS NULL OR warning_deadline <= %(at)s))
    UNION ALL
    -- A suspension with no warning on record: the warning first (DSA Art. 23).
    SELECT t.merchant_id, t.points, t.position_id, CASE WHEN ok THEN ws.id END, 'warning',
           CASE WHEN ok THEN ws.duration_days END, CASE WHEN ok THEN ws.compliance_days ELSE %(prior_days)s END,
           ok AND ws.delists_all,
           'warning:' || %(slug)s || ':' || t.merchant_id || ':before:' || t.target_threshold || ':after:'
           || t.latest_id,
           'your account held ' || t.points || ' penalty points under “' || %(title)s || '”; a formal warning '
           || 'comes first, before any suspension (the marketplace''s penalty ladder).'
    FROM targets t
    LEFT JOIN warning_step ws ON true
    CROSS JOIN LATERAL (SELECT coalesce(ws.threshold > t.current, false) AS ok) AS o
    WHERE t.target_kind IN ({suspensions}) AND t.warning_id IS NULL
),
-- The writes.
issued AS (
    INSERT INTO moderation_sanction (merchant_id, policy_id, step_id, kind, status, starts_at, ends_at,
                                     compliance_deadline, ended_at, points, delists_all, previous_id, cause,
                                     issued_by_id, issued_by_name, automated, reason, ended_by_name, end_reason)
    SELECT merchant_id, %(policy)s, step_id, kind, 'active', %(at)s, %(at)s + duration_days * interval '1 day',
           %(at)s + compliance_days * interval '1 day', NULL, points, delists_all, position_id, cause,
           NULL, %(actor)s, true, reason, '', ''
    FROM dues
    ON CONFLICT (cause) DO NOTHING
    RETURNING id, merchant_id, step_id, kind, starts_at, ends_at, compliance_deadline, points, delists_all,
              previous_id, reason
),
links AS (
    INSERT INTO moderation_sanction_violations (sanction_id, violation_id)
    SELECT i.id, c.id FROM issued i JOIN counted c USING (merchant_id)
    ON CONFLICT DO NOTHING
),
delisted AS (
    UPDATE sellers_listing l
    SET previous_status = l.status, status = 'delisted', delisted_at = %(at)s,
        delisted_reason = 'All listings removed with the account freeze under “' || %(title)s || '”.',
        delisted_by_sanction_id = i.id, updated_at = %(at)s
    FROM issued i WHERE i.delists_all AND l.merchant_id = i.merchant_id AND l.status = 'live'
    RETURNING l.merchant_id
),
delisted_counts AS (SELECT merchant_id, count(*) AS n FROM delisted GROUP BY merchant_id),
record AS (
    SELECT c.merchant_id,
           array_agg(c.id ORDER BY c.decided_at, c.id) AS ids,
           (array_agg(c.clause_id ORDER BY c.decided_at, c.id) FILTER (WHERE c.clause_id IS NOT NULL))[1] AS clause_id,
           bool_or(c.automated_detection) AS automated_detection,
           min(c.decided_at) AS first_at,
           string_agg('    - ' || to_char(c.decided_at AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY, HH24:MI') || ': '
                      || vk.label || coalesce(', clause ' || cl.number, '') || ', ' || c.points || ' point'
                      || CASE WHEN c.points = 1 THEN '' ELSE 's' END
                      || coalesce(': “' || (c.evidence ->> 'title') || '”', '')
                      || coalesce(' (listing #' || c.listing_id || ')', ''), E'\n' ORDER BY c.decided_at, c.id) AS lines
    FROM counted c
    JOIN violation_kinds vk ON vk.kind = c.kind
    LEFT JOIN moderation_policyclause cl ON cl.id = c.clause_id
    WHERE c.merchant_id IN (SELECT merchant_id FROM issued)
    GROUP BY c.merchant_id
),
facts AS (
    SELECT i.*, k.label, st.threshold, m.language, m.store_name, mk.name AS marketplace,
           coalesce(d.n, 0) AS delisted, r.ids, r.clause_id, coalesce(r.automated_detection, false) AS detected,
           coalesce(r.first_at, i.starts_at) AS first_at, coalesce(r.lines, '') AS lines,
           p.id AS previous, pk.label AS previous_label, p.starts_at AS previous_starts,
           p.compliance_deadline AS previous_deadline,
           nx.threshold AS next_threshold, nx.label AS next_label, nx.duration_days AS next_days,
           (SELECT string_agg('    from ' || lpad(x.threshold::text, 3) || ' points: ' || x.label
                              || coalesce(', ' || x.duration_days || ' days', '')
                              || CASE WHEN x.delists_all THEN ', all live listings removed' ELSE '' END
                              || CASE WHEN x.threshold = st.threshold THEN '   <- this measure'
                                      WHEN x.threshold <= i.points THEN '   <- reached by your points' ELSE '' END,
                              E'\n' ORDER BY x.threshold) FROM ladder x) AS ladder_lines,
           'notice-' || replace(gen_random_uuid()::text, '-', '') AS puid,
           'On ' || to_char(i.starts_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI') || ' (' || %(tz)s || ') '
           || i.reason
           || CASE WHEN d.n > 0 THEN ' All ' || d.n || ' live listings of the store were removed.' ELSE '' END
           AS decision_facts
    FROM issued i
    JOIN kinds k ON k.kind = i.kind
    JOIN sellers_merchant m ON m.id = i.merchant_id
    JOIN sellers_marketplace mk ON mk.id = m.marketplace_id
    LEFT JOIN moderation_escalationstep st ON st.id = i.step_id
    LEFT JOIN moderation_sanction p ON p.id = i.previous_id
    LEFT JOIN kinds pk ON pk.kind = p.kind
    LEFT JOIN LATERAL (
        SELECT * FROM ladder x WHERE x.threshold > coalesce(st.threshold, i.points) ORDER BY x.threshold LIMIT 1
    ) AS nx ON true
    LEFT JOIN delisted_counts d ON d.merchant_id = i.merchant_id
    LEFT JOIN record r ON r.merchant_id = i.merchant_id
),
-- The statement of reasons, as the templates lay it out: measure, facts, violations, ground,
-- automated means, the ladder, the deadline, how to appeal.
notices AS (
    INSERT INTO moderation_notice (merchant_id, kind, policy_id, clause_id, language, subject, body, restricts,
                                   appeal_deadline, transparency, puid, dedupe_key, created_at, email_status,
                                   email_attempts, email_claimed_until, sent_at, last_error)
    SELECT f.merchant_id, CASE WHEN f.kind = 'warning' THEN 'warning' ELSE 'sanction' END, %(policy)s, f.clause_id,
           f.language,
           left(CASE
               WHEN f.language <> 'en' THEN '处理决定说明：' || f.label || '（' || %(title)s || '）'
               WHEN f.kind = 'warning'
               THEN 'Formal warning under ' || %(title)s || ': your store on ' || f.marketplace || ' may be restricted'
               ELSE 'Statement of reasons: ' || f.label || ' on ' || f.marketplace
                    || coalesce(' until ' || to_char(f.ends_at AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY'), '')
           END, 300),
           'Dear ' || f.store_name || E',\n\n'
           || CASE WHEN f.kind = 'warning' THEN 'This is a formal warning, and the statement of reasons for it, under '
                   ELSE 'This is a statement of reasons for a sanction against your seller account under ' END
           || %(title)s || ' (sanction #' || f.id || E').\n\nThe measure\n  ' || f.label || ', from '
           || to_char(f.starts_at AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY, HH24:MI')
           || coalesce(' until ' || to_char(f.ends_at AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY, HH24:MI'), '')
           || ' (' || %(tz)s || E').\n  Scope: ' || f.marketplace || E', all countries where it operates.\n  '
           || CASE f.kind
                  WHEN 'warning' THEN 'It restricts nothing yet: your store, your listings and your payouts are not '
                                      'affected.'
                  WHEN 'listing_restriction' THEN 'While it lasts you cannot create new listings or edit existing '
                                                  'ones. Your live listings stay visible to buyers.'
                  WHEN 'store_block' THEN 'While it lasts your store and all its listings are invisible to buyers, '
                                          'and you cannot create new listings or edit existing ones. You can still '
                                          'remove your own listings.'
                  WHEN 'account_freeze' THEN 'While it lasts your store and all its listings are invisible to '
                                             'buyers, your payouts are held, and your seller tools are closed except '
                                             'for appeals.'
                  ELSE 'Your store and all its listings are invisible to buyers, your payouts are held, and your '
                       'seller tools are closed except for appeals.'
              END
           || CASE WHEN f.delisted > 0 THEN ' All ' || f.delisted || ' live listings of your store were removed.'
                   ELSE '' END
           || E'\n\nThe facts\n  On ' || to_char(f.starts_at AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY, HH24:MI')
           || ' (' || %(tz)s || ') your account reached ' || f.points || ' penalty points under this policy.'
           || CASE WHEN f.threshold <= f.points THEN ' The marketplace''s penalty ladder applies “' || f.label
                                                     || '” from ' || f.threshold || ' points.' ELSE '' END
           || CASE WHEN f.previous IS NOT NULL AND f.threshold > f.points
                   THEN E'\n  This measure is one step above what your points alone would give: the deadline to '
                        || 'comply with the previous measure, ' || f.previous_label || ' (sanction #' || f.previous
                        || ')' || coalesce(', ' || to_char(f.previous_deadline AT TIME ZONE %(tz)s,
                                                           'FMDD FMMonth YYYY, HH24:MI'), '')
                        || ', passed while listings that break the policy remained in your store, or you tried to '
                        || 're-list a banned product after that measure.'
                   WHEN f.previous IS NOT NULL
                   THEN E'\n  It follows the previous measure, ' || f.previous_label || ' (sanction #' || f.previous
                        || ') of ' || to_char(f.previous_starts AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY') || '.'
                   ELSE '' END
           || E'\n  The violations counted:\n' || f.lines
           || E'\n\nThe ground\n  ' || %(title)s || coalesce(', clause ' || cl.number || ': ' || cl.title, '')
           || E'.\n  ' || coalesce(cl.text, %(body)s)
           || E'\n\nAutomated means\n  Decision: applied automatically by the marketplace''s penalty ladder, from '
           || E'violations that moderators or automated checks confirmed.\n  Detection: '
           || CASE WHEN f.detected THEN 'some or all of the violations were found by automated detection.'
                   ELSE 'not automated.' END
           || E'\n\nPenalty points\n  Your points when this measure was issued: ' || f.points
           || '. Points count for ' || %(valid_days)s || E' days from each violation.\n'
           || E'  The marketplace''s penalty ladder for this policy:\n' || f.ladder_lines || E'\n  Next step: '
           || CASE WHEN f.kind = 'account_closure' THEN 'none: the account is closed.'
                   WHEN f.next_threshold IS NOT NULL
                   THEN f.next_label || coalesce(' for ' || f.next_days || ' days', '') || ', from '
                        || f.next_threshold || ' points'
                        || CASE WHEN f.compliance_deadline IS NOT NULL
                                THEN ', or earlier if you do not comply by the deadline below' ELSE '' END || '.'
                   ELSE 'none: this is the highest step of the ladder.' END
           || coalesce(E'\n\nDeadline to comply\n  By '
                       || to_char(f.compliance_deadline AT TIME ZONE %(tz)s, 'FMDD FMMonth YYYY, HH24:MI') || ' ('
                       || %(tz)s || '), remove every listing that breaks this policy, and do not try to list such '
                       || 'products again. If a listing that breaks the policy is still live at that time, or you '
                       || 'try to re-list a banned product, the next step of the ladder applies'
                       || coalesce(': ' || f.next_label || coalesce(' for ' || f.next_days || ' days', ''), '')
                       || '.', '')
           || E'\n\nHow to appeal\n  You may appeal until '
           || to_char((f.starts_at + %(appeal_days)s * interval '1 day') AT TIME ZONE %(tz)s,
                      'FMDD FMMonth YYYY, HH24:MI')
           || ' (' || %(tz)s || ') through the sellers'' API (POST /api/v1/appeals/, decision “sanction-' || f.id
           || '”) or your seller centre, stating why the decision is wrong. You may add a plan of action: the root '
           || 'cause of the violations, what you have corrected, and how you will make sure it does not happen '
           || 'again. A person who did not take the decision will review it. You may also use an out-of-court '
           || E'dispute settlement body or the courts.\n',
           true, f.starts_at + %(appeal_days)s * interval '1 day',
           jsonb_build_object(
               'decision_ground', 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
               'incompatible_content_ground',
               left(%(title)s || coalesce(', clause ' || cl.number || ': ' || cl.title, ''), 500),
               'incompatible_content_explanation', left(coalesce(cl.text, %(body)s), 2000),
               'incompatible_content_illegal', 'No',
               'category', 'STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS',
               'category_specification', jsonb_build_array('KEYWORD_PROHIBITED_PRODUCTS'),
               'content_type', jsonb_build_array('CONTENT_TYPE_PRODUCT'),
               'content_date', to_char(f.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
               'application_date', to_char(f.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
               'decision_facts', left(f.decision_facts, 5000),
               'source_type', 'SOURCE_VOLUNTARY',
               'automated_detection', CASE WHEN f.detected THEN 'Yes' ELSE 'No' END,
               'automated_decision', 'AUTOMATED_DECISION_PARTIALLY',
               'territorial_scope', %(territories)s::jsonb,
               'account_type', 'ACCOUNT_TYPE_BUSINESS',
               'puid', f.puid
           ) || CASE f.kind
               WHEN 'warning' THEN jsonb_build_object(
                   'decision_visibility', jsonb_build_array('DECISION_VISIBILITY_OTHER'),
                   'end_date_visibility_restriction', NULL,
                   'decision_visibility_other',
                   'Formal warning recorded against the account; no content or service restricted yet.')
               WHEN 'listing_restriction' THEN jsonb_build_object(
                   'decision_provision', 'DECISION_PROVISION_PARTIAL_SUSPENSION',
                   'end_date_service_restriction', to_char(f.ends_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD'))
               WHEN 'store_block' THEN jsonb_build_object(
                   'decision_provision', 'DECISION_PROVISION_TOTAL_SUSPENSION',
                   'end_date_service_restriction', to_char(f.ends_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD'))
               WHEN 'account_freeze' THEN jsonb_build_object(
                   'decision_provision', 'DECISION_PROVISION_TOTAL_SUSPENSION',
                   'end_date_service_restriction', to_char(f.ends_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD'),
                   'decision_monetary', 'DECISION_MONETARY_SUSPENSION',
                   'end_date_monetary_restriction', to_char(f.ends_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD'),
                   'decision_account', 'DECISION_ACCOUNT_SUSPENDED',
                   'end_date_account_restriction', to_char(f.ends_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD'))
                   || CASE WHEN f.delists_all AND f.delisted > 0 THEN jsonb_build_object(
                          'decision_visibility', jsonb_build_array('DECISION_VISIBILITY_CONTENT_REMOVED'),
                          'end_date_visibility_restriction', NULL) ELSE '{{}}'::jsonb END
               ELSE jsonb_build_object(
                   'decision_provision', 'DECISION_PROVISION_TOTAL_TERMINATION',
                   'end_date_service_restriction', NULL,
                   'decision_monetary', 'DECISION_MONETARY_SUSPENSION',
                   'end_date_monetary_restriction', NULL,
                   'decision_account', 'DECISION_ACCOUNT_TERMINATED',
                   'end_date_account_restriction', NULL)
           END,
           f.puid, 'sanction:' || f.id, %(at)s, 'pending', 0, NULL, NULL, ''
    FROM facts f
    LEFT JOIN moderation_policyclause cl ON cl.id = f.clause_id
    RETURNING id, merchant_id, kind, dedupe_key, subject, restricts
),
-- The merchants' status, from their active sanctions (the new ones included): the most severe decides.
restricting AS (
    SELECT s.merchant_id, s.kind, s.ends_at FROM moderation_sanction s
    WHERE s.merchant_id IN (SELECT merchant_id FROM issued) AND s.status = 'active'
    UNION ALL
    SELECT merchant_id, kind, ends_at FROM issued
),
worst AS (
    SELECT DISTINCT ON (r.merchant_id) r.merchant_id, r.kind, k.status
    FROM restricting r JOIN kinds k ON k.kind = r.kind
    WHERE k.status IS NOT NULL
    ORDER BY r.merchant_id, k.severity DESC
),
statuses AS (
    SELECT w.merchant_id, w.status,
           CASE WHEN bool_or(r.ends_at IS NULL) THEN NULL ELSE max(r.ends_at) END AS until
    FROM worst w JOIN restricting r ON r.merchant_id = w.merchant_id AND r.kind = w.kind
    GROUP BY w.merchant_id, w.status
),
changed AS (
    UPDATE sellers_merchant m
    SET enforcement_status = new.status, enforcement_until = new.until, payouts_held = new.held
    FROM (
        SELECT m.id, coalesce(s.status, 'active') AS status, s.until,
               coalesce(s.status IN ('frozen', 'closed'), false) AS held,
               m.enforcement_status AS old_status, m.enforcement_until AS old_until
        FROM sellers_merchant m LEFT JOIN statuses s ON s.merchant_id = m.id
        WHERE m.id IN (SELECT merchant_id FROM issued)
    ) AS new
    WHERE m.id = new.id
      AND (m.enforcement_status, m.enforcement_until, m.payouts_held) IS DISTINCT FROM (new.status, new.until, new.held)
    RETURNING m.id, new.old_status, new.old_until, new.status, new.until, new.held
),
events AS (
    INSERT INTO moderation_auditevent (occurred_at, actor_id, actor_name, verb, target_type_id, target_id,
                                       target_repr, merchant_id, policy_id, before, after, reason)
    SELECT %(at)s, NULL::integer, %(actor)s, %(sanction_issued)s, %(sanction_type)s, f.id,
           left(f.label || ' of merchant #' || f.merchant_id, 200), f.merchant_id, %(policy)s, NULL::jsonb,
           jsonb_build_object(
               'kind', f.kind, 'step', f.threshold, 'points', f.points,
               'ends_at', to_char(f.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'compliance_deadline',
               to_char(f.compliance_deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'previous', f.previous_id, 'violations', coalesce(to_jsonb(f.ids), '[]'::jsonb),
               'listings_delisted', f.delisted),
           f.reason
    FROM facts f
    UNION ALL
    SELECT %(at)s, NULL, 'task:notices', %(notice_created)s, %(notice_type)s, n.id, left(n.subject, 200),
           n.merchant_id, %(policy)s, NULL,
           jsonb_build_object('kind', n.kind, 'dedupe_key', n.dedupe_key, 'restricts', n.restricts), ''
    FROM notices n
    UNION ALL
    SELECT %(at)s, NULL, %(actor)s, %(status_changed)s, %(merchant_type)s, c.id, 'Merchant #' || c.id, c.id,
           NULL::bigint,
           jsonb_build_object('status', c.old_status,
                              'until', to_char(c.old_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')),
           jsonb_build_object('status', c.status,
                              'until', to_char(c.until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                              'payouts_held', c.held),
           'A sanction started.'
    FROM changed c
)
SELECT (SELECT count(*) FROM issued), (SELECT count(*) FROM notices), (SELECT count(*) FROM changed)
"""


def run_baseline(policy) -> tuple[float, int]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from moderation.models import SUSPENSION_KINDS, AuditVerb, Notice, Sanction, SanctionKind, Violation
    from moderation.models.sanctions import SEVERITY
    from moderation.services.sanctions import PRIOR_WARNING_DAYS, STATUS_FOR_KIND
    from moderation.services.transparency import EEA_COUNTRIES
    from sellers.models import Merchant

    def quote(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    kinds = ", ".join(
        f"({quote(kind)}, {quote(label)}, {SEVERITY[kind]}, "
        f"{quote(STATUS_FOR_KIND[kind]) + '::varchar' if kind in STATUS_FOR_KIND else 'NULL::varchar'})"
        for kind, label in SanctionKind.choices
    )
    statement = BASELINE.format(
        kinds=kinds,
        violation_kinds=", ".join(f"({quote(kind)}, {quote(label)})" for kind, label in Violation.Kind.choices),
        suspensions=", ".join(quote(kind) for kind in sorted(SUSPENSION_KINDS)),
    )
    at = timezone.now()
    params = {
        "policy": policy.pk,
        "slug": policy.slug,
        "title": str(policy),
        "body": policy.body,
        "tz": policy.timezone,
        "at": at,
        "since": policy.points_counted_since(at),
        "appeal_days": policy.appeal_window_days,
        "valid_days": policy.points_valid_days,
        "prior_days": PRIOR_WARNING_DAYS,
        "actor": "task:run_escalation",
        "territories": Jsonb(EEA_COUNTRIES),
        "sanction_issued": int(AuditVerb.SANCTION_ISSUED),
        "notice_created": int(AuditVerb.NOTICE_CREATED),
        "status_changed": int(AuditVerb.ENFORCEMENT_STATUS_CHANGED),
        "sanction_type": ContentType.objects.get_for_model(Sanction).pk,
        "notice_type": ContentType.objects.get_for_model(Notice).pk,
        "merchant_type": ContentType.objects.get_for_model(Merchant).pk,
    }
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        issued, notices, changed = cursor.fetchone()
    seconds = time.perf_counter() - started
    log(f"baseline: {seconds:.2f} s, {issued} sanctions, {notices} notices, {changed} merchants' status changed")
    return seconds, issued


# --- Main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=100_000, help="merchants holding violations; a fifth are due")
    parser.add_argument("--workers", type=int, default=2, help="processes running the ranges (default 2)")
    parser.add_argument("--no-inline", action="store_true", help="skip the one-process run of run_escalation")
    parser.add_argument("--profile", action="store_true", help="profile the one-process run (cProfile, to stderr)")
    args = parser.parse_args()

    with throwaway_database("bench_escalation"):
        log(f"generating {args.merchants} merchants…")
        data = generate(args.merchants)
        last_id = data["last_sanction_id"]

        loads = [load_average()]
        seconds, queries, ranges, range_queries = run_real(args.workers)
        expected = footprint(last_id)
        log(f"the sweep wrote {describe(expected)}")
        sanctions = len(expected["sanctions"])
        if sanctions != data["due"]:
            raise SystemExit(f"the sweep issued {sanctions} sanctions; {data['due']} merchants are due")
        reset(last_id)

        inline_seconds = inline_queries = None
        if not args.no_inline:
            inline_seconds, inline_queries, _ = run_inline(profile=args.profile)
            same_work(expected, footprint(last_id), "run_escalation inline")
            reset(last_id)

        loads.append(load_average())
        baseline_seconds, _ = run_baseline(data["policy"])
        same_work(expected, footprint(last_id), "the baseline")

    result = {
        "benchmark": "escalation",
        "merchants": args.merchants,
        "seconds": round(seconds, 2),
        "baseline_seconds": round(baseline_seconds, 2),
        "ratio": round(seconds / baseline_seconds, 3),
        "queries": queries,
        "sanctions": sanctions,
        "workers": args.workers,
        "ranges": ranges,
        "queries_per_range": range_queries,
    }
    if inline_seconds is not None:
        result |= {
            "inline_seconds": round(inline_seconds, 2),
            "inline_ratio": round(inline_seconds / baseline_seconds, 3),
            "inline_queries": inline_queries,
        }
    # Before the sweep on workers and before the baseline: the ratio is only as steady as these.
    result["load_average"] = loads
    result["peak_rss_mb"] = peak_rss_mb()
    print_result(result)


if __name__ == "__main__":
    main()
