"""The demo's seeder: ``seed_reference_case`` is what ``manage.py seed_demo`` (and ``bench/seed.py``) runs.

1. refuse to seed over existing data, or wipe it first when asked (``reset_demo_data``);
2. seed the catalog (``seed_catalog``): the back office's people, the five marketplaces,
   the category tree, the two named merchants with their hand-written listings, and as
   many generated merchants and listings as asked for;
3. in the demo (DEBUG), the demo marketplace's webhook endpoint, a page of the demo itself
   (``moderation.demo.webhooks``);
4. seed the reference *policy* (``moderation.demo.policy``) over that catalog.

What is seeded is data (``data/*.json``, read by ``moderation.demo.catalog``); this module
only generates and writes. Everything generated comes from one ``random.Random(seed)``:
the same seed gives the same catalog, row for row, so a screenshot or a bug report can
name a listing. Listings are combined from the families' templates (product × variant ×
wording × merchant), in English and Chinese, in four kinds: banned products in the banned
categories, banned products listed in ordinary categories (what detection must find),
innocent look-alikes (data-mining books, mining helmets, gaming cards: what detection must
not flag) and ordinary goods.

Marketplaces, categories and the named merchants go through the catalog services (one
audit event each); the bulk of merchants and listings is written in batches with one
audit event per batch, as a catalog feed would be loaded.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils.text import slugify

from backoffice.roles import Role
from moderation.demo.catalog import (
    BANNED_FROM_MINER_TRADERS,
    CATALOG_OPENED,
    CATALOG_SEEDED,
    CATEGORY_TREE,
    CHINESE_BRAND_WORDS,
    CHINESE_LISTING_SHARE,
    CHINESE_SPEAKING,
    CHINESE_STORE_SUFFIX,
    CITIES,
    COMPANY_FORMS,
    DEMO_USERNAMES,
    DEMO_USERS,
    ENGLISH_BRAND_WORDS,
    FAMILIES,
    MARKETPLACES,
    MERCHANT_COUNTRIES,
    MINER_TRADER_SHARE,
    NAMED_MERCHANTS,
    REMOVED_BY_SELLER_SHARE,
    SHIPPING,
    TRADES,
    DemoUser,
    Kind,
    Product,
)
from moderation.demo.policy import seed_reference_policy
from moderation.demo.webhooks import DEMO_MARKETPLACE, seed_demo_endpoint
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


class DemoDataPresentError(Exception):
    """The database already holds catalog data or demo users: seeding again would mix them."""


ProgressCallback = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


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
       banned categories scheduled (``moderation.demo.policy``): at its real 2021 dates with
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
        # Before the policy: its announcement is the first event the demo marketplace receives.
        if seed_demo_endpoint(actor=User.objects.get(username="policyadmin")):
            progress(f"the {DEMO_MARKETPLACE} marketplace's webhook endpoint: a page of the demo itself")
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
        market.code: catalog.create_marketplace(
            actor=SEED_ACTOR, code=market.code, name=market.name, timezone_name=market.timezone
        )
        for market in MARKETPLACES
    }


def seed_categories() -> dict[str, Category]:
    categories = {}
    for top in CATEGORY_TREE:
        parent = catalog.create_category(actor=SEED_ACTOR, name=top.name, slug=top.slug)
        categories[top.slug] = parent
        for child in top.children:
            categories[child.slug] = catalog.create_category(
                actor=SEED_ACTOR, name=child.name, slug=child.slug, parent=parent
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
    for code, count_here in _allocate(count, [(market.code, market.merchant_share) for market in MARKETPLACES]):
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
