"""Detection: normalisation, matching, the rules' services and cache, and the reference rules on the demo."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from moderation.demo_rules import REFERENCE_RULES, seed_reference_rules
from moderation.detection import (
    PolicyMatcher,
    RuleSpec,
    attributes_text,
    normalize,
    normalize_with_offsets,
    pattern_error,
)
from moderation.models import AuditEvent, AuditVerb, DetectionRule, Policy
from moderation.selectors.detection import policy_matcher
from moderation.services.detection import (
    copy_detection_rules,
    create_detection_rule,
    disable_detection_rule,
    edit_detection_rule,
    enable_detection_rule,
)
from moderation.services.policies import retire_policy

REFERENCE = PolicyMatcher(REFERENCE_RULES, threshold=10)


def matcher(*rules: RuleSpec, threshold=10) -> PolicyMatcher:
    return PolicyMatcher(rules, threshold=threshold)


def keyword(pattern, weight=10, **extra) -> RuleSpec:
    return RuleSpec(kind="keyword", pattern=pattern, weight=weight, **extra)


def phrase(pattern, weight=10, **extra) -> RuleSpec:
    return RuleSpec(kind="phrase", pattern=pattern, weight=weight, **extra)


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("ＡＳＩＣ　ｍｉｎｅｒ", "asic miner"),
        ("AnTmInEr S19 PRO", "antminer s19 pro"),
        ("Mìning rïg", "mining rig"),
        ("Mi\u0301ning", "mining"),  # a decomposed accent
        ("  bitcoin \t\n  miner  ", "bitcoin miner"),
        ("Ant\u200bminer", "antminer"),  # a zero-width space hidden in a word
        ("110ＴＨ／ｓ", "110th/s"),
        ("Straße", "strasse"),
        ("比特币矿机 S19", "比特币矿机 s19"),
    ],
)
def test_it_normalises_width_case_accents_invisible_characters_and_whitespace(text, normalized):
    assert normalize(text) == normalized


def test_it_keeps_kana_voicing_and_hangul_and_folds_their_variants_alike():
    assert normalize("が") != normalize("か")  # a voicing mark is not an accent
    assert normalize("ｶﾞ") == normalize("ガ")  # half-width katakana, two characters, one kana
    assert normalize("가") == normalize("\u1100\u1161")  # a Hangul syllable and its jamo
    assert normalize("矿机") == "矿机"


def test_it_maps_each_normalised_character_back_to_the_original_text():
    text = " ＡＮＴ\u3000ｍｉｎｅｒ  é\u0301 ﬁ"
    normalized, starts, ends = normalize_with_offsets(text)
    assert normalized == normalize(text) == "ant miner e fi"
    assert text[starts[0] : ends[2]] == "ＡＮＴ"
    assert text[starts[4] : ends[8]] == "ｍｉｎｅｒ"
    assert text[starts[10] : ends[10]] == "é\u0301"  # the dropped accent belongs to its letter
    assert (starts[12], ends[12], starts[13], ends[13]) == (15, 16, 15, 16)  # one ligature, two letters


# --- the reference rules on a corpus --------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Antminer S19 Pro 110TH/s Bitcoin miner",
        "ＡＳＩＣ　ｍｉｎｅｒ for sale",
        "Ａｎｔｍｉｎｅｒ",
        "AnTmInEr S19 PRO",
        "比特币矿机 S19",
        "出售二手矿机",
        "蚂蚁矿机S19j Pro 100T",
        "Mìning rïg, 6 GPUs",
        "  GPU    mining   frame  ",
        "Whatsminer M30S++ 112 TH/s",
        "Bitcoin mining tutorial, 12 hours of video",
        "比特币挖矿教程 视频课程",
        "矿池管理软件 矿场版",
        "Litecoin scrypt L3+ 504 MH/s",
        "mining-rig frame for 8 GPUs",
    ],
)
def test_it_flags_mining_products_however_they_are_written(title):
    result = REFERENCE.score(title=title)
    assert result.flagged, (title, result.score, result.terms)


@pytest.mark.parametrize(
    "title",
    [
        "Data Mining: Concepts and Techniques",
        "Mining safety helmet with LED lamp",
        "Gold panning kit for beginners",
        "NVIDIA RTX 3080 gaming graphics card",
        "GeForce RTX 3060 Ti 8GB LHR, lite hash rate",
        "RTX 3060 Ti 8G 锁算力版 游戏显卡",
        "Basic ASIC design textbook",  # ASIC alone is chip design: 3 points, not a miner
        "Samsung Galaxy S9 64GB",  # a miner's model code, on a phone: 4 points
        "Cat6 Ethernet cable, 5 m",
        "The Bitcoin Standard (book)",  # a coin named, nothing mined: 4 points
        "Jaw crusher for quarry and mining",
        "煤矿液压支架 矿山机械",
        "数据挖掘导论 第2版",
        "Rechargeable miner's cap lamp",
    ],
)
def test_it_leaves_look_alikes_alone(title):
    result = REFERENCE.score(title=title, description=title)
    assert not result.flagged, (title, result.score, result.terms)


# --- matching -------------------------------------------------------------------------------


def test_it_matches_latin_words_on_word_boundaries_only():
    rules = matcher(keyword("asic", 1), keyword("eth", 1), keyword("miner", 1), threshold=1)
    assert rules.score(title="basic ethernet").terms == []
    assert rules.score(title="ASIC, ETH!").terms == ["asic", "eth"]
    assert rules.score(title="miner_eth").terms == ["miner", "eth"]  # an underscore is not a letter
    assert rules.score(title="ethminer").terms == []


def test_it_matches_a_simple_plural_of_a_word_or_phrase():
    rules = matcher(keyword("miner", 1), phrase("mining rig", 1), threshold=1)
    assert rules.score(title="Used miners and mining rigs").terms == ["miner", "mining rig"]
    assert rules.score(title="minerals").terms == []


def test_it_matches_cjk_as_substrings_and_treats_cjk_as_a_boundary_for_latin_words():
    rules = matcher(keyword("矿机", 10), keyword("s19", 3), phrase("比特币 矿机", 1))
    result = rules.score(title="全新比特币矿机S19现货")
    assert result.terms == ["比特币 矿机", "矿机", "s19"]  # a space in a CJK phrase is optional
    assert result.score == 14


def test_it_treats_spaces_and_hyphens_in_phrases_alike():
    rules = matcher(phrase("mining rig", 1), phrase("SHA-256", 1), threshold=1)
    assert rules.score(title="mining-rig").terms == ["mining rig"]
    assert [rules.score(title=t).terms for t in ("SHA256", "sha 256", "Sha-256")] == [["SHA-256"]] * 3


@pytest.mark.parametrize("text", ["110TH/s", "110 TH/s", "2.45 GH/s", "504mh/s", "１１０ＴＨ／ｓ", "算力110TH/s"])
def test_it_matches_hash_rates_with_or_without_a_space(text):
    unit = next(rule for rule in REFERENCE_RULES if rule.kind == "regex" and rule.pattern.endswith(")/s"))
    assert matcher(unit, threshold=1).score(title=text).terms == [unit.pattern]


def test_it_adds_the_weights_of_the_rules_that_match_each_rule_once():
    rules = matcher(keyword("antminer", 7), keyword("bitcoin", Decimal("2.5")), keyword("unused", 100))
    result = rules.score(
        title="Antminer for Bitcoin, antminer again",
        description="Antminer, Bitcoin, Bitcoin",
        attributes={"brand": "Antminer"},
    )
    assert result.score == Decimal("9.5")
    assert result.terms == ["antminer", "bitcoin"]
    assert not result.flagged


def test_it_counts_overlapping_rules_each():
    rules = matcher(phrase("bitcoin miner", 10), keyword("bitcoin", 4), keyword("miner", 3))
    result = rules.score(title="Bitcoin miner")
    assert result.score == 17
    assert result.spans["title"] == [(0, 7, "bitcoin"), (0, 13, "bitcoin miner"), (8, 13, "miner")]


def test_it_flags_a_score_equal_to_the_threshold_and_not_one_below():
    rules = matcher(keyword("antminer", 6), keyword("bitcoin", 4), threshold=10)
    assert rules.score(title="Antminer Bitcoin").flagged
    assert not rules.score(title="Antminer").flagged
    assert not matcher(keyword("antminer", 6), threshold=0).score(title="nothing here").flagged


def test_it_gives_spans_in_the_original_text():
    title = "出售 Ａｎｔｍｉｎｅｒ　Ｓ１９，１１０ＴＨ／ｓ"
    result = REFERENCE.score(title=title)
    highlighted = {title[start:end]: term for start, end, term in result.spans["title"]}
    assert highlighted["Ａｎｔｍｉｎｅｒ"] == "Antminer"
    assert "Ｓ１９" in highlighted
    assert "１１０ＴＨ／ｓ" in highlighted


def test_it_matches_attributes_as_key_value_lines_with_spans_into_that_text():
    attributes = {"hashrate": "110 TH/s", "coin": "BTC"}
    rules = matcher(keyword("btc", 3), keyword("hashrate", 4), threshold=7)
    result = rules.score(attributes=attributes)
    text = attributes_text(attributes)
    assert text == "hashrate: 110 TH/s\ncoin: BTC"
    assert result.flagged and result.terms == ["hashrate", "btc"]
    assert [text[start:end] for start, end, _term in result.spans["attributes"]] == ["hashrate", "BTC"]


def test_it_looks_only_at_the_fields_a_rule_names():
    rules = matcher(keyword("antminer", 10, fields=("title",)), threshold=10)
    assert not rules.score(description="Antminer", attributes={"brand": "Antminer"}).flagged
    assert rules.score(title="Antminer").flagged


def test_an_exclusion_cancels_its_rule_only_in_the_field_where_it_occurs():
    rules = matcher(keyword("mining", 5, exclusions=("data mining",)), keyword("bitcoin", 5), threshold=10)
    both = rules.score(title="Data mining for Bitcoin", description="Bitcoin mining at home")
    assert both.flagged and both.terms == ["bitcoin", "mining"]
    assert "title" in both.spans and [term for *_span, term in both.spans["title"]] == ["bitcoin"]
    assert [term for *_span, term in both.spans["description"]] == ["bitcoin", "mining"]
    only_excluded = rules.score(title="Data mining for Bitcoin", description="Data-mining Bitcoin prices")
    assert only_excluded.terms == ["bitcoin"] and not only_excluded.flagged


@pytest.mark.parametrize(
    ("kind", "pattern", "message"),
    [
        ("regex", "(th|gh/s", "not a valid regular expression"),
        ("regex", "a*", "matches empty text"),
        ("regex", r"(a)\1", "Back-references"),
        ("regex", "(?P<coin>btc)", "named groups"),
        ("regex", "(?i)antminer", "cannot be combined"),
        ("keyword", "mining rig", "A keyword is one word"),
        ("phrase", "   ", "Enter a pattern"),
        ("phrase", "\u200b", "empty"),
    ],
)
def test_it_explains_why_a_pattern_cannot_be_used(kind, pattern, message):
    assert message in pattern_error(kind, pattern)
    with pytest.raises(ValueError):
        RuleSpec(kind=kind, pattern=pattern, weight=1)


def test_it_runs_regex_rules_case_insensitively_on_the_normalised_text():
    rules = matcher(RuleSpec(kind="regex", pattern=r"antminer\s*[slt]\d+", weight=10))
    assert rules.score(title="ＡＮＴＭＩＮＥＲ   S19").terms == [r"antminer\s*[slt]\d+"]


def test_it_builds_a_matcher_from_plain_dicts_and_finds_nothing_without_rules():
    rules = PolicyMatcher([{"kind": "keyword", "pattern": "antminer", "weight": 10, "id": 7}], threshold="10")
    assert rules.score(title="antminer").rule_ids == [7]
    empty = PolicyMatcher([], threshold=10).score(title="antminer", description="x", attributes={"a": 1})
    assert empty.score == 0 and not empty.flagged and empty.terms == [] and empty.spans == {}


# --- services -------------------------------------------------------------------------------


@pytest.fixture
def rule(policy_admin, draft_policy):
    return create_detection_rule(
        actor=policy_admin,
        policy=draft_policy,
        kind="keyword",
        pattern="mining",
        weight=3,
        fields=["title", "description"],
        exclusions=["data mining", " mining helmet "],
        note="Innocent alone.",
    )


def test_it_creates_a_rule_with_an_audit_event(policy_admin, draft_policy, rule):
    assert rule.created_by == policy_admin and rule.is_active and rule.revision == 1
    assert rule.exclusions == ["data mining", "mining helmet"]
    event = AuditEvent.objects.get(verb=AuditVerb.DETECTION_RULE_CHANGED)
    assert (event.actor, event.policy, event.target_id) == (policy_admin, draft_policy, rule.pk)
    assert event.before is None
    assert event.after["pattern"] == "mining" and event.after["weight"] == "3.00"


def test_it_refuses_a_bad_regex_with_a_field_error_and_creates_nothing(policy_admin, draft_policy):
    with pytest.raises(ValidationError) as refused:
        create_detection_rule(actor=policy_admin, policy=draft_policy, kind="regex", pattern="(th|gh/s", weight=6)
    assert "not a valid regular expression" in refused.value.message_dict["pattern"][0]
    assert not DetectionRule.objects.exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weight": 0}, "weight"),
        ({"weight": "-1"}, "weight"),
        ({"fields": ["title", "price"]}, "fields"),
        ({"fields": []}, "fields"),
        ({"exclusions": ["", "data mining"]}, "exclusions"),
        ({"kind": "substring"}, "kind"),
        ({"pattern": "   "}, "pattern"),
    ],
)
def test_it_refuses_bad_rule_data_with_field_errors(policy_admin, draft_policy, changes, field):
    data = {"kind": "keyword", "pattern": "antminer", "weight": 10, **changes}
    with pytest.raises(ValidationError) as refused:
        create_detection_rule(actor=policy_admin, policy=draft_policy, **data)
    assert field in refused.value.message_dict
    assert not DetectionRule.objects.exists()


def test_it_refuses_a_pattern_the_policy_has_already_in_another_spelling(policy_admin, draft_policy):
    create_detection_rule(actor=policy_admin, policy=draft_policy, kind="keyword", pattern="Antminer", weight=10)
    with pytest.raises(ValidationError) as refused:
        create_detection_rule(
            actor=policy_admin, policy=draft_policy, kind="keyword", pattern="ＡＮＴＭＩＮＥＲ", weight=5
        )
    assert "already has the keyword “Antminer”" in refused.value.message_dict["pattern"][0]


def test_it_edits_disables_and_enables_a_rule_each_time_audited(policy_admin, senior, rule):
    edited = edit_detection_rule(actor=senior, rule=rule, weight=4, reason="Too many misses.")
    assert edited.weight == 4 and edited.revision == 2
    disabled = disable_detection_rule(actor=policy_admin, rule=rule)
    assert not disabled.is_active and disabled.revision == 3
    enabled = enable_detection_rule(actor=policy_admin, rule=rule)
    assert enabled.is_active and enabled.revision == 4
    events = list(AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED).order_by("id"))
    assert [event.reason for event in events] == [
        "Rule created.",
        "Too many misses.",
        "Rule disabled.",
        "Rule enabled.",
    ]
    assert events[1].actor == senior
    assert (events[1].before["weight"], events[1].after["weight"]) == ("3.00", "4.00")
    assert (events[2].before["is_active"], events[2].after["is_active"]) == (True, False)


def test_an_edit_that_changes_nothing_records_nothing(policy_admin, rule):
    edit_detection_rule(
        actor=policy_admin, rule=rule, weight=Decimal("3.00"), exclusions=["data mining", "mining helmet"]
    )
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED).count() == 1
    assert DetectionRule.objects.get(pk=rule.pk).revision == 1


def test_a_refused_edit_changes_nothing(policy_admin, rule):
    with pytest.raises(ValidationError) as refused:
        edit_detection_rule(actor=policy_admin, rule=rule, kind="regex", pattern="[unclosed")
    assert "pattern" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        edit_detection_rule(actor=policy_admin, rule=rule, created_by=None)
    assert "created_by" in refused.value.message_dict
    rule.refresh_from_db()
    assert (rule.kind, rule.pattern, rule.revision) == ("keyword", "mining", 1)
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED).count() == 1


def test_a_retired_policys_rules_are_frozen(policy_admin, announced_policy, rule):
    retire_policy(actor=policy_admin, policy=announced_policy, reason="Replaced.")
    with pytest.raises(ValidationError, match="retired"):
        disable_detection_rule(actor=policy_admin, rule=rule)
    with pytest.raises(ValidationError, match="retired"):
        create_detection_rule(
            actor=policy_admin, policy=Policy.objects.get(pk=announced_policy.pk), kind="keyword", pattern="x", weight=1
        )


def test_rules_stay_editable_after_the_policy_is_announced(policy_admin, announced_policy):
    rule = create_detection_rule(actor=policy_admin, policy=announced_policy, kind="keyword", pattern="矿机", weight=10)
    assert edit_detection_rule(actor=policy_admin, rule=rule, weight=9).weight == 9


def test_it_copies_rules_to_a_new_version(policy_admin, draft_policy, rule, marketplace):
    disable_detection_rule(actor=policy_admin, rule=rule)
    create_detection_rule(actor=policy_admin, policy=draft_policy, kind="keyword", pattern="矿机", weight=10)
    other = Policy.objects.create(
        slug="other",
        title="Other",
        body="…",
        effective_at=draft_policy.effective_at,
        enforcement_starts_at=draft_policy.enforcement_starts_at,
    )
    copies = copy_detection_rules(actor=policy_admin, source=draft_policy, target=other)
    assert [(c.pattern, c.is_active, c.exclusions) for c in copies] == [
        ("mining", False, ["data mining", "mining helmet"]),
        ("矿机", True, []),
    ]
    with pytest.raises(ValidationError, match="has detection rules already"):
        copy_detection_rules(actor=policy_admin, source=draft_policy, target=other)


# --- the policy's matcher and its cache ---------------------------------------------------------


def test_it_compiles_a_policys_active_rules_once_and_again_when_one_changes(
    policy_admin, draft_policy, rule, django_assert_num_queries
):
    create_detection_rule(actor=policy_admin, policy=draft_policy, kind="keyword", pattern="bitcoin", weight=7)
    first = policy_matcher(draft_policy)
    assert first.score(title="Bitcoin mining").score == 10
    with django_assert_num_queries(1):
        assert policy_matcher(draft_policy) is first

    edit_detection_rule(actor=policy_admin, rule=rule, weight=5)
    second = policy_matcher(draft_policy)
    assert second is not first and second.score(title="Bitcoin mining").score == 12

    disable_detection_rule(actor=policy_admin, rule=rule)
    third = policy_matcher(draft_policy)
    assert third.score(title="Bitcoin mining").terms == ["bitcoin"]
    assert not third.score(title="Bitcoin mining").flagged


def test_the_matcher_follows_the_policys_threshold(policy_admin, draft_policy, rule):
    assert not policy_matcher(draft_policy).score(title="mining").flagged
    draft_policy.detection_threshold = Decimal("3")
    assert policy_matcher(draft_policy).score(title="mining").flagged


def test_the_cache_sees_an_edit_even_when_the_clock_stands_still(policy_admin, draft_policy, rule, travel):
    travel.to(draft_policy.effective_at)
    before = policy_matcher(draft_policy)
    edit_detection_rule(actor=policy_admin, rule=rule, pattern="mining rig", kind="phrase")
    assert policy_matcher(draft_policy) is not before
    assert policy_matcher(draft_policy).score(title="mining rig").terms == ["mining rig"]


# --- the reference rules ----------------------------------------------------------------------


def test_it_seeds_the_reference_rules_once_each_audited(policy_admin, draft_policy):
    created = seed_reference_rules(actor=policy_admin, policy=draft_policy)
    assert len(created) == len(REFERENCE_RULES) == DetectionRule.objects.filter(policy=draft_policy).count()
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED).count() == len(REFERENCE_RULES)
    assert seed_reference_rules(actor=policy_admin, policy=draft_policy) == []
    matcher_from_db = policy_matcher(draft_policy)
    assert matcher_from_db.score(title="出售二手矿机").flagged


def _seed_demo_with_kinds(monkeypatch, listings: int):
    """Seed the demo and tell each listing's kind, which the demo does not store.

    The generator counts each listing's kind just before it yields it: wrap it and read
    which count moved. The named merchants' listings carry their kind in the demo's table.
    """
    from backoffice import demo

    generated = []
    real = demo._generate_listings

    def tracking(*, counts, **kwargs):
        seen = Counter(counts)
        for listing in real(counts=counts, **kwargs):
            (kind,) = [kind for kind in counts if counts[kind] != seen[kind]]
            seen = Counter(counts)
            generated.append((listing, kind))
            yield listing

    monkeypatch.setattr(demo, "_generate_listings", tracking)
    summary = demo.seed_reference_case(seed=2021, listings=listings)
    named = {listing.title: listing.kind for merchant in demo.NAMED_MERCHANTS for listing in merchant.listings}
    kinds = {listing.pk: kind for listing, kind in generated}
    return summary, kinds, named


def test_the_reference_rules_flag_every_banned_demo_listing_and_no_innocent_one(db, monkeypatch, capsys):
    from backoffice.demo import Kind
    from moderation.demo import REFERENCE_SLUG
    from sellers.models import Listing

    summary, kinds, named = _seed_demo_with_kinds(monkeypatch, listings=600)
    policy = Policy.objects.get(slug=REFERENCE_SLUG)
    if not DetectionRule.objects.filter(policy=policy).exists():  # until the demo seed does it
        seed_reference_rules(actor=policy.created_by, policy=policy)
    rules = policy_matcher(policy)

    total, flagged, misses = Counter(), Counter(), []
    for listing in Listing.objects.all():
        kind = kinds.get(listing.pk) or named[listing.title]
        result = rules.score(listing.title, listing.description, listing.attributes, spans=False)
        total[kind] += 1
        flagged[kind] += result.flagged
        if result.flagged != (kind in (Kind.BANNED, Kind.BANNED_ELSEWHERE)):
            misses.append((kind, listing.title, result.score, result.terms))

    assert total == summary.listings_by_kind and sum(total.values()) == 600
    with capsys.disabled():
        print("\n" + ", ".join(f"{kind}: {flagged[kind]}/{total[kind]} flagged" for kind in Kind.ALL))
    assert misses == []
    assert all(total[kind] for kind in Kind.ALL)
