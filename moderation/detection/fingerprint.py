"""Content fingerprints: how the queue tells that two listings say the same or nearly the same thing.

Pure functions, no database: ``moderation.services.duplicates`` stores what they compute and
groups review items by it as they arrive.

1. **Text.** The title and the description, each through the detection's one normalisation
   (``matcher.normalize_field``): case, width, accents, invisible characters, look-alike
   letters, Traditional Chinese and spelt-out words are folded exactly as rules see them, so a
   copy disguised with zero-width spaces or Cyrillic letters is still a copy. The raw texts are
   cut first (``MAX_TITLE``, ``MAX_DESCRIPTION``: older rows may be longer than the catalog's
   limits) and the normalised text to ``MAX_TEXT`` characters, so a fingerprint costs the same for
   a 2 MB description as for a long one. Two listings that agree on that much are the same content.
2. **Tokens.** Words of the spaced scripts (runs of letters and digits), and each character of
   the scripts written without spaces (Chinese, Japanese, Thai…: ``has_unspaced_script``), so
   Chinese is compared in character n-grams and English in word n-grams, in one pass, mixed
   texts included. Punctuation and emoji separate tokens and count for nothing.
3. **Shingles.** Every token and every pair of neighbouring tokens (unigrams and bigrams): the
   pairs keep the order, the single tokens keep short texts comparable ("one word changed" in a
   fifteen-word listing still shares 80 % of its shingles). At most ``MAX_SHINGLES``, the first
   ones in reading order: the cost is bounded whatever the seller sends.
4. **Exact key.** A 64-bit BLAKE2b of the tokens: equal keys, the same words in the same order.
5. **MinHash signature.** ``SIGNATURE_SIZE`` minima of independent hashes over the shingles: the
   share of equal positions of two signatures estimates the Jaccard similarity of their shingle
   sets (standard error about 0.05 at 64 positions). The 64 hashes of a shingle are 16-bit
   slices of two BLAKE2b-512 digests, unpacked at C speed, and the minima are taken column-wise
   by ``min`` over ``zip`` (C loops too): about a tenth of a millisecond for a typical listing,
   where 64 Python-level multiply-mod hashes per shingle cost ten times that, and one SHAKE-128
   digest of 256 bytes (32-bit values) half as much again (measured). Sixteen bits are enough:
   two different shingles' minima coincide by chance about once in a few hundred positions at
   the 512 shingles of the longest text, a bias of under 0.01 in the estimate.
   Deterministic: hashlib, never Python's ``hash()``, which is salted per process.
6. **LSH bands.** The signature cut into ``BANDS`` bands of ``ROWS_PER_BAND`` values, each band
   made a 64-bit key (the band's mask XORed in, so one index on the key serves every band). Two
   texts share at least one band key with probability 1 - (1 - J⁴)¹⁶: 99.8 % at a similarity J of
   0.75, 64 % at 0.5, 12 % at 0.3. A shared key only makes a *candidate*; the
   estimated similarity (``similarity``) must then reach ``SIMILARITY_THRESHOLD``.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from operator import eq, xor

from moderation.detection.matcher import DESCRIPTION, TITLE, normalize_field
from moderation.detection.normalize import UNSPACED_RANGES

SIGNATURE_SIZE = 64
BANDS = 16
ROWS_PER_BAND = SIGNATURE_SIZE // BANDS
# Listings at least this similar (estimated Jaccard of their shingles) are near-duplicates. Listings
# that share three quarters of their words and word pairs are one listing edited: one word changed
# in fifteen leaves 0.8. Below 0.8 because the estimate scatters by about 0.05: at 0.8 a pair truly
# 0.82 alike would be told apart one time in three, and a wave of copies would split into many groups.
SIMILARITY_THRESHOLD = 0.75
# Bounds on what one fingerprint reads: the title column's width and the start of the description
# (512 shingles take at most 512 tokens: a few thousand characters of English, 512 of Chinese; reading
# the catalog's whole 10,000 characters would only cost time), then the normalised text.
MAX_TITLE = 300
MAX_DESCRIPTION = 4_000
MAX_TEXT = 6_000
MAX_SHINGLES = 512

_SIGNATURE = struct.Struct(f"<{SIGNATURE_SIZE}H")  # two bytes per position: 128 bytes
_BANDS = struct.Struct(f"<{BANDS}q")  # the same bytes, a signed 64-bit integer per band of four positions
# A fixed random mask per band (BLAKE2b of its number): deterministic, never stored apart from the keys.
_BAND_MASKS = tuple(
    int.from_bytes(hashlib.blake2b(bytes([band]), digest_size=8, person=b"dup-band").digest(), "little", signed=True)
    for band in range(BANDS)
)
# A token: one character of an unspaced script, or a run of letters and digits of the others.
# One character class per branch, no nesting: linear in the text.
_TOKEN = re.compile(f"[{UNSPACED_RANGES}]|[^\\W_{UNSPACED_RANGES}]+")
# Between the two tokens of a pair: a character normalisation never leaves in a token.
_PAIR = "\x1f"


def _signed_64(digest: bytes) -> int:
    """Eight bytes as a signed 64-bit integer: what a PostgreSQL ``bigint`` holds."""
    return int.from_bytes(digest, "little", signed=True)


def normalized_text(title: str, description: str) -> str:
    """The title and description as the rules read them, one line each, bounded (stages 1 and the cut)."""
    text = (
        normalize_field(TITLE, (title or "")[:MAX_TITLE])
        + "\n"
        + normalize_field(DESCRIPTION, (description or "")[:MAX_DESCRIPTION])
    )
    return text[:MAX_TEXT]


def tokens(text: str) -> list[str]:
    """Words of spaced scripts and single characters of unspaced ones, in reading order.

    No more than ``MAX_SHINGLES``: each token makes at least one shingle, so later ones are never read.
    """
    return [found.group() for found in islice(_TOKEN.finditer(text), MAX_SHINGLES)]


def shingles(words: list[str]) -> list[str]:
    """Each token and each pair of neighbours, first occurrence only, in reading order, bounded."""
    units: dict[str, None] = {}
    previous = None
    for word in words:
        if len(units) >= MAX_SHINGLES:
            break
        units.setdefault(word)
        if previous is not None:
            units.setdefault(f"{previous}{_PAIR}{word}")
        previous = word
    return list(units)[:MAX_SHINGLES]


def minhash(units: list[str]) -> tuple[int, ...]:
    """The MinHash signature of a non-empty set of shingles (see the module docstring, step 5)."""
    rows = []
    for unit in units:
        data = unit.encode("utf-8", "surrogatepass")
        digest = (
            hashlib.blake2b(data, person=b"dup-min-1").digest() + hashlib.blake2b(data, person=b"dup-min-2").digest()
        )
        rows.append(_SIGNATURE.unpack(digest))
    return tuple(map(min, zip(*rows, strict=True)))


def similarity(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """The estimated Jaccard similarity of two signatures: the share of positions where they agree."""
    return sum(map(eq, first, second)) / SIGNATURE_SIZE


@dataclass(frozen=True)
class Fingerprint:
    """What is kept of a listing's content to find its near-duplicates."""

    exact_key: int
    signature: tuple[int, ...]

    @cached_property
    def band_keys(self) -> tuple[int, ...]:
        """One key per band: its four 16-bit values as one 64-bit integer, XORed with the band's own
        mask, so keys of different bands never meet (but by a 2⁻⁶⁴ chance) and no hashing is needed."""
        return tuple(map(xor, _BANDS.unpack(self.signature_bytes()), _BAND_MASKS))

    def signature_bytes(self) -> bytes:
        return _SIGNATURE.pack(*self.signature)

    def similarity_to(self, signature: tuple[int, ...]) -> float:
        return similarity(self.signature, signature)


def signature_from_bytes(stored: bytes | memoryview) -> tuple[int, ...]:
    return _SIGNATURE.unpack(bytes(stored))


def fingerprint(title: str, description: str) -> Fingerprint | None:
    """The listing's fingerprint; None when nothing of its text is left to compare.

    A title made only of emoji or invisible characters normalises to nothing: such listings are
    not "the same content" as each other, so they are never grouped.
    """
    words = tokens(normalized_text(title, description))
    units = shingles(words)
    if not units:
        return None
    # Over the words, not the text: a copy that differs only in punctuation or spacing is exact.
    content = " ".join(words).encode("utf-8", "surrogatepass")
    exact_key = _signed_64(hashlib.blake2b(content, digest_size=8, person=b"dup-exact").digest())
    return Fingerprint(exact_key=exact_key, signature=minhash(units))
