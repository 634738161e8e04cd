"""Set-based generation shared by the API and load benchmarks: the sellers, the completed
category removal whose delistings are decisions, and the violations, sanctions and appeals.

``plan`` holds merchant ids, one entry per decision: ``delist``, ``violate``, ``sanction``,
and the token ``holders`` (each gets one open and one granted appeal).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Decisions spread over 140 days, ending ten days ago; {n} is the row's number.
DECIDED_AT = "now() - interval '10 days' - make_interval(secs => ({n} * 7919) %% (140 * 86400))"


def insert_sellers(cursor, *, marketplace_id: int, merchants: int) -> int:
    """``merchants`` sellers' accounts and their merchants, ids contiguous; returns the first id."""
    cursor.execute(
        """
        INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        SELECT '!', NULL, false, 'seller' || n, '', '', 'seller' || n || '@example.com', false, true, now()
        FROM generate_series(1, %s) AS n
        """,
        [merchants],
    )
    cursor.execute(
        """
        INSERT INTO sellers_merchant (marketplace_id, store_name, company_name, country, contact_email,
                                      language, user_id, enforcement_status, payouts_held, created_at)
        SELECT %s, 'Store ' || n, 'Company ' || n || ' Ltd.', 'CN', 'seller' || n || '@example.com',
               CASE WHEN n %% 3 = 0 THEN 'en' ELSE 'zh-hans' END, u.id, 'active', false, now()
        FROM generate_series(1, %s) AS n JOIN auth_user AS u ON u.username = 'seller' || n
        ORDER BY n
        """,
        [marketplace_id, merchants],
    )
    cursor.execute("SELECT min(id), max(id) FROM sellers_merchant")
    first, last = cursor.fetchone()
    assert last - first + 1 == merchants, "merchant ids are not contiguous"
    return first


def completed_removal(cursor, *, policy, clause, banned, delisted_merchants: list[int], now: datetime):
    """The removal that closed ``banned`` 150 days ago, as its run leaves it (listings are the caller's)."""
    from moderation.models import CategoryRemoval

    done_at = now - timedelta(days=150)
    merchants = len(set(delisted_merchants))
    removal = CategoryRemoval.objects.create(
        policy=policy,
        clause=clause,
        scope_category_ids=[banned.pk],
        scheduled_for=done_at,
        status=CategoryRemoval.Status.COMPLETED,
        dry_run={"listings": len(delisted_merchants), "merchants": merchants},
        listings_total=len(delisted_merchants),
        listings_done=len(delisted_merchants),
        chunks_total=1,
        chunks_done=1,
        merchants_notified=merchants,
        started_at=done_at,
        finished_at=done_at,
        last_progress_at=done_at,
    )
    removal.categories.add(banned)
    cursor.execute(
        "UPDATE sellers_category SET status = 'retired', retired_at = %s, retired_by_removal_id = %s WHERE id = %s",
        [done_at, removal.pk, banned.pk],
    )
    return removal


def insert_violations_sanctions_and_appeals(cursor, *, policy, clause, moderator: int, moderator_name: str, plan):
    """The plan's violations and sanctions in random order; each holder's open and granted appeal."""
    cursor.execute(
        f"""
        INSERT INTO moderation_violation (merchant_id, listing_id, policy_id, clause_id, review_item_id, kind,
                                          decided_by_id, decided_by_name, decided_at, automated_detection,
                                          automated_decision, points, points_capped, counts_toward_sanctions,
                                          status, overturned_at, evidence, reason)
        SELECT v.merchant_id, NULL, %(policy)s, %(clause)s, NULL,
               (ARRAY['prohibited_listing', 'keyword_evasion', 'category_evasion', 'relist_attempt'])[1 + v.n %% 4],
               CASE WHEN v.n %% 4 = 3 THEN NULL ELSE %(moderator)s END,
               CASE WHEN v.n %% 4 = 3 THEN 'task:relist-check' ELSE %(moderator_name)s END,
               {DECIDED_AT.format(n="v.n")}, v.n %% 4 = 3, v.n %% 4 = 3,
               CASE WHEN v.n %% 2 = 0 THEN 4 ELSE 0 END, v.n %% 4 = 0, v.n %% 2 = 0,
               CASE WHEN v.n %% 10 = 0 THEN 'overturned' ELSE 'active' END,
               CASE WHEN v.n %% 10 = 0 THEN now() - interval '5 days' END,
               jsonb_build_object('title', 'Antminer S19 Pro 110TH/s Bitcoin miner #' || v.n,
                                  'matched', jsonb_build_array('antminer')),
               'Mining hardware is prohibited.'
        FROM unnest(%(violate)s::bigint[]) WITH ORDINALITY AS v(merchant_id, n)
        ORDER BY random()
        """,
        {
            "policy": policy.pk,
            "clause": clause.pk,
            "moderator": moderator,
            "moderator_name": moderator_name,
            "violate": plan["violate"],
        },
    )
    cursor.execute(
        f"""
        INSERT INTO moderation_sanction (merchant_id, policy_id, step_id, kind, status, starts_at, ends_at,
                                         compliance_deadline, ended_at, points, delists_all, previous_id, cause,
                                         issued_by_id, issued_by_name, automated, reason, ended_by_name, end_reason)
        SELECT s.merchant_id, %(policy)s, NULL,
               (ARRAY['warning', 'listing_restriction', 'store_block'])[1 + s.n %% 3],
               CASE WHEN s.n %% 3 = 0 THEN 'active' ELSE 'expired' END,
               {DECIDED_AT.format(n="s.n")},
               CASE WHEN s.n %% 3 = 0 THEN NULL ELSE {DECIDED_AT.format(n="s.n")} + interval '7 days' END,
               NULL,
               CASE WHEN s.n %% 3 = 0 THEN NULL ELSE {DECIDED_AT.format(n="s.n")} + interval '7 days' END,
               8 + 4 * (s.n %% 3), false, NULL, 'bench:' || s.n, NULL, 'task:escalation', true,
               'Reached ' || (8 + 4 * (s.n %% 3)) || ' points under “Virtual currency mining machines”.',
               CASE WHEN s.n %% 3 = 0 THEN '' ELSE 'task:escalation' END, ''
        FROM unnest(%(sanction)s::bigint[]) WITH ORDINALITY AS s(merchant_id, n)
        ORDER BY random()
        """,
        {"policy": policy.pk, "sanction": plan["sanction"]},
    )
    # Each token holder: one open appeal against its newest violation, one granted against a delisting.
    cursor.execute(
        """
        INSERT INTO moderation_appeal (merchant_id, kind, decision_key, policy_id, listing_id, removal_id,
                                       violation_id, sanction_id, decided_originally_at, original_decider_id,
                                       grounds, plan_root_cause, plan_corrections, plan_prevention, status, tier,
                                       filed_by_id, filed_at, due_at, claimed_by_id, claimed_until,
                                       decided_by_id, decided_at, decision_note, withdrawn_at)
        SELECT DISTINCT ON (v.merchant_id)
               v.merchant_id, 'violation', 'violation-' || v.id, v.policy_id, NULL, NULL, v.id, NULL,
               v.decided_at, v.decided_by_id, 'This is a book about data mining, not a machine.', '', '', '',
               'submitted', 'moderator', m.user_id, now() - interval '1 day', now() + interval '2 days',
               NULL, NULL, NULL, NULL, '', NULL
        FROM moderation_violation AS v JOIN sellers_merchant AS m ON m.id = v.merchant_id
        WHERE v.merchant_id = ANY(%(holders)s) AND v.status = 'active'
        ORDER BY v.merchant_id, v.decided_at DESC
        """,
        {"holders": plan["holders"]},
    )
    cursor.execute(
        """
        INSERT INTO moderation_appeal (merchant_id, kind, decision_key, policy_id, listing_id, removal_id,
                                       violation_id, sanction_id, decided_originally_at, original_decider_id,
                                       grounds, plan_root_cause, plan_corrections, plan_prevention, status, tier,
                                       filed_by_id, filed_at, due_at, claimed_by_id, claimed_until,
                                       decided_by_id, decided_at, decision_note, withdrawn_at)
        SELECT DISTINCT ON (l.merchant_id)
               l.merchant_id, 'delisting', 'delisting-' || l.id, %(policy)s, l.id, l.delisted_by_removal_id,
               NULL, NULL, l.delisted_at, NULL, 'A GPU rig frame, not a miner.', '', '', '',
               'granted', 'moderator', m.user_id, now() - interval '4 days', now() - interval '1 day',
               NULL, NULL, %(moderator)s, now() - interval '2 days', 'Granted: not a mining machine.', NULL
        FROM sellers_listing AS l JOIN sellers_merchant AS m ON m.id = l.merchant_id
        WHERE l.merchant_id = ANY(%(holders)s) AND l.status = 'delisted' AND l.delisted_by_removal_id IS NOT NULL
        ORDER BY l.merchant_id, l.delisted_at
        """,
        {"holders": plan["holders"], "policy": policy.pk, "moderator": moderator},
    )
