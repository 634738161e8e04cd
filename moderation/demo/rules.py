"""The reference policy's detection rules (virtual-currency mining and virtual currencies), from ``data/rules.json``.

Every part of the announcement has its clause and its rules: (1) mining hardware,
(2) mining software and firmware, (3) tutorials and strategies for obtaining virtual
currencies, (4) the virtual currencies themselves.

Weighed for the default threshold of 10:

- 10, enough alone: words only the banned trade uses (``antminer``, ``矿机``, ``mining
  rig``, ``hiveos``, ``bitcoin for sale``…);
- 6-8: strong signals that need one more (a hash rate with its unit, a power efficiency in
  J/TH, a mining-only algorithm, ``ASIC``, an amount of a coin);
- 3-4: words that are innocent alone (a coin's name: a hardware wallet or a book about
  Bitcoin is allowed; ``miner``, ``mining``, ``hashrate``, ``SHA-256``, short model codes).

Rules with the same label are one *signal*: however many of them match, it counts once,
at its heaviest weight. So "supports Bitcoin, Ethereum, BTC, ETH, LTC" is one coin
signal (4), not five; a hash rate and a coin are two (6 + 4), and flag.

Exclusions carry the look-alikes (data mining, mining machinery and safety gear, coal
and gold mines, "Lite Hash Rate" gaming cards, AI computing power): they cancel a rule
in the field where they occur. The named lists in ``lookalikes``: ``mining`` and ``miner``
hold the non-crypto senses of those words; ``kuangji`` because 矿机 is also short for
mining machinery (矿山机械, 煤矿机电) in real mines; ``hashrate`` because "Lite Hash Rate"
gaming cards say hash rate to say they do *not* mine, and AI sells computing power;
``kuanggong`` for a coal miner's gear.

The file, in order (the order is the rules' ids when seeded):

- ``blocks``: regex building blocks (the coins and tokens, lower case as normalised text
  is), written ``{coins_en}`` inside a regex rule and filled in here. They are composed in
  code, not repeated in the file, because a dozen rules share the same forty coin names:
  one list to extend when a coin appears;
- ``labels``: the signals' names, referred to by key;
- ``clauses``: per clause of the policy, its rules. A rule has ``kind``, ``pattern`` (or
  ``patterns``: several rules alike but for the pattern), ``weight``, ``label``, and
  optionally ``fields`` (default: all), ``exclusions_from`` (named look-alike lists),
  ``exclusions`` (more phrases), ``note`` (shown to moderators) and ``comment`` (for the
  reader of the file only).

``seed_reference_rules`` creates them through the service, so each is audited; the demo
seed calls it after creating the policy.
"""

from __future__ import annotations

import re
from typing import Any

from moderation.demo.data_files import load
from moderation.detection import FIELDS, RuleSpec
from moderation.models import DetectionRule, Policy
from moderation.services.audit import Actor
from moderation.services.detection import create_rules_like

_rules = load("rules.json")

BLOCKS: dict[str, str] = _rules["blocks"]
LOOKALIKES: dict[str, list[str]] = _rules["lookalikes"]
LABELS: dict[str, str] = _rules["labels"]

BRAND = LABELS["brand"]
TRADE_ZH = LABELS["trade_zh"]
MINING_PHRASE = LABELS["mining_phrase"]
SOFTWARE_NAME = LABELS["software_name"]
TUTORIAL = LABELS["tutorial"]
COIN_SALE = LABELS["coin_sale"]
COIN = LABELS["coin"]

_RULE_KEYS = frozenset(
    ("comment", "kind", "pattern", "patterns", "weight", "label", "fields", "exclusions_from", "exclusions", "note")
)
# A block's name in braces; regex repetitions such as {0,30} have no letters, so never match.
_BLOCK = re.compile(r"\{([a-z_]+)\}")


def _compose(pattern: str) -> str:
    return _BLOCK.sub(lambda match: BLOCKS[match.group(1)], pattern)


def _rules_of(entry: dict[str, Any], clause: int) -> list[RuleSpec]:
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise ValueError(f"data/rules.json, clause {clause}: unknown keys {sorted(unknown)} in {entry}")
    patterns = entry["patterns"] if "patterns" in entry else [entry["pattern"]]
    exclusions = tuple(
        [phrase for name in entry.get("exclusions_from", ()) for phrase in LOOKALIKES[name]]
        + entry.get("exclusions", [])
    )
    return [
        RuleSpec(
            kind=entry["kind"],
            pattern=_compose(pattern) if entry["kind"] == "regex" else pattern,
            weight=entry["weight"],
            label=LABELS[entry["label"]],
            clause=clause,
            fields=tuple(entry.get("fields", FIELDS)),
            exclusions=exclusions,
            note=entry.get("note", ""),
        )
        for pattern in patterns
    ]


REFERENCE_RULES: tuple[RuleSpec, ...] = tuple(
    rule for section in _rules["clauses"] for entry in section["rules"] for rule in _rules_of(entry, section["clause"])
)


def seed_reference_rules(*, actor: Actor, policy: Policy) -> list[DetectionRule]:
    """Create the reference rules on ``policy`` through the service; skip any it has already.

    Each rule cites the policy's clause of its number, when the policy has one.
    """
    existing = set(DetectionRule.objects.filter(policy=policy).values_list("kind", "pattern"))
    missing = [rule for rule in REFERENCE_RULES if (rule.kind, rule.pattern) not in existing]
    return create_rules_like(actor=actor, policy=policy, specs=missing)
