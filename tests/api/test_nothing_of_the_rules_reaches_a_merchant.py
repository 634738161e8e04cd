"""Nothing of the rules reaches a merchant, and every decision cites the clause that applies.

A seller who learns which words or patterns matched can test disguises against them: refusals,
notices, e-mails and API answers name the policy, the clause and the field, never a pattern, a
term list, a rule's label or a score. The crawl below collects every text a merchant receives
along the ways a listing is refused or taken down, and looks for any of them.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from moderation.models import Appeal, DetectionRule, Notice, ReviewItem, Violation
from moderation.services import appeals
from moderation.services.detection import create_detection_rule
from moderation.services.scanning import scan_listing
from tests.moderation.conftest import AFTER_GRACE

pytestmark = pytest.mark.django_db

API = "/api/v1"
HASH_RATE = r"\b\d+(?:\.\d+)? ?[kmgtp]h/s\b"
NEW = {"description": "", "attributes": {}, "price": "99.00", "category": "graphics-cards"}


@pytest.fixture
def clause_rules(policy_admin, announced_policy, travel, graphics_cards):
    """Rules that point to different clauses of the policy (1: hardware, 2: tutorials)."""
    travel.to(AFTER_GRACE)
    hardware, tutorials = announced_policy.clauses.get(number=1), announced_policy.clauses.get(number=2)

    def rule(kind, pattern, weight, label, clause):
        return create_detection_rule(
            actor=policy_admin,
            policy=announced_policy,
            kind=kind,
            pattern=pattern,
            weight=weight,
            label=label,
            clause=clause,
        )

    return [
        rule("keyword", "antminer", 10, "Miner brand", hardware),
        rule("regex", HASH_RATE, 6, "Hash rate with its unit", hardware),
        rule("phrase", "mining tutorial", 10, "Mining tutorial", tutorials),
        rule("keyword", "bitcoin", 4, "Coin named", tutorials),
    ]


def forbidden(rules: list[DetectionRule]) -> list[str]:
    """What must never appear in a merchant's texts: the expressions, the labels, the words "score" and "matched"."""
    return (
        [rule.pattern for rule in rules if rule.kind == "regex"]
        + [rule.label for rule in rules]
        + [
            "score",
            "matched",
            "terms:",
            "命中",
        ]
    )


def merchant_texts(*responses) -> list[str]:
    texts = [response.content.decode() for response in responses]
    texts += [f"{notice.subject}\n{notice.body}" for notice in Notice.objects.all()]
    texts += [f"{message.subject}\n{message.body}" for message in mail.outbox]
    return texts


def test_a_refusal_names_the_policy_the_clause_and_the_field_only(api_a, clause_rules, announced_policy):
    response = api_a.post(
        f"{API}/listings/",
        {**NEW, "title": "Graphics card", "description": "Bitcoin mining tutorial, 30 video lessons"},
        format="json",
    )

    assert response.status_code == 400
    (message,) = response.json()["description"]
    assert f"“{announced_policy.title}”" in message
    assert "clause 2" in message and "description" in message
    attempt = Violation.objects.get(kind=Violation.Kind.RELIST_ATTEMPT)
    assert attempt.clause.number == 2  # the clause of the strongest matching rule, not the first one
    assert Notice.objects.get().clause == attempt.clause


def test_no_text_a_merchant_receives_reveals_a_rule(
    api_a,
    client,
    moderator,
    other_moderator,
    clause_rules,
    merchant_a,
    graphics_cards,
    make_listing,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        created = api_a.post(f"{API}/listings/", {**NEW, "title": "Antminer S19 110TH/s"}, format="json")
        edited_listing = make_listing(merchant_a, graphics_cards, title="Graphics card RTX 3060")
        edited = api_a.patch(
            f"{API}/listings/{edited_listing.pk}/", {"attributes": {"model": "Antminer S9"}}, format="json"
        )
        flagged = make_listing(merchant_a, graphics_cards, title="Antminer S19j Pro 100TH/s")
        scan_listing(listing_id=flagged.pk)
        item = ReviewItem.objects.get(listing=flagged)
        client.force_login(moderator)
        client.post(
            reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]), {"kind": "prohibited_listing"}
        )
        violation = Violation.objects.get(review_item=item)
        appealed = api_a.post(
            f"{API}/appeals/",
            {"decision": f"violation-{violation.pk}", "grounds": "The unit is a display model with no hash boards."},
            format="json",
        )
        appeals.grant_appeal(
            actor=other_moderator, appeal=Appeal.objects.get(), reason="A display model: no hash boards inside."
        )
        decisions = api_a.get(f"{API}/decisions/")
        notices = api_a.get(f"{API}/notices/")

    assert (created.status_code, edited.status_code, appealed.status_code) == (400, 400, 201)
    assert Violation.objects.filter(merchant=merchant_a).count() == 3
    texts = merchant_texts(created, edited, appealed, decisions, notices)
    assert len(mail.outbox) >= 3
    for text in texts:
        for secret in forbidden(clause_rules):
            assert secret.lower() not in text.lower(), (secret, text[:300])


def test_a_take_down_cites_the_clause_of_the_strongest_matching_rule(
    client, moderator, clause_rules, merchant_b, graphics_cards, make_listing
):
    listing = make_listing(merchant_b, graphics_cards, title="Bitcoin mining tutorial: from zero to a farm")
    scan_listing(listing_id=listing.pk)
    item = ReviewItem.objects.get(listing=listing)
    assert item.clause.number == 2
    client.force_login(moderator)

    page = client.get(reverse("backoffice:queue-item", args=[item.pk]))
    assert page.context["take_down_form"]["clause"].value() == item.clause.pk  # what `t` submits
    client.post(reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]), {"kind": "prohibited_listing"})

    assert Violation.objects.get(listing=listing).clause.number == 2


def test_with_no_matching_rule_the_moderator_must_choose_the_clause(
    client, moderator, announced_policy, open_item, merchant_b, graphics_cards, make_listing
):
    listing = make_listing(merchant_b, graphics_cards, title="Reported by a buyer")
    item = open_item(listing, clause=None, source="report")
    client.force_login(moderator)

    response = client.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]), {"kind": "prohibited_listing"}
    )

    assert response.status_code == 400
    assert response.context["take_down_form"].errors["clause"]
    assert "Choose the clause" in response.content.decode()
    assert not Violation.objects.exists()
    assert ReviewItem.objects.get(pk=item.pk).is_open
