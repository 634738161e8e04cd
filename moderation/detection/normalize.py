"""Normalisation: the one step that undoes a seller's disguises before any rule is matched.

The same function folds listings, the rules' words and their exclusions, so both sides
meet in one form. Its stages, each a function of its own (and tested alone):

1. ``fold_char`` (per character): Unicode NFKC, so full-width ``ＡＳＩＣ``, mathematical
   ``𝐁𝐢𝐭𝐜𝐨𝐢𝐧`` and circled ``ⓑ`` are plain letters; case folding; Latin, Greek and
   Cyrillic accents dropped (pinyin tone marks with them: ``kuàngjī`` is ``kuangji``);
   invisible characters dropped (zero-width spaces and joiners, soft hyphens, variation
   selectors): ``Ant​miner`` is ``antminer``; emoji and other pictographs become a space,
   so ``Bit🔥coin`` is ``bit coin``; enclosed and regional-indicator letters (🅑, 🇧) are
   letters.
2. ``skeleton_char``: letters of other scripts that look like a Latin letter become it
   (TR39 confusables, Latin targets only): Cyrillic ``Вітсоіп`` is ``bitcoin``. Letters
   of the unspaced scripts (Chinese, Japanese…) are never touched, nor is ASCII.
3. ``simplify_char``: Traditional Chinese characters become Simplified (OpenCC's table):
   ``礦機`` is ``矿机``.
4. Whitespace: every run becomes one space, trimmed at both ends.
5. ``join_split_letters``: letters written one by one with separators between them are
   joined: ``b i t c o i n``, ``m.i.n.e.r``, ``b-t-c``, ``m_i_n_e_r``, ``矿 机`` (three single
   letters or digits in a row, two for Chinese characters; the separators are spaces,
   dots, dashes, underscores, asterisks, bullets, tildes and quotes, up to three between
   two letters, and the same all along: ``m_i_n_e_r f_i_r_m`` is two words). Then every
   underscore left is a space, so ``bitcoin_miner`` is two words.
6. ``decode_leetspeak``: digits and symbols standing for letters inside a word
   (``b1tc0in``, ``m!ner``, ``4ntminer``) are read as those letters. Model codes look
   the same (``m30s`` is a miner, ``s19`` too), so this stage never replaces the text: it
   gives a second *view* of the same length, matched beside the first (see ``views``).

Stages 1–3 act on single characters, so they are composed into one ``str.translate``
table filled on first sight of each character: C speed after warm-up. Every stage is
linear in the text: the translate table is one pass, and the two regular expressions
below take bounded steps at each position (no nested unbounded repetition).

``normalize_with_offsets`` gives the same text and, per character, the span of the
original it came from, so matches can be highlighted in what the seller wrote.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import cache
from itertools import accumulate, islice
from pathlib import Path

import re2

DATA = Path(__file__).resolve().parent / "data"

# Scripts written without spaces between words: a pattern in them matches as a substring,
# and their characters are word boundaries for Latin words next to them. Thai and Lao,
# Myanmar, Khmer; CJK radicals, ideographic iteration marks and numerals, kana, bopomofo,
# CJK ideographs and their extensions, Hangul, compatibility ideographs.
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

# Combining diacritics of Latin, Greek and Cyrillic (accents, cedillas, umlauts, tone marks).
_DIACRITIC_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
# Variation selectors (emoji vs text style): invisible, like the format characters.
_INVISIBLE_BLOCKS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180F))
# Letters drawn as pictographs, a to z: negative circled (🅐), negative squared (🅰),
# regional indicators (🇦, which pair up into flags).
_PICTURE_LETTERS = (0x1F150, 0x1F170, 0x1F1E6)


def _prefilter_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


def has_unspaced_script(text: str) -> bool:
    return _UNSPACED.search(text) is not None


def _in_blocks(code: int, blocks: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in blocks)


# --- Stage 1: fold -------------------------------------------------------------------


def fold_char(char: str) -> str:
    """One character with width, case, accents and invisibles folded: may be empty or longer.

    The result stays decomposed (NFKD) rather than recomposed: text is folded character
    by character (which is what maps it back to the original), and a decomposed form
    needs no composition across characters, so half-width ``ｶﾞ`` (two characters) and
    ``ガ`` (one) fold alike, as do Hangul syllables and their jamo.
    """
    code = ord(char)
    category = unicodedata.category(char)
    if category == "Cf" or _in_blocks(code, _INVISIBLE_BLOCKS):
        return ""
    for first in _PICTURE_LETTERS:
        if first <= code < first + 26:
            return chr(ord("a") + code - first)
    compatible = unicodedata.normalize("NFKC", char)
    if compatible == char and (category in ("So", "Co", "Cs") or (category == "Sk" and not char.isascii())):
        # Emoji and pictographs separate words the way a space does (skin-tone modifiers are
        # Sk); a symbol that stands for a letter (ⓑ, ⒝, 🄱, ㍱) is that letter.
        return " "
    if compatible != char and category == "So":
        compatible = compatible.strip("().")  # ⒝ is (b), ⒈ is 1.: the letter or digit they enclose
    return _strip_diacritics(unicodedata.normalize("NFKD", compatible.casefold()))


def _strip_diacritics(decomposed: str) -> str:
    return "".join(c for c in decomposed if not _in_blocks(ord(c), _DIACRITIC_BLOCKS))


# --- Stage 2: confusables ------------------------------------------------------------


@cache
def _latin_confusables() -> dict[str, str]:
    table = {}
    for line in (DATA / "latin_confusables.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            _code, char, latin, _name = line.split("\t")
            table[char] = latin
    return table


def skeleton_char(char: str) -> str:
    """A letter of another script that looks like a Latin letter, as that letter; others unchanged.

    Looked up in the character's own case (Greek ``Ν`` looks like N, ``ν`` like v), so
    this stage runs on the character before case folding.
    """
    if char.isascii():
        return char
    return _latin_confusables().get(unicodedata.normalize("NFKC", char), char)


# --- Stage 3: Traditional to Simplified Chinese --------------------------------------


@cache
def _traditional_to_simplified() -> dict[str, str]:
    table = {}
    for line in (DATA / "traditional_chinese.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            traditional, simplified = line.split("\t")
            table[traditional] = simplified
    return table


def simplify_char(char: str) -> str:
    """A Traditional Chinese character as its Simplified form; any other character unchanged."""
    return _traditional_to_simplified().get(char, char)


# --- Stages 1-3 composed -------------------------------------------------------------


def normalize_char(char: str) -> str:
    """Stages 1 to 3 on one character: what ``normalize`` makes of it before whitespace and joins.

    The look-alike is looked up on the letter without its accents (Cyrillic ``ї`` is ``i``)
    but in its own case (before folding: Greek ``Ν`` is n, ``ν`` is v).
    """
    base = _strip_diacritics(unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char)))
    latin = skeleton_char(base) if len(base) == 1 else base
    if latin != base:
        return latin
    return "".join(simplify_char(folded) for folded in fold_char(char))


class _CharTable(dict):
    """``str.translate`` table filled on first sight of each character, then C speed."""

    def __missing__(self, code: int) -> str:
        normalized = self[code] = normalize_char(chr(code))
        return normalized


_TABLE = _CharTable()


def _fold(text: str) -> str:
    # ASCII needs only lower case: the common case, at C speed from the start.
    return text.lower() if text.isascii() else text.translate(_TABLE)


# --- Stage 5: letters split by separators --------------------------------------------

# A letter or digit of any script (``\w`` without the underscore, which stage 1 made a space).
_ALNUM = r"[^\W_]"
_SEPARATOR = "[ ._\\-*·•∙~'\"`]"
# A word spelt out: single letters or digits with the same separator between each two
# (three or more; two for Chinese and other unspaced characters). Each step is bounded
# (the separator is at most three characters, the back-reference repeats it), so each
# position is tried in constant time. The first is not preceded by a letter, and each
# later one not followed by one.
_SPLIT_RUN = re.compile(
    f"(?<!{_ALNUM}){_ALNUM}(?P<sep>{_SEPARATOR}{{1,3}}){_ALNUM}(?!{_ALNUM})(?:(?P=sep){_ALNUM}(?!{_ALNUM}))+"
    f"|(?<!{_ALNUM})[{UNSPACED_RANGES}](?P<pair>{_SEPARATOR}{{1,3}})[{UNSPACED_RANGES}](?!{_ALNUM})"
)


def _separator(run: re.Match) -> str:
    return run.group("sep") or run.group("pair")


def _join_run(run: re.Match) -> str:
    return run.group().replace(_separator(run), "")


# What a spelt-out word needs at least (two single letters and a separator), for RE2: it
# rules out most texts ten times faster than the full expression above would.
_MAY_BE_SPELT_OUT = re2.compile(
    r"(?:^|[^\pL\pN])[\pL\pN][ ._\-*·•∙~'\"`]{1,3}[\pL\pN](?:[^\pL\pN]|$)", _prefilter_options()
)


def join_split_letters(text: str) -> str:
    """Stage 5 alone: ``b i t c o i n`` → ``bitcoin`` (see the module docstring)."""
    if not _MAY_BE_SPELT_OUT.search(text) or not _SPLIT_RUN.search(text):
        return text
    return _SPLIT_RUN.sub(_join_run, text)


# --- Stage 6: leetspeak --------------------------------------------------------------

LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_LEET_CHARS = "[0134578@$!|]"
# Up to three stand-ins between two letters (b1tc01n, m!ner), or one or two at the start
# of a word before a letter (4ntminer, 0s); longer digit runs are numbers.
_LEET_RUN = re.compile(f"(?<=[a-z]){_LEET_CHARS}{{1,3}}(?=[a-z])|(?<![a-z0-9]){_LEET_CHARS}{{1,2}}(?=[a-z])")


# More stand-ins than this in one text and it is read whole: every digit and symbol as a
# letter. Only a text built to be slow has so many, and the first view keeps its numbers.
LEET_RUNS_READ_ONE_BY_ONE = 64


# The same two shapes for RE2, neighbours consumed: it rules out most texts at C speed.
_MAY_HAVE_LEET = re2.compile(
    f"[a-z]{_LEET_CHARS}{{1,3}}[a-z]|(?:^|[^a-z0-9]){_LEET_CHARS}{{1,2}}[a-z]", _prefilter_options()
)


def decode_leetspeak(text: str) -> str:
    """Stage 6 alone: the text with stand-in digits and symbols read as letters; same length."""
    if not _MAY_HAVE_LEET.search(text):
        return text
    runs = sum(1 for _run in islice(_LEET_RUN.finditer(text), LEET_RUNS_READ_ONE_BY_ONE + 1))
    if not runs:
        return text
    if runs > LEET_RUNS_READ_ONE_BY_ONE:
        return text.translate(LEET)
    return _LEET_RUN.sub(lambda run: run.group().translate(LEET), text)


# --- The whole step ------------------------------------------------------------------


def normalize(text: str) -> str:
    """Stages 1 to 5: the text as rules are matched against it (its first view)."""
    folded = " ".join(_fold(text).split())
    return join_split_letters(folded).replace("_", " ")


VIEW_SEPARATOR = "\n"


def views(normalized: str) -> str:
    """What the matcher reads: the normalised text, and its leetspeak reading on a second line
    when it differs. Rules never match across a line (the engine runs with ``never_nl``)."""
    decoded = decode_leetspeak(normalized)
    return normalized if decoded == normalized else f"{normalized}{VIEW_SEPARATOR}{decoded}"


class _Origins:
    """Where each character of a normalised text came from, computed per lookup.

    A listing is up to tens of thousands of characters and a highlight needs a handful of
    positions: rather than lists as long as the text (a Python loop per character), each
    stage that changes lengths records how, and a position is mapped back by binary search
    through the stages, last to first:

    - stages 1-3: the cumulative folded length after each original character, when some
      character folds to none or several (None when every one folds to one);
    - stage 4: each cut of whitespace, as (first position after it, characters cut so far);
    - stage 5: each spelt-out word, as (start, end, start in the input, step, characters
      cut so far): its letters were ``step`` apart before the separators went.
    """

    def __init__(self, text: str, folded_ends: list[int] | None) -> None:
        self.text = text
        self.folded_ends = folded_ends
        self.space_cuts: list[tuple[int, int]] = []
        self.words: list[tuple[int, int, int, int, int]] = []

    def original(self, position: int) -> int:
        """The original character behind normalised character ``position``."""
        index = bisect_right(self.words, (position, float("inf"))) - 1
        if index >= 0:
            start, end, source, step, cut = self.words[index]
            position = source + (position - start) * step if position < end else position + cut
        index = bisect_right(self.space_cuts, (position, float("inf"))) - 1
        if index >= 0:
            position += self.space_cuts[index][1]
        if self.folded_ends is None:
            return position
        return min(bisect_right(self.folded_ends, position), len(self.text) - 1)


class _Positions(Sequence):
    """``starts`` or ``ends`` of ``normalize_with_offsets``: a list to read, computed on access."""

    def __init__(self, origins: _Origins, length: int, *, end: bool) -> None:
        self.origins, self.length, self.end = origins, length, end

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.length))]
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        position = self.origins.original(index)
        if not self.end:
            return position
        # An accent or an invisible character after it goes with it: "e\u0301" is highlighted whole.
        text, position = self.origins.text, position + 1
        while position < len(text) and not _TABLE[ord(text[position])]:
            position += 1
        return position


# Whitespace that stage 4 cuts: at both ends, and all but the first of each run.
_WHITESPACE_CUTS = re.compile(r"^\s+|\s+$|(?<=\s)\s+")
_SPACE = re.compile(r"\s")


def normalize_with_offsets(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """``normalize(text)`` and, per character of it, the span of ``text`` it came from.

    ``starts[k]:ends[k]`` is the original character behind normalised character ``k`` (one
    original character may give several: ``ﬁ`` → ``fi``, both mapped to it). The sequences
    are computed on access, so a few positions of a long text cost a few binary searches.
    """
    if text.isascii():
        folded, folded_ends = text.lower(), None
    else:
        folded = text.translate(_TABLE)
        folded_ends = None
        if text.translate(_UNIT):  # some character folds to none or several
            folded_ends = list(accumulate(map(len, map(_TABLE.__getitem__, map(ord, text)))))
    origins = _Origins(text, folded_ends)
    cut = 0
    for found in _WHITESPACE_CUTS.finditer(folded):
        cut += found.end() - found.start()
        origins.space_cuts.append((found.end() - cut, cut))
    if origins.space_cuts:
        folded = _WHITESPACE_CUTS.sub("", folded)
    folded = _SPACE.sub(" ", folded)
    if _MAY_BE_SPELT_OUT.search(folded) and _SPLIT_RUN.search(folded):
        folded = _SPLIT_RUN.sub(_recording_joins(origins), folded)
    normalized = folded.replace("_", " ")
    return normalized, _Positions(origins, len(normalized), end=False), _Positions(origins, len(normalized), end=True)


def _recording_joins(origins: _Origins):
    cut = 0

    def join(run: re.Match) -> str:
        nonlocal cut
        separator = _separator(run)
        joined = run.group().replace(separator, "")
        start = run.start() - cut
        cut += len(run.group()) - len(joined)
        origins.words.append((start, start + len(joined), run.start(), len(separator) + 1, cut))
        return joined

    return join


class _UnitTable(dict):
    """Characters that stages 1-3 turn into exactly one character map to "", others to themselves."""

    def __missing__(self, code: int) -> str:
        unit = self[code] = "" if len(_TABLE[code]) == 1 else chr(code)
        return unit


_UNIT = _UnitTable()
