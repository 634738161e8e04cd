"""The policy life cycle: draft → announced → in effect → retired, with versions after announcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from moderation.models import AuditEvent, AuditVerb, Notice, Policy
from moderation.selectors.policies import current_policy
from moderation.services.audit import SystemActor
from moderation.services.policies import (
    ClauseText,
    announce_policy,
    create_policy,
    edit_policy,
    new_policy_version,
    put_due_policies_in_effect,
    retire_policy,
)
from tests.moderation.conftest import ANNOUNCED, EFFECTIVE, ENFORCEMENT, REFERENCE_CLAUSES, SHANGHAI

BEAT = SystemActor("start_due_removals")


def policy_kwargs(marketplace, *categories, **overrides):
    return {
        "slug": "virtual-currency-mining",
        "title": "Virtual currency mining machines",
        "body": "Virtual currency mining machines are prohibited on the marketplace.",
        "marketplaces": [marketplace],
        "categories": list(categories),
        "clauses": REFERENCE_CLAUSES,
        "effective_at": EFFECTIVE,
        "enforcement_starts_at": ENFORCEMENT,
        **overrides,
    }


# --- creating ------------------------------------------------------------------------------


def test_it_creates_a_draft_with_its_clauses_and_an_audit_event(policy_admin, draft_policy):
    assert draft_policy.status == Policy.Status.DRAFT
    assert draft_policy.version == 1 and draft_policy.announced_at is None
    assert draft_policy.effective_at == datetime(2021, 10, 7, 16, 0, tzinfo=UTC)
    assert [c.number for c in draft_policy.clauses.all()] == [1, 2, 3]
    event = AuditEvent.objects.get(verb=AuditVerb.POLICY_CREATED)
    assert event.actor == policy_admin and event.policy == draft_policy
    assert event.after["categories"] == ["blockchain-miner-accessories", "blockchain-miners"]
    assert event.after["marketplaces"] == ["alibaba"]


def test_it_refuses_dates_out_of_order_on_the_end_of_grace_and_creates_nothing(policy_admin, marketplace, miners):
    with pytest.raises(ValidationError) as refused:
        create_policy(
            actor=policy_admin,
            **policy_kwargs(marketplace, miners, effective_at=ENFORCEMENT, enforcement_starts_at=EFFECTIVE),
        )
    assert list(refused.value.message_dict) == ["enforcement_starts_at"]
    assert "before the effective date" in refused.value.message_dict["enforcement_starts_at"][0]
    assert not Policy.objects.exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.POLICY_CREATED).exists()


def test_it_refuses_a_policy_without_marketplace_and_creates_nothing(policy_admin, marketplace, miners):
    with pytest.raises(ValidationError) as refused:
        create_policy(actor=policy_admin, **policy_kwargs(marketplace, miners, marketplaces=[]))
    assert "marketplaces" in refused.value.message_dict
    assert not Policy.objects.exists()


def test_the_database_refuses_dates_out_of_order_even_without_the_service(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(
            slug="bypass", title="Bypass", body="…", effective_at=ENFORCEMENT, enforcement_starts_at=EFFECTIVE
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(
            slug="bypass",
            title="Bypass",
            body="…",
            status=Policy.Status.ANNOUNCED,
            announced_at=EFFECTIVE + timedelta(days=1),
            effective_at=EFFECTIVE,
            enforcement_starts_at=ENFORCEMENT,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        # Announced without a time.
        Policy.objects.create(
            slug="bypass",
            title="Bypass",
            body="…",
            status=Policy.Status.ANNOUNCED,
            effective_at=EFFECTIVE,
            enforcement_starts_at=ENFORCEMENT,
        )
    assert not Policy.objects.exists()


# --- announcing ----------------------------------------------------------------------------


@pytest.fixture
def announce_catalog(removal_catalog):
    return removal_catalog


def test_it_announces_and_notifies_each_merchant_with_live_listings_in_scope_once(
    policy_admin, draft_policy, announce_catalog, merchant_a, merchant_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        policy = announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)

    assert policy.status == Policy.Status.ANNOUNCED
    assert policy.announced_at == ANNOUNCED
    notices = Notice.objects.filter(kind=Notice.Kind.POLICY_ANNOUNCED)
    # A: 5 + 2 in the subcategory; B: 4. Not C (AliExpress is outside the policy's scope),
    # not D (its listings are removed by the seller or delisted already).
    assert sorted(notices.values_list("merchant_id", flat=True)) == sorted([merchant_a.pk, merchant_b.pk])
    assert all(n.policy_id == policy.pk and not n.restricts for n in notices)
    assert "7 个在线商品" in notices.get(merchant=merchant_a).body
    assert "You currently have 4 live listings" in notices.get(merchant=merchant_b).body

    event = AuditEvent.objects.get(verb=AuditVerb.POLICY_ANNOUNCED)
    assert event.actor == policy_admin and event.policy == policy
    assert event.before == {"status": "draft"}
    assert event.after["status"] == "announced" and event.after["merchants_notified"] == 2
    assert AuditEvent.objects.filter(verb=AuditVerb.NOTICE_CREATED, policy=policy).count() == 2

    # The e-mails go out after commit, one per notice, and the notices are marked sent.
    assert sorted(m.to[0] for m in mail.outbox) == ["hello@gadgets.example", "sales@hashpower.example"]
    assert {m.subject for m in mail.outbox} == set(notices.values_list("subject", flat=True))
    assert set(notices.values_list("email_status", flat=True)) == {Notice.EmailStatus.SENT}


def test_it_sends_no_mail_before_the_announcement_commits(
    policy_admin, draft_policy, announce_catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)
    assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 2


def test_the_announcement_gives_the_dates_in_the_policys_timezone(
    policy_admin, draft_policy, announce_catalog, merchant_a, merchant_b
):
    announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)
    english = Notice.objects.get(kind=Notice.Kind.POLICY_ANNOUNCED, merchant=merchant_b)
    # Midnight in Shanghai is 16:00 UTC the day before: the text must say the 8th.
    assert english.subject == "New rule: Virtual currency mining machines takes effect on 8 October 2021"
    assert "From 8 October 2021, 00:00 the rules apply" in english.body
    assert "Until 15 October 2021, 00:00 (grace period)" in english.body
    assert "announced on 27 September 2021" in english.body
    assert "Asia/Shanghai" in english.body
    assert "7 October 2021" not in english.body
    chinese = Notice.objects.get(kind=Notice.Kind.POLICY_ANNOUNCED, merchant=merchant_a)
    assert chinese.language == "zh-hans"
    assert "2021年10月8日" in chinese.subject
    assert "自 2021年10月8日 00:00 起规则生效" in chinese.body


def test_it_announces_now_when_no_time_is_given(travel, policy_admin, draft_policy):
    moment = travel.to(datetime(2021, 9, 27, 9, 30, tzinfo=SHANGHAI))
    policy = announce_policy(actor=policy_admin, policy=draft_policy)
    assert policy.announced_at == moment


def test_it_refuses_to_announce_after_the_effective_date(travel, policy_admin, draft_policy):
    travel.to(EFFECTIVE + timedelta(minutes=1))
    with pytest.raises(ValidationError) as refused:
        announce_policy(actor=policy_admin, policy=draft_policy)
    assert "effective_at" in refused.value.message_dict
    draft_policy.refresh_from_db()
    assert draft_policy.status == Policy.Status.DRAFT
    assert not Notice.objects.exists()


def test_it_refuses_to_announce_twice(policy_admin, announced_policy, announce_catalog):
    with pytest.raises(ValidationError) as refused:
        announce_policy(actor=policy_admin, policy=announced_policy, announced_at=ANNOUNCED)
    assert refused.value.messages == ["“Virtual currency mining machines” is announced, not a draft."]
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_ANNOUNCED).count() == 1
    assert not Notice.objects.filter(kind=Notice.Kind.POLICY_ANNOUNCED).exists()


def test_it_refuses_to_announce_a_policy_without_clauses(policy_admin, marketplace, miners):
    policy = create_policy(actor=policy_admin, **policy_kwargs(marketplace, miners, clauses=[]))
    with pytest.raises(ValidationError) as refused:
        announce_policy(actor=policy_admin, policy=policy, announced_at=ANNOUNCED)
    assert "clauses" in refused.value.message_dict
    policy.refresh_from_db()
    assert policy.status == Policy.Status.DRAFT


# --- editing and versions ------------------------------------------------------------------


def test_it_edits_a_draft_and_records_before_and_after(policy_admin, draft_policy, graphics_cards):
    edit_policy(
        actor=policy_admin,
        policy=draft_policy,
        title="Mining machines",
        categories=[graphics_cards],
        clauses=[ClauseText(1, "Mining hardware", "Bitcoin miners.")],
    )
    draft_policy.refresh_from_db()
    assert draft_policy.title == "Mining machines"
    assert list(draft_policy.categories.all()) == [graphics_cards]
    assert [(c.number, c.title) for c in draft_policy.clauses.all()] == [(1, "Mining hardware")]
    event = AuditEvent.objects.get(verb=AuditVerb.POLICY_EDITED)
    assert event.before["title"] == "Virtual currency mining machines"
    assert event.after["title"] == "Mining machines"
    assert event.after["categories"] == ["graphics-cards"]


def test_it_refuses_to_edit_a_draft_into_dates_out_of_order(policy_admin, draft_policy):
    with pytest.raises(ValidationError) as refused:
        edit_policy(actor=policy_admin, policy=draft_policy, enforcement_starts_at=EFFECTIVE - timedelta(days=1))
    assert "enforcement_starts_at" in refused.value.message_dict
    draft_policy.refresh_from_db()
    assert draft_policy.enforcement_starts_at == ENFORCEMENT
    assert not AuditEvent.objects.filter(verb=AuditVerb.POLICY_EDITED).exists()


def test_an_announced_policy_cannot_be_edited(policy_admin, announced_policy):
    with pytest.raises(ValidationError) as refused:
        edit_policy(actor=policy_admin, policy=announced_policy, title="Changed after the fact")
    assert "make a new version" in refused.value.messages[0]
    announced_policy.refresh_from_db()
    assert announced_policy.title == "Virtual currency mining machines"
    assert not AuditEvent.objects.filter(verb=AuditVerb.POLICY_EDITED).exists()


def test_a_new_version_is_a_draft_copy_that_retires_the_old_one_when_announced(
    travel, policy_admin, announced_policy, other_marketplace, merchant_b, make_listing, miners
):
    draft = new_policy_version(actor=policy_admin, policy=announced_policy)
    assert draft.status == Policy.Status.DRAFT
    assert (draft.slug, draft.version, draft.supersedes) == (announced_policy.slug, 2, announced_policy)
    assert [(c.number, c.title, c.text) for c in draft.clauses.all()] == [
        (c.number, c.title, c.text) for c in announced_policy.clauses.all()
    ]
    assert set(draft.categories.all()) == set(announced_policy.categories.all())
    assert set(draft.marketplaces.all()) == set(announced_policy.marketplaces.all())
    assert (draft.effective_at, draft.enforcement_starts_at) == (EFFECTIVE, ENFORCEMENT)

    # The platform widens the ban to AliExpress: the draft is edited, the old version still applies.
    edit_policy(
        actor=policy_admin,
        policy=draft,
        marketplaces=[*announced_policy.marketplaces.all(), other_marketplace],
        body="Now on AliExpress too.",
    )
    announced_policy.refresh_from_db()
    assert announced_policy.status == Policy.Status.ANNOUNCED
    make_listing(merchant_b, miners)

    travel.to(datetime(2021, 10, 1, 9, 0, tzinfo=SHANGHAI))
    announce_policy(actor=policy_admin, policy=draft)
    announced_policy.refresh_from_db()
    draft.refresh_from_db()
    assert announced_policy.status == Policy.Status.RETIRED
    assert draft.status == Policy.Status.ANNOUNCED
    assert draft.body == "Now on AliExpress too."

    trail = AuditEvent.objects.filter(policy__slug=announced_policy.slug)
    versioned = trail.get(verb=AuditVerb.POLICY_VERSIONED)
    assert versioned.target_id == draft.pk
    assert versioned.before == {"version": 1, "policy_id": announced_policy.pk}
    retired = trail.get(verb=AuditVerb.POLICY_RETIRED)
    assert retired.target_id == announced_policy.pk and retired.policy == announced_policy
    assert retired.after == {"status": "retired", "superseded_by": draft.pk}
    assert retired.reason == "Superseded by version 2."
    assert sorted(trail.filter(verb=AuditVerb.POLICY_ANNOUNCED).values_list("policy__version", flat=True)) == [
        1,
        2,
    ]
    assert trail.filter(verb=AuditVerb.POLICY_EDITED, policy=draft).count() == 1
    # The new version tells the merchant again, under its own dedupe key.
    assert Notice.objects.filter(kind=Notice.Kind.POLICY_ANNOUNCED, policy=draft, merchant=merchant_b).exists()


def test_a_new_version_is_refused_for_a_draft_and_when_a_newer_one_exists(policy_admin, announced_policy):
    draft = new_policy_version(actor=policy_admin, policy=announced_policy)
    with pytest.raises(ValidationError, match="already has a newer version"):
        new_policy_version(actor=policy_admin, policy=announced_policy)
    with pytest.raises(ValidationError, match="still a draft"):
        new_policy_version(actor=policy_admin, policy=draft)
    assert Policy.objects.count() == 2
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_VERSIONED).count() == 1


@pytest.fixture
def versioned(policy_admin, announced_policy):
    return new_policy_version(actor=policy_admin, policy=announced_policy)


def test_the_database_keeps_one_live_version_per_slug(announced_policy, versioned):
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.filter(pk=versioned.pk).update(status=Policy.Status.ANNOUNCED, announced_at=ANNOUNCED)
    versioned.refresh_from_db()
    assert versioned.status == Policy.Status.DRAFT


def test_a_policy_can_be_retired_once_with_a_reason(policy_admin, announced_policy):
    with pytest.raises(ValidationError):
        retire_policy(actor=policy_admin, policy=announced_policy, reason="  ")
    retire_policy(actor=policy_admin, policy=announced_policy, reason="Replaced by law.")
    with pytest.raises(ValidationError, match="retired already"):
        retire_policy(actor=policy_admin, policy=announced_policy, reason="Again.")
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_RETIRED).count() == 1


# --- taking effect -------------------------------------------------------------------------


def test_it_puts_the_policy_in_effect_at_midnight_in_shanghai_once(travel, announced_policy):
    travel.to(EFFECTIVE - timedelta(seconds=1))
    assert put_due_policies_in_effect(actor=BEAT) == []
    announced_policy.refresh_from_db()
    assert announced_policy.status == Policy.Status.ANNOUNCED

    travel.to(datetime(2021, 10, 7, 16, 0, tzinfo=UTC))
    assert put_due_policies_in_effect(actor=BEAT) == [announced_policy.pk]
    assert put_due_policies_in_effect(actor=BEAT) == []
    announced_policy.refresh_from_db()
    assert announced_policy.status == Policy.Status.IN_EFFECT
    event = AuditEvent.objects.get(verb=AuditVerb.POLICY_TOOK_EFFECT)
    assert event.actor is None and event.actor_name == "task:start_due_removals"
    assert event.after == {"status": "in_effect"}


def test_a_draft_never_takes_effect(travel, draft_policy):
    travel.to(ENFORCEMENT + timedelta(days=30))
    assert put_due_policies_in_effect(actor=BEAT) == []
    draft_policy.refresh_from_db()
    assert draft_policy.status == Policy.Status.DRAFT


@pytest.mark.parametrize(
    ("moment", "in_grace", "counts"),
    [
        pytest.param(datetime(2021, 9, 27, 11, 0, tzinfo=SHANGHAI), False, False, id="after-announcement"),
        pytest.param(datetime(2021, 10, 7, 15, 59, 59, tzinfo=UTC), False, False, id="a-second-before"),
        pytest.param(datetime(2021, 10, 7, 16, 0, tzinfo=UTC), True, False, id="effective-midnight-shanghai"),
        pytest.param(datetime(2021, 10, 12, 12, 0, tzinfo=SHANGHAI), True, False, id="during-grace"),
        pytest.param(datetime(2021, 10, 14, 23, 59, tzinfo=SHANGHAI), True, False, id="last-minute-of-grace"),
        pytest.param(datetime(2021, 10, 15, 0, 0, tzinfo=SHANGHAI), False, True, id="grace-over"),
        pytest.param(datetime(2022, 1, 1, tzinfo=SHANGHAI), False, True, id="long-after"),
    ],
)
def test_grace_and_sanctions_follow_the_reference_timeline(travel, announced_policy, moment, in_grace, counts):
    travel.to(moment)
    assert announced_policy.in_grace() is in_grace
    assert announced_policy.counts_toward_sanctions() is counts
    # The same answers when the time is passed explicitly.
    assert announced_policy.in_grace(moment) is in_grace
    assert announced_policy.counts_toward_sanctions(moment) is counts


def test_a_draft_or_retired_policy_has_no_grace_and_no_sanctions(travel, policy_admin, draft_policy):
    travel.to(datetime(2021, 10, 10, tzinfo=SHANGHAI))
    assert not draft_policy.in_grace() and not draft_policy.counts_toward_sanctions()
    announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)
    retired = retire_policy(actor=policy_admin, policy=draft_policy, reason="Withdrawn.")
    assert not retired.in_grace() and not retired.counts_toward_sanctions()
    travel.to(datetime(2021, 11, 1, tzinfo=SHANGHAI))
    assert not retired.counts_toward_sanctions()


def test_the_appeal_deadline_is_180_days_after_the_decision(announced_policy):
    decided = datetime(2021, 10, 8, 9, 0, tzinfo=SHANGHAI)
    assert announced_policy.appeal_deadline(decided) == datetime(2022, 4, 6, 9, 0, tzinfo=SHANGHAI)


def test_a_new_version_of_a_policy_in_effect_takes_over_on_its_own_date_without_a_gap(
    announced_policy, policy_admin, travel
):
    system = SystemActor("tests")
    travel.to(EFFECTIVE + timedelta(days=30))
    put_due_policies_in_effect(actor=system)
    draft = new_policy_version(actor=policy_admin, policy=announced_policy)
    widened = datetime(2021, 12, 1, tzinfo=SHANGHAI)
    edit_policy(actor=policy_admin, policy=draft, effective_at=widened, enforcement_starts_at=widened)
    announce_policy(actor=policy_admin, policy=draft)

    # Announced, not yet in effect: the version in effect still applies.
    announced_policy.refresh_from_db()
    assert announced_policy.status == Policy.Status.IN_EFFECT and announced_policy.is_effective()
    assert current_policy(announced_policy.slug) == announced_policy

    travel.to(widened + timedelta(minutes=1))
    put_due_policies_in_effect(actor=system)
    announced_policy.refresh_from_db()
    draft.refresh_from_db()
    assert (announced_policy.status, draft.status) == (Policy.Status.RETIRED, Policy.Status.IN_EFFECT)
    assert current_policy(announced_policy.slug) == draft
    retired = AuditEvent.objects.get(verb=AuditVerb.POLICY_RETIRED, target_id=announced_policy.pk)
    assert retired.after["superseded_by"] == draft.pk
