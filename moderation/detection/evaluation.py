"""How well a policy's rules separate banned listings from innocent ones, on a labelled corpus.

A corpus is a JSON Lines (or CSV) file of listings, each labelled ``banned`` or ``clean``
(see ``tests/data/detection/README.md``): ``evaluate`` scores every row with a matcher and
counts true and false flags, so a change to the rules is judged on evidence before it
reaches the queue. ``python manage.py evaluate_rules`` prints the report.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moderation.detection.matcher import PolicyMatcher

BANNED, CLEAN = "banned", "clean"


@dataclass(frozen=True)
class CorpusRow:
    id: str
    label: str
    title: str
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    clause: int | None = None

    @property
    def banned(self) -> bool:
        return self.label == BANNED


def load_corpus(path: str | Path) -> list[CorpusRow]:
    """Rows of a ``.jsonl`` file (one object a line) or a ``.csv`` file (attributes as JSON text)."""
    path = Path(path)
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            records: Iterable[dict] = list(csv.DictReader(handle))
    else:
        with path.open(encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    rows = []
    for number, record in enumerate(records, start=1):
        label = (record.get("label") or "").strip()
        if label not in (BANNED, CLEAN):
            raise ValueError(f"{path.name}, row {number}: label must be “{BANNED}” or “{CLEAN}”, not {label!r}")
        attributes = record.get("attributes") or {}
        if isinstance(attributes, str):
            attributes = json.loads(attributes) if attributes.strip() else {}
        clause = record.get("clause")
        rows.append(
            CorpusRow(
                id=str(record.get("id") or number),
                label=label,
                title=record.get("title") or "",
                description=record.get("description") or "",
                attributes=attributes,
                group=record.get("group") or "",
                clause=int(clause) if clause not in (None, "") else None,
            )
        )
    return rows


@dataclass
class RuleTally:
    label: str
    on_banned: int = 0
    on_clean: int = 0


@dataclass
class Report:
    true_positives: list[CorpusRow] = field(default_factory=list)
    misses: list[tuple[CorpusRow, Any]] = field(default_factory=list)
    false_alarms: list[tuple[CorpusRow, Any]] = field(default_factory=list)
    true_negatives: int = 0
    clause_right: int = 0
    rules: dict[int, RuleTally] = field(default_factory=dict)
    groups: Counter = field(default_factory=Counter)
    group_errors: Counter = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        flagged = len(self.true_positives) + len(self.false_alarms)
        return len(self.true_positives) / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        banned = len(self.true_positives) + len(self.misses)
        return len(self.true_positives) / banned if banned else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def clause_accuracy(self) -> float:
        return self.clause_right / len(self.true_positives) if self.true_positives else 1.0


def evaluate(matcher: PolicyMatcher, rows: Iterable[CorpusRow]) -> Report:
    report = Report()
    for row in rows:
        result = matcher.score(title=row.title, description=row.description, attributes=row.attributes)
        report.groups[row.group] += 1
        matched = {id(rule) for rule in (*result.rules, *result.shadow_rules)}
        for index, rule in enumerate(matcher.rules):
            if id(rule) in matched:
                key = rule.id if rule.id is not None else index
                tally = report.rules.setdefault(key, RuleTally(label=_rule_name(rule)))
                if row.banned:
                    tally.on_banned += 1
                else:
                    tally.on_clean += 1
        if row.banned and result.flagged:
            report.true_positives.append(row)
            report.clause_right += row.clause is None or result.clause == row.clause
        elif row.banned:
            report.misses.append((row, result))
            report.group_errors[row.group] += 1
        elif result.flagged:
            report.false_alarms.append((row, result))
            report.group_errors[row.group] += 1
        else:
            report.true_negatives += 1
    return report


def _rule_name(rule) -> str:
    return f"{rule.kind} {rule.pattern} ({rule.display_label})"
