"""The pre-publication check: the sellers' API's decision on the same content, without making it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from moderation.demo import seed_reference_rules
from moderation.models import AuditEvent, AuditVerb, Violation
from sellers import services as catalog
from sellers.integration.check import check_listing
from sellers.integration.serializers import CheckAnswerSerializer
from sellers.models import ListingCheck, Merchant
from tests.integration_api.conftest import CHECK, listing_event, merchant_event, send

pytestmark = pytest.mark.django_db

CORPORA = Path(__file__).resolve().parent.parent / "data" / "detection"


@pytest.fixture
def synced_merchant(alibaba, graphics_cards, rules_in_effect):
    send(alibaba, merchant_event("M-1"))
    return Merchant.objects.get(external_id="M-1")


def check(client, **content):
    body = {"merchant": "M-1", "category": "graphics-cards", **content}
    response = client.post(CHECK, body, format="json")
    return response.status_code, response.json()


def test_clean_content_is_allowed_and_the_check_is_stored(alibaba, synced_merchant, service_account):
    status, answer = check(alibaba, title="RTX 4070 12GB", description="Boxed.", attributes={"memory": "12GB"})
    assert status == 200
    assert {key: answer[key] for key in ("decision", "policy", "clause", "field")} == {
        "decision": "allow",
        "policy": None,
        "clause": None,
        "field": "",
    }
    stored = ListingCheck.objects.get(pk=answer["id"])
    assert (stored.account, stored.merchant, stored.decision) == (service_account[0], synced_merchant, "allow")
    assert not Violation.objects.exists()


def test_banned_content_is_refused_naming_policy_clause_and_field_never_the_rules(alibaba, synced_merchant):
    status, answer = check(alibaba, title="Hash board kit", description="For the Antminer S19, 95TH/s")
    assert status == 200
    assert answer["decision"] == "refuse"
    assert answer["policy"] == {
        "slug": "virtual-currency-mining",
        "version": 1,
        "title": "Virtual currency mining machines",
    }
    assert answer["clause"] == {"number": 1, "title": "Mining hardware and software"}
    assert answer["field"] == "description"
    text = json.dumps(answer).lower()
    assert "antminer" not in text and "10" not in answer["message"]
    # A question, not an attempt: nothing is recorded against the merchant.
    assert not Violation.objects.exists()


def test_a_retired_category_is_refused_naming_the_policy(alibaba, synced_merchant, retired_miners):
    status, answer = check(alibaba, title="Cooling fan 120 mm", category="blockchain-miners")
    assert (status, answer["decision"], answer["field"]) == (200, "refuse", "category")
    assert answer["policy"]["title"] == "Virtual currency mining machines"
    assert "retired under the policy “Virtual currency mining machines”" in answer["message"]


@pytest.mark.parametrize(
    "content, fields",
    [
        ({"title": "x" * 201}, {"title"}),
        ({"title": "ok", "description": "\x00"}, {"description"}),
        ({"title": "ok", "attributes": {"a": {"b": 1}}}, {"attributes"}),
        ({"title": "ok", "merchant": "M-404"}, {"merchant"}),
        ({"title": "ok", "category": "nope"}, {"category"}),
        ({"title": "ok", "merchant": ["M-1"], "category": 7}, {"merchant", "category"}),
        ({}, {"title"}),
    ],
    ids=["long-title", "nul", "nested", "unknown-merchant", "unknown-category", "wrong-types", "empty"],
)
def test_bad_input_is_a_field_error_and_nothing_is_stored(alibaba, synced_merchant, content, fields):
    status, answer = check(alibaba, **content)
    assert (status, set(answer)) == (400, fields)
    assert not ListingCheck.objects.exists()


def test_the_check_id_is_carried_into_the_listings_audit_event(alibaba, synced_merchant, other_service_account):
    _status, answer = check(alibaba, title="RTX 4070 12GB")
    sent = send(alibaba, listing_event("L-1", merchant="M-1", title="RTX 4070 12GB", check_id=answer["id"]))
    assert sent["results"][0]["result"] == "applied"
    created = AuditEvent.objects.get(verb=AuditVerb.LISTING_CREATED)
    assert created.after["check"] == answer["id"]
    # A check of another marketplace, or none, cannot be cited.
    with pytest.raises(ValidationError):
        check_listing(account=other_service_account[0], merchant="M-1", category="graphics-cards", title="x")
    refused = send(alibaba, listing_event("L-2", check_id="00000000-0000-0000-0000-000000000000"))
    assert refused["results"][0]["errors"] == {"check_id": ["No check of this marketplace has this id."]}


def corpus() -> list[dict]:
    rows = []
    for name in ("corpus.jsonl", "holdout.jsonl"):
        with (CORPORA / name).open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def test_the_check_agrees_with_the_sellers_api_on_the_detection_corpus(
    alibaba, service_account, in_grace, policy_admin, announced_policy, graphics_cards, merchant_a, merchant_user_a
):
    """Every row of both corpora, under the reference rules: the check refuses exactly what the
    sellers' API refuses, naming the same policy and field.

    The sellers' side records each refusal as a violation with its notice, and saves what it allows
    (both tested with the sellers' API): here neither is written; the decision is the service's own,
    message and all.
    """
    seed_reference_rules(actor=policy_admin, policy=announced_policy)
    send(alibaba, merchant_event("M-1"))
    disagreements, refused = [], 0
    unrecorded = SimpleNamespace(pk=0, clause=None)
    for row in corpus():
        content = {"title": row["title"], "description": row["description"], "attributes": row["attributes"]}
        answer = CheckAnswerSerializer.answer(
            check_listing(account=service_account[0], merchant="M-1", category="graphics-cards", **content)
        )
        try:
            with (
                mock.patch("moderation.services.violations.record_relist_attempt", return_value=unrecorded),
                mock.patch("sellers.services._create_listing"),
            ):
                catalog.create_listing(
                    actor=merchant_user_a, merchant=merchant_a, category=graphics_cards, price=Decimal("1"), **content
                )
            api = ("allow", "", None)
        except ValidationError as error:
            field = next(iter(error.message_dict))
            api = ("refuse", field, announced_policy.title if announced_policy.title in error.messages[0] else None)
        mine = (answer["decision"], answer["field"], answer["policy"]["title"] if answer["policy"] else None)
        refused += mine[0] == "refuse"
        if mine != api:
            disagreements.append((row["id"], mine, api))
    assert not disagreements
    assert refused >= 200  # the corpora's banned rows, all but a few


def test_a_rule_change_is_in_the_next_answer(alibaba, synced_merchant, policy_admin, announced_policy):
    from moderation.services.detection import create_detection_rule, disable_detection_rule, edit_detection_rule

    content = {"title": "Quantum hash accelerator board"}
    assert check(alibaba, **content)[1]["decision"] == "allow"
    rule = create_detection_rule(
        actor=policy_admin, policy=announced_policy, kind="keyword", pattern="quantum", weight=10
    )
    assert check(alibaba, **content)[1]["decision"] == "refuse"
    edit_detection_rule(actor=policy_admin, rule=rule, weight=1)
    assert check(alibaba, **content)[1]["decision"] == "allow"
    edit_detection_rule(actor=policy_admin, rule=rule, weight=10)
    assert check(alibaba, **content)[1]["decision"] == "refuse"
    disable_detection_rule(actor=policy_admin, rule=rule)
    assert check(alibaba, **content)[1]["decision"] == "allow"


def test_a_restricted_merchant_is_refused_naming_the_sanction(alibaba, synced_merchant, senior, announced_policy):
    from moderation.services.sanctions import issue_manual_sanction

    reason = "Mining machines listed again after the warning."
    issue_manual_sanction(
        actor=senior, merchant=synced_merchant, policy=announced_policy, kind="warning", reason=reason
    )
    issue_manual_sanction(
        actor=senior,
        merchant=synced_merchant,
        policy=announced_policy,
        kind="store_block",
        duration_days=7,
        reason=reason,
    )
    _status, answer = check(alibaba, title="RTX 4070 12GB")
    assert (answer["decision"], answer["field"], answer["policy"]["slug"]) == (
        "refuse",
        "merchant",
        "virtual-currency-mining",
    )
    assert "Store blocked" in answer["message"]
