"""The demo's data files: they ship with the package, and the loaders refuse what they cannot read."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from moderation.demo import REFERENCE_RULES, catalog, rules
from moderation.demo.data_files import DATA

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_data_file_is_package_data_so_an_installed_wheel_seeds_the_demo():
    package_data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    patterns = package_data["moderation.demo"]
    files = sorted(path.relative_to(DATA.parent).as_posix() for path in DATA.iterdir())

    assert files, "no data files"
    assert [name for name in files if not any(fnmatch(name, pattern) for pattern in patterns)] == []


def test_the_regex_rules_have_their_building_blocks_filled_in():
    regexes = [rule.pattern for rule in REFERENCE_RULES if rule.kind == "regex"]

    assert not [pattern for pattern in regexes if re.search(r"\{[a-z_]+\}", pattern)]
    assert sum(rules.BLOCKS["coins_en"] in pattern for pattern in regexes) > 1


def test_a_rule_with_a_misspelt_key_is_refused_rather_than_read_without_it():
    entry = {"kind": "keyword", "pattern": "antminer", "weight": 10, "label": "brand", "exclusion": ["x"]}

    with pytest.raises(ValueError, match="unknown keys"):
        rules._rules_of(entry, 1)


def test_a_rule_with_an_unknown_building_block_is_refused():
    entry = {"kind": "regex", "pattern": r"\b(?:{coins_fr})\b", "weight": 10, "label": "coin"}

    with pytest.raises(KeyError):
        rules._rules_of(entry, 4)


def test_a_rule_names_each_of_its_lookalike_lists_then_its_own_exclusions():
    entry = {
        "kind": "keyword",
        "pattern": "miner",
        "weight": 4,
        "label": "miner",
        "exclusions_from": ["miner", "mining"],
        "exclusions": ["miner figurine"],
    }

    (rule,) = rules._rules_of(entry, 1)

    assert rule.exclusions == (*rules.LOOKALIKES["miner"], *rules.LOOKALIKES["mining"], "miner figurine")


def test_a_family_in_a_category_the_catalog_does_not_have_is_refused():
    row = {
        "key": "misfiled",
        "kind": "ordinary",
        "category": "no-such-category",
        "weight": 1,
        "products": [],
        "variants": [],
    }

    with pytest.raises(ValueError, match="no-such-category"):
        catalog._family(row)


def test_a_family_of_an_unknown_kind_is_refused():
    row = {"key": "odd", "kind": "forbidden", "category": "kitchen", "weight": 1, "products": [], "variants": []}

    with pytest.raises(ValueError, match="forbidden"):
        catalog._family(row)


def test_miners_are_written_as_sellers_write_them_with_their_coins_words():
    s19 = catalog.ASIC_MINERS[0]

    assert (s19.en, s19.spec) == ("Bitmain Antminer S19 Pro", "110TH/s")
    assert s19.words == {"coin_en": "Bitcoin", "coin_zh": "比特币"}
    server = next(family for family in catalog.FAMILIES if family.key == "miner-as-server")
    assert server.products == catalog.ASIC_MINERS[:10]
