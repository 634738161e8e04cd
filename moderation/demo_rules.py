"""The reference policy's detection rules (virtual-currency mining and virtual currencies), as data.

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
in the field where they occur.

``seed_reference_rules`` creates them through the service, so each is audited; the demo
seed calls it after creating the policy.
"""

from __future__ import annotations

from moderation.detection import DESCRIPTION, FIELDS, TITLE, RuleSpec
from moderation.models import DetectionRule, Policy
from moderation.services.audit import Actor
from moderation.services.detection import create_detection_rule

HARDWARE, SOFTWARE, TUTORIALS, CURRENCIES = 1, 2, 3, 4
TEXT = (TITLE, DESCRIPTION)
ALL = FIELDS

# Non-crypto senses of "mining" and "miner".
MINING_LOOKALIKES = (
    "data mining",
    "text mining",
    "process mining",
    "web mining",
    "opinion mining",
    "graph mining",
    "mining of massive datasets",
    "mining safety",
    "mining helmet",
    "mining vest",
    "mining boots",
    "mining lamp",
    "mining engineering",
    "mining machinery",
    "mining equipment",
    "mining loader",
    "mining truck",
    "mining drill",
    "mining industry",
    "gold mining",
    "gold panning",
    "coal mining",
    "coal mine",
    "ore mining",
    "underground mining",
    "open pit",
    "quarry",
    "minecraft",
)
MINER_LOOKALIKES = ("miner's", "miners'", "coal miner", "gold miner", "miner lamp", "cap lamp", "miner figure")
# 矿机 is also short for mining machinery (矿山机械, 煤矿机电) in real mines.
KUANGJI_LOOKALIKES = ("矿机械", "煤矿机电", "矿山机械", "矿机设备厂")
# "Lite Hash Rate" gaming cards say hash rate to say they do *not* mine; AI sells computing power.
HASHRATE_LOOKALIKES = ("lite hash rate", "lhr", "锁算力", "ai算力", "智能算力", "算力租赁", "算力服务器 ai")
KUANGGONG_LOOKALIKES = ("矿工帽", "矿工灯", "矿工靴", "煤矿工", "矿工服")

# Coins and tokens, as the expressions below name them (normalised: lower case).
COINS_EN = (
    "bit ?coins?|btc|lite ?coins?|ltc|ethereum|ether|eth|doge ?coins?|doge|beaocoin|quark ?coin|qrk|monero|xmr|"
    "kaspa|kas|zcash|zec|ravencoin|rvn|dash|bch|usdt|tether|usdc|bnb|solana|sol|xrp|trx|tron|shib|shiba inu|"
    "crypto|cryptos|cryptocurrency|cryptocurrencies"
)
TICKERS = "btc|eth|ltc|usdt|usdc|doge|xmr|bnb|trx|kas|sol|shib|qrk|rvn|zec|bch|xrp"
COINS_ZH = "比特币|莱特币|以太坊|以太币|狗狗币|门罗币|达世币|泰达币|usdt|虚拟币|虚拟货币|数字货币|加密货币|代币"


def _rule(kind, pattern, weight, label, clause, fields=ALL, exclusions=(), note="") -> RuleSpec:
    return RuleSpec(
        kind=kind,
        pattern=pattern,
        weight=weight,
        label=label,
        clause=clause,
        fields=fields,
        exclusions=exclusions,
        note=note,
    )


def keyword(pattern, weight, label, clause, **extra) -> RuleSpec:
    return _rule("keyword", pattern, weight, label, clause, **extra)


def phrase(pattern, weight, label, clause, **extra) -> RuleSpec:
    return _rule("phrase", pattern, weight, label, clause, **extra)


def regex(pattern, weight, label, clause, **extra) -> RuleSpec:
    return _rule("regex", pattern, weight, label, clause, **extra)


BRAND = "Mining hardware maker or product line"
TRADE_ZH = "Chinese mining trade word"
MINING_PHRASE = "Mining hardware phrase"
SOFTWARE_NAME = "Mining software or firmware"
TUTORIAL = "Mining tutorial or strategy"
COIN_SALE = "Sale of a virtual currency"
COIN = "Virtual currency named"

REFERENCE_RULES: tuple[RuleSpec, ...] = (
    # === 1. Mining hardware ===========================================================
    # Makers and product lines: nothing else goes by these names (10).
    *(
        keyword(name, 10, BRAND, HARDWARE)
        for name in (
            "Antminer",
            "Whatsminer",
            "AvalonMiner",
            "Innosilicon",
            "Bitmain",
            "MicroBT",
            "Goldshell",
            "Jasminer",
            "IceRiver",
            "Bombax",
            "Elphapex",
            "iBeLink",
            "VolcMiner",
            "Bitaxe",
            "NerdMiner",
            "NerdAxe",
            "FutureBit",
            "GekkoScience",
            "DragonMint",
        )
    ),
    phrase("Canaan Avalon", 10, BRAND, HARDWARE),
    phrase("lucky miner", 10, BRAND, HARDWARE, note="Home lottery miners sold under this name."),
    keyword("比特大陆", 10, BRAND, HARDWARE, note="Bitmain."),
    keyword("阿瓦隆", 6, BRAND, HARDWARE, note="Avalon (Canaan); also a place name, so not alone."),
    # The trade's own Chinese words (10).
    keyword("矿机", 10, TRADE_ZH, HARDWARE, exclusions=KUANGJI_LOOKALIKES, note="Mining machine."),
    keyword("挖矿", 10, TRADE_ZH, HARDWARE, note="To mine (coins): 挖矿机, 挖矿教程, 挖矿软件."),
    keyword("矿池", 10, TRADE_ZH, HARDWARE, note="Mining pool."),
    keyword("矿卡", 10, TRADE_ZH, HARDWARE, note="A graphics card sold for (or worn out by) mining."),
    keyword("矿场", 6, "Chinese mining farm", HARDWARE, note="Also a real mine site, hence not alone."),
    keyword("算力板", 8, "Hash board", HARDWARE),
    keyword("矿工", 3, "Miner", HARDWARE, exclusions=KUANGGONG_LOOKALIKES, note="A (coal) miner too: weak."),
    # English phrases that only mining gear uses (10).
    *(
        phrase(text, 10, MINING_PHRASE, HARDWARE, exclusions=MINING_LOOKALIKES)
        for text in (
            "ASIC miner",
            "mining rig",
            "mining machine",
            "mining farm",
            "mining pool",
            "mining power supply",
            "mining PSU",
            "mining frame",
            "mining case",
            "mining motherboard",
            "mining hardware",
            "GPU mining",
            "crypto mining",
            "cryptocurrency mining",
            "solo miner",
            "lottery miner",
            "USB miner",
            "home miner",
            "hydro miner",
            "immersion miner",
            "miner PSU",
            "miner power supply",
            "miner fan",
        )
    ),
    keyword("hashboard", 8, "Hash board", HARDWARE, exclusions=HASHRATE_LOOKALIKES),
    phrase(
        "breakout board",
        7,
        "Power supply breakout board",
        HARDWARE,
        fields=TEXT,
        note="Server power supplies with breakout boards power GPU rigs; RC hobbyists use them too: not alone.",
    ),
    keyword("APW12", 8, "Miner power supply model", HARDWARE),
    regex(r"\bapw ?(?:3|7|9|12|17)\+?\b", 6, "Miner power supply model", HARDWARE),
    # A coin next to a mining word: "BTC miner", "Kaspa mining", "比特币矿机" (10).
    regex(
        rf"\b(?:{COINS_EN})[ \-]?(?:miners?|mining|mining machines?|mining rigs?|asics?)\b",
        10,
        "Coin with a mining word",
        HARDWARE,
    ),
    regex(rf"\b(?:mine|mining|mines)[ \-](?:{COINS_EN})\b", 10, "Coin with a mining word", HARDWARE),
    # Signals that make a listing a miner without knowing its model (6-8).
    regex(
        r"\b\d+(?:[.,]\d+)? ?(?:[kmgtpe]?h|[kmg]?sol)/s\b",
        6,
        "Hash rate with its unit",
        HARDWARE,
        exclusions=HASHRATE_LOOKALIKES,
        note="110TH/s, 504 MH/s, 2.45 GH/s, 140 kSol/s.",
    ),
    regex(
        r"\b\d+(?:[.,]\d+)? ?(?:j|w)/(?:[kmgtp]h|t)\b",
        8,
        "Power efficiency per hash",
        HARDWARE,
        note="29.5 J/TH, 0.3 J/MH: only miners are rated so.",
    ),
    *(
        keyword(name, 6, "Mining-only algorithm", HARDWARE)
        for name in (
            "Ethash",
            "Etchash",
            "kHeavyHash",
            "HeavyHash",
            "KawPow",
            "ProgPow",
            "Eaglesong",
            "Equihash",
            "Autolykos",
            "Cuckatoo",
            "Cuckaroo",
            "RandomX",
            "CryptoNight",
            "X16R",
            "Lyra2REv2",
        )
    ),
    phrase("SHA-256", 4, "Hash algorithm also used by miners", HARDWARE, note="Also any encrypted drive's."),
    keyword("scrypt", 4, "Hash algorithm also used by miners", HARDWARE, note="Also a password hash."),
    keyword("Blake3", 4, "Hash algorithm also used by miners", HARDWARE),
    keyword("X11", 3, "Hash algorithm also used by miners", HARDWARE, note="Also the X Window System."),
    keyword(
        "ASIC",
        6,
        "ASIC",
        HARDWARE,
        exclusions=("asic design", "asic verification", "asics"),
        note='With a coin or an algorithm it is a miner; "ASIC design" books and Asics shoes are not.',
    ),
    keyword("miner", 4, "Miner", HARDWARE, exclusions=MINER_LOOKALIKES + MINING_LOOKALIKES),
    keyword("mining", 3, "Mining", HARDWARE, exclusions=MINING_LOOKALIKES),
    keyword("hashrate", 4, "Hash rate", HARDWARE, exclusions=HASHRATE_LOOKALIKES),
    keyword(
        "算力", 4, "Hash rate", HARDWARE, exclusions=HASHRATE_LOOKALIKES, note="Computing power; a miner's hash rate."
    ),
    regex(
        r"\b(?:s19[a-z]*|s21[a-z+]*|t21|s17[a-z+]*|t19|s9[a-z]?|l3\+|l7|l9|e9|d7|d9|k7|ks[0-5][a-z]*|"
        r"m[2-6][0-9]s\+*|a1[0-9]{3}|al[0-3]|ka3|kd[0-9]|dg ?1)\b",
        3,
        "Miner model code",
        HARDWARE,
        fields=TEXT,
        note="Short codes phones share (Galaxy S21, M30s): weak alone.",
    ),
    regex(r"\b\d{1,2} ?x? ?(?:gpu|card)s? ?(?:rig|frame|mining)\b", 8, "GPU rig", HARDWARE),
    phrase("GPU rig", 8, "GPU rig", HARDWARE),
    phrase("hash rig", 10, MINING_PHRASE, HARDWARE),
    regex(r"(?:[0-9]{1,2}卡|显卡)(?:矿机|机架|矿架)", 8, "GPU rig", HARDWARE),
    # === 2. Mining software and firmware ==============================================
    *(
        keyword(name, 10, SOFTWARE_NAME, SOFTWARE)
        for name in (
            "HiveOS",
            "RaveOS",
            "minerstat",
            "NiceHash",
            "Braiins",
            "VNish",
            "cgminer",
            "bfgminer",
            "xmrig",
            "PhoenixMiner",
            "lolMiner",
            "NBMiner",
            "TeamRedMiner",
            "GMiner",
            "ethminer",
            "nanominer",
            "SRBMiner",
            "awesomeminer",
        )
    ),
    *(
        phrase(text, 10, SOFTWARE_NAME, SOFTWARE, exclusions=MINING_LOOKALIKES)
        for text in (
            "mining software",
            "mining firmware",
            "miner firmware",
            "mining OS",
            "mining program",
            "T-Rex miner",
        )
    ),
    regex(r"(?:挖矿|矿机)(?:软件|固件|系统|程序)", 10, SOFTWARE_NAME, SOFTWARE),
    # === 3. Tutorials and strategies for obtaining virtual currencies ================
    *(
        phrase(text, 10, TUTORIAL, TUTORIALS, exclusions=MINING_LOOKALIKES)
        for text in (
            "mining tutorial",
            "mining course",
            "mining guide",
            "mining strategy",
            "mining profit",
            "mining masterclass",
            "mining ebook",
        )
    ),
    regex(
        r"\bmining (?:video |online )?(?:tutorials?|courses?|lessons?|guides?|classes?|e-?books?)\b",
        10,
        TUTORIAL,
        TUTORIALS,
        exclusions=MINING_LOOKALIKES,
    ),
    regex(rf"\bhow to (?:mine|earn|get|farm|make)\b[^.\n]{{0,30}}\b(?:{COINS_EN})\b", 10, TUTORIAL, TUTORIALS),
    regex(
        rf"\b(?:{COINS_EN}) (?:mining )?(?:course|tutorial|masterclass|e-?book|video lessons?|playbook)s?\b",
        6,
        TUTORIAL,
        TUTORIALS,
    ),
    regex(rf"(?:{COINS_ZH}|挖矿)[^。\n]{{0,8}}(?:教程|攻略|课程|赚钱|秘籍)", 8, TUTORIAL, TUTORIALS),
    # === 4. Virtual currencies themselves ============================================
    regex(rf"\b(?:{COINS_EN}) for sale\b", 10, COIN_SALE, CURRENCIES),
    regex(rf"\b(?:sell|selling|sells|buy|buying) (?:real |cheap |instant )?(?:{COINS_EN})\b", 8, COIN_SALE, CURRENCIES),
    regex(rf"\b(?:{COINS_EN}) (?:gift ?cards?|vouchers?|redeem codes?|recharge|top-?up)\b", 10, COIN_SALE, CURRENCIES),
    regex(
        rf"\bpre-?(?:loaded|funded|charged)\b[^.\n]{{0,30}}\b(?:{COINS_EN}|wallets?|coins?)\b",
        10,
        COIN_SALE,
        CURRENCIES,
        note="A preloaded wallet or card holds coins: selling it sells them.",
    ),
    regex(
        rf"\b\d+(?:[.,]\d+)? ?(?:{TICKERS})\b",
        6,
        "Amount of a virtual currency",
        CURRENCIES,
        note="0.01 BTC, 100 USDT, 100,000 QRK.",
    ),
    regex(
        r"\b(?:trc|erc|bep|spl)[ \-]?20\b",
        6,
        "Coin transfer wording",
        CURRENCIES,
        exclusions=("hardware wallet", "cold wallet", "cold storage"),
        note="Token networks: sellers of coins name the one they send on.",
    ),
    regex(
        r"\b(?:instant(?:ly)? (?:release|transfer)|released? (?:to your|after payment)|"
        r"(?:sent|delivered|transferred|credited) to your (?:[a-z0-9]+ )?(?:wallet|address|account)|"
        r"to your (?:[a-z0-9]+ )?(?:wallet|address)|below market)\b",
        6,
        "Coin transfer wording",
        CURRENCIES,
    ),
    regex(r"(?:秒到账|到账|秒到|转币|打币)", 6, "Coin transfer wording", CURRENCIES),
    regex(rf"(?:出售|转让|代购|充值|购买|批发|回收|兑换)[^。，,\n]{{0,6}}(?:{COINS_ZH})", 10, COIN_SALE, CURRENCIES),
    regex(rf"(?:{COINS_ZH})[^。，,\n]{{0,4}}(?:出售|转让|现货|秒到|到账|充值|兑换)", 8, COIN_SALE, CURRENCIES),
    regex(rf"\d+(?:\.\d+)? ?个? ?(?:{COINS_ZH})", 6, "Amount of a virtual currency", CURRENCIES),
    # Coins named: innocent alone, one signal however many are named (3-4).
    *(
        keyword(name, 4, COIN, CURRENCIES)
        for name in (
            "Bitcoin",
            "Litecoin",
            "Ethereum",
            "Dogecoin",
            "BeaoCoin",
            "QuarkCoin",
            "Monero",
            "Kaspa",
            "BTC",
            "LTC",
            "USDT",
            "cryptocurrency",
            "比特币",
            "莱特币",
            "以太坊",
            "狗狗币",
            "门罗币",
            "泰达币",
            "加密货币",
            "虚拟货币",
            "虚拟币",
            "数字货币",
        )
    ),
    keyword("ETH", 3, COIN, CURRENCIES, note="Also the Ethernet port's label: weaker than the other coins."),
    keyword("crypto", 3, COIN, CURRENCIES),
)


def seed_reference_rules(*, actor: Actor, policy: Policy) -> list[DetectionRule]:
    """Create the reference rules on ``policy`` through the service; skip any it has already.

    Each rule cites the policy's clause of its number, when the policy has one.
    """
    existing = set(DetectionRule.objects.filter(policy=policy).values_list("kind", "pattern"))
    clauses = {clause.number: clause for clause in policy.clauses.all()}
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
            label=rule.label,
            clause=clauses.get(rule.clause) if rule.clause else None,
        )
        for rule in REFERENCE_RULES
        if (rule.kind, rule.pattern) not in existing
    ]
