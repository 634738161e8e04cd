"""Rules as expressions for RE2, the linear-time engine every rule runs on.

Why RE2 (``google-re2``): it guarantees time linear in the text for any pattern it
accepts, because it never backtracks; it runs a whole rule set in one pass (``re2.Set``)
and reports which rules matched; and its wheels exist for x86-64 and ARM alike.
Hyperscan is faster still on thousands of patterns, but runs on x86 only, reports match
starts only in a restricted mode, and our rule sets are dozens of patterns, where one
RE2 pass already costs about a microsecond.

What RE2 refuses is refused when a rule is saved (``pattern_error``), in words that say
what to write instead: lookaround, back-references, atomic groups, possessive
quantifiers, repetition counts over 1,000, and anything that matches empty text.

How a keyword or phrase becomes an expression (``literal_regex``):

- Its text is normalised like a listing's (``normalize``), so rules and listings meet
  in one form: ``Ａｎｔｍｉｎｅｒ`` and ``antminer`` are the same rule.
- Written in a script without spaces (Chinese…), it matches as a substring, with a space
  or hyphen where the pattern has one (a word spelt out in single characters, 矿 机, is
  joined by normalisation); Chinese words of two or more characters also match their
  pinyin, with or without spaces or tone numbers (``矿机``: ``kuangji``, ``kuang ji``,
  ``kuang4ji1``; tone marks are folded away by normalisation).
- Otherwise it matches whole words (``\\b``, ASCII word boundaries: a Chinese character
  next to it is a boundary, so ``矿机s19`` has the word ``s19``); a space or hyphen in it
  matches a space, hyphen, dot or nothing (``mining rig``, ``mining-rig``, ``miningrig``;
  ``sha-256``, ``sha256``).
- A single word of five letters or more also matches when split once or more by a
  space, dot or hyphen (``ant miner``, ``bit-coin``): sellers split brand names to slip
  past word lists, and a long word rarely arises by accident from two others.
- A word ending in a letter also matches its simple plural (``-s``/``-es``).

A *regex* rule runs as written, case-insensitively, on the normalised text (lower
case, half-width, no accents, single spaces): write ``\\d+ ?th/s``, not ``ＴＨ``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import re2
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from moderation.detection.normalize import has_unspaced_script, normalize

KEYWORD, PHRASE, REGEX = "keyword", "phrase", "regex"
KINDS = (KEYWORD, PHRASE, REGEX)

# Split-tolerant words: at least this many letters (see the module docstring).
SPLIT_TOLERANT_LENGTH = 5
_PLURAL = "(?:e?s)?"
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
# RE2 keeps a compiled program in this much memory at most; a pattern that needs more is refused.
MAX_PROGRAM_MEMORY = 8 << 20


def engine_options() -> re2.Options:
    options = re2.Options()
    options.never_nl = True  # a match never spans two lines: views and attribute lines stay apart
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_MEMORY
    return options


@cache
def _pinyin(word: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin  # only when a rule is compiled: its dictionary is large

    return lazy_pinyin(word, style=Style.NORMAL, errors="ignore")


def pinyin_regex(word: str) -> str | None:
    """The pinyin spelling of a Chinese word of two characters or more, as an expression; else None."""
    if len(word) < 2 or not _HAN.match(word):
        return None
    syllables = _pinyin(word)
    if len(syllables) != len(word) or not all(s.isascii() and s.isalpha() for s in syllables):
        return None
    return "\\b" + "[1-5]?[ \\-']?".join(re2.escape(s) for s in syllables) + "[1-5]?\\b"


def literal_regex(pattern: str) -> str:
    """The expression a keyword, phrase or exclusion becomes (see the module docstring)."""
    normalized = normalize(pattern)
    if has_unspaced_script(normalized):
        # A space or hyphen only where the pattern has one: "金矿 机器" (a gold mine, machines) is
        # two words, not 矿机. A word split into single characters (矿 机) is joined by normalisation.
        body = "".join("[ .\\-]?" if char in " -" else re2.escape(char) for char in normalized)
        pinyin = pinyin_regex(normalized)
        return f"(?:{body}|{pinyin})" if pinyin else body
    split_tolerant = normalized.isalpha() and normalized.isascii() and len(normalized) >= SPLIT_TOLERANT_LENGTH
    parts = []
    for position, char in enumerate(normalized):
        if char == " " or char == "-":
            parts.append("[ .\\-]?")
        else:
            if split_tolerant and position:
                parts.append("[ .\\-]?")
            parts.append(re2.escape(char))
    body = "".join(parts)
    first, last = normalized[0], normalized[-1]
    head = "\\b" if first.isascii() and first.isalnum() else ""
    plural = _PLURAL if last.isalpha() else ""
    tail = "\\b" if last.isascii() and last.isalnum() else ""
    return f"{head}{body}{plural}{tail}"


def rule_regex(kind: str, pattern: str) -> str:
    if kind == REGEX:
        return f"(?i:{pattern})"
    return literal_regex(pattern)


# What RE2 cannot run, found in the pattern's text, and what to write instead.
_UNSUPPORTED = (
    (
        re.compile(r"\(\?<?[=!]"),
        gettext_lazy(
            "Lookahead and lookbehind are not supported (matching stays linear in the text). Match the "
            "neighbouring text itself, or use \\b for a word boundary: write \\bminer\\b, not (?<![a-z])miner(?![a-z])."
        ),
    ),
    (
        re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=|\\k<"),
        gettext_lazy(
            "Back-references are not supported (matching stays linear in the text). Repeat the text, or list "
            "the alternatives: (ab|cd) instead of (a|c)\\1."
        ),
    ),
    (
        re.compile(r"\(\?>|(?<!\\)[*+?}]\+"),
        gettext_lazy(
            "Atomic groups and possessive quantifiers are not needed: the engine never backtracks. Write the "
            "plain quantifier (a+ instead of a++ or (?>a+))."
        ),
    ),
    (
        re.compile(r"\(\?\("),
        gettext_lazy("Conditionals are not supported: write the alternatives with |."),
    ),
)


# Texts on which an expression that can match nothing shows it (``\\b``, ``(?:btc)?\\b``, ``x*``).
EMPTY_MATCH_PROBES = ("", " ", "a", "hello world", "1", "矿")


def regex_error(pattern: str) -> str | None:
    """Why RE2 refuses a regular expression, in words for the policy admin; None if it runs."""
    for found, message in _UNSUPPORTED:
        if found.search(pattern):
            return str(message)
    try:
        compiled = re2.compile(rule_regex(REGEX, pattern), engine_options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "repetition" in detail:
            return _("Repetition counts are limited to 1,000 in all ({n,m} nested multiply): %(error)s.") % {
                "error": detail
            }
        if "too large" in detail or "out of memory" in detail:
            return _("This expression is too large to run; split it into several rules.")
        return _("This is not a valid regular expression: %(error)s.") % {"error": detail}
    for probe in EMPTY_MATCH_PROBES:
        found = compiled.search(probe)
        if found is not None and found.end() == found.start():
            return _("This expression matches empty text, so it would match every listing.")
    return None


def pattern_error(kind: str, pattern: str) -> str | None:
    """Why a rule's pattern cannot be used, in words for the policy admin; None if it can."""
    if kind not in KINDS:
        return _("Unknown kind “%(kind)s”: choose one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(KINDS)}
    if not pattern or not pattern.strip():
        return _("Enter a pattern.")
    if kind == REGEX:
        return regex_error(pattern)
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
