"""Detection: normalising listing text and matching a policy's rules against it.

Pure Python, no database: ``PolicyMatcher`` is built from rule data (``RuleSpec``, or
dicts with the same keys) and a threshold, so it runs the same in a request, a Celery
chunk of a bulk scan, a management command or a test. ``moderation.selectors.detection``
builds one per policy from its ``DetectionRule`` rows and caches it.

How text is compared (``normalize``), the same for listings, patterns and exclusions:

1. Unicode NFKC, so full-width ``ＡＳＩＣ`` is ``ASIC`` and ``①`` is ``1``;
2. case folding (``str.casefold``: ``Straße`` is ``strasse``);
3. decomposed (NFKD) and the Latin, Greek and Cyrillic accents dropped. Only the
   diacritic blocks are dropped, so kana voicing marks, Hangul and Thai vowel signs are
   kept: ``が`` is never ``か``; the text stays decomposed (see ``fold_char``);
4. invisible format characters dropped (zero-width space, soft hyphen…): ``Ant​miner``
   is ``antminer``;
5. every run of Unicode whitespace becomes one space, trimmed at both ends.

How a pattern matches:

- A *keyword* or *phrase* written in a script without spaces between words (Chinese,
  Japanese, Korean, Thai…) matches as a plain substring: ``矿机`` in ``比特币矿机S19``.
- Otherwise it matches whole words: not preceded or followed by a letter or digit of a
  spaced script, so ``asic`` is not in ``basic`` and ``eth`` is not in ``ethernet``; a
  neighbouring Chinese character is a boundary (``矿机S19`` has the word ``s19``).
- Choice: a pattern ending in a letter also matches its simple plural (``-s``/``-es``):
  ``miner`` matches ``miners`` and ``mining rig`` matches ``mining rigs``. Sellers write
  both and a ban never cares about the number; ``asic``/``asics`` is the price (ASICS the
  shoe brand), which is why short words get low weights.
- A space in a pattern matches a space or a hyphen (``mining rig``, ``mining-rig``); a
  hyphen matches a hyphen, a space or nothing (``sha-256``, ``sha 256``, ``sha256``).
- A *regex* is run as written, case-insensitively, against the normalised text (lower
  case, half-width, no accents, single spaces): write ``\\d+\\s*th/s``, not ``ＴＨ``.
  Numbered back-references and named groups are refused: every rule is a group of the
  policy's one combined expression, where their numbers and names would clash.

Score: the sum of the weights of the rules that match, each rule once per listing
whichever fields and however often it matches. A rule's *exclusions* are phrases that,
present in the same field, cancel that rule's match in that field only (``mining`` is
cancelled in a title that says ``data mining``, not in the description).

Speed: per field, one compiled alternation of every rule that looks at it decides
whether the text can match at all (most listings stop there); a second expression of
the same rules, each in a lookahead group, then reports every rule matching at each
position, overlapping ones included (``bitcoin miner`` and ``miner``). Offsets into the
original text are computed only for fields that matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

TITLE, DESCRIPTION, ATTRIBUTES = "title", "description", "attributes"
FIELDS = (TITLE, DESCRIPTION, ATTRIBUTES)

KEYWORD, PHRASE, REGEX = "keyword", "phrase", "regex"
KINDS = (KEYWORD, PHRASE, REGEX)

# Scripts written without spaces between words: a pattern in them matches as a substring,
# and their characters count as word boundaries for Latin patterns next to them.
# Thai and Lao, Myanmar, Khmer; CJK radicals, ideographic iteration marks and numerals,
# kana, bopomofo, CJK ideographs and their extensions, Hangul, compatibility ideographs.
UNSPACED_RANGES = (
    "\u0e00-\u0eff"
    "\u1000-\u109f"
    "\u1780-\u17ff"
    "\u2e80-\u2fdf"
    "\u3005-\u3007"
    "\u3021-\u3029"
    "\u3038-\u303b"
    "\u3040-\u30ff"
    "\u3100-\u31ff"
    "\u3400-\u4dbf"
    "\u4e00-\u9fff"
    "\ua960-\ua97f"
    "\uac00-\ud7ff"
    "\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_UNSPACED = re.compile(f"[{UNSPACED_RANGES}]")
# A letter or digit of a spaced script: what may not touch a Latin word on either side.
_WORD_CHAR = f"[^\\W_{UNSPACED_RANGES}]"
_WORD_END = f"(?!{_WORD_CHAR})"
_PLURAL = "(?:e?s)?"

# Combining diacritics of Latin, Greek and Cyrillic (accents, cedillas, umlauts…).
_DIACRITIC_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


# --------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------


def _is_diacritic(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DIACRITIC_BLOCKS)


def fold_char(char: str) -> str:
    """One character as matching sees it (before whitespace is collapsed): may be empty or longer.

    The result stays decomposed (NFKD) rather than recomposed: text is folded character
    by character (which is what maps it back to the original), and a decomposed form
    needs no composition across characters, so half-width ``ｶﾞ`` (two characters) and
    ``ガ`` (one) fold alike, as do Hangul syllables and their jamo. Chinese characters
    do not decompose; nobody reads the folded text, highlighting maps back to the original.
    """
    if unicodedata.category(char) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold())
    return "".join(c for c in folded if not _is_diacritic(c))


class _FoldTable(dict):
    """``str.translate`` table filled on first sight of each character, then C-speed."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = fold_char(chr(code))
        return folded


_FOLD = _FoldTable()


def normalize(text: str) -> str:
    """The text as patterns are matched against it (see the module docstring)."""
    # Plain ASCII is most listings: NFKC and accents change nothing there, folding is lower().
    folded = text.lower() if text.isascii() else text.translate(_FOLD)
    return " ".join(folded.split())


def normalize_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """``normalize(text)`` and, per character of it, the span of ``text`` it came from.

    ``starts[k]:ends[k]`` is the original text behind normalised character ``k``; one
    original character may give several (``ﬁ`` → ``fi``, both mapped to it), a dropped
    accent or invisible character widens the span of the character before it, and a
    collapsed run of whitespace maps to its first character.
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pending_space: int | None = None
    for index, char in enumerate(text):
        folded = _FOLD[ord(char)]
        if not folded:
            if chars and pending_space is None:
                ends[-1] = index + 1
            continue
        for out in folded:
            if out.isspace():
                if pending_space is None:
                    pending_space = index
                continue
            if pending_space is not None:
                if chars:
                    chars.append(" ")
                    starts.append(pending_space)
                    ends.append(pending_space + 1)
                pending_space = None
            chars.append(out)
            starts.append(index)
            ends.append(index + 1)
    return "".join(chars), starts, ends


def attributes_text(attributes: Any) -> str:
    """A listing's attributes as matched and highlighted: one ``key: value`` line each."""
    if not attributes:
        return ""
    if isinstance(attributes, Mapping):
        return "\n".join(f"{key}: {value}" for key, value in attributes.items())
    return str(attributes)


def has_unspaced_script(text: str) -> bool:
    return _UNSPACED.search(text) is not None


# --------------------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------------------


def literal_regex(pattern: str) -> str:
    """The expression a keyword, phrase or exclusion becomes (see the module docstring)."""
    normalized = normalize(pattern)
    unspaced = has_unspaced_script(normalized)
    parts = []
    for char in normalized:
        if char == " ":
            parts.append("[ \\-]?" if unspaced else "[ \\-]")
        elif char == "-":
            parts.append("[ \\-]?")
        else:
            parts.append(re.escape(char))
    body = "".join(parts)
    if unspaced:
        return body
    first, last = normalized[0], normalized[-1]
    if first.isalnum():
        # The start-of-word check goes after the first character, not before it: an
        # alternative that opens with a literal is skipped by the regex engine at a glance
        # wherever that character is not, which makes the policy's alternation ~15x faster.
        head = parts[0]
        body = f"{head}(?<!{_WORD_CHAR}{head}){''.join(parts[1:])}"
    plural = _PLURAL if last.isalpha() else ""
    end = _WORD_END if last.isalnum() else ""
    return f"{body}{plural}{end}"


def rule_regex(kind: str, pattern: str) -> str:
    if kind == REGEX:
        # Scoped flag: the rest of the combined expression stays case-sensitive (and fast).
        return f"(?i:{pattern})"
    return literal_regex(pattern)


def _refers_to_groups(pattern: str) -> bool:
    """Numbered back-references, named groups or conditionals: they break once combined."""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if following.isdigit() and following != "0":
                return True
            index += 2
            continue
        if pattern.startswith("(?P", index) or pattern.startswith("(?(", index):
            return True
        index += 1
    return False


def pattern_error(kind: str, pattern: str) -> str | None:
    """Why a rule's pattern cannot be used, in words for the policy admin; None if it can."""
    if kind not in KINDS:
        return _("Unknown kind “%(kind)s”: choose one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(KINDS)}
    if not pattern or not pattern.strip():
        return _("Enter a pattern.")
    if kind == REGEX:
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            if exc.pos is None:
                return _("This is not a valid regular expression: %(error)s.") % {"error": exc.msg}
            return _("This is not a valid regular expression: %(error)s at position %(position)s.") % {
                "error": exc.msg,
                "position": exc.pos,
            }
        if _refers_to_groups(pattern):
            return _("Back-references, named groups and conditionals are not supported: use plain (…) or (?:…).")
        if compiled.search("") is not None:
            return _("This expression matches empty text, so it would match every listing.")
        try:
            # As it will run: one group of the policy's combined expression.
            re.compile(f"(?:(?=(?P<r0>{rule_regex(kind, pattern)})))?")
        except re.error as exc:
            return _("This expression cannot be combined with the others: %(error)s.") % {"error": exc.msg}
        return None
    normalized = normalize(pattern)
    if not normalized:
        return _("The pattern is empty once spaces and invisible characters are removed.")
    if kind == KEYWORD and " " in normalized:
        return _("A keyword is one word: make it a phrase to match several words.")
    return None


def exclusion_error(exclusion: Any) -> str | None:
    if not isinstance(exclusion, str) or not normalize(exclusion):
        return _("Each exclusion is a word or phrase of text.")
    return None


# --------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A detection rule as the matcher needs it (a ``DetectionRule`` row, or demo data)."""

    kind: str
    pattern: str
    weight: Decimal
    fields: tuple[str, ...] = FIELDS
    exclusions: tuple[str, ...] = ()
    id: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", Decimal(str(self.weight)))
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "exclusions", tuple(self.exclusions))
        error = pattern_error(self.kind, self.pattern)
        if error:
            raise ValueError(f"{self.kind} {self.pattern!r}: {error}")
        if self.weight <= 0:
            raise ValueError(f"{self.kind} {self.pattern!r}: the weight must be more than zero.")
        unknown = set(self.fields) - set(FIELDS)
        if unknown or not self.fields:
            raise ValueError(f"{self.kind} {self.pattern!r}: fields must be a non-empty subset of {FIELDS}.")

    @classmethod
    def coerce(cls, rule: RuleSpec | Mapping[str, Any]) -> RuleSpec:
        if isinstance(rule, RuleSpec):
            return rule
        known = {name: rule[name] for name in cls.__dataclass_fields__ if name in rule}
        return cls(**known)


Span = tuple[int, int, str]


@dataclass(frozen=True)
class MatchResult:
    """What the rules found in one listing.

    ``terms``: the patterns of the rules that counted, in the order they first occur
    (title, description, attributes). ``spans``: per field that matched, ``(start, end,
    term)`` offsets into the *original* text (for attributes, into ``attributes_text``),
    sorted, possibly overlapping (``asic miner`` and ``miner``).
    """

    score: Decimal
    flagged: bool
    terms: list[str] = field(default_factory=list)
    spans: dict[str, list[Span]] = field(default_factory=dict)
    rule_ids: list[int] = field(default_factory=list)


class _Alternation:
    """Many expressions searched as one: every match of each, overlapping ones included.

    ``starts`` is the alternation of them all inside a zero-width lookahead, so finditer
    stops at every position where at least one matches, including a position inside
    another's match ("miner" inside "bitcoin miner"); most texts have none and stop there.
    At each such position ``each`` tries every expression in a lookahead group of its own.
    """

    def __init__(self, expressions: list[str]) -> None:
        self.starts = re.compile(f"(?=(?:{'|'.join(expressions)}))")
        self.each = re.compile("".join(f"(?:(?=(?P<g{n}>{expression})))?" for n, expression in enumerate(expressions)))
        # Group number → position in ``expressions``: ``regs`` gives every group's span at once.
        self.groups = [(self.each.groupindex[f"g{n}"], n) for n in range(len(expressions))]

    def find(self, text: str) -> dict[int, list[tuple[int, int]]]:
        """Expression number → its spans in ``text``, for every expression that matches."""
        hits: dict[int, list[tuple[int, int]]] = {}
        each, groups = self.each, self.groups
        for start in self.starts.finditer(text):
            regs = each.match(text, start.start()).regs
            for group, number in groups:
                begin, end = regs[group]
                if end > begin >= 0:
                    hits.setdefault(number, []).append((begin, end))
        return hits


class _FieldMatcher:
    """The rules that look at one field, compiled, and their exclusions."""

    def __init__(self, rules: list[tuple[int, RuleSpec]]) -> None:
        self.rule_indexes = [index for index, _rule in rules]
        self.rules = _Alternation([rule_regex(rule.kind, rule.pattern) for _index, rule in rules])
        self.exclusion_list = sorted({exclusion for _index, rule in rules for exclusion in rule.exclusions})
        self.exclusions = _Alternation([literal_regex(x) for x in self.exclusion_list]) if self.exclusion_list else None

    def find(self, text: str) -> dict[int, list[tuple[int, int]]]:
        """Rule index (in the matcher) → spans in ``text`` (normalised)."""
        return {self.rule_indexes[number]: spans for number, spans in self.rules.find(text).items()}

    def exclusions_present(self, text: str) -> set[str]:
        if self.exclusions is None:
            return set()
        return {self.exclusion_list[number] for number in self.exclusions.find(text)}


class PolicyMatcher:
    """A policy's active rules compiled once; ``score()`` is pure Python, safe to share.

    >>> matcher = PolicyMatcher([RuleSpec("keyword", "antminer", 10)], threshold=10)
    >>> matcher.score(title="Ａｎｔｍｉｎｅｒ S19").flagged
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
        """Score one listing. ``spans=False`` skips the offsets (a bulk scan that stores only terms)."""
        texts = {TITLE: title or "", DESCRIPTION: description or "", ATTRIBUTES: attributes_text(attributes)}
        first_seen: dict[int, tuple[int, int]] = {}  # rule index → (field order, position)
        found_spans: dict[str, list[Span]] = {}
        for order, (name, matcher) in enumerate(self._fields.items()):
            original = texts[name]
            if not original:
                continue
            text = normalize(original)
            hits = matcher.find(text)
            if not hits:
                continue
            for index in self._excluded(matcher, text, hits):
                del hits[index]
            if not hits:
                continue
            for index, places in hits.items():
                # Fields go in order and finditer left to right: the first place seen is the first.
                first_seen.setdefault(index, (order, places[0][0]))
            if spans:
                found_spans[name] = self._original_spans(original, hits)
        matched = sorted(first_seen, key=first_seen.__getitem__)
        total = sum((self.rules[index].weight for index in matched), Decimal(0))
        return MatchResult(
            score=total,
            flagged=bool(matched) and total >= self.threshold,
            terms=[self.rules[index].pattern for index in matched],
            spans=found_spans,
            rule_ids=[self.rules[index].id for index in matched if self.rules[index].id is not None],
        )

    # ``matcher.match(title=…)`` reads better at some call sites: the same method.
    match = score

    def _excluded(self, matcher: _FieldMatcher, text: str, hits: dict[int, list]) -> list[int]:
        with_exclusions = [index for index in hits if self.rules[index].exclusions]
        if not with_exclusions:
            return []
        present = matcher.exclusions_present(text)
        return [index for index in with_exclusions if present.intersection(self.rules[index].exclusions)]

    def _original_spans(self, original: str, hits: dict[int, list[tuple[int, int]]]) -> list[Span]:
        _text, starts, ends = normalize_with_offsets(original)
        return sorted(
            (starts[start], ends[end - 1], self.rules[index].pattern)
            for index, places in hits.items()
            for start, end in places
        )


# --- A database-side prefilter for bulk scans -----------------------------------------
#
# Matching a million listings in Python costs a minute per core; PostgreSQL rejects the
# plainly innocent ones in about a second, if it is asked simple questions: a list of
# LIKE patterns is many times faster there than one large regex alternation. The
# prefilter is a *superset* of what the matcher can flag, so the scan loads and scores
# only the candidates and misses nothing:
# - the listing text is folded in SQL as far as SQL can (NFKC, lower case); what SQL cannot
#   fold (accents, invisible characters, casefold-only letters) makes a listing a
#   candidate outright (SUSPICIOUS_SQL_CLASS);
# - a keyword or phrase becomes a LIKE pattern with its words in order and anything
#   between them (no word boundaries, plurals or hyphen rules: each only widens the set);
# - the regular expressions run as one regex, with Python's \b and \B spelled the way
#   PostgreSQL's ARE spells them (\y, \Y), on the text with its whitespace collapsed.

SUSPICIOUS_SQL_CLASS = (
    "[\u00ad\u00c0-\u024f\u0300-\u036f\u1e00-\u1eff\u200b-\u200f\u2060\ufeff\u0370-\u03ff\u0400-\u04ff]"
)


@dataclass(frozen=True)
class SqlPrefilter:
    like_patterns: list[str]
    regex: str | None


def _like_pattern(pattern: str) -> str:
    folded = unicodedata.normalize("NFKC", pattern).lower()
    words = [word for word in re.split(r"[\s\-]+", folded) if word]
    escaped = [word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for word in words]
    return "%" + "%".join(escaped) + "%"


def sql_prefilter(rules: Iterable[RuleSpec]) -> SqlPrefilter | None:
    """What the database checks so that every listing the rules could flag gets through (None: no rule)."""
    rules = list(rules)
    if not rules:
        return None
    likes = sorted({_like_pattern(rule.pattern) for rule in rules if rule.kind != REGEX})
    regexes = [rule.pattern.replace("\\b", "\\y").replace("\\B", "\\Y") for rule in rules if rule.kind == REGEX]
    return SqlPrefilter(like_patterns=likes, regex="|".join(f"(?:{regex})" for regex in regexes) if regexes else None)
