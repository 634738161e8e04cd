"""The reference rules judged on the labelled corpora (tests/data/detection/README.md).

The build fails when precision or recall falls below 0.97 on the rows the rules were tuned
on or on the held-out rows: a rule change that catches more must not flag innocents, and
one that spares innocents must not let banned listings through.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from moderation.demo import REFERENCE_RULES, seed_reference_rules
from moderation.detection import PolicyMatcher
from moderation.detection.evaluation import load_corpus

CORPORA = Path(__file__).resolve().parent.parent / "data" / "detection"
FLOOR = 0.97


@pytest.fixture(scope="module")
def reference_matcher():
    return PolicyMatcher(REFERENCE_RULES, threshold=10)


@pytest.mark.parametrize("name", ["corpus.jsonl", "holdout.jsonl"])
def test_the_reference_rules_keep_precision_and_recall_above_the_floor(reference_matcher, name):
    from moderation.detection.evaluation import evaluate

    report = evaluate(reference_matcher, load_corpus(CORPORA / name))
    misses = [row.id for row, _ in report.misses]
    false_alarms = [row.id for row, _ in report.false_alarms]
    assert report.precision >= FLOOR, f"precision {report.precision:.3f}; false alarms: {false_alarms}"
    assert report.recall >= FLOOR, f"recall {report.recall:.3f}; misses: {misses}"


def test_the_corpora_are_balanced_and_cover_every_clause_and_disguise():
    rows = load_corpus(CORPORA / "corpus.jsonl") + load_corpus(CORPORA / "holdout.jsonl")
    banned = [row for row in rows if row.banned]
    assert len(rows) >= 400
    assert len(rows) - len(banned) >= len(banned)  # as many look-alikes as banned rows
    assert {row.clause for row in banned} == {1, 2, 3, 4}
    groups = {row.group for row in banned}
    for disguise in ("confusables", "fullwidth", "leetspeak", "split-letters", "zero-width", "traditional", "pinyin"):
        assert disguise in groups


def test_it_reads_a_csv_corpus_with_attributes_as_json(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        "id,label,clause,title,description,attributes\n"
        '1,banned,1,Antminer S19,,"{""hashrate"": ""110 TH/s""}"\n'
        "2,clean,,Wireless keyboard,,\n",
        encoding="utf-8",
    )
    rows = load_corpus(path)
    assert [(row.id, row.banned, row.clause, row.attributes) for row in rows] == [
        ("1", True, 1, {"hashrate": "110 TH/s"}),
        ("2", False, None, {}),
    ]


def test_it_refuses_a_row_without_a_known_label(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"id": "x", "label": "maybe", "title": "Antminer"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label"):
        load_corpus(path)


def test_the_command_prints_the_figures_every_error_and_each_rules_hits(policy_admin, draft_policy, tmp_path):
    seed_reference_rules(actor=policy_admin, policy=draft_policy)
    path = tmp_path / "rows.jsonl"
    rows = [
        {"id": "miner", "label": "banned", "clause": 1, "title": "Antminer S19 Pro 110TH/s"},
        {"id": "missed", "label": "banned", "clause": 1, "title": "A box that does something"},
        {"id": "book", "label": "clean", "title": "Data Mining: Concepts and Techniques"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")

    out = StringIO()
    call_command("evaluate_rules", str(path), policy="virtual-currency-mining", stdout=out)
    text = out.getvalue()
    assert "precision 1.000  recall 0.500  F1 0.667" in text
    assert "missed [" in text and "A box that does something" in text
    assert "False alarms (0)" in text
    assert "Mining hardware maker or product line" in text  # a rule's hits, by its label

    out = StringIO()
    call_command("evaluate_rules", str(path), policy="virtual-currency-mining", json=True, stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["misses"] == ["missed"] and summary["false_alarms"] == []
    assert summary["precision"] == 1.0 and summary["recall"] == 0.5


def test_the_command_names_an_unknown_policy_or_file(policy_admin, draft_policy, tmp_path):
    with pytest.raises(CommandError, match="No policy"):
        call_command("evaluate_rules", str(tmp_path / "x.jsonl"), policy="nope")
    with pytest.raises(CommandError, match="No such file"):
        call_command("evaluate_rules", str(tmp_path / "x.jsonl"), policy="virtual-currency-mining")
