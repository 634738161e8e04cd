"""The demo catalog, read from its data files into typed values.

- ``data/catalog.json``: the five marketplaces (with their share of the merchants), the
  category tree with "Blockchain Miners" and "Blockchain Miner Accessories" under
  "Consumer Electronics", and the window the listings are dated in;
- ``data/listings.json``: the listing templates, as *families* (a category, a wording, its
  products and variants) in four kinds (``Kind``), the shipping lines, the coins the miners
  mine, and the shares the generator draws with;
- ``data/merchants.json``: what generated merchants are made of (countries per
  marketplace, cities, brand words, trades, company forms);
- ``data/story.json``: the people the demo signs in as, and the two named merchants with
  their hand-written listings.

Only what is not a literal stays here: the shapes, the listing kinds, and the few values
derived from the data (a miner's spec and coin words).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from backoffice.roles import Role
from moderation.demo.data_files import load
from sellers.models import Merchant


class Kind:
    """What a listing is, for the reference policy: the demo's ground truth."""

    BANNED = "banned"  # a banned product in a banned category
    BANNED_ELSEWHERE = "banned_elsewhere"  # a banned product in an ordinary category
    LOOKALIKE = "lookalike"  # innocent, but shares words with banned products
    ORDINARY = "ordinary"

    ALL = (BANNED, BANNED_ELSEWHERE, LOOKALIKE, ORDINARY)


class MarketplaceSeed(NamedTuple):
    code: str
    name: str
    timezone: str
    merchant_share: int  # relative share of the generated merchants


class CategorySeed(NamedTuple):
    name: str
    slug: str  # spelled out in the data so it never drifts from the name
    children: tuple[CategorySeed, ...] = ()


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
    titles_en: tuple[str, ...]
    titles_zh: tuple[str, ...]
    descriptions_en: tuple[str, ...]
    descriptions_zh: tuple[str, ...]
    clause: int | None = None  # the reference policy's clause a banned family breaks


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role | None = None
    is_staff: bool = False
    is_superuser: bool = False
    description: str = ""


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


def _pairs(rows: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((first, second) for first, second in rows)


# --- catalog.json -------------------------------------------------------------------------

_catalog = load("catalog.json")

# Listings are dated before the announcement (2021-09-27, Asia/Shanghai), so the
# reference policy finds a catalog that was built while they were still allowed.
CATALOG_OPENED = datetime.fromisoformat(_catalog["catalog_opened"])
CATALOG_SEEDED = datetime.fromisoformat(_catalog["catalog_seeded"])

MARKETPLACES = tuple(MarketplaceSeed(**row) for row in _catalog["marketplaces"])
CATEGORY_TREE = tuple(
    CategorySeed(row["name"], row["slug"], tuple(CategorySeed(**child) for child in row["children"]))
    for row in _catalog["categories"]
)
_CATEGORY_SLUGS = {slug for top in CATEGORY_TREE for slug in (top.slug, *(child.slug for child in top.children))}


def _known_category(slug: str, where: str) -> str:
    if slug not in _CATEGORY_SLUGS:
        raise ValueError(f"{where}: category {slug!r} is not in data/catalog.json.")
    return slug


def _known_kind(kind: str, where: str) -> str:
    if kind not in Kind.ALL:
        raise ValueError(f"{where}: kind {kind!r} is not one of {Kind.ALL}.")
    return kind


# --- listings.json ------------------------------------------------------------------------

_listings = load("listings.json")

SHIPPING = _pairs(_listings["shipping"])
COINS: dict[str, dict[str, str]] = _listings["coins"]
# Sellers who write in Chinese still list in English now and then (Alibaba.com is for
# foreign buyers): the chance that one listing of theirs is written in Chinese.
CHINESE_LISTING_SHARE: float = _listings["shares"]["chinese_listing"]
# Banned products cluster in a few stores, as they do on a real marketplace.
BANNED_FROM_MINER_TRADERS: float = _listings["shares"]["banned_from_miner_traders"]
REMOVED_BY_SELLER_SHARE: float = _listings["shares"]["removed_by_seller"]

_WORDING = ("titles_en", "titles_zh", "descriptions_en", "descriptions_zh")


def _miner(row: dict[str, Any]) -> Product:
    attributes = {key: row[key] for key in ("hashrate", "algorithm", "power", "coin")}
    # Sellers write the hashrate without the space in titles: "Antminer S19 Pro 110TH/s".
    return Product(row["en"], row["zh"], row["hashrate"].replace(" ", ""), row["price"], attributes, COINS[row["coin"]])


ASIC_MINERS = tuple(_miner(row) for row in _listings["asic_miners"])
# A family's "products" is its own list, or the name of a shared one (and how many of it).
_PRODUCT_LISTS = {"asic_miners": ASIC_MINERS}


def _family(row: dict[str, Any]) -> Family:
    where = f"data/listings.json, family {row['key']!r}"
    if isinstance(row["products"], str):
        products = _PRODUCT_LISTS[row["products"]][: row.get("first_products")]
    else:
        products = tuple(Product(**product) for product in row["products"])
    return Family(
        key=row["key"],
        kind=_known_kind(row["kind"], where),
        category=_known_category(row["category"], where),
        weight=row["weight"],
        products=products,
        variants=_pairs(row["variants"]),
        **{field: tuple(row.get(field, _listings["default_wording"][field])) for field in _WORDING},
        clause=row.get("clause"),
    )


# In the data's order: banned, banned elsewhere (clause 4's coins for sale last), look-alikes
# (what detection must leave alone), ordinary goods. The order is the generator's: a change
# changes which listing a seed gives.
FAMILIES = tuple(_family(row) for row in _listings["families"])

# --- merchants.json -----------------------------------------------------------------------

_merchants = load("merchants.json")

# Countries of the merchants per marketplace, with weights.
MERCHANT_COUNTRIES = {
    code: tuple((country, weight) for country, weight in rows) for code, rows in _merchants["countries"].items()
}
# Who writes in Chinese: the share of merchants per country.
CHINESE_SPEAKING: dict[str, float] = _merchants["chinese_speaking"]
# The share of merchants (per marketplace) that trade in mining machines.
MINER_TRADER_SHARE: dict[str, float] = _merchants["miner_trader_share"]
CITIES = {country: _pairs(rows) for country, rows in _merchants["cities"].items()}
CHINESE_BRAND_WORDS = _pairs(_merchants["chinese_brand_words"])
ENGLISH_BRAND_WORDS: tuple[str, ...] = tuple(_merchants["english_brand_words"])
TRADES = _pairs(_merchants["trades"])
COMPANY_FORMS: dict[str, str] = _merchants["company_forms"]
CHINESE_STORE_SUFFIX: dict[str, str] = _merchants["chinese_store_suffix"]

# --- story.json ---------------------------------------------------------------------------

_story = load("story.json")

DEMO_USERS = tuple(DemoUser(**{**row, "role": Role(row["role"]) if "role" in row else None}) for row in _story["users"])
DEMO_USERNAMES = tuple(user.username for user in DEMO_USERS)


def _named_merchant(row: dict[str, Any]) -> NamedMerchant:
    where = f"data/story.json, merchant {row['username']!r}"
    for listing in row["listings"]:
        _known_kind(listing["kind"], where)
        _known_category(listing["category"], where)
    listings = tuple(NamedListing(**listing) for listing in row["listings"])
    return NamedMerchant(**{**row, "language": Merchant.Language(row["language"]), "listings": listings})


NAMED_MERCHANTS = tuple(_named_merchant(row) for row in _story["named_merchants"])
