"""The demo data set: the 2021 ban of virtual-currency mining machines, as data.

``seed_reference_case`` is what ``manage.py seed_demo`` (and ``bench/seed.py``) runs:

1. refuse to seed over existing data, or wipe it first when asked (``reset_demo_data``);
2. seed the catalog (``seed_catalog``): the back office's people, the five marketplaces,
   the category tree with "Blockchain Miners" and "Blockchain Miner Accessories" under
   "Consumer Electronics", two named merchants with hand-written listings, and as many
   generated merchants and listings as asked for;
3. the reference *policy* is seeded after the catalog, in ``seed_reference_case``.

Everything generated comes from one ``random.Random(seed)``: the same seed gives the same
catalog, row for row, so a screenshot or a bug report can name a listing. Listings are
combined from templates (product × variant × wording × merchant), in English and Chinese,
in four kinds: banned products in the banned categories, banned products listed in
ordinary categories (what detection must find), innocent look-alikes (data-mining books,
mining helmets, gaming cards: what detection must not flag) and ordinary goods.

Marketplaces, categories and the named merchants go through the catalog services (one
audit event each); the bulk of merchants and listings is written in batches with one
audit event per batch, as a catalog feed would be loaded.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils.text import slugify

from backoffice.roles import Role
from moderation.demo import seed_reference_policy
from moderation.models import AuditEvent, AuditVerb
from moderation.services.audit import Actor, SystemActor, record_event
from sellers import services as catalog
from sellers.models import Category, Listing, Marketplace, Merchant

DEFAULT_SEED = 2021
DEFAULT_LISTINGS = 2_000
DEMO_PASSWORD = "demo"  # published: the command prints it
SEED_ACTOR = SystemActor("seed_demo")

# 5000 rows per INSERT is about 2.5 MB of SQL for listings: large enough that the round
# trips do not dominate, small enough that one failed batch is cheap to redo.
BATCH_SIZE = 5_000

BANNED_CATEGORY_SLUGS = ("blockchain-miners", "blockchain-miner-accessories")

# Listings are dated before the announcement (2021-09-27, Asia/Shanghai), so the
# reference policy finds a catalog that was built while they were still allowed.
CATALOG_OPENED = datetime(2021, 3, 1, tzinfo=UTC)
CATALOG_SEEDED = datetime(2021, 9, 20, tzinfo=UTC)


class DemoDataPresentError(Exception):
    """The database already holds catalog data or demo users: seeding again would mix them."""


ProgressCallback = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


# --------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role | None = None
    is_staff: bool = False
    is_superuser: bool = False
    description: str = ""


DEMO_USERS = (
    DemoUser("admin", is_staff=True, is_superuser=True, description="superuser (Django admin)"),
    DemoUser("policyadmin", Role.POLICY_ADMIN, is_staff=True, description="policy admin"),
    DemoUser("moderator", Role.MODERATOR, description="moderator"),
    DemoUser("senior", Role.SENIOR_MODERATOR, description="senior moderator"),
    DemoUser("merchant-a", description="seller: Shenzhen Hashpower Trading (sellers' API)"),
    DemoUser("merchant-b", description="seller: Guangzhou Gadget Supply (sellers' API)"),
)
DEMO_USERNAMES = tuple(user.username for user in DEMO_USERS)


# --------------------------------------------------------------------------------------
# The catalog's fixed part: marketplaces and the category tree
# --------------------------------------------------------------------------------------

MARKETPLACES = (
    # code, name, timezone, share of the merchants
    ("alibaba", "Alibaba.com", "Asia/Shanghai", 35),
    ("aliexpress", "AliExpress", "Asia/Shanghai", 25),
    ("taobao", "Taobao", "Asia/Shanghai", 20),
    ("xianyu", "Xianyu", "Asia/Shanghai", 10),
    ("lazada", "Lazada", "Asia/Singapore", 10),
)

# (name, slug, children as (name, slug)); slugs are spelled out so they never drift.
CATEGORY_TREE: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Consumer Electronics",
        "consumer-electronics",
        (
            ("Blockchain Miners", "blockchain-miners"),
            ("Blockchain Miner Accessories", "blockchain-miner-accessories"),
            ("Mobile Phones", "mobile-phones"),
            ("Phone Accessories", "phone-accessories"),
            ("Headphones", "headphones"),
            ("Smart Watches", "smart-watches"),
        ),
    ),
    (
        "Computer Hardware",
        "computer-hardware",
        (
            ("Graphics Cards", "graphics-cards"),
            ("Power Supplies", "power-supplies"),
            ("Server Racks", "server-racks"),
            ("Keyboards & Mice", "keyboards-mice"),
            ("Cables & Adapters", "cables-adapters"),
            ("Storage", "storage"),
        ),
    ),
    ("Software", "software", ()),
    ("Digital Goods", "digital-goods", (("Gift Cards & Vouchers", "gift-cards"),)),
    (
        "Books",
        "books",
        (("Computer Science", "computer-science"), ("Business & Finance", "business-finance")),
    ),
    (
        "Education",
        "education",
        (("Online Courses", "online-courses"), ("Language Courses", "language-courses")),
    ),
    (
        "Safety Equipment",
        "safety-equipment",
        (("Mining Safety", "mining-safety"), ("Protective Gloves", "protective-gloves")),
    ),
    ("Outdoor", "outdoor", (("Gold Panning", "gold-panning"), ("Camping", "camping"))),
    ("Industrial Machinery", "industrial-machinery", (("Mining Machinery", "mining-machinery"),)),
    ("Home & Garden", "home-garden", (("Kitchen", "kitchen"),)),
    ("Apparel", "apparel", (("Men's Clothing", "mens-clothing"),)),
)


# --------------------------------------------------------------------------------------
# Listing templates
# --------------------------------------------------------------------------------------


class Kind:
    """What a listing is, for the reference policy: the demo's ground truth."""

    BANNED = "banned"  # a banned product in a banned category
    BANNED_ELSEWHERE = "banned_elsewhere"  # a banned product in an ordinary category
    LOOKALIKE = "lookalike"  # innocent, but shares words with banned products
    ORDINARY = "ordinary"

    ALL = (BANNED, BANNED_ELSEWHERE, LOOKALIKE, ORDINARY)


class Product(NamedTuple):
    en: str
    zh: str
    spec: str
    price: float
    attributes: dict[str, Any]
    words: dict[str, str] = {}  # template-only words (coin names), never mutated


@dataclass(frozen=True)
class Family:
    """Listings that share a category and a wording: products × variants × titles."""

    key: str
    kind: str
    category: str  # slug
    weight: float  # relative share of the generated listings
    products: tuple[Product, ...]
    variants: tuple[tuple[str, str], ...]
    titles_en: tuple[str, ...] = ("{name} {spec}, {variant}", "{Variant}: {name} {spec}")
    titles_zh: tuple[str, ...] = ("{zh} {spec} {variant}", "【{variant}】{zh} {spec}")
    descriptions_en: tuple[str, ...] = ("{name} ({spec}). {details}. {Variant}. {ship}",)
    descriptions_zh: tuple[str, ...] = ("{zh}（{spec}）。{details}。{variant}。{ship_zh}",)
    clause: int | None = None  # the reference policy's clause a banned family breaks


# The tables below are data, one row per line where it fits: formatted by hand so a row
# reads as a row (`ruff format` would spread each over six lines).
# fmt: off
SHIPPING = (
    ("Ships from Shenzhen within 3 days.", "深圳仓发货，3天内发出。"),
    ("Ships from Guangzhou by DHL, UPS or FedEx.", "广州发货，支持DHL/UPS/FedEx。"),
    ("In stock in our Yiwu warehouse.", "义乌仓现货。"),
    ("Door-to-door delivery, duties paid.", "双清包税到门。"),
    ("Free shipping on orders over USD 50.", "满50美元包邮。"),
)

COINS = {
    "BTC": {"coin_en": "Bitcoin", "coin_zh": "比特币"},
    "LTC": {"coin_en": "Litecoin", "coin_zh": "莱特币"},
    "ETH": {"coin_en": "Ethereum", "coin_zh": "以太坊"},
    "DASH": {"coin_en": "Dash", "coin_zh": "达世币"},
}


def _miner(en: str, zh: str, price: float, hashrate: str, algorithm: str, power: str, coin: str) -> Product:
    attributes = {"hashrate": hashrate, "algorithm": algorithm, "power": power, "coin": coin}
    # Sellers write the hashrate without the space in titles: "Antminer S19 Pro 110TH/s".
    return Product(en, zh, hashrate.replace(" ", ""), price, attributes, COINS[coin])


ASIC_MINERS = (
    _miner("Bitmain Antminer S19 Pro", "蚂蚁矿机 S19 Pro", 2399, "110 TH/s", "SHA-256", "3250 W", "BTC"),
    _miner("Bitmain Antminer S19j Pro", "蚂蚁矿机 S19j Pro", 1999, "100 TH/s", "SHA-256", "3050 W", "BTC"),
    _miner("Bitmain Antminer S19", "蚂蚁矿机 S19", 1699, "95 TH/s", "SHA-256", "3250 W", "BTC"),
    _miner("Bitmain Antminer T19", "蚂蚁矿机 T19", 1299, "84 TH/s", "SHA-256", "3150 W", "BTC"),
    _miner("Bitmain Antminer S17+", "蚂蚁矿机 S17+", 799, "73 TH/s", "SHA-256", "2920 W", "BTC"),
    _miner("Bitmain Antminer S9", "蚂蚁矿机 S9", 129, "13.5 TH/s", "SHA-256", "1323 W", "BTC"),
    _miner("MicroBT Whatsminer M30S", "神马矿机 M30S", 1599, "88 TH/s", "SHA-256", "3344 W", "BTC"),
    _miner("MicroBT Whatsminer M30S++", "神马矿机 M30S++", 2599, "112 TH/s", "SHA-256", "3472 W", "BTC"),
    _miner("MicroBT Whatsminer M20S", "神马矿机 M20S", 699, "68 TH/s", "SHA-256", "3360 W", "BTC"),
    _miner("Canaan AvalonMiner 1246", "阿瓦隆 A1246 矿机", 1499, "90 TH/s", "SHA-256", "3420 W", "BTC"),
    _miner("Bitmain Antminer L3+", "蚂蚁矿机 L3+", 199, "504 MH/s", "Scrypt", "800 W", "LTC"),
    _miner("Bitmain Antminer L7", "蚂蚁矿机 L7", 4999, "9.5 GH/s", "Scrypt", "3425 W", "LTC"),
    _miner("Goldshell LT5 Pro", "金贝 LT5 Pro", 2999, "2.45 GH/s", "Scrypt", "3100 W", "LTC"),
    _miner("Innosilicon A10 Pro", "芯动 A10 Pro", 1899, "500 MH/s", "Ethash", "860 W", "ETH"),
    _miner("Bitmain Antminer E9", "蚂蚁矿机 E9", 3999, "2.4 GH/s", "Ethash", "1920 W", "ETH"),
    _miner("Bitmain Antminer D7", "蚂蚁矿机 D7", 2799, "1286 GH/s", "X11", "3148 W", "DASH"),
)

MINER_VARIANTS = (
    ("brand new, in stock", "全新现货"),
    ("used, tested and working", "二手 已测试 正常运行"),
    ("with original PSU", "含原装电源"),
    ("wholesale, MOQ 5 units", "批发 5台起订"),
    ("ready to ship", "现货秒发"),
    ("2021 batch, warranty included", "2021年批次 带保修"),
)

MINER_TEXTS = {
    "titles_en": (
        "{name} {spec} {coin_en} miner, {variant}",
        "{name} {spec} ASIC miner {algorithm}, {variant}",
        "{Variant}: {name} {spec} {coin_en} mining machine",
        "{coin} miner {name} {spec} {power}, {variant}",
    ),
    "titles_zh": (
        "{zh} {spec} {coin_zh}矿机 {variant}",
        "{variant} {zh} {algorithm}算法 算力{spec} 功耗{power}",
        "{coin_zh}挖矿机 {zh} {spec} {variant}",
    ),
    "descriptions_en": (
        "{name} ASIC miner for {coin_en} ({algorithm}). Hashrate {hashrate}, power draw {power}. "
        "{Variant}. Every unit is tested before shipping; 180-day warranty. {ship}",
        "Mine {coin_en} with the {name}: {hashrate} on {algorithm} at {power}. {Variant}. "
        "Pays for itself in months at current difficulty. {ship}",
    ),
    "descriptions_zh": (
        "{zh}，{coin_zh}挖矿专用ASIC矿机，算法{algorithm}，算力{hashrate}，功耗{power}。"
        "{variant}，发货前逐台测试，保修180天。{ship_zh}",
        "{coin_zh}矿机{zh}：算力{hashrate}，{algorithm}算法，功耗{power}。{variant}，回本快，收益高。{ship_zh}",
    ),
}

MINER_ACCESSORIES = (
    Product("APW12 mining power supply", "APW12 矿机电源", "2000W", 129,
            {"power": "2000 W", "compatible": "Antminer S19 / S19 Pro / T19"}),
    Product("APW7 miner power supply", "APW7 矿机电源", "1800W", 89,
            {"power": "1800 W", "compatible": "Antminer S9 / L3+ / S17"}),
    Product("Mining PSU for GPU rigs", "显卡矿机专用电源", "2000W 12V", 99,
            {"power": "2000 W", "output": "12 V, 166 A"}),
    Product("Antminer S19 hash board", "蚂蚁 S19 算力板", "34TH/s", 399,
            {"hashrate": "34 TH/s", "compatible": "Antminer S19"}),
    Product("Antminer control board", "蚂蚁矿机控制板", "C52", 69, {"compatible": "Antminer S9 / L3+ / S17"}),
    Product("Whatsminer cooling fan", "神马矿机散热风扇", "12038 7000RPM", 15,
            {"size": "120 x 120 x 38 mm", "speed": "7000 rpm"}),
    Product("6 GPU mining rig frame, open air", "6卡显卡矿机机架 开放式", "6 GPU", 49,
            {"slots": 6, "material": "steel"}),
    Product("8 GPU mining rig frame, aluminium", "8卡矿机机箱 铝合金", "8 GPU", 79,
            {"slots": 8, "material": "aluminium"}),
    Product("12 GPU mining rig case", "12卡挖矿机箱", "12 GPU", 129, {"slots": 12, "material": "steel"}),
    Product("PCIe riser 009S for mining, 6 pack", "挖矿转接卡 PCIe 009S 6条装", "USB 3.0", 19, {"pieces": 6}),
    Product("Miner noise-reduction cabinet", "矿机静音箱", "for 1 ASIC miner", 299, {"noise": "45 dB"}),
)

BANNED_FAMILIES = (
    Family("asic-miner", Kind.BANNED, "blockchain-miners", 8, ASIC_MINERS, MINER_VARIANTS, **MINER_TEXTS, clause=1),
    Family(
        "miner-accessory", Kind.BANNED, "blockchain-miner-accessories", 4, MINER_ACCESSORIES,
        (("in stock", "现货"), ("wholesale", "批发"), ("brand new", "全新"), ("fast shipping", "快速发货")),
        descriptions_en=("{name} ({spec}) for crypto mining farms. {details}. {Variant}. {ship}",),
        descriptions_zh=("{zh}（{spec}），矿场挖矿专用。{details}。{variant}。{ship_zh}",),
        clause=1,
    ),
)

# Banned products that their sellers put in ordinary categories: only detection finds them.
BANNED_ELSEWHERE_FAMILIES = (
    Family(
        "miner-as-server", Kind.BANNED_ELSEWHERE, "server-racks", 0.6, ASIC_MINERS[:10],
        (("data-centre grade", "机房级"), ("in stock", "现货"), ("bulk discount", "量大从优")),
        titles_en=(
            "{name} {spec} high-performance computing server, {algorithm}",
            "4U rack server {name} {spec} for blockchain data centre, {variant}",
        ),
        titles_zh=("{zh} 服务器 {spec} 算力服务器 {variant}", "区块链算力服务器 {zh} {spec} {variant}"),
        descriptions_en=(
            "Rack-mounted computing unit: {name}, {hashrate}, {algorithm}, {power}. "
            "Ideal for blockchain data centres. {Variant}. {ship}",
        ),
        descriptions_zh=("机架式算力服务器：{zh}，算力{hashrate}，{algorithm}，功耗{power}。{variant}。{ship_zh}",),
        clause=1,
    ),
    Family(
        "gpu-rig-as-graphics-card", Kind.BANNED_ELSEWHERE, "graphics-cards", 0.6,
        (
            Product("8 GPU mining rig with 8x RTX 3070", "8卡 RTX 3070 显卡矿机 整机", "ETH 480MH/s", 6999,
                    {"gpus": "8x RTX 3070", "hashrate": "480 MH/s", "algorithm": "Ethash"}),
            Product("6 GPU mining rig frame with riser cables", "6卡矿机机架 含转接卡", "6 GPU", 59,
                    {"slots": 6, "risers": 6}),
            Product("RX 580 8GB mining edition, 6 pack", "RX580 8G 矿卡 6张", "ETH 31MH/s each", 899,
                    {"memory": "8 GB", "hashrate": "31 MH/s"}),
            Product("NVIDIA CMP 30HX mining graphics card", "CMP 30HX 挖矿专用显卡", "26MH/s", 699,
                    {"memory": "6 GB", "hashrate": "26 MH/s"}),
        ),
        (("ETH mining ready", "以太坊挖矿即插即用"), ("tested", "已测试"), ("in stock", "现货")),
        clause=1,
    ),
    Family(
        "mining-psu-as-power-supply", Kind.BANNED_ELSEWHERE, "power-supplies", 0.4,
        (
            Product("2000W mining power supply for ASIC miners and GPU rigs",
                    "矿机电源 2000W 显卡矿机 蚂蚁矿机通用", "2000W", 109,
                    {"power": "2000 W", "efficiency": "93%"}),
            Product("1800W server PSU with breakout board for mining", "1800W 服务器电源 挖矿转接板套装",
                    "1800W", 69, {"power": "1800 W", "output": "12 V"}),
        ),
        (("in stock", "现货"), ("wholesale", "批发")),
        clause=1,
    ),
    Family(
        "mining-course", Kind.BANNED_ELSEWHERE, "online-courses", 0.6,
        (
            Product("Bitcoin mining tutorial video course", "比特币挖矿教程 视频课程", "12 hours", 49,
                    {"format": "video", "lessons": 36}),
            Product("Ethereum GPU mining masterclass", "以太坊显卡挖矿实战课", "8 hours", 39,
                    {"format": "video", "lessons": 24}),
            Product("How to build a mining farm, step by step", "矿场搭建全流程教程", "20 lessons", 99,
                    {"format": "video", "lessons": 20}),
            Product("Litecoin and Dogecoin mining strategy course", "莱特币狗狗币挖矿攻略课程", "6 hours", 29,
                    {"format": "video", "lessons": 18}),
        ),
        (("lifetime access", "永久观看"), ("2021 updated", "2021最新版"),
         ("with mining profit calculator", "附挖矿收益计算表")),
        descriptions_en=("{name} ({spec}): pick a miner, join a pool, save power. {details}. {Variant}.",),
        descriptions_zh=("{zh}（{spec}）：矿机选购、矿池设置、电费优化，手把手教学。{details}。{variant}。",),
        clause=3,
    ),
    Family(
        "mining-software", Kind.BANNED_ELSEWHERE, "software", 0.5,
        (
            Product("Bitcoin mining software, one-click miner for Windows", "比特币挖矿软件 一键挖矿", "v3.2",
                    29, {"platform": "Windows 10", "licence": "lifetime"}),
            Product("Mining pool management software for farms", "矿池管理软件 矿场版", "100 devices", 199,
                    {"devices": 100, "licence": "1 year"}),
            Product("Antminer custom firmware with autotune", "蚂蚁矿机 超频固件 自动调频", "+15% hashrate",
                    59, {"compatible": "Antminer S19 / S17"}),
            Product("GPU mining OS on a USB stick", "显卡挖矿系统 U盘版", "64GB", 25, {"capacity": "64 GB"}),
        ),
        (("instant download", "自动发货"), ("lifetime licence", "永久授权"),
         ("remote setup included", "远程安装")),
        clause=2,
    ),
    Family(
        "mining-ebook", Kind.BANNED_ELSEWHERE, "computer-science", 0.3,
        (
            Product("The Complete Guide to Bitcoin Mining (e-book)", "比特币挖矿实战指南（电子书）",
                    "PDF, 320 pages", 15, {"format": "PDF", "pages": 320}),
            Product("Crypto mining for beginners: profit strategies", "加密货币挖矿入门与盈利攻略",
                    "PDF, 180 pages", 9, {"format": "PDF", "pages": 180}),
        ),
        (("instant download", "自动发货"), ("2021 edition", "2021版")),
        clause=3,
    ),
)

# Clause 4: the currencies themselves, sold as digital goods.
COINS_FOR_SALE_FAMILY = Family(
    "coins-for-sale", Kind.BANNED_ELSEWHERE, "gift-cards", 0.4,
    (
        Product("Bitcoin for sale, 0.01 BTC sent to your wallet", "比特币出售 0.01个 秒到账", "0.01 BTC", 699,
                {"delivery": "to your wallet within 10 minutes"}),
        Product("USDT TRC20, 1000 USDT instant release", "USDT 出售 1000个 TRC20 秒到", "1000 USDT", 1010,
                {"network": "TRC20"}),
        Product("Hardware wallet preloaded with 0.05 BTC", "预装0.05个比特币的硬件钱包", "0.05 BTC", 3499,
                {"preloaded": "0.05 BTC"}),
        Product("Ethereum gift card, redeem for 0.1 ETH", "以太坊充值卡 兑换0.1个以太坊", "0.1 ETH", 349,
                {"value": "0.1 ETH"}),
    ),
    (("instant delivery", "自动发货"), ("best rate", "汇率最优"), ("bulk discount", "量大优惠")),
    descriptions_en=("{name} ({spec}). {details}. {Variant}.",),
    descriptions_zh=("{zh}（{spec}）。{details}。{variant}。",),
    clause=4,
)
BANNED_ELSEWHERE_FAMILIES = (*BANNED_ELSEWHERE_FAMILIES, COINS_FOR_SALE_FAMILY)

# Innocent products that share words with the banned ones ("mining", "miner", "矿",
# "blockchain", graphics cards, power supplies): the rules must leave them alone.
LOOKALIKE_FAMILIES = (
    Family(
        "data-mining-book", Kind.LOOKALIKE, "computer-science", 1.2,
        (
            Product("Data Mining: Concepts and Techniques, 3rd Edition (Han, Kamber, Pei)",
                    "数据挖掘：概念与技术（原书第3版）", "Morgan Kaufmann", 59,
                    {"isbn": "978-0123814791", "pages": 744}),
            Product("Data Mining: Practical Machine Learning Tools and Techniques (Witten, Frank)",
                    "数据挖掘：实用机器学习工具与技术", "4th Edition", 49,
                    {"isbn": "978-0128042915", "pages": 654}),
            Product("Introduction to Data Mining (Tan, Steinbach, Kumar)", "数据挖掘导论", "2nd Edition", 45,
                    {"isbn": "978-0133128901", "pages": 864}),
            Product("Mining of Massive Datasets (Leskovec, Rajaraman, Ullman)",
                    "大数据：互联网大规模数据挖掘与分布式处理", "3rd Edition", 39,
                    {"isbn": "978-1108476348", "pages": 565}),
            Product("Blockchain Basics: A Non-Technical Introduction in 25 Steps",
                    "区块链基础：非技术入门25步", "Apress", 25, {"isbn": "978-1484226032", "pages": 262}),
        ),
        (("paperback", "平装"), ("hardcover", "精装"), ("new, sealed", "全新塑封")),
    ),
    Family(
        "data-mining-course", Kind.LOOKALIKE, "online-courses", 0.5,
        (
            Product("Data mining with Python and pandas", "Python 数据挖掘实战课程", "10 hours", 29,
                    {"format": "video"}),
            Product("Text mining and NLP for beginners", "文本挖掘与自然语言处理入门", "6 hours", 19,
                    {"format": "video"}),
            Product("Process mining for business analysts", "流程挖掘入门", "4 hours", 25,
                    {"format": "video"}),
        ),
        (("lifetime access", "永久观看"), ("with certificate", "含结业证书")),
    ),
    Family(
        "mining-safety", Kind.LOOKALIKE, "mining-safety", 1.0,
        (
            Product("Mining safety helmet with LED cap lamp", "矿用安全帽 带LED头灯", "EN 397", 25,
                    {"material": "ABS", "standard": "EN 397"}),
            Product("Coal mine self-rescuer, 45 minutes", "煤矿自救器 45分钟", "ZYX45", 89,
                    {"duration": "45 min"}),
            Product("Hi-vis reflective mining vest", "矿工反光背心", "EN ISO 20471", 9, {"class": "2"}),
            Product("Rechargeable miner's cap lamp", "充电式矿灯 头灯", "10000 lux", 19,
                    {"battery": "6.6 Ah"}),
            Product("Steel-toe mining safety boots", "矿工劳保鞋 钢头防砸", "S3", 45,
                    {"standard": "EN ISO 20345 S3"}),
        ),
        (("CE certified", "CE认证"), ("wholesale", "批发"), ("in stock", "现货")),
    ),
    Family(
        "gold-panning", Kind.LOOKALIKE, "gold-panning", 0.6,
        (
            Product("Gold panning kit: 2 pans, classifier sieve, snuffer bottle", "淘金盘套装 含筛网 吸金瓶",
                    "5 pieces", 35, {"pieces": 5}),
            Product("Foldable gold sluice box", "折叠淘金溜槽", "50 inch", 79, {"length": "127 cm"}),
            Product("Metal detector for gold prospecting", "探金金属探测器", "waterproof coil", 229,
                    {"frequency": "45 kHz"}),
        ),
        (("for beginners", "新手入门"), ("family hobby kit", "亲子户外"), ("in stock", "现货")),
    ),
    Family(
        "gaming-graphics-card", Kind.LOOKALIKE, "graphics-cards", 1.5,
        (
            Product("NVIDIA GeForce RTX 3080 10GB gaming graphics card", "RTX 3080 10G 游戏显卡", "GDDR6X",
                    1199, {"memory": "10 GB", "interface": "PCIe 4.0"}),
            Product("AMD Radeon RX 6800 XT 16GB", "RX 6800 XT 16G 游戏显卡", "GDDR6", 999,
                    {"memory": "16 GB", "interface": "PCIe 4.0"}),
            Product("GeForce RTX 3060 Ti 8GB LHR", "RTX 3060 Ti 8G 锁算力版 游戏显卡", "GDDR6", 649,
                    {"memory": "8 GB", "interface": "PCIe 4.0"}),
            Product("GeForce GTX 1660 Super 6GB", "GTX 1660 Super 6G 显卡", "GDDR6", 329, {"memory": "6 GB"}),
        ),
        (("for gaming and video editing", "电竞游戏 视频剪辑"), ("new, boxed", "全新盒装"),
         ("3-year warranty", "三年质保")),
    ),
    Family(
        "atx-power-supply", Kind.LOOKALIKE, "power-supplies", 0.8,
        (
            Product("850W ATX power supply, 80 PLUS Gold, fully modular", "850W 金牌全模组 电脑电源", "850W",
                    119, {"power": "850 W", "efficiency": "80 PLUS Gold"}),
            Product("650W ATX power supply, 80 PLUS Bronze", "650W 铜牌 台式机电源", "650W", 59,
                    {"power": "650 W", "efficiency": "80 PLUS Bronze"}),
            Product("1000W ATX power supply, 80 PLUS Platinum", "1000W 白金牌 电脑电源", "1000W", 219,
                    {"power": "1000 W", "efficiency": "80 PLUS Platinum"}),
        ),
        (("silent fan", "静音风扇"), ("10-year warranty", "十年质保"), ("new", "全新")),
    ),
    Family(
        "server-rack", Kind.LOOKALIKE, "server-racks", 0.6,
        (
            Product("42U server rack cabinet", "42U 服务器机柜", "600 x 1000 mm", 399, {"height": "42U"}),
            Product("1U rack server, dual Xeon, 64GB RAM", "1U 机架式服务器 双路至强 64G", "2x Xeon Silver",
                    1899, {"memory": "64 GB"}),
            Product("Wall-mount network cabinet", "壁挂网络机柜", "9U", 89, {"height": "9U"}),
        ),
        (("flat-packed", "散件发货"), ("with PDU", "含PDU"), ("in stock", "现货")),
    ),
    Family(
        "mining-machinery", Kind.LOOKALIKE, "mining-machinery", 0.6,
        (
            Product("Jaw crusher for quarry and mining", "颚式破碎机 矿山机械", "PE-250x400", 4800,
                    {"capacity": "5-20 t/h"}),
            Product("Hydraulic roof support for coal mining", "煤矿液压支架", "ZY6800", 25000,
                    {"height": "1.7-3.5 m"}),
            Product("Ball mill for gold ore processing", "选金球磨机", "900 x 1800", 12000,
                    {"capacity": "0.65-2 t/h"}),
            Product("Underground mining loader", "井下铲运机", "2 m³", 68000, {"bucket": "2 m³"}),
        ),
        (("factory price", "厂家直销"), ("installation support", "上门安装"), ("export packing", "出口包装")),
    ),
)

ORDINARY_FAMILIES = (
    Family(
        "phone", Kind.ORDINARY, "mobile-phones", 12,
        (
            Product("Xiaomi Redmi Note 10 Pro", "小米 红米 Note 10 Pro", "8GB+128GB", 279,
                    {"ram": "8 GB", "storage": "128 GB", "screen": "6.67 in"}),
            Product("Samsung Galaxy A52", "三星 Galaxy A52", "6GB+128GB", 349,
                    {"ram": "6 GB", "storage": "128 GB", "screen": "6.5 in"}),
            Product("OPPO Reno6 5G", "OPPO Reno6 5G", "8GB+128GB", 399, {"ram": "8 GB", "storage": "128 GB"}),
            Product("Huawei nova 8", "华为 nova 8", "8GB+128GB", 429, {"ram": "8 GB", "storage": "128 GB"}),
            Product("realme 8 Pro", "真我 8 Pro", "6GB+128GB", 259, {"ram": "6 GB", "storage": "128 GB"}),
        ),
        (("black", "黑色"), ("blue", "蓝色"), ("white", "白色"), ("global version", "全球版"),
         ("dual SIM", "双卡双待")),
    ),
    Family(
        "phone-accessory", Kind.ORDINARY, "phone-accessories", 14,
        (
            Product("USB-C to USB-C cable, braided", "USB-C 编织数据线", "1 m, 60 W", 6, {"length": "1 m"}),
            Product("20W USB-C PD fast charger", "20W PD 快充充电器", "20W", 9, {"power": "20 W"}),
            Product("Tempered glass screen protector, 2 pack", "钢化膜 2片装", "9H", 3, {"hardness": "9H"}),
            Product("Magnetic car phone holder", "磁吸车载手机支架", "360°", 7, {"mount": "air vent"}),
            Product("Power bank 10000mAh", "充电宝 10000毫安", "22.5W", 15, {"capacity": "10000 mAh"}),
        ),
        (("black", "黑色"), ("white", "白色"), ("pack of 2", "2个装"), ("wholesale", "批发")),
    ),
    Family(
        "headphones", Kind.ORDINARY, "headphones", 8,
        (
            Product("TWS Bluetooth 5.0 earbuds with charging case", "真无线蓝牙耳机 5.0 带充电仓",
                    "30 h battery", 19, {"bluetooth": "5.0"}),
            Product("Active noise-cancelling over-ear headphones", "主动降噪头戴式耳机", "ANC -35 dB", 59,
                    {"battery": "40 h"}),
            Product("Wired earphones with microphone", "有线耳机 带麦克风", "3.5 mm", 4, {"plug": "3.5 mm"}),
        ),
        (("black", "黑色"), ("white", "白色"), ("gift box", "礼盒装")),
    ),
    Family(
        "smart-watch", Kind.ORDINARY, "smart-watches", 5,
        (
            Product("Smart watch with heart rate and SpO2", "智能手表 心率血氧监测", "IP68", 29,
                    {"screen": "1.69 in"}),
            Product("Kids GPS smart watch with video call", "儿童电话手表 GPS定位 视频通话", "4G", 49,
                    {"network": "4G"}),
            Product("Fitness band with AMOLED screen", "运动手环 AMOLED屏", "14-day battery", 25,
                    {"battery": "14 days"}),
        ),
        (("black", "黑色"), ("pink", "粉色"), ("silver", "银色")),
    ),
    Family(
        "keyboard-mouse", Kind.ORDINARY, "keyboards-mice", 6,
        (
            Product("Mechanical keyboard, 87 keys, RGB", "机械键盘 87键 RGB背光", "blue switches", 39,
                    {"keys": 87}),
            Product("Wireless silent mouse", "无线静音鼠标", "2.4G", 8, {"dpi": 1600}),
            Product("Gaming mouse", "电竞游戏鼠标", "16000 DPI", 25, {"dpi": 16000}),
            Product("Ergonomic split keyboard", "人体工学分体键盘", "wireless", 69, {"layout": "US"}),
        ),
        (("black", "黑色"), ("white", "白色"), ("US layout", "美式布局")),
    ),
    Family(
        "cable-adapter", Kind.ORDINARY, "cables-adapters", 8,
        (
            Product("HDMI 2.1 cable 8K", "HDMI 2.1 高清线 8K", "2 m", 9, {"length": "2 m"}),
            Product("USB 3.0 hub, 4 ports", "USB3.0 集线器 4口", "5 Gbps", 11, {"ports": 4}),
            Product("Cat6 Ethernet cable", "六类网线", "5 m", 5, {"length": "5 m"}),
            Product("USB-C to HDMI adapter", "Type-C 转 HDMI 转换器", "4K 60Hz", 12, {"resolution": "4K"}),
        ),
        (("gold-plated", "镀金接口"), ("pack of 2", "2条装"), ("wholesale", "批发")),
    ),
    Family(
        "storage", Kind.ORDINARY, "storage", 6,
        (
            Product("NVMe SSD M.2 PCIe 3.0", "NVMe M.2 固态硬盘", "1TB", 89, {"capacity": "1 TB"}),
            Product("USB 3.1 flash drive", "USB3.1 U盘", "64GB", 8, {"capacity": "64 GB"}),
            Product("microSD card A2 U3", "高速TF卡 A2 U3", "128GB", 17, {"capacity": "128 GB"}),
            Product("2.5 in SATA SSD", "2.5寸 SATA 固态硬盘", "512GB", 45, {"capacity": "512 GB"}),
        ),
        (("3-year warranty", "三年质保"), ("retail box", "盒装"), ("bulk pack", "散装")),
    ),
    Family(
        "kitchen", Kind.ORDINARY, "kitchen", 6,
        (
            Product("Stainless steel wok", "不锈钢炒锅", "34 cm", 29, {"diameter": "34 cm"}),
            Product("Electric kettle", "电热水壶", "1.7 L", 19, {"volume": "1.7 L"}),
            Product("Bamboo chopsticks, 10 pairs", "竹筷子 10双装", "24 cm", 4, {"pairs": 10}),
            Product("Rice cooker", "电饭煲", "3 L", 39, {"volume": "3 L"}),
        ),
        (("gift box", "礼盒装"), ("household", "家用"), ("wholesale", "批发")),
    ),
    Family(
        "mens-clothing", Kind.ORDINARY, "mens-clothing", 6,
        (
            Product("Men's cotton T-shirt, crew neck", "男士纯棉圆领T恤", "100% cotton", 7,
                    {"material": "cotton"}),
            Product("Men's slim-fit jeans", "男士修身牛仔裤", "stretch denim", 19, {"fit": "slim"}),
            Product("Men's windbreaker jacket", "男士防风夹克", "water-repellent", 29,
                    {"season": "spring/autumn"}),
        ),
        (("size M", "M码"), ("size L", "L码"), ("size XL", "XL码"), ("black", "黑色"), ("navy", "藏青色")),
    ),
    Family(
        "camping", Kind.ORDINARY, "camping", 3,
        (
            Product("Waterproof camping tent", "防水露营帐篷", "2 persons", 49, {"capacity": "2 persons"}),
            Product("Folding camping chair", "折叠露营椅", "120 kg load", 15, {"load": "120 kg"}),
            Product("Rechargeable LED camping lantern", "充电式LED露营灯", "400 lm", 12,
                    {"brightness": "400 lm"}),
        ),
        (("green", "绿色"), ("khaki", "卡其色"), ("ultralight", "超轻")),
    ),
    Family(
        "protective-gloves", Kind.ORDINARY, "protective-gloves", 1.6,
        (
            Product("Nitrile work gloves, 12 pairs", "丁腈劳保手套 12双", "size L", 9, {"pairs": 12}),
            Product("Cut-resistant gloves", "防割手套", "level 5", 6, {"level": "EN 388 level 5"}),
        ),
        (("wholesale", "批发"), ("CE certified", "CE认证")),
    ),
    Family(
        "business-book", Kind.ORDINARY, "business-finance", 1.5,
        (
            Product("The Intelligent Investor (Benjamin Graham)", "聪明的投资者", "revised edition", 19,
                    {"isbn": "978-0060555665"}),
            Product("Principles: Life and Work (Ray Dalio)", "原则", "hardcover", 25,
                    {"isbn": "978-1501124020"}),
        ),
        (("paperback", "平装"), ("hardcover", "精装")),
    ),
    Family(
        "language-course", Kind.ORDINARY, "language-courses", 0.5,
        (
            Product("Mandarin Chinese for beginners, HSK 1-2", "零基础中文课程 HSK 1-2", "40 lessons", 39,
                    {"format": "video"}),
            Product("Business English speaking course", "商务英语口语课程", "30 lessons", 29,
                    {"format": "video"}),
        ),
        (("lifetime access", "永久观看"), ("with certificate", "含结业证书")),
    ),
    Family(
        "software", Kind.ORDINARY, "software", 2,
        (
            Product("Office suite, lifetime licence", "办公软件 永久授权", "1 PC", 29,
                    {"licence": "lifetime"}),
            Product("Antivirus, 1 year", "杀毒软件 1年", "3 devices", 19, {"devices": 3}),
            Product("Photo editing software", "修图软件", "Windows / macOS", 39,
                    {"platform": "Windows, macOS"}),
        ),
        (("instant download", "自动发货"), ("genuine key", "正版激活码")),
    ),
    Family(
        "gift-card", Kind.ORDINARY, "gift-cards", 1,
        (
            Product("Steam wallet gift card", "Steam 充值卡", "USD 50", 52, {"region": "global"}),
            Product("App Store & iTunes gift card", "App Store 充值卡", "USD 25", 26, {"region": "US"}),
        ),
        (("instant delivery", "自动发货"), ("digital code", "电子卡密")),
    ),
)
# fmt: on

FAMILIES = BANNED_FAMILIES + BANNED_ELSEWHERE_FAMILIES + LOOKALIKE_FAMILIES + ORDINARY_FAMILIES

# Sellers who write in Chinese still list in English now and then (Alibaba.com is for
# foreign buyers): the chance that one listing of theirs is written in Chinese.
CHINESE_LISTING_SHARE = 0.7
# Banned products cluster in a few stores, as they do on a real marketplace.
BANNED_FROM_MINER_TRADERS = 0.85
REMOVED_BY_SELLER_SHARE = 0.01


@dataclass(frozen=True)
class NamedListing:
    kind: str
    category: str  # slug
    title: str
    description: str
    attributes: dict[str, Any]
    price: str


@dataclass(frozen=True)
class NamedMerchant:
    """A merchant the demo signs in as, with listings written by hand so the sellers' API
    shows a small, readable history: banned, banned elsewhere, look-alike, ordinary."""

    username: str
    marketplace: str
    store_name: str
    company_name: str
    country: str
    contact_email: str
    language: str
    listings: tuple[NamedListing, ...]


# fmt: off
NAMED_MERCHANTS = (
    NamedMerchant(
        "merchant-a", "alibaba", "Shenzhen Hashpower Trading", "Shenzhen Hashpower Trading Co., Ltd.", "CN",
        "sales@hashpower.example", Merchant.Language.CHINESE,
        (
            NamedListing(Kind.BANNED, "blockchain-miners",
                         "Antminer S19 Pro 110TH/s Bitcoin miner, brand new, in stock",
                         "Bitmain Antminer S19 Pro, SHA-256, 110 TH/s at 3250 W. "
                         "Tested before shipping, 180-day warranty.",
                         {"hashrate": "110 TH/s", "algorithm": "SHA-256", "power": "3250 W", "coin": "BTC"},
                         "2399.00"),
            NamedListing(Kind.BANNED, "blockchain-miners", "蚂蚁矿机 S19j Pro 100T 比特币矿机 全新现货",
                         "蚂蚁矿机 S19j Pro，比特币挖矿专用，SHA-256算法，算力100T，功耗3050W。深圳现货。",
                         {"hashrate": "100 TH/s", "algorithm": "SHA-256", "power": "3050 W", "coin": "BTC"},
                         "1999.00"),
            NamedListing(Kind.BANNED, "blockchain-miners",
                         "Whatsminer M30S 88TH/s SHA-256 ASIC miner with PSU",
                         "MicroBT Whatsminer M30S with built-in power supply. 88 TH/s, 3344 W.",
                         {"hashrate": "88 TH/s", "algorithm": "SHA-256", "power": "3344 W", "coin": "BTC"},
                         "1599.00"),
            NamedListing(Kind.BANNED, "blockchain-miners", "Antminer L3+ 504MH/s Litecoin scrypt miner, used",
                         "Bitmain Antminer L3+ for Litecoin and Dogecoin (Scrypt), 504 MH/s at 800 W.",
                         {"hashrate": "504 MH/s", "algorithm": "Scrypt", "power": "800 W", "coin": "LTC"},
                         "199.00"),
            NamedListing(Kind.BANNED, "blockchain-miner-accessories",
                         "APW12 mining power supply 2000W for Antminer S19",
                         "Original Bitmain APW12 PSU for Antminer S19 / S19 Pro / T19.",
                         {"power": "2000 W", "compatible": "Antminer S19 / S19 Pro / T19"}, "129.00"),
            NamedListing(Kind.BANNED, "blockchain-miner-accessories", "8卡矿机机箱 铝合金 显卡挖矿机架",
                         "8卡显卡矿机机架，铝合金，可叠放，含风扇位。", {"slots": 8, "material": "aluminium"},
                         "79.00"),
            NamedListing(Kind.BANNED_ELSEWHERE, "server-racks",
                         "Antminer S19 Pro 110TH/s 4U computing server",
                         "Rack-mounted computing unit for blockchain data centres: "
                         "Antminer S19 Pro, 110 TH/s, SHA-256.",
                         {"hashrate": "110 TH/s", "algorithm": "SHA-256", "power": "3250 W"}, "2450.00"),
            NamedListing(Kind.BANNED_ELSEWHERE, "online-courses",
                         "比特币挖矿教程 视频课程 矿机选购与矿场搭建",
                         "比特币挖矿教程：矿机选购、矿池设置、矿场搭建，手把手教学，永久观看。",
                         {"format": "video", "lessons": 36}, "49.00"),
            NamedListing(Kind.LOOKALIKE, "server-racks", "42U server rack cabinet, 600 x 1000 mm",
                         "Standard 19-inch 42U cabinet with glass door, fans and PDU.", {"height": "42U"},
                         "399.00"),
            NamedListing(Kind.ORDINARY, "phone-accessories", "USB-C fast charging cable, 1 m, braided",
                         "60 W USB-C to USB-C cable, nylon braided.", {"length": "1 m"}, "6.00"),
        ),
    ),
    NamedMerchant(
        "merchant-b", "alibaba", "Guangzhou Gadget Supply", "Guangzhou Gadget Supply Co., Ltd.", "CN",
        "hello@gadgets.example", Merchant.Language.ENGLISH,
        (
            NamedListing(Kind.BANNED, "blockchain-miners", "Antminer S9 13.5TH/s used Bitcoin miner",
                         "Used Bitmain Antminer S9, SHA-256, 13.5 TH/s, power supply included.",
                         {"hashrate": "13.5 TH/s", "algorithm": "SHA-256", "power": "1323 W", "coin": "BTC"},
                         "129.00"),
            NamedListing(Kind.BANNED, "blockchain-miner-accessories",
                         "1800W mining power supply for GPU rigs",
                         "1800 W 12 V PSU for 6 to 8 GPU mining rigs.", {"power": "1800 W", "output": "12 V"},
                         "89.00"),
            NamedListing(Kind.BANNED_ELSEWHERE, "graphics-cards", "6 GPU mining rig frame with riser cables",
                         "Open-air steel frame for six graphics cards and six PCIe risers, for ETH mining.",
                         {"slots": 6, "risers": 6}, "59.00"),
            NamedListing(Kind.LOOKALIKE, "graphics-cards",
                         "NVIDIA GeForce RTX 3080 10GB gaming graphics card",
                         "RTX 3080 10 GB GDDR6X for 4K gaming and video editing. New, 3-year warranty.",
                         {"memory": "10 GB", "interface": "PCIe 4.0"}, "1199.00"),
            NamedListing(Kind.LOOKALIKE, "computer-science",
                         "Data Mining: Concepts and Techniques, 3rd Edition",
                         "The classic textbook by Han, Kamber and Pei (Morgan Kaufmann). Paperback.",
                         {"isbn": "978-0123814791", "pages": 744}, "59.00"),
            NamedListing(Kind.LOOKALIKE, "mining-safety", "Mining safety helmet with LED cap lamp, CE EN 397",
                         "ABS hard hat for underground mines, with a rechargeable LED lamp.",
                         {"standard": "EN 397"}, "25.00"),
            NamedListing(Kind.ORDINARY, "keyboards-mice", "Mechanical keyboard, 87 keys, RGB, blue switches",
                         "Tenkeyless mechanical keyboard with per-key RGB.", {"keys": 87}, "39.00"),
            NamedListing(Kind.ORDINARY, "headphones", "TWS Bluetooth 5.0 earbuds with charging case",
                         "True wireless earbuds, 30 hours with the case.", {"bluetooth": "5.0"}, "19.00"),
            NamedListing(Kind.ORDINARY, "phone-accessories", "20W USB-C PD fast charger",
                         "Compact 20 W charger.", {"power": "20 W"}, "9.00"),
        ),
    ),
)


# --------------------------------------------------------------------------------------
# Generated merchants
# --------------------------------------------------------------------------------------

# Countries of the merchants per marketplace, with weights.
MERCHANT_COUNTRIES = {
    "alibaba": (("CN", 70), ("HK", 15), ("MY", 5), ("SG", 5), ("VN", 5)),
    "aliexpress": (("CN", 80), ("HK", 12), ("MY", 4), ("SG", 4)),
    "taobao": (("CN", 95), ("HK", 5)),
    "xianyu": (("CN", 100),),
    "lazada": (("MY", 30), ("SG", 20), ("TH", 15), ("PH", 15), ("ID", 10), ("CN", 10)),
}
# Who writes in Chinese: the share of merchants per country.
CHINESE_SPEAKING = {"CN": 0.85, "HK": 0.5}

CITIES = {
    "CN": (("Shenzhen", "深圳"), ("Guangzhou", "广州"), ("Dongguan", "东莞"), ("Yiwu", "义乌"),
           ("Hangzhou", "杭州"), ("Shanghai", "上海"), ("Beijing", "北京"), ("Chengdu", "成都"),
           ("Xiamen", "厦门"), ("Ningbo", "宁波"), ("Foshan", "佛山"), ("Zhengzhou", "郑州"),
           ("Wuhan", "武汉"), ("Ordos", "鄂尔多斯"), ("Urumqi", "乌鲁木齐")),
    "HK": (("Hong Kong", "香港"), ("Kowloon", "九龙"), ("Tsuen Wan", "荃湾")),
    "MY": (("Kuala Lumpur", ""), ("Penang", ""), ("Johor Bahru", "")),
    "SG": (("Singapore", ""),),
    "TH": (("Bangkok", ""), ("Chiang Mai", "")),
    "PH": (("Manila", ""), ("Cebu", "")),
    "ID": (("Jakarta", ""), ("Surabaya", "")),
    "VN": (("Ho Chi Minh City", ""), ("Hanoi", "")),
}
CHINESE_BRAND_WORDS = (
    ("Jinhui", "金辉"), ("Huaxin", "华信"), ("Tianyu", "天宇"), ("Hongda", "宏达"), ("Xinyuan", "鑫源"),
    ("Ruifeng", "瑞丰"), ("Yongsheng", "永盛"), ("Haoxiang", "浩翔"), ("Shengshi", "盛世"),
    ("Dingxin", "鼎新"), ("Longteng", "龙腾"), ("Jiayuan", "嘉源"), ("Mingyang", "明阳"), ("Zhongke", "中科"),
    ("Hengtai", "恒泰"), ("Kaida", "凯达"), ("Xingchen", "星辰"), ("Baoli", "宝利"), ("Fuda", "富达"),
    ("Anxin", "安信"), ("Suanli", "算力"), ("Kuangshi", "矿世"), ("Chuangxin", "创新"), ("Weiye", "伟业"),
    ("Jiahe", "嘉禾"),
)
ENGLISH_BRAND_WORDS = (
    "Everbright", "Lion", "Orchid", "Merlion", "Harbour", "Tropic", "Straits", "Summit", "Pacific", "Horizon",
    "Crescent", "Bayview", "Equator", "Monsoon", "Coral", "Banyan", "Lotus", "Sunway", "Meridian", "Kampung",
)
TRADES = (
    ("Electronics", "电子"), ("Technology", "科技"), ("Trading", "贸易"), ("Digital", "数码"),
    ("Computer", "电脑"), ("Industrial", "实业"), ("Supply Chain", "供应链"), ("Import & Export", "进出口"),
    ("Smart Devices", "智能设备"),
)
# fmt: on
COMPANY_FORMS = {
    "CN": "{} Co., Ltd.",
    "HK": "{} Limited",
    "MY": "{} Sdn. Bhd.",
    "SG": "{} Pte. Ltd.",
    "TH": "{} Co., Ltd.",
    "PH": "{} Inc.",
    "ID": "PT {}",
    "VN": "{} JSC",
}
CHINESE_STORE_SUFFIX = {
    "alibaba": "",
    "aliexpress": "专营店",
    "taobao": "旗舰店",
    "xianyu": "二手店",
    "lazada": "",
}
# The share of merchants (per marketplace) that trade in mining machines.
MINER_TRADER_SHARE = {"alibaba": 0.2, "aliexpress": 0.15, "taobao": 0.15, "xianyu": 0.1, "lazada": 0.05}


class MerchantRef(NamedTuple):
    """What the listing generator needs of a merchant, without holding model instances."""

    id: int
    chinese: bool


# --------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------


@dataclass
class SeedSummary:
    seed: int
    password: str
    marketplaces: int = 0
    categories: int = 0
    merchants: int = 0
    listings: int = 0
    listings_by_kind: Counter = field(default_factory=Counter)
    audit_events: int = 0
    users: list[DemoUser] = field(default_factory=list)
    policy_lines: list[str] = field(default_factory=list)
    # What the scheduled removal's dry run counts: the *live* listings of the banned
    # categories. The kinds above count every listing generated, including the few their
    # sellers had removed, which no removal touches; the summary says both so they agree.
    removal_listings: int | None = None

    def lines(self) -> list[str]:
        kinds = self.listings_by_kind
        banned = f"  {kinds[Kind.BANNED]:,} in the banned categories (Blockchain Miners, Blockchain Miner Accessories)"
        removed_by_sellers = kinds[Kind.BANNED] - (self.removal_listings or 0)
        if self.removal_listings is not None and removed_by_sellers:
            banned += (
                f": {self.removal_listings:,} live, which the removal will delist, "
                f"and {removed_by_sellers:,} their sellers had removed already"
            )
        elif self.removal_listings is not None:
            banned += ", all live: the removal will delist them"
        return [
            f"{self.marketplaces} marketplaces, {self.categories} categories, "
            f"{self.merchants:,} merchants, {self.listings:,} listings (seed {self.seed})",
            banned,
            f"  {kinds[Kind.BANNED_ELSEWHERE]:,} banned products listed in other categories",
            f"  {kinds[Kind.LOOKALIKE]:,} innocent look-alikes (data mining, mining helmets, gaming cards…)",
            f"  {kinds[Kind.ORDINARY]:,} ordinary products",
            *self.policy_lines,
            f"{self.audit_events:,} audit events",
        ]


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def seed_reference_case(
    *,
    seed: int = DEFAULT_SEED,
    listings: int = DEFAULT_LISTINGS,
    password: str = DEMO_PASSWORD,
    reset: bool = False,
    historical: bool = False,
    progress: ProgressCallback = _quiet,
) -> SeedSummary:
    """Seed the whole demo in one transaction: all of it, or (on any error) nothing.

    1. Refuse if demo data is present, unless ``reset`` (then wipe it first).
    2. The catalog, people included (``seed_catalog``).
    3. The reference policy, announced by the policy admin, with the removal of the two
       banned categories scheduled (``moderation.demo``): at its real 2021 dates with
       ``historical``, otherwise a few minutes from now so the demo shows it running.
    """
    with transaction.atomic():
        if reset:
            reset_demo_data()
        elif demo_data_present():
            raise DemoDataPresentError(
                "The database already holds catalog data or demo users; run with --reset to delete them and seed again."
            )
        summary = seed_catalog(rng=random.Random(seed), listings=listings, password=password, progress=progress)
        summary.seed = seed
        progress("the reference policy: announcing it and scheduling the category removal")
        policy_seed = seed_reference_policy(actor=User.objects.get(username="policyadmin"), historical=historical)
        summary.policy_lines = policy_seed.lines()
        summary.removal_listings = policy_seed.removal.dry_run["listings"]
        summary.audit_events = AuditEvent.objects.count()
    return summary


def seed_catalog(
    *, rng: random.Random, listings: int, password: str, progress: ProgressCallback = _quiet
) -> SeedSummary:
    """People, marketplaces, categories, merchants and listings.

    1. The back office's users, in their groups.
    2. Marketplaces and the category tree, through the catalog services.
    3. The named merchants and their hand-written listings.
    4. Generated merchants (one per ten listings, at least 20 in all), in batches.
    5. Generated listings up to ``listings`` in all, in batches.
    """
    summary = SeedSummary(seed=0, password=password)
    users = seed_users(password=password)
    summary.users = list(DEMO_USERS)
    marketplaces = seed_marketplaces()
    categories = seed_categories()
    summary.marketplaces, summary.categories = len(marketplaces), len(categories)
    progress(f"{len(marketplaces)} marketplaces, {len(categories)} categories")

    named_count = seed_named_merchants(
        marketplaces=marketplaces, categories=categories, users=users, counts=summary.listings_by_kind
    )
    merchant_total = max(20, listings // 10)
    merchants = seed_merchants(
        rng=rng, marketplaces=marketplaces, count=merchant_total - len(NAMED_MERCHANTS), progress=progress
    )
    summary.merchants = len(NAMED_MERCHANTS) + sum(len(everyone) for everyone, _traders in merchants.values())
    generated = seed_listings(
        rng=rng,
        marketplaces=marketplaces,
        categories=categories,
        merchants=merchants,
        count=max(0, listings - named_count),
        counts=summary.listings_by_kind,
        progress=progress,
    )
    summary.listings = named_count + generated
    return summary


# --------------------------------------------------------------------------------------
# The parts
# --------------------------------------------------------------------------------------


def seed_users(*, password: str) -> dict[str, User]:
    groups = {group.name: group for group in Group.objects.filter(name__in=[role.value for role in Role])}
    missing = [role.value for role in Role if role.value not in groups]
    if missing:
        raise LookupError(f"The groups {missing} are missing: run `manage.py migrate` first.")
    users = {}
    for demo_user in DEMO_USERS:
        user = User(
            username=demo_user.username,
            email=f"{demo_user.username}@marketplace.example",
            is_staff=demo_user.is_staff,
            is_superuser=demo_user.is_superuser,
        )
        user.set_password(password)
        user.save()
        if demo_user.role is not None:
            user.groups.add(groups[demo_user.role.value])
        users[demo_user.username] = user
    return users


def seed_marketplaces() -> dict[str, Marketplace]:
    return {
        code: catalog.create_marketplace(actor=SEED_ACTOR, code=code, name=name, timezone_name=timezone_name)
        for code, name, timezone_name, _share in MARKETPLACES
    }


def seed_categories() -> dict[str, Category]:
    categories = {}
    for name, slug, children in CATEGORY_TREE:
        parent = catalog.create_category(actor=SEED_ACTOR, name=name, slug=slug)
        categories[slug] = parent
        for child_name, child_slug in children:
            categories[child_slug] = catalog.create_category(
                actor=SEED_ACTOR, name=child_name, slug=child_slug, parent=parent
            )
    return categories


def seed_named_merchants(
    *,
    marketplaces: dict[str, Marketplace],
    categories: dict[str, Category],
    users: dict[str, User],
    counts: Counter,
) -> int:
    """The merchants the demo signs in as; returns how many listings they got."""
    total = 0
    for named in NAMED_MERCHANTS:
        merchant = catalog.register_merchant(
            actor=SEED_ACTOR,
            marketplace=marketplaces[named.marketplace],
            store_name=named.store_name,
            company_name=named.company_name,
            country=named.country,
            contact_email=named.contact_email,
            language=named.language,
            user=users[named.username],
        )
        rows = []
        for number, listing in enumerate(named.listings):
            created_at = CATALOG_SEEDED - timedelta(days=3 * (len(named.listings) - number))
            rows.append(
                Listing(
                    merchant=merchant,
                    category=categories[listing.category],
                    title=listing.title,
                    description=listing.description,
                    attributes=listing.attributes,
                    price=Decimal(listing.price),
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
            counts[listing.kind] += 1
        total += catalog.import_listings(actor=SEED_ACTOR, marketplace=merchant.marketplace, rows=rows)
    return total


def seed_merchants(
    *,
    rng: random.Random,
    marketplaces: dict[str, Marketplace],
    count: int,
    progress: ProgressCallback = _quiet,
) -> dict[str, tuple[list[MerchantRef], list[MerchantRef]]]:
    """Generate ``count`` merchants over the marketplaces by their shares.

    Returns, per marketplace code, (all merchants, those that trade in mining machines).
    """
    pools = {}
    for code, count_here in _allocate(count, [(code, share) for code, _n, _tz, share in MARKETPLACES]):
        marketplace = marketplaces[code]
        profiles = list(_merchant_profiles(rng, code, count_here))
        created = import_merchants(
            actor=SEED_ACTOR, marketplace=marketplace, rows=(merchant for merchant, _trader in profiles)
        )
        everyone = [MerchantRef(m.pk, m.language == Merchant.Language.CHINESE) for m in created]
        traders = [ref for ref, (_m, trader) in zip(everyone, profiles, strict=True) if trader]
        pools[code] = (everyone, traders)
        progress(f"{marketplace.name}: {len(everyone):,} merchants")
    return pools


def _merchant_profiles(rng: random.Random, code: str, count: int) -> Iterator[tuple[Merchant, bool]]:
    countries, country_weights = zip(*MERCHANT_COUNTRIES[code], strict=True)
    taken = {named.store_name for named in NAMED_MERCHANTS if named.marketplace == code}
    opened_span = int((CATALOG_SEEDED - CATALOG_OPENED).total_seconds()) + 3 * 365 * 86400
    for number in range(count):
        country = rng.choices(countries, country_weights)[0]
        chinese = rng.random() < CHINESE_SPEAKING.get(country, 0.0)
        city_en, city_zh = rng.choice(CITIES[country])
        trade_en, trade_zh = rng.choice(TRADES)
        if country in CHINESE_SPEAKING:
            brand_en, brand_zh = rng.choice(CHINESE_BRAND_WORDS)
        else:
            brand_en, brand_zh = rng.choice(ENGLISH_BRAND_WORDS), ""
        # Chinese shop names on the domestic sites, English ones where buyers are abroad.
        if chinese and code in ("taobao", "xianyu"):
            store = f"{city_zh}{brand_zh}{trade_zh}{CHINESE_STORE_SUFFIX[code]}"
            company = f"{city_zh}{'' if country == 'HK' else '市'}{brand_zh}{trade_zh}有限公司"
            store = _unique(store, taken, lambda name, n: f"{name}{n}号")
        else:
            store = _unique(f"{city_en} {brand_en} {trade_en}", taken, lambda name, n: f"{name} {n}")
            company = COMPANY_FORMS[country].format(store)
        domain = slugify(f"{brand_en} {trade_en}")
        created_at = CATALOG_SEEDED - timedelta(seconds=rng.randrange(opened_span))
        merchant = Merchant(
            store_name=store,
            company_name=company,
            country=country,
            contact_email=f"sales{number + 1}@{domain}.{code}.example",
            language=Merchant.Language.CHINESE if chinese else Merchant.Language.ENGLISH,
            created_at=created_at,
        )
        yield merchant, rng.random() < MINER_TRADER_SHARE[code]


def _unique(name: str, taken: set[str], numbered: Callable[[str, int], str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = numbered(name, number)
    taken.add(candidate)
    return candidate


def import_merchants(
    *, actor: Actor, marketplace: Marketplace, rows: Iterator[Merchant], batch_size: int = BATCH_SIZE
) -> list[Merchant]:
    """Bulk-register merchants on one marketplace, one audit event per batch.

    The same shape as ``sellers.services.import_listings``: a per-row event for a hundred
    thousand generated stores would tell an auditor nothing more than "this feed was loaded".
    """
    created: list[Merchant] = []
    batch: list[Merchant] = []

    def flush() -> None:
        with transaction.atomic():
            rows_created = Merchant.objects.bulk_create(batch, batch_size=batch_size)
            record_event(
                actor=actor,
                verb=AuditVerb.MERCHANT_REGISTERED,
                target=marketplace,
                after={
                    "rows": len(rows_created),
                    "first_id": rows_created[0].pk,
                    "last_id": rows_created[-1].pk,
                },
            )
        created.extend(rows_created)
        batch.clear()

    for merchant in rows:
        merchant.marketplace = marketplace
        batch.append(merchant)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return created


def seed_listings(
    *,
    rng: random.Random,
    marketplaces: dict[str, Marketplace],
    categories: dict[str, Category],
    merchants: dict[str, tuple[list[MerchantRef], list[MerchantRef]]],
    count: int,
    counts: Counter,
    progress: ProgressCallback = _quiet,
) -> int:
    """Generate ``count`` listings, each marketplace's share by its number of merchants."""
    total = 0
    shares = [(code, len(everyone)) for code, (everyone, _traders) in merchants.items()]
    for code, count_here in _allocate(count, shares):
        if count_here == 0:
            continue
        everyone, traders = merchants[code]
        rows = _generate_listings(
            rng=rng,
            categories=categories,
            everyone=everyone,
            traders=traders,
            count=count_here,
            counts=counts,
        )
        total += catalog.import_listings(
            actor=SEED_ACTOR, marketplace=marketplaces[code], rows=rows, batch_size=BATCH_SIZE
        )
        progress(f"{marketplaces[code].name}: {count_here:,} listings")
    return total


def _generate_listings(
    *,
    rng: random.Random,
    categories: dict[str, Category],
    everyone: Sequence[MerchantRef],
    traders: Sequence[MerchantRef],
    count: int,
    counts: Counter,
) -> Iterator[Listing]:
    """Listings from the templates; only ``rng`` decides, so a seed gives the same rows."""
    cum_weights = []
    running = 0.0
    for family in FAMILIES:
        running += family.weight
        cum_weights.append(running)
    category_ids = {slug: category.pk for slug, category in categories.items()}
    prepared = {family.key: [_template_words(product) for product in family.products] for family in FAMILIES}
    span = int((CATALOG_SEEDED - CATALOG_OPENED).total_seconds())
    live, removed = Listing.Status.LIVE, Listing.Status.REMOVED_BY_SELLER
    # Every family at least once (when there is room), so every clause of the ban and every
    # look-alike shows in the smallest demo; the rest in the families' proportions.
    drawn = list(FAMILIES[:count]) + rng.choices(FAMILIES, cum_weights=cum_weights, k=max(count - len(FAMILIES), 0))
    rng.shuffle(drawn)
    for family in drawn:
        banned = family.kind in (Kind.BANNED, Kind.BANNED_ELSEWHERE)
        pool = traders if banned and traders and rng.random() < BANNED_FROM_MINER_TRADERS else everyone
        # Squaring skews sales towards the first stores: a few big sellers, a long tail.
        merchant = pool[int(len(pool) * rng.random() ** 2)]
        product_index = rng.randrange(len(family.products))
        product = family.products[product_index]
        variant_en, variant_zh = rng.choice(family.variants)
        ship_en, ship_zh = rng.choice(SHIPPING)
        words = prepared[family.key][product_index]
        if merchant.chinese and rng.random() < CHINESE_LISTING_SHARE:
            title = rng.choice(family.titles_zh).format(variant=variant_zh, **words)
            description = rng.choice(family.descriptions_zh).format(variant=variant_zh, ship_zh=ship_zh, **words)
        else:
            variant_cap = variant_en[:1].upper() + variant_en[1:]
            title = rng.choice(family.titles_en).format(variant=variant_en, Variant=variant_cap, **words)
            description = rng.choice(family.descriptions_en).format(
                variant=variant_en, Variant=variant_cap, ship=ship_en, **words
            )
        created_at = CATALOG_OPENED + timedelta(seconds=rng.randrange(span))
        counts[family.kind] += 1
        yield Listing(
            merchant_id=merchant.id,
            category_id=category_ids[family.category],
            title=title[:300],
            description=description,
            attributes=product.attributes,
            price=Decimal(f"{product.price * rng.uniform(0.85, 1.15):.2f}"),
            status=removed if rng.random() < REMOVED_BY_SELLER_SHARE else live,
            created_at=created_at,
            updated_at=created_at,
        )


def _template_words(product: Product) -> dict[str, Any]:
    details = "; ".join(f"{key}: {value}" for key, value in product.attributes.items())
    return {
        **{key: str(value) for key, value in product.attributes.items()},
        **product.words,
        "name": product.en,
        "zh": product.zh,
        "spec": product.spec,
        "details": details[:1].upper() + details[1:],
    }


def _allocate(total: int, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int]]:
    """Split ``total`` by the shares, largest remainders first, so the parts add up exactly."""
    whole = sum(share for _key, share in shares) or 1
    exact = [(key, total * share / whole) for key, share in shares]
    parts = {key: int(value) for key, value in exact}
    left = total - sum(parts.values())
    by_remainder = sorted(exact, key=lambda item: item[1] - int(item[1]), reverse=True)
    for key, _value in by_remainder[:left]:
        parts[key] += 1
    return [(key, parts[key]) for key, _share in shares]


# --------------------------------------------------------------------------------------
# Presence and reset
# --------------------------------------------------------------------------------------


def demo_data_present() -> bool:
    return (
        Marketplace.objects.exists()
        or Category.objects.exists()
        or Merchant.objects.exists()
        or User.objects.filter(username__in=DEMO_USERNAMES).exists()
    )


def app_tables() -> list[str]:
    """Every table of the catalog and enforcement apps, including ones later migrations add."""
    tables = []
    for label in ("sellers", "moderation"):
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy and model._meta.db_table not in tables:
                tables.append(model._meta.db_table)
    return tables


def reset_demo_data() -> None:
    """Empty the catalog and enforcement tables and delete the demo users (no other user).

    This wipes the audit trail, which is append-only for the application: the ORM refuses
    to delete audit events and notices, and on PostgreSQL triggers refuse DELETE, but not
    TRUNCATE, which is what a reset of demo data is. SQLite has no such triggers.
    """
    quote = connection.ops.quote_name
    tables = app_tables()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Rows inserted earlier in this transaction leave deferred foreign-key checks
            # pending, and PostgreSQL refuses to TRUNCATE a table with pending trigger
            # events: run the checks now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(quote(table) for table in tables)} RESTART IDENTITY CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            # Foreign keys are deferred on SQLite, so the order of the deletes does not matter.
            for table in tables:
                cursor.execute(f"DELETE FROM {quote(table)}")
            if connection.vendor == "sqlite":
                placeholders = ", ".join(["%s"] * len(tables))
                cursor.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({placeholders})", tables)
        User.objects.filter(username__in=DEMO_USERNAMES).delete()
