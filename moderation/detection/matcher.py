"""Matching a policy's rules against a listing, and its score.

Score: the sum of the weights of the *signals* that match; at the policy's threshold
the listing is flagged. Rules that share a label are one signal: however many of them
match, whichever fields and however often, the signal counts once, at the weight of its
heaviest rule that matched ("Bitcoin, Ethereum, BTC" is one coin named, not three); a
rule with a label of its own is a signal of its own. Weak signals (a coin's name,
"miner", a hash rate) are weighed so that one alone stays under the threshold and two
together reach it. A rule's *exclusions* are
phrases that, present in the same field, cancel that rule's match in that field only
(``mining`` is cancelled in a title that says ``data mining``, not in the description).

A *shadow* rule is matched and reported (``shadow_rules``) but adds nothing to the
score: admins watch what a new rule would do before it counts.

Speed: per field, one ``re2.Set`` of every rule that looks at it tells in a single
linear pass which rules match (about a microsecond for a listing's title). Offsets, for
highlighting, are computed only when asked and only for the rules that matched.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from itertools import islice
from typing import Any

import re2

from moderation.detection.normalize import VIEW_SEPARATOR, normalize, normalize_with_offsets, views
from moderation.detection.patterns import KINDS, engine_options, literal_regex, pattern_error, rule_regex

TITLE, DESCRIPTION, ATTRIBUTES = "title", "description", "attributes"
FIELDS = (TITLE, DESCRIPTION, ATTRIBUTES)
# Places highlighted per rule and field: a moderator reads a few, a seller may repeat a word 2,000 times.
MAX_SPANS = 10


def attributes_text(attributes: Any) -> str:
    """A listing's attributes as matched and highlighted: one ``key: value`` line each."""
    if not attributes:
        return ""
    if isinstance(attributes, Mapping):
        return "\n".join(f"{key}: {value}" for key, value in attributes.items())
    return str(attributes)


@dataclass(frozen=True)
class RuleSpec:
    """A detection rule as the matcher needs it (a ``DetectionRule`` row, or reference data)."""

    kind: str
    pattern: str
    weight: Decimal
    fields: tuple[str, ...] = FIELDS
    exclusions: tuple[str, ...] = ()
    id: int | None = None
    note: str = ""
    label: str = ""
    clause: int | None = None
    shadow: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", Decimal(str(self.weight)))
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "exclusions", tuple(self.exclusions))
        if self.kind not in KINDS:
            raise ValueError(f"{self.kind!r}: unknown kind")
        error = pattern_error(self.kind, self.pattern)
        if error:
            raise ValueError(f"{self.kind} {self.pattern!r}: {error}")
        if self.weight <= 0:
            raise ValueError(f"{self.kind} {self.pattern!r}: the weight must be more than zero.")
        unknown = set(self.fields) - set(FIELDS)
        if unknown or not self.fields:
            raise ValueError(f"{self.kind} {self.pattern!r}: fields must be a non-empty subset of {FIELDS}.")

    @property
    def display_label(self) -> str:
        """What moderators see for the rule: its label; a keyword's or phrase's word when it has none.
        A regular expression is never shown outside its rule's page."""
        if self.label:
            return self.label
        return self.pattern if self.kind != "regex" else f"expression #{self.id or '?'}"

    @classmethod
    def coerce(cls, rule: RuleSpec | Mapping[str, Any]) -> RuleSpec:
        if isinstance(rule, RuleSpec):
            return rule
        known = {name: rule[name] for name in cls.__dataclass_fields__ if name in rule}
        return cls(**known)


# (start, end, rule label): offsets into the original text of a field.
Span = tuple[int, int, str]


@dataclass(frozen=True)
class MatchResult:
    """What the rules found in one listing.

    ``rules``: the counted rules that matched, in the order they first occur (title,
    description, attributes); ``shadow_rules`` the shadow ones; ``fields`` where counted
    rules matched. ``spans``: per field, ``(start, end, label)`` offsets into the
    *original* text (for attributes, into ``attributes_text``) of the counted rules'
    matches, sorted, possibly overlapping. ``words``: that text as the seller wrote it, in
    order, without repeats. Both are worked out on first use (most listings never need
    them: a refusal names the field and the clause) and are empty when scored with
    ``spans=False``. ``terms``: the words when known, else the rules' labels; never a pattern.
    """

    score: Decimal
    flagged: bool
    rules: tuple[RuleSpec, ...] = ()
    shadow_rules: tuple[RuleSpec, ...] = ()
    clause: int | None = None
    fields: tuple[str, ...] = ()
    evidence: Callable[[], dict[str, list[Span]]] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def spans(self) -> dict[str, list[Span]]:
        return self.evidence() if self.evidence else {}

    @cached_property
    def words(self) -> list[str]:
        texts = self.evidence.texts if self.evidence else {}
        seen: dict[str, None] = {}
        for name in FIELDS:
            for start, end, _label in self.spans.get(name, ()):
                word = texts[name][start:end].strip()
                if word:
                    seen.setdefault(word, None)
        return list(seen)

    @property
    def rule_ids(self) -> list[int]:
        return [rule.id for rule in self.rules if rule.id is not None]

    @property
    def shadow_rule_ids(self) -> list[int]:
        return [rule.id for rule in self.shadow_rules if rule.id is not None]

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(rule.display_label for rule in self.rules))

    @property
    def terms(self) -> list[str]:
        return self.words or self.labels


def signal_score(rules: Iterable[RuleSpec]) -> Decimal:
    """The score of these rules: each label counted once, at its heaviest rule's weight."""
    signals: dict[str, Decimal] = {}
    for rule in rules:
        key = rule.display_label if rule.label else f"{rule.kind}:{rule.pattern}"
        signals[key] = max(signals.get(key, Decimal(0)), rule.weight)
    return sum(signals.values(), Decimal(0))


def evidence_clause(rules: tuple[RuleSpec, ...], in_title: set[RuleSpec]) -> int | None:
    """The clause the evidence points to.

    1. the clause of the heaviest signal;
    2. on a tie, the one with more signals in the title, where a seller says what the
       product *is* ("Bitcoin Mining Masterclass" is a course that mentions mining);
    3. then the later clause: a ban's later clauses name narrower kinds (software,
       tutorials) that mention the earlier ones' words.
    """
    heaviest: dict[int, Decimal] = {}
    titled: dict[int, int] = {}
    for rule in rules:
        if rule.clause is None:
            continue
        heaviest[rule.clause] = max(heaviest.get(rule.clause, Decimal(0)), rule.weight)
        titled[rule.clause] = titled.get(rule.clause, 0) + (rule in in_title)
    if not heaviest:
        return None
    return max(heaviest, key=lambda number: (heaviest[number], titled[number], number))


def normalize_field(name: str, text: str) -> str:
    """A field as its rules read it: attributes line by line (one ``key: value`` each), so
    that no phrase runs from one attribute into the next; the engine never crosses a line."""
    if name != ATTRIBUTES:
        return normalize(text)
    return "\n".join(normalize(line) for line in text.split("\n"))


def normalize_field_with_offsets(name: str, text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """``normalize_field`` and the way back to the original, as ``normalize_with_offsets`` gives."""
    if name != ATTRIBUTES or "\n" not in text:
        return normalize_with_offsets(text)
    lines = [(line, normalize_with_offsets(line)) for line in text.split("\n")]
    normalized = "\n".join(found[0] for _line, found in lines)
    return normalized, _LinePositions(lines, end=False), _LinePositions(lines, end=True)


class _LinePositions(Sequence):
    """Positions in several lines normalised one by one, looked up by line (binary search)."""

    def __init__(self, lines: list[tuple[str, tuple]], *, end: bool) -> None:
        self.end = end
        self.lines = [found[2 if end else 1] for _line, found in lines]
        self.first, self.original = [], []  # per line: first normalised position, first original one
        normalized = original = 0
        for line, found in lines:
            self.first.append(normalized)
            self.original.append(original)
            normalized += len(found[0]) + 1
            original += len(line) + 1
        self.length = normalized - 1

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.length))]
        number = bisect_right(self.first, index) - 1
        within = index - self.first[number]
        if within >= len(self.lines[number]):  # the line break after the line
            return self.original[number + 1] - (0 if self.end else 1)
        return self.original[number] + self.lines[number][within]


class _Expressions:
    """Several expressions run as one RE2 set: which of them match a text, in one linear pass."""

    def __init__(self, expressions: list[str]) -> None:
        self.expressions = expressions
        self.set = re2.Set.SearchSet(engine_options())
        for expression in expressions:
            self.set.Add(expression)
        self.set.Compile()
        self._compiled: dict[int, Any] = {}

    def matching(self, text: str) -> list[int]:
        return self.set.Match(text) or []

    def spans(self, number: int, text: str) -> list[tuple[int, int]]:
        """Where expression ``number`` matches, its first ``MAX_SPANS`` places: evidence, not an index."""
        compiled = self._compiled.get(number)
        if compiled is None:
            compiled = self._compiled[number] = re2.compile(self.expressions[number], engine_options())
        found = (match.span() for match in compiled.finditer(text))
        return [(start, end) for start, end in islice(found, MAX_SPANS) if end > start]


class _FieldMatcher:
    """The rules that look at one field, and their exclusions."""

    def __init__(self, rules: list[tuple[int, RuleSpec]]) -> None:
        self.rule_indexes = [index for index, _rule in rules]
        self.rules = _Expressions([rule_regex(rule.kind, rule.pattern) for _index, rule in rules])
        self.exclusion_list = sorted({exclusion for _index, rule in rules for exclusion in rule.exclusions})
        self.exclusions = _Expressions([literal_regex(x) for x in self.exclusion_list]) if self.exclusion_list else None

    def find(self, text: str) -> list[int]:
        """Numbers (in this field's set) of the rules matching ``text``."""
        return self.rules.matching(text)

    def exclusions_present(self, text: str) -> set[str]:
        if self.exclusions is None:
            return set()
        return {self.exclusion_list[number] for number in self.exclusions.matching(text)}


class PolicyMatcher:
    """A policy's active rules compiled once; ``score()`` is safe to share between threads.

    >>> matcher = PolicyMatcher([RuleSpec("keyword", "antminer", 10)], threshold=10)
    >>> matcher.score(title="Ａｎｔ ｍｉｎｅｒ S19").flagged
    True
    """

    def __init__(self, rules: Iterable[RuleSpec | Mapping[str, Any]], *, threshold: Decimal | int | str) -> None:
        self.rules: tuple[RuleSpec, ...] = tuple(RuleSpec.coerce(rule) for rule in rules)
        self.threshold = Decimal(str(threshold))
        self._fields: dict[str, _FieldMatcher] = {}
        for name in FIELDS:
            looking = [(index, rule) for index, rule in enumerate(self.rules) if name in rule.fields]
            if looking:
                self._fields[name] = _FieldMatcher(looking)

    def __repr__(self) -> str:
        return f"<PolicyMatcher {len(self.rules)} rules, threshold {self.threshold}>"

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields at least one rule looks at."""
        return tuple(self._fields)

    def score(
        self,
        title: str = "",
        description: str = "",
        attributes: Any = None,
        *,
        spans: bool = True,
    ) -> MatchResult:
        """Score one listing. ``spans=False``: no highlights will be asked for (a bulk scan that stores rule ids)."""
        texts = {TITLE: title or "", DESCRIPTION: description or "", ATTRIBUTES: attributes_text(attributes)}
        first_seen: dict[int, tuple[int, int]] = {}  # rule index → (field order, order within the field)
        matched_in: dict[str, list[int]] = {}  # field → rule indexes (this matcher's numbering)
        normalized_texts: dict[str, str] = {}
        for order, (name, matcher) in enumerate(self._fields.items()):
            original = texts[name]
            if not original:
                continue
            normalized = normalize_field(name, original)
            text = views(normalized)
            numbers = matcher.find(text)
            if not numbers:
                continue
            indexes = [matcher.rule_indexes[number] for number in sorted(numbers)]
            excluded = self._excluded(matcher, text, indexes)
            indexes = [index for index in indexes if index not in excluded]
            if not indexes:
                continue
            matched_in[name] = indexes
            normalized_texts[name] = normalized
            for position, index in enumerate(indexes):
                first_seen.setdefault(index, (order, position))
        matched = sorted(first_seen, key=first_seen.__getitem__)
        counted = tuple(self.rules[index] for index in matched if not self.rules[index].shadow)
        shadow = tuple(self.rules[index] for index in matched if self.rules[index].shadow)
        total = signal_score(counted)
        # Evidence is what counts: a shadow rule is reported by its label only, never highlighted.
        counted_in = {
            name: [index for index in indexes if not self.rules[index].shadow] for name, indexes in matched_in.items()
        }
        counted_in = {name: indexes for name, indexes in counted_in.items() if indexes}
        return MatchResult(
            score=total,
            flagged=bool(counted) and total >= self.threshold,
            rules=counted,
            shadow_rules=shadow,
            clause=evidence_clause(counted, {self.rules[index] for index in counted_in.get(TITLE, ())}),
            fields=tuple(counted_in),
            evidence=_Evidence(self, texts, counted_in) if spans and counted_in else None,
        )

    # ``matcher.match(title=…)`` reads better at some call sites: the same method.
    match = score

    def _excluded(self, matcher: _FieldMatcher, text: str, indexes: list[int]) -> set[int]:
        with_exclusions = [index for index in indexes if self.rules[index].exclusions]
        if not with_exclusions:
            return set()
        present = matcher.exclusions_present(text)
        return {index for index in with_exclusions if present.intersection(self.rules[index].exclusions)}

    def original_spans(self, texts: dict[str, str], matched_in: dict[str, list[int]]) -> dict[str, list[Span]]:
        """Where the rules matched, as offsets into the original texts (normalised again, with offsets)."""
        found: dict[str, list[Span]] = {}
        for name, indexes in matched_in.items():
            matcher = self._fields[name]
            normalized, starts, ends = normalize_field_with_offsets(name, texts[name])
            text = views(normalized)
            width = len(normalized) + len(VIEW_SEPARATOR)
            places: set[Span] = set()
            for index in indexes:
                number = matcher.rule_indexes.index(index)
                for start, end in matcher.rules.spans(number, text):
                    if start >= width:  # the leetspeak view: same length, one line down
                        start, end = start - width, end - width
                    if 0 <= start < end <= len(normalized):
                        places.add((starts[start], ends[end - 1], self.rules[index].display_label))
            found[name] = sorted(places)
        return found


class _Evidence:
    """A result's highlights, worked out when first asked for."""

    def __init__(self, matcher: PolicyMatcher, texts: dict[str, str], matched_in: dict[str, list[int]]) -> None:
        self.matcher, self.texts, self.matched_in = matcher, texts, matched_in

    def __call__(self) -> dict[str, list[Span]]:
        return self.matcher.original_spans(self.texts, self.matched_in)
