"""``manage.py scan_text``: a policy's rules on lines of text, one JSON object per line."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from moderation.demo import COIN, REFERENCE_CLAUSES, TRADE_ZH, seed_reference_rules
from moderation.services.policies import edit_policy

NOTHING = {"score": 0, "flagged": False, "terms": [], "signals": [], "clause": None}


@pytest.fixture
def reference_policy(policy_admin, draft_policy):
    """The draft with the reference policy's four clauses, which the reference rules cite by number."""
    return edit_policy(actor=policy_admin, policy=draft_policy, clauses=REFERENCE_CLAUSES)


@pytest.fixture
def reference_rules(policy_admin, reference_policy):
    return seed_reference_rules(actor=policy_admin, policy=reference_policy)


def scan(monkeypatch, text: str, *, policy: str = "virtual-currency-mining", stdin=None) -> list[dict]:
    monkeypatch.setattr("sys.stdin", stdin or io.StringIO(text))
    out = io.StringIO()
    call_command("scan_text", policy=policy, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_it_prints_one_json_object_per_line_of_input(monkeypatch, reference_rules):
    lines = [
        "Antminer S19 Pro 110TH/s Bitcoin miner",
        "Data Mining: Concepts and Techniques",
        "",
        "The Bitcoin Standard",
    ]
    results = scan(monkeypatch, "\n".join(lines) + "\n")
    assert len(results) == 4
    miner, book, blank, coin = results
    assert miner["flagged"] is True and miner["score"] >= 10 and miner["clause"] == 1
    assert miner["terms"][0] == "Antminer" and "Bitcoin miner" in miner["terms"]  # words as written
    assert "Hash rate with its unit" in miner["signals"]
    assert not any("\\" in signal for signal in miner["signals"])  # labels, never patterns
    assert book == NOTHING
    assert blank == NOTHING
    assert coin == {"score": 4, "flagged": False, "terms": ["Bitcoin"], "signals": [COIN], "clause": 4}


def test_it_writes_chinese_as_it_is(monkeypatch, reference_rules):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("出售二手矿机\n比特币矿机 S19\n"))
    call_command("scan_text", policy="virtual-currency-mining", stdout=out)
    first, second = out.getvalue().splitlines()
    assert first == f'{{"score": 10, "flagged": true, "terms": ["矿机"], "signals": ["{TRADE_ZH}"], "clause": 1}}'
    assert json.loads(second)["terms"] == ["比特币", "矿机", "S19"]


def test_it_reads_utf8_whatever_the_locale_says(monkeypatch, reference_rules):
    # A pipe under LANG=C: the text layer would say ASCII; the bytes are UTF-8.
    stdin = io.TextIOWrapper(io.BytesIO("全新矿机 ＡＳＩＣ　ｍｉｎｅｒ\n".encode()), encoding="ascii")
    (result,) = scan(monkeypatch, "", stdin=stdin)
    assert result["flagged"] and result["terms"][0] == "矿机"
    assert "ＡＳＩＣ　ｍｉｎｅｒ" in result["terms"]  # as the line wrote it, full width and all
    assert "Mining hardware phrase" in result["signals"]


def test_it_uses_the_policys_threshold(monkeypatch, policy_admin, draft_policy):
    # Edited before the rules are seeded: edit_policy recreates the clauses, which the rules
    # protect once they cite them (a ProtectedError, reported as a bug of edit_policy).
    policy = edit_policy(actor=policy_admin, policy=draft_policy, clauses=REFERENCE_CLAUSES, detection_threshold=20)
    seed_reference_rules(actor=policy_admin, policy=policy)
    (result,) = scan(monkeypatch, "出售二手矿机\n")
    assert result == {"score": 10, "flagged": False, "terms": ["矿机"], "signals": [TRADE_ZH], "clause": 1}


def test_it_prints_fractional_scores_as_numbers(monkeypatch, policy_admin, draft_policy):
    from moderation.services.detection import create_detection_rule

    create_detection_rule(actor=policy_admin, policy=draft_policy, kind="keyword", pattern="asic", weight="2.5")
    (result,) = scan(monkeypatch, "ASIC\n")
    assert result == {"score": 2.5, "flagged": False, "terms": ["ASIC"], "signals": ["asic"], "clause": None}


def test_it_refuses_an_unknown_policy_by_name(monkeypatch, draft_policy):
    monkeypatch.setattr("sys.stdin", io.StringIO("Antminer\n"))
    with pytest.raises(CommandError, match="No policy with the slug “no-such-ban”.*virtual-currency-mining"):
        call_command("scan_text", policy="no-such-ban", stdout=io.StringIO())
