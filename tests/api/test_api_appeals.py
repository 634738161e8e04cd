"""The sellers' API for appeals: filing one against each kind of decision, the refusals (400, 404, 409),
withdrawing, the per-merchant throttle, the list and its filters, and a race of identical filings.

Every refusal must leave nothing behind: no appeal, no audit event, no notice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from moderation.api.views import AppealFilingThrottle
from moderation.models import Appeal, AuditEvent, AuditVerb, Notice, Policy, Sanction, Violation
from moderation.services import appeals as appeal_services
from moderation.services.sanctions import issue_manual_sanction, lift_sanction
from sellers.models import Merchant
from tests.api.conftest import token_client
from tests.concurrency import race

APPEALS = "/api/v1/appeals/"
GROUNDS = "The listing was a graphics card for gaming, not a mining machine: see its photos and title."
REASON = "The evidence shows the listing breaches the policy."
PLAN = {
    "plan_root_cause": "Our catalogue team copied old listings of mining machines without checking the policy.",
    "plan_corrections": "Every mining listing was removed and the catalogue reviewed by a second person.",
    "plan_prevention": "New listings now go through a checklist of the marketplace's prohibited products.",
}
KINDS = ["delisting", "violation", "sanction"]  # the order of Decisions.keys


def detail(appeal_id: int) -> str:
    return f"{APPEALS}{appeal_id}/"


def withdraw_url(appeal_id: int) -> str:
    return f"{APPEALS}{appeal_id}/withdraw/"


def written() -> tuple[int, int, int]:
    """What a refused request must leave as it was."""
    return Appeal.objects.count(), AuditEvent.objects.count(), Notice.objects.count()


def file(client, decision: str, grounds: str = GROUNDS, **extra):
    return client.post(APPEALS, {"decision": decision, "grounds": grounds, **extra}, format="json")


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


@pytest.fixture
def decisions(decisions_of, merchant_a, merchant_b):
    """(A's decisions, B's decisions): a delisting, a take-down violation and a warning each."""
    return decisions_of(merchant_a, merchant_b)


@pytest.fixture
def mine(decisions):
    return decisions[0]


@pytest.fixture
def theirs(decisions):
    return decisions[1]


def filed_by_service(merchant, key: str) -> Appeal:
    kind, _, object_id = key.partition("-")
    return appeal_services.file_appeal(
        actor=merchant.user, merchant=merchant, kind=kind, object_id=int(object_id), grounds=GROUNDS
    )


# --- filing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "kind", "tier"), [(0, "delisting", "moderator"), (1, "violation", "moderator"), (2, "sanction", "senior")]
)
def test_a_merchant_appeals_each_kind_of_its_decisions(
    api_a, mine, travel, merchant_a, merchant_user_a, announced_policy, index, kind, tier
):
    key = mine.keys[index]
    now = travel.now()

    response = file(api_a, key)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["decision"], body["kind"]) == ("submitted", key, kind)
    assert body["policy"] == {"id": announced_policy.pk, "title": announced_policy.title}
    assert body["grounds"] == GROUNDS
    assert when(body["filed_at"]) == now
    assert when(body["due_at"]) == now + timedelta(hours=django_settings.APPEAL_DUE_HOURS)
    assert body["withdrawn_at"] is None and body["decided_at"] is None and body["decision_note"] == ""
    appeal = Appeal.objects.get(pk=body["id"])
    assert (appeal.merchant, appeal.filed_by, appeal.decision_key, appeal.tier) == (
        merchant_a,
        merchant_user_a,
        key,
        tier,
    )
    event = AuditEvent.objects.get(verb=AuditVerb.APPEAL_FILED)
    assert (event.target_id, event.merchant_id, event.actor, event.policy_id) == (
        appeal.pk,
        merchant_a.pk,
        merchant_user_a,
        announced_policy.pk,
    )
    assert event.target_type.model_class() is Appeal and event.after == {"decision": key, "tier": tier}
    notice = Notice.objects.get(kind=Notice.Kind.APPEAL_RECEIVED)
    assert (notice.merchant, notice.policy, notice.dedupe_key) == (
        merchant_a,
        announced_policy,
        f"appeal:{appeal.pk}:received",
    )
    # Merchant A reads Simplified Chinese: the notice is written in it.
    assert notice.language == "zh-hans" == merchant_a.language
    assert is_chinese(notice.subject)
    assert notice.restricts is False


def test_grounds_are_trimmed_and_exactly_the_limits_are_accepted(api_a, mine):
    shortest = file(api_a, mine.keys[1], grounds="   " + "x" * 20 + "   ")
    assert shortest.status_code == 201, shortest.content
    assert shortest.json()["grounds"] == "x" * 20
    longest = file(api_a, mine.keys[2], grounds="y" * 5000)
    assert longest.status_code == 201, longest.content
    assert len(longest.json()["grounds"]) == 5000


def test_a_form_encoded_appeal_is_accepted_too(api_a, mine):
    response = api_a.post(APPEALS, {"decision": mine.keys[0], "grounds": GROUNDS})
    assert response.status_code == 201, response.content
    assert response.json()["decision"] == mine.keys[0]


# --- 400: what the merchant sent is wrong -------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"grounds": "Wrong decision."}, "grounds", id="grounds-under-20"),
        pytest.param({"grounds": "   " + "x" * 19 + "   "}, "grounds", id="grounds-under-20-once-trimmed"),
        pytest.param({"grounds": "z" * 5001}, "grounds", id="grounds-over-5000"),
        pytest.param({"grounds": None}, "grounds", id="grounds-null"),
        pytest.param({"grounds": ""}, "grounds", id="grounds-empty"),
        pytest.param({"plan_root_cause": PLAN["plan_root_cause"]}, "plan_root_cause", id="plan-on-a-violation"),
        pytest.param({"plan_prevention": PLAN["plan_prevention"]}, "plan_prevention", id="prevention-on-a-violation"),
        pytest.param({"plan_corrections": "c" * 5001}, "plan_corrections", id="plan-over-5000"),
        pytest.param({"decision": "violation-abc"}, "decision", id="decision-not-a-number"),
        pytest.param({"decision": "listing-3"}, "decision", id="decision-unknown-kind"),
        pytest.param({"decision": ""}, "decision", id="decision-empty"),
        pytest.param({"decision": "violation-0"}, "decision", id="decision-zero"),
        pytest.param({"decision": "violation--3"}, "decision", id="decision-negative"),
        pytest.param({"decision": "violation-1234567890123456789"}, "decision", id="decision-too-long"),
    ],
)
def test_invalid_input_is_refused_per_field_and_creates_nothing(api_a, mine, payload, field):
    data = {"decision": mine.keys[1], "grounds": GROUNDS, **payload}
    before = written()

    response = api_a.post(APPEALS, data, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert written() == before


@pytest.mark.parametrize("missing", ["grounds", "decision"])
def test_a_missing_field_is_refused_by_name(api_a, mine, missing):
    data = {"decision": mine.keys[1], "grounds": GROUNDS}
    del data[missing]
    before = written()

    response = api_a.post(APPEALS, data, format="json")

    assert response.status_code == 400
    assert response.json()[missing]
    assert written() == before


def test_the_shape_is_checked_before_the_rules_and_each_broken_rule_is_named(api_a, mine):
    before = written()
    response = file(api_a, mine.keys[1], grounds="Short.", plan_root_cause="Not for a violation.")
    # The serializer refuses the grounds first; the plan is the service's rule, checked once the shape is right.
    assert response.status_code == 400
    assert set(response.json()) == {"grounds"}
    both = file(api_a, mine.keys[1], plan_root_cause="Not for a violation.", plan_corrections="Nor this.")
    assert both.status_code == 400
    assert set(both.json()) == {"plan_root_cause", "plan_corrections"}
    assert written() == before


def _decided_at(decisions, kind: str) -> datetime:
    if kind == "delisting":
        decisions.delisted.refresh_from_db()
        return decisions.delisted.delisted_at
    if kind == "violation":
        return Violation.objects.get(pk=decisions.violation.pk).decided_at
    return Sanction.objects.get(pk=decisions.sanction.pk).starts_at


@pytest.mark.parametrize("kind", KINDS)
def test_a_decision_past_the_appeal_window_is_refused_on_the_decision(api_a, mine, travel, announced_policy, kind):
    key = mine.keys[KINDS.index(kind)]
    deadline = _decided_at(mine, kind) + timedelta(days=announced_policy.appeal_window_days)
    travel.to(deadline + timedelta(seconds=1))
    before = written()

    response = file(api_a, key)

    assert response.status_code == 400, response.content
    # Keyed as the service raises it: on "decision", the field the merchant sent.
    assert list(response.json()) == ["decision"]
    assert "ended on" in response.json()["decision"][0]
    assert written() == before


def test_the_last_moment_of_the_window_is_still_in_time(api_a, mine, travel, announced_policy):
    deadline = _decided_at(mine, "violation") + timedelta(days=announced_policy.appeal_window_days)
    travel.to(deadline)
    response = file(api_a, mine.keys[1])
    assert response.status_code == 201, response.content


def test_a_longer_window_of_the_policy_is_honoured(api_a, mine, travel, announced_policy):
    Policy.objects.filter(pk=announced_policy.pk).update(appeal_window_days=365)
    travel.to(_decided_at(mine, "sanction") + timedelta(days=300))
    assert file(api_a, mine.keys[2]).status_code == 201


def test_a_violation_already_overturned_is_refused(api_a, mine, merchant_a, other_moderator):
    first = filed_by_service(merchant_a, mine.keys[1])
    appeal_services.grant_appeal(actor=other_moderator, appeal=first, reason="The listing was a graphics card.")
    assert Violation.objects.get(pk=mine.violation.pk).status == Violation.Status.OVERTURNED
    before = written()

    response = file(api_a, mine.keys[1])

    assert response.status_code == 400, response.content
    assert "reversed" in response.json()["decision"][0]
    assert written() == before


def test_a_sanction_already_lifted_is_refused(api_a, mine, senior):
    lift_sanction(actor=senior, sanction=mine.sanction, reason="The merchant removed every listing.")
    before = written()

    response = file(api_a, mine.keys[2], **PLAN)

    assert response.status_code == 400, response.content
    assert "reversed" in response.json()["decision"][0]
    assert written() == before


# --- 401, 403, 404: not this caller's decision --------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_another_merchants_decision_is_not_found_and_nothing_is_created(api_a, theirs, kind):
    before = written()

    response = file(api_a, theirs.keys[KINDS.index(kind)])

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}
    assert written() == before


@pytest.mark.parametrize("decision", ["violation-987654321", "sanction-987654321", "delisting-987654321"])
def test_an_unknown_decision_is_not_found(api_a, mine, decision):
    before = written()
    response = file(api_a, decision)
    assert response.status_code == 404
    assert written() == before


def test_a_live_listing_is_no_delisting_to_appeal(api_a, mine, make_listing, merchant_a, graphics_cards):
    live = make_listing(merchant_a, graphics_cards, title="RTX 3080 graphics card")
    before = written()
    assert file(api_a, f"delisting-{live.pk}").status_code == 404
    # Nor is the listing a violation took down a "delisting" (its decision is the violation).
    assert file(api_a, f"delisting-{mine.violation.listing_id}").status_code == 404
    assert written() == before


def test_an_anonymous_caller_or_a_moderator_cannot_appeal(api_anonymous, api_moderator, mine):
    before = written()
    assert file(api_anonymous, mine.keys[1]).status_code == 401
    response = file(api_moderator, mine.keys[1])
    assert response.status_code == 403
    assert "merchant accounts" in response.json()["detail"]
    assert written() == before


# --- 409: one open appeal per decision ----------------------------------------------------


def test_a_second_appeal_while_the_first_is_open_conflicts_then_is_accepted_once_withdrawn(api_a, mine):
    key = mine.keys[1]
    first = file(api_a, key)
    assert first.status_code == 201
    before = written()

    second = file(api_a, key, grounds="Another reason why the take-down of this listing was wrong.")

    assert second.status_code == 409, second.content
    assert "open already" in second.json()["decision"][0]
    assert written() == before

    assert api_a.post(withdraw_url(first.json()["id"])).status_code == 200
    third = file(api_a, key, grounds="Another reason why the take-down of this listing was wrong.")
    assert third.status_code == 201, third.content
    assert third.json()["id"] != first.json()["id"]
    assert Appeal.objects.filter(decision_key=key).count() == 2
    assert list(Appeal.objects.filter(decision_key=key, status__in=["submitted", "in_review"])) == [
        Appeal.objects.get(pk=third.json()["id"])
    ]


def test_an_appeal_in_review_still_blocks_a_second_one(api_a, mine, other_moderator):
    created = file(api_a, mine.keys[1])
    appeal = Appeal.objects.get(pk=created.json()["id"])
    appeal_services.claim_appeal(actor=other_moderator, appeal=appeal)
    before = written()
    response = file(api_a, mine.keys[1])
    assert response.status_code == 409
    assert written() == before


def test_the_open_appeal_of_one_decision_does_not_block_the_others(api_a, mine):
    assert [file(api_a, key).status_code for key in mine.keys] == [201, 201, 201]
    assert Appeal.objects.count() == 3


@pytest.fixture
def committed_decisions(transactional_db, decisions_of, merchant_a, merchant_b):
    return decisions_of(merchant_a, merchant_b)


@pytest.mark.postgres
def test_twenty_identical_appeals_at_once_leave_one_appeal_and_nineteen_conflicts(
    committed_decisions, merchant_a, merchant_user_a
):
    key = committed_decisions[0].keys[1]
    clients = [token_client(merchant_user_a) for _ in range(20)]  # each thread: its own client and connection

    def post(client):
        return file(client, key).status_code

    statuses, errors = race(post, [(client,) for client in clients])

    assert errors == [None] * 20  # no exception escaped a view: no 500
    assert sorted(statuses) == [201] + [409] * 19
    appeal = Appeal.objects.get()
    assert (appeal.decision_key, appeal.merchant_id, appeal.status) == (key, merchant_a.pk, "submitted")
    assert AuditEvent.objects.filter(verb=AuditVerb.APPEAL_FILED).count() == 1
    assert Notice.objects.filter(kind=Notice.Kind.APPEAL_RECEIVED).count() == 1


# --- withdrawing ------------------------------------------------------------------------


def test_a_merchant_withdraws_its_open_appeal(api_a, mine, travel, merchant_a, merchant_user_a):
    appeal_id = file(api_a, mine.keys[1]).json()["id"]
    later = travel.by(timedelta(hours=5))

    response = api_a.post(withdraw_url(appeal_id))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (appeal_id, "withdrawn")
    assert when(body["withdrawn_at"]) == later
    appeal = Appeal.objects.get(pk=appeal_id)
    assert (appeal.status, appeal.withdrawn_at) == ("withdrawn", later)
    event = AuditEvent.objects.get(verb=AuditVerb.APPEAL_WITHDRAWN)
    assert (event.target_id, event.merchant_id, event.actor) == (appeal_id, merchant_a.pk, merchant_user_a)
    assert event.after == {"status": "withdrawn"}
    notice = Notice.objects.get(kind=Notice.Kind.APPEAL_WITHDRAWN)
    assert (notice.merchant, notice.dedupe_key, notice.language) == (
        merchant_a,
        f"appeal:{appeal_id}:withdrawn",
        "zh-hans",
    )
    assert is_chinese(notice.subject)


def test_withdrawing_twice_conflicts_and_changes_nothing(api_a, mine):
    appeal_id = file(api_a, mine.keys[1]).json()["id"]
    first = api_a.post(withdraw_url(appeal_id))
    assert first.status_code == 200
    before = written()

    again = api_a.post(withdraw_url(appeal_id))

    assert again.status_code == 409, again.content
    assert "withdrawn" in again.json()["status"][0]
    assert written() == before
    assert Appeal.objects.get(pk=appeal_id).withdrawn_at == when(first.json()["withdrawn_at"])


def test_an_appeal_in_review_can_be_withdrawn_and_its_claim_goes(api_a, mine, other_moderator):
    appeal_id = file(api_a, mine.keys[1]).json()["id"]
    appeal_services.claim_appeal(actor=other_moderator, appeal=Appeal.objects.get(pk=appeal_id))
    response = api_a.post(withdraw_url(appeal_id))
    assert response.status_code == 200
    appeal = Appeal.objects.get(pk=appeal_id)
    assert (appeal.status, appeal.claimed_by, appeal.claimed_until) == ("withdrawn", None, None)


def test_another_merchants_appeal_cannot_be_withdrawn(api_a, api_b, theirs):
    theirs_id = file(api_b, theirs.keys[1]).json()["id"]
    before = written()

    response = api_a.post(withdraw_url(theirs_id))

    assert response.status_code == 404
    assert Appeal.objects.get(pk=theirs_id).status == "submitted"
    assert written() == before
    assert api_a.post(withdraw_url(987654321)).status_code == 404


@pytest.mark.parametrize(
    ("index", "decider", "decide", "status"),
    [
        pytest.param(1, "other_moderator", appeal_services.reject_appeal, "rejected", id="violation-rejected"),
        pytest.param(2, "other_senior", appeal_services.reject_appeal, "rejected", id="sanction-rejected"),
        pytest.param(1, "other_moderator", appeal_services.grant_appeal, "granted", id="violation-granted"),
    ],
)
def test_a_decided_appeal_cannot_be_withdrawn(api_a, mine, request, index, decider, decide, status):
    appeal_id = file(api_a, mine.keys[index]).json()["id"]
    decide(actor=request.getfixturevalue(decider), appeal=Appeal.objects.get(pk=appeal_id), reason=REASON)
    before = written()

    response = api_a.post(withdraw_url(appeal_id))

    assert response.status_code == 409, response.content
    assert status in response.json()["status"][0]
    appeal = Appeal.objects.get(pk=appeal_id)
    assert (appeal.status, appeal.withdrawn_at) == (status, None)
    assert written() == before


def test_withdraw_takes_no_get(api_a, mine):
    appeal_id = file(api_a, mine.keys[1]).json()["id"]
    assert api_a.get(withdraw_url(appeal_id)).status_code == 405


# --- a suspended account can still appeal ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "duration", "status"),
    [
        ("account_freeze", 21, Merchant.EnforcementStatus.FROZEN),
        ("account_closure", None, Merchant.EnforcementStatus.CLOSED),
    ],
)
def test_a_frozen_or_closed_merchant_appeals_its_suspension_with_a_plan_of_action(
    api_a, mine, senior, merchant_a, announced_policy, kind, duration, status
):
    suspension = issue_manual_sanction(
        actor=senior,
        merchant=merchant_a,
        policy=announced_policy,
        kind=kind,
        duration_days=duration,
        reason="Mining machines listed again after the formal warning of the policy.",
    )
    merchant_a.refresh_from_db()
    assert merchant_a.enforcement_status == status

    response = file(api_a, f"sanction-{suspension.pk}", **PLAN)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["decision"]) == ("sanction", "submitted", f"sanction-{suspension.pk}")
    assert {name: body[name] for name in PLAN} == PLAN
    appeal = Appeal.objects.get(pk=body["id"])
    assert appeal.tier == Appeal.Tier.SENIOR  # a suspension goes to a senior moderator
    assert {name: getattr(appeal, name) for name in PLAN} == PLAN
    # Its other decisions too, and it sees its appeals.
    assert file(api_a, mine.keys[1]).status_code == 201
    assert api_a.get(APPEALS).json()["count"] == 2


def test_a_plan_of_action_is_optional_for_a_sanction_and_trimmed(api_a, mine):
    response = file(api_a, mine.keys[2], plan_root_cause="  A copied catalogue.  ", plan_prevention="")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["plan_root_cause"], body["plan_corrections"], body["plan_prevention"]) == (
        "A copied catalogue.",
        "",
        "",
    )


# --- throttling: appeals filed per merchant ---------------------------------------------------


@pytest.fixture
def three_a_minute(monkeypatch):
    """The ``appeals`` rate at 3/minute.

    DRF copies DEFAULT_THROTTLE_RATES into ``SimpleRateThrottle.THROTTLE_RATES`` when it is imported, so
    overriding the setting (``settings.REST_FRAMEWORK = …``) would not reach the throttle: patch the class.
    """
    monkeypatch.setattr(AppealFilingThrottle, "THROTTLE_RATES", {"appeals": "3/minute"})
    cache.clear()
    yield
    cache.clear()


def test_the_fourth_appeal_in_a_minute_is_throttled_for_that_merchant_only(three_a_minute, api_a, api_b, mine, theirs):
    assert [file(api_a, key).status_code for key in mine.keys] == [201, 201, 201]
    before = written()

    throttled = file(api_a, mine.keys[1], grounds="One more time: the take-down of this listing was wrong.")

    assert throttled.status_code == 429, throttled.content
    wait = int(throttled["Retry-After"])
    assert 0 < wait <= 60
    assert throttled.json()["detail"].startswith("Request was throttled.")
    assert f"{wait} second" in throttled.json()["detail"]
    assert written() == before
    # Merchant B files as usual.
    assert file(api_b, theirs.keys[1]).status_code == 201
    # Merchant A still reads, and withdraws: only filing is throttled.
    listed = api_a.get(APPEALS)
    assert listed.status_code == 200 and listed.json()["count"] == 3
    first_id = listed.json()["results"][0]["id"]
    assert api_a.get(detail(first_id)).status_code == 200
    assert api_a.get("/api/v1/decisions/").status_code == 200
    assert api_a.post(withdraw_url(first_id)).status_code == 200
    assert file(api_a, mine.keys[0]).status_code == 429


def test_the_default_rate_comes_from_the_settings():
    assert AppealFilingThrottle().rate == django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["appeals"]


# --- reading: the list, its filters, one appeal -------------------------------------------------


@pytest.fixture
def filed(api_a, api_b, mine, theirs, travel):
    """A's appeals against its three decisions an hour apart (the first withdrawn), and one of B's."""
    start = travel.now()
    ids = []
    for key in mine.keys:
        ids.append(file(api_a, key, **(PLAN if key.startswith("sanction") else {})).json()["id"])
        travel.by(timedelta(hours=1))
    assert api_a.post(withdraw_url(ids[0])).status_code == 200
    theirs_id = file(api_b, theirs.keys[2]).json()["id"]
    return {"start": start, "mine": ids, "theirs": theirs_id}


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_shows_only_this_merchants_appeals_newest_first(api_a, api_b, filed):
    response = api_a.get(APPEALS)
    assert response.json()["count"] == 3
    assert ids_of(response) == list(reversed(filed["mine"]))
    assert ids_of(api_b.get(APPEALS)) == [filed["theirs"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "withdrawn"}, [0]),
        ({"status": "submitted"}, [2, 1]),
        ({"status": "rejected"}, []),
        ({"kind": "sanction"}, [2]),
        ({"kind": "delisting"}, [0]),
        ({"ordering": "filed_at"}, [0, 1, 2]),
    ],
)
def test_the_list_filters_by_status_and_kind(api_a, filed, query, expected):
    assert ids_of(api_a.get(APPEALS, query)) == [filed["mine"][n] for n in expected]


def test_the_list_filters_by_policy(api_a, filed, announced_policy):
    assert ids_of(api_a.get(APPEALS, {"policy": announced_policy.pk})) == list(reversed(filed["mine"]))
    assert ids_of(api_a.get(APPEALS, {"policy": announced_policy.pk + 1000})) == []


def test_the_list_filters_by_filing_time(api_a, filed):
    start = filed["start"]
    after = api_a.get(APPEALS, {"created_after": (start + timedelta(minutes=30)).isoformat()})
    assert ids_of(after) == [filed["mine"][2], filed["mine"][1]]
    # At or after: the moment of filing counts.
    assert ids_of(api_a.get(APPEALS, {"created_after": (start + timedelta(hours=2)).isoformat()})) == [filed["mine"][2]]
    before = api_a.get(APPEALS, {"created_before": (start + timedelta(minutes=30)).isoformat()})
    assert ids_of(before) == [filed["mine"][0]]
    both = api_a.get(
        APPEALS,
        {
            "created_after": (start + timedelta(minutes=30)).isoformat(),
            "created_before": (start + timedelta(minutes=90)).isoformat(),
            "kind": "violation",
        },
    )
    assert ids_of(both) == [filed["mine"][1]]


@pytest.mark.parametrize(
    "query",
    [{"status": "lost"}, {"kind": "listing"}, {"created_after": "yesterday"}, {"policy": "first"}],
)
def test_an_invalid_filter_is_a_400_naming_it(api_a, filed, query):
    response = api_a.get(APPEALS, query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_an_empty_ordering_item_is_a_field_error(api_a, mine):
    file(api_a, mine.keys[0], **(PLAN if mine.keys[0].startswith("sanction") else {}))

    response = api_a.get(APPEALS, {"ordering": ","})

    assert response.status_code == 400
    assert response.json() == {"ordering": ["An item of this list is empty."]}


LISTS = ["/api/v1/appeals/", "/api/v1/decisions/", "/api/v1/notices/", "/api/v1/sanctions/", "/api/v1/listings/"]


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["2021-10-20T10:00:00+16:00", "2021-10-20T10:00:00-23:59"])
@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_a_time_filter_postgresql_cannot_take_is_not_a_server_error(api_a, mine, name, value):
    api_a.raise_request_exception = False
    answered = {url: api_a.get(url, {name: value}).status_code for url in LISTS}
    assert answered == dict.fromkeys(LISTS, 200)


def test_one_appeal_of_this_merchant_and_none_of_another(api_a, filed, announced_policy):
    response = api_a.get(detail(filed["mine"][2]))
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["kind"], body["status"]) == (filed["mine"][2], "sanction", "submitted")
    assert {name: body[name] for name in PLAN} == PLAN
    assert body["policy"] == {"id": announced_policy.pk, "title": announced_policy.title}
    assert api_a.get(detail(filed["theirs"])).status_code == 404
    assert api_a.get(detail(987654321)).status_code == 404


def test_the_decisions_list_shows_the_open_appeal(api_a, filed, mine):
    rows = {row["id"]: row for row in api_a.get("/api/v1/decisions/").json()["results"]}
    violation = rows[mine.keys[1]]
    assert (violation["open_appeal"], violation["appealable"]) == (filed["mine"][1], False)
    # The withdrawn appeal leaves its decision open to a new one.
    delisting = rows[mine.keys[0]]
    assert (delisting["open_appeal"], delisting["appealable"]) == (None, True)
