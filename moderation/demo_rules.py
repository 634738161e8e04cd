"""The reference policy's detection rules (virtual-currency mining), as data.

Weighed for the default threshold of 10:

- 10, enough alone: words only mining hardware, software or tutorials use (``antminer``,
  ``矿机``, ``mining rig``, ``asic miner``, ``bitcoin mining``…);
- 6-8: strong hints that need one more (a hash-rate unit ``110TH/s``, ``hash board``,
  ``breakout board``, ``矿场``);
- 3-4: words that are innocent alone (a coin name: a book about Bitcoin is allowed; short
  model codes ``S19``/``M30S`` that phones share; ``SHA-256``, ``scrypt``, ``hashrate``,
  ``mining``, ``miner``, ``算力``).

Exclusions carry the look-alikes (data mining, mining helmets and safety gear, gold
panning, coal and ore mining machinery, "Lite Hash Rate" gaming cards): they cancel a
rule in the field where they occur, so "Data Mining: Concepts and Techniques" scores 0
while "data mining book" next to "bitcoin mining rig" in another field still counts.

``seed_reference_rules`` creates them through the service, so each is audited; the demo
seed calls it after creating the policy.
"""

from __future__ import annotations

from moderation.detection import DESCRIPTION, FIELDS, TITLE, RuleSpec
from moderation.models import DetectionRule, Policy
from moderation.services.audit import Actor
from moderation.services.detection import create_detection_rule

# Non-crypto senses of "mining" and "miner": the look-alikes the demo seeds and their cousins.
MINING_LOOKALIKES = (
    "data mining",
    "text mining",
    "process mining",
    "web mining",
    "opinion mining",
    "mining of massive datasets",
    "mining safety",
    "mining helmet",
    "mining vest",
    "mining boots",
    "mining engineering",
    "mining machinery",
    "mining loader",
    "gold mining",
    "gold panning",
    "coal mining",
    "coal mine",
    "ore mining",
    "underground mining",
    "open pit",
    "quarry",
)
MINER_LOOKALIKES = ("miner's", "miners'", "coal miner", "gold miner", "miner lamp", "cap lamp")
# 矿机 is also short for mining machinery (煤矿机械, 矿机械设备) in real mines.
KUANGJI_LOOKALIKES = ("矿机械", "煤矿机电", "矿山机械")
# LHR: "Lite Hash Rate" gaming cards (锁算力版) say hash rate to say they do *not* mine.
HASHRATE_LOOKALIKES = ("lite hash rate", "lhr", "锁算力", "ai算力", "算力租赁")

TEXT = (TITLE, DESCRIPTION)
ALL = FIELDS


def _rule(kind: str, pattern: str, weight, fields=ALL, exclusions=(), note: str = "") -> RuleSpec:
    return RuleSpec(kind=kind, pattern=pattern, weight=weight, fields=fields, exclusions=exclusions, note=note)


def keyword(pattern: str, weight, **extra) -> RuleSpec:
    return _rule("keyword", pattern, weight, **extra)


def phrase(pattern: str, weight, **extra) -> RuleSpec:
    return _rule("phrase", pattern, weight, **extra)


def regex(pattern: str, weight, **extra) -> RuleSpec:
    return _rule("regex", pattern, weight, **extra)


REFERENCE_RULES: tuple[RuleSpec, ...] = (
    # --- Mining hardware brands and product lines: nothing else goes by these names (10).
    keyword("Antminer", 10, note="Bitmain's miners."),
    keyword("Whatsminer", 10, note="MicroBT's miners."),
    keyword("AvalonMiner", 10, note="Canaan's miners."),
    keyword("Innosilicon", 10, note="Miner maker (A10, T3…)."),
    keyword("Bitmain", 10),
    keyword("MicroBT", 10),
    keyword("Goldshell", 10),
    # --- Chinese: the trade's own words (10).
    keyword("矿机", 10, exclusions=KUANGJI_LOOKALIKES, note="Mining machine."),
    keyword("挖矿", 10, note="To mine (coins): 挖矿机, 挖矿教程, 挖矿软件."),
    keyword("矿池", 10, note="Mining pool."),
    keyword("矿卡", 10, note="A graphics card sold for (or worn out by) mining."),
    keyword("算力板", 8, note="Hash board."),
    keyword("矿场", 6, note="Mining farm; also a real mine site, hence not alone."),
    # --- English phrases that only mining gear uses (10).
    phrase("ASIC miner", 10),
    phrase("bitcoin miner", 10),
    phrase("bitcoin mining", 10),
    phrase("litecoin miner", 10),
    phrase("litecoin mining", 10),
    phrase("ethereum mining", 10),
    phrase("ETH mining", 10),
    phrase("crypto mining", 10),
    phrase("cryptocurrency mining", 10),
    phrase("GPU mining", 10),
    phrase("mining rig", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining machine", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining farm", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining pool", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining power supply", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining PSU", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining tutorial", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining course", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining strategy", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining software", 10, exclusions=MINING_LOOKALIKES),
    phrase("mining profit", 10, exclusions=MINING_LOOKALIKES),
    # --- Hints: hash rates and mining parts (6-8).
    regex(r"\d+(\.\d+)?\s*(th|gh|mh|kh|ph)/s", 6, note="A hash rate: 110TH/s, 110 TH/s, 504 MH/s, 2.45 GH/s."),
    phrase("hash board", 8, exclusions=HASHRATE_LOOKALIKES),
    phrase("breakout board", 7, fields=TEXT, note="Server PSUs with breakout boards power GPU rigs."),
    # --- Innocent alone, telling together (3-4).
    keyword("hashrate", 4, exclusions=HASHRATE_LOOKALIKES),
    phrase("hash rate", 4, exclusions=HASHRATE_LOOKALIKES),
    keyword("算力", 4, exclusions=HASHRATE_LOOKALIKES, note="Computing power; the hash rate of a miner."),
    keyword("Bitcoin", 4),
    keyword("Litecoin", 4),
    keyword("Ethereum", 4),
    keyword("Dogecoin", 4),
    keyword("BeaoCoin", 4),
    keyword("QuarkCoin", 4),
    keyword("比特币", 4),
    keyword("莱特币", 4),
    keyword("以太坊", 4),
    keyword("狗狗币", 4),
    keyword("cryptocurrency", 4),
    keyword("加密货币", 4),
    keyword("虚拟货币", 4),
    keyword("BTC", 3),
    keyword("LTC", 3),
    keyword("ETH", 3),
    phrase("SHA-256", 3, note="Bitcoin's algorithm; also any encrypted drive's."),
    keyword("scrypt", 3, note="Litecoin's algorithm; also a password hash."),
    keyword("Ethash", 4),
    regex(
        r"(?<![a-z0-9])(s19j?|s17|t19|s9|l3\+|l7|e9|d7|m20s|m30s|m31s)(?![a-z0-9])",
        4,
        fields=TEXT,
        note="Short miner model codes, also after Chinese (矿机S19); phones share some (Galaxy S9, M30s): low alone.",
    ),
    keyword("mining", 3, exclusions=MINING_LOOKALIKES),
    keyword("miner", 3, exclusions=MINER_LOOKALIKES + MINING_LOOKALIKES),
    keyword("ASIC", 3, note='Also chip design ("basic ASIC design") and a shoe brand.'),
)


def seed_reference_rules(*, actor: Actor, policy: Policy) -> list[DetectionRule]:
    """Create the reference rules on ``policy`` through the service; skip any it has already."""
    existing = set(DetectionRule.objects.filter(policy=policy).values_list("kind", "pattern"))
    return [
        create_detection_rule(
            actor=actor,
            policy=policy,
            kind=rule.kind,
            pattern=rule.pattern,
            weight=rule.weight,
            fields=rule.fields,
            exclusions=rule.exclusions,
            note=rule.note,
        )
        for rule in REFERENCE_RULES
        if (rule.kind, rule.pattern) not in existing
    ]
