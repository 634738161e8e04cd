"""The demo: the 2021 ban of virtual-currency mining machines, catalog and policy, in one place.

- ``data/*.json``: what the demo is made of: the marketplaces and category tree, the
  listing templates, the generated merchants' vocabulary, the people and the named
  merchants (the story), the policy's text, clauses, points and ladder, and its detection
  rules;
- ``catalog``: the catalog's data files read into typed values;
- ``policy`` and ``rules``: the reference policy and its detection rules, read from theirs
  and seeded through the policy admin's services;
- ``seeder``: ``seed_reference_case``, what ``manage.py seed_demo`` and ``bench/seed.py`` run.

What the command, the benchmarks and the tests use is re-exported here. A test that
replaces a seeder function or share patches ``moderation.demo.seeder``, where it is read.
"""

from moderation.demo.catalog import (
    CATALOG_OPENED,
    CATALOG_SEEDED,
    DEMO_USERNAMES,
    DEMO_USERS,
    FAMILIES,
    MARKETPLACES,
    NAMED_MERCHANTS,
    Family,
    Kind,
    NamedListing,
    NamedMerchant,
    Product,
)
from moderation.demo.policy import (
    BANNED_CATEGORY_SLUGS,
    REFERENCE_BODY,
    REFERENCE_CLAUSES,
    REFERENCE_LADDER,
    REFERENCE_POINTS,
    REFERENCE_SLUG,
    PolicySeed,
    seed_reference_policy,
)
from moderation.demo.rules import BRAND, COIN, REFERENCE_RULES, TRADE_ZH, seed_reference_rules
from moderation.demo.seeder import (
    DEFAULT_LISTINGS,
    DEFAULT_SEED,
    DEMO_PASSWORD,
    DemoDataPresentError,
    SeedSummary,
    reset_demo_data,
    seed_catalog,
    seed_reference_case,
)

__all__ = [
    "BANNED_CATEGORY_SLUGS",
    "BRAND",
    "CATALOG_OPENED",
    "CATALOG_SEEDED",
    "COIN",
    "DEFAULT_LISTINGS",
    "DEFAULT_SEED",
    "DEMO_PASSWORD",
    "DEMO_USERNAMES",
    "DEMO_USERS",
    "FAMILIES",
    "MARKETPLACES",
    "NAMED_MERCHANTS",
    "REFERENCE_BODY",
    "REFERENCE_CLAUSES",
    "REFERENCE_LADDER",
    "REFERENCE_POINTS",
    "REFERENCE_RULES",
    "REFERENCE_SLUG",
    "TRADE_ZH",
    "DemoDataPresentError",
    "Family",
    "Kind",
    "NamedListing",
    "NamedMerchant",
    "PolicySeed",
    "Product",
    "SeedSummary",
    "reset_demo_data",
    "seed_catalog",
    "seed_reference_case",
    "seed_reference_policy",
    "seed_reference_rules",
]
