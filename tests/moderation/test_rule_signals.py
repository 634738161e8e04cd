"""Rules that admins can trust: shadow mode, each rule's precision from decisions, labels not patterns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from moderation.models import (
    AuditEvent,
    AuditVerb,
    DetectionRule,
    PolicyScan,
    ReviewItem,
    ReviewItemRule,
    ScanChunk,
    Violation,
)
from moderation.selectors.detection import rule_performance
from moderation.services import queue
from moderation.services.detection import create_detection_rule, put_rule_in_shadow, switch_on_shadow_rule
from moderation.services.scanning import scan_listing, start_policy_scan
from sellers import services as catalog
from sellers.models import Listing

HASH_RATE = r"\b\d+(?:\.\d+)? ?[kmgtp]h/s\b"


@pytest.fixture
def signals(policy_admin, announced_policy):
    """A brand (10), a hash rate (6, a regular expression with a label) and a shadow word (10)."""
    clause = announced_policy.clauses.get(number=1)
    return {
        "brand": create_detection_rule(
            actor=policy_admin, policy=announced_policy, kind="keyword", pattern="antminer", weight=10, clause=clause
        ),
        "hash_rate": create_detection_rule(
            actor=policy_admin,
            policy=announced_policy,
            kind="regex",
            pattern=HASH_RATE,
            weight=6,
            label="Hash rate with its unit",
            clause=clause,
        ),
        "shadow": create_detection_rule(
            actor=policy_admin, policy=announced_policy, kind="keyword", pattern="hashbox", weight=10, is_shadow=True
        ),
    }


def test_a_shadow_rule_flags_nothing_but_is_counted_in_the_scan(
    in_grace, announced_policy, signals, merchant_b, graphics_cards, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(merchant_b, graphics_cards, title="Hashbox 3000, 95TH/s")

    with django_capture_on_commit_callbacks(execute=True):
        scan = start_policy_scan(policy=announced_policy)

    assert not ReviewItem.objects.filter(listing=listing).exists()  # 6 counted, the shadow 10 is not
    assert PolicyScan.objects.get(pk=scan.pk).status == PolicyScan.Status.COMPLETED
    hits = ScanChunk.objects.get(scan=scan).rule_hits
    assert hits == {str(signals["hash_rate"].pk): 1, str(signals["shadow"].pk): 1}


def test_a_shadow_rule_refuses_nothing(in_grace, announced_policy, signals, merchant_b, graphics_cards, system):
    listing = catalog.create_listing(
        actor=system, merchant=merchant_b, category=graphics_cards, title="Hashbox 3000", price="10"
    )
    assert Listing.objects.get(pk=listing.pk).title == "Hashbox 3000"
    assert not Violation.objects.exists()  # no attempt recorded: the shadow rule refused nothing


def test_switching_a_shadow_rule_on_is_audited_and_then_it_flags(
    in_grace, policy_admin, announced_policy, signals, merchant_b, graphics_cards, make_listing
):
    rule = switch_on_shadow_rule(actor=policy_admin, rule=signals["shadow"])

    event = AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED, target_id=rule.pk).latest("pk")
    assert (event.before["is_shadow"], event.after["is_shadow"]) == (True, False)
    assert event.actor == policy_admin and event.reason == "Shadow rule switched on."
    listing = make_listing(merchant_b, graphics_cards, title="Hashbox 3000")
    scan_listing(listing_id=listing.pk)
    assert ReviewItem.objects.filter(listing=listing, status="open").exists()

    put_rule_in_shadow(actor=policy_admin, rule=rule)
    assert DetectionRule.objects.get(pk=rule.pk).is_shadow


def test_an_item_remembers_the_rules_that_flagged_it_shadow_ones_marked(
    in_grace, signals, merchant_b, graphics_cards, make_listing
):
    listing = make_listing(merchant_b, graphics_cards, title="Antminer Hashbox 95TH/s")
    scan_listing(listing_id=listing.pk)

    item = ReviewItem.objects.get(listing=listing)
    links = {(link.rule_id, link.shadow) for link in ReviewItemRule.objects.filter(item=item)}
    assert links == {(signals["brand"].pk, False), (signals["hash_rate"].pk, False), (signals["shadow"].pk, True)}
    assert item.matched_terms == ["Antminer", "95TH/s"]  # the words as written; the shadow word counts nowhere


def test_a_rules_precision_is_what_moderators_decided_on_its_items_in_90_days(
    in_grace, moderator, announced_policy, signals, merchant_b, graphics_cards, make_listing, travel
):
    def flagged(title):
        listing = make_listing(merchant_b, graphics_cards, title=title)
        scan_listing(listing_id=listing.pk)
        return ReviewItem.objects.get(listing=listing)

    old = flagged("Antminer S9 old")
    queue.dismiss_item(actor=moderator, item=old, reason="An old decision, out of the window.")
    travel.to(travel.now() + timedelta(days=100))
    for n in range(3):
        queue.take_down_listing(actor=moderator, item=flagged(f"Antminer S19 #{n} 110TH/s"))
    queue.dismiss_item(actor=moderator, item=flagged("Antminer keychain"), reason="A keychain, not a miner.")
    flagged("Antminer L7, still open")

    performance = rule_performance(announced_policy)
    brand, hash_rate = performance[signals["brand"].pk], performance[signals["hash_rate"].pk]
    assert (brand.taken_down, brand.dismissed, brand.precision) == (3, 1, 0.75)
    assert (hash_rate.taken_down, hash_rate.dismissed, hash_rate.precision) == (3, 0, 1.0)
    assert signals["shadow"].pk not in performance


def test_a_moderator_sees_labels_on_the_rules_page_never_patterns(client, moderator, announced_policy, signals):
    client.force_login(moderator)
    response = client.get(
        reverse("backoffice:rule-index", args=[announced_policy.pk]), {"text": "ＡＮＴＭＩＮＥＲ 110 TH/s"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Hash rate with its unit" in html and "shadow" in html
    assert HASH_RATE not in html and "th/s\\b" not in html
    assert "ＡＮＴＭＩＮＥＲ" in html and "110 TH/s" in html  # the words as the text wrote them
    assert "would be queued for review" in html


def test_the_rules_own_page_shows_its_pattern_to_a_policy_admin(client, policy_admin, announced_policy, signals):
    client.force_login(policy_admin)
    response = client.get(reverse("backoffice:rule-edit", args=[announced_policy.pk, signals["hash_rate"].pk]))
    assert response.status_code == 200
    assert "Hash rate with its unit" in response.content.decode()
    assert response.context["form"].initial["pattern"] == HASH_RATE


def test_the_review_item_shows_words_and_signals_not_patterns(
    in_grace, client, moderator, signals, merchant_b, graphics_cards, make_listing
):
    listing = make_listing(merchant_b, graphics_cards, title="Ａｎｔｍｉｎｅｒ S19 110TH/s")
    scan_listing(listing_id=listing.pk)
    item = ReviewItem.objects.get(listing=listing)
    client.force_login(moderator)

    html = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert "Hash rate with its unit" in html and "Ａｎｔｍｉｎｅｒ" in html
    assert HASH_RATE not in html
    queue_html = client.get(reverse("backoffice:queue")).content.decode()
    assert "110TH/s" in queue_html and HASH_RATE not in queue_html


def test_a_policy_admin_puts_a_rule_in_shadow_and_back_from_the_page(client, policy_admin, announced_policy, signals):
    client.force_login(policy_admin)
    url = reverse("backoffice:rule-shadow", args=[announced_policy.pk, signals["brand"].pk])
    assert client.post(url).status_code == 302
    assert DetectionRule.objects.get(pk=signals["brand"].pk).is_shadow
    assert client.post(url).status_code == 302
    assert not DetectionRule.objects.get(pk=signals["brand"].pk).is_shadow
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED, target_id=signals["brand"].pk).count() == 3


def test_a_moderator_cannot_switch_shadow_mode(client, moderator, announced_policy, signals):
    client.force_login(moderator)
    response = client.post(reverse("backoffice:rule-shadow", args=[announced_policy.pk, signals["shadow"].pk]))
    assert response.status_code == 403
    assert DetectionRule.objects.get(pk=signals["shadow"].pk).is_shadow


def test_a_regular_expression_needs_a_label_and_a_clause_of_its_own_policy(
    policy_admin, announced_policy, other_policy_clause
):
    with pytest.raises(ValidationError) as refused:
        create_detection_rule(actor=policy_admin, policy=announced_policy, kind="regex", pattern=HASH_RATE, weight=6)
    assert "label" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        create_detection_rule(
            actor=policy_admin,
            policy=announced_policy,
            kind="keyword",
            pattern="bitmain",
            weight=10,
            clause=other_policy_clause,
        )
    assert "clause" in refused.value.message_dict
    assert not DetectionRule.objects.filter(pattern__in=[HASH_RATE, "bitmain"]).exists()


def test_the_form_refuses_a_pattern_the_engine_cannot_run_with_a_field_error(client, policy_admin, announced_policy):
    client.force_login(policy_admin)
    response = client.post(
        reverse("backoffice:rule-create", args=[announced_policy.pk]),
        {
            "kind": "regex",
            "pattern": r"(?<![a-z])miner",
            "label": "Miner",
            "clause": "1",
            "weight": "4",
            "fields": ["title"],
        },
    )
    assert response.status_code == 200
    assert "Lookahead and lookbehind are not supported" in response.context["form"].errors["pattern"][0]
    assert not DetectionRule.objects.filter(label="Miner").exists()


@pytest.fixture
def other_policy_clause(policy_admin, marketplace):
    from moderation.services.policies import ClauseText, create_policy
    from tests.moderation.conftest import EFFECTIVE, ENFORCEMENT

    policy = create_policy(
        actor=policy_admin,
        slug="another-ban",
        title="Another ban",
        body="Another product is banned.",
        marketplaces=[marketplace],
        clauses=[ClauseText(1, "Everything", "All of it.")],
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
    )
    return policy.clauses.get()


def test_editing_a_draft_keeps_the_clauses_its_rules_cite(policy_admin, draft_policy):
    from moderation.services.policies import ClauseText, edit_policy
    from tests.moderation.conftest import REFERENCE_CLAUSES

    clause = draft_policy.clauses.get(number=1)
    rule = create_detection_rule(
        actor=policy_admin, policy=draft_policy, kind="keyword", pattern="antminer", weight=10, clause=clause
    )
    reworded = [ClauseText(1, "Mining machines", "Reworded."), *REFERENCE_CLAUSES[1:]]

    edit_policy(actor=policy_admin, policy=draft_policy, clauses=reworded, detection_threshold=12)

    rule.refresh_from_db()
    assert rule.clause_id == clause.pk and rule.clause.title == "Mining machines"
    with pytest.raises(ValidationError) as refused:
        edit_policy(actor=policy_admin, policy=draft_policy, clauses=REFERENCE_CLAUSES[1:])
    assert "§1" in refused.value.message_dict["clauses"][0]
    assert draft_policy.clauses.filter(number=1).exists()


def test_the_test_box_reads_a_huge_text_no_further_than_a_description(client, moderator, announced_policy, signals):
    client.force_login(moderator)
    response = client.get(
        reverse("backoffice:rule-index", args=[announced_policy.pk]), {"text": "1 TH/s " * 50_000 + "antminer"}
    )
    assert response.status_code == 200
    assert len(response.context["sample"]) == 10_000  # cut at the description's limit, before matching
    assert response.context["result"].labels == ["Hash rate with its unit"]  # "antminer" was past the cut
