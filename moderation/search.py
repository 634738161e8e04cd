"""The queue's text search: each review item keeps its texts folded into one column, found by substring.

A search finds an item when every word of it is inside the listing's title or description or
the merchant's store name: substrings, not words, since Chinese has no spaces ("挖矿" is inside
"以太坊显卡挖矿实战课") and a moderator types the start of a model name ("antmin").

``ReviewItem.search_text`` holds the three texts, each folded by ``fold``, one per line; a word
of a search is folded the same way and looked for with ``LIKE '%…%'``. On PostgreSQL a GIN
trigram index over the open items' column answers that (pg_trgm, migration 0034): it finds the
rows holding every trigram of the word, and LIKE checks them. Without the extension (a role that
could not create it) and on SQLite, the same condition is a scan of the open items' one column,
not of three joined tables.

Why not full-text search: a ``tsvector`` finds whole words ("antminer"), a subset of what a
substring search finds (not "antmin", nor any word of an unspaced Chinese title); the trigram
index serves both whole and partial words.

``fold`` is built so that the search stays a substring search of the original texts:

1. Each character is folded on its own, as detection's first stages fold it
   (``moderation.detection.normalize.normalize_char``: width, case, accents, invisible
   characters, look-alike letters, Traditional Chinese): a word inside a text, folded, is
   inside the folded text; and "ＡＮＴ​ＭＩＮＥＲ" is found by "antminer".
2. Each character of the unspaced scripts (Chinese, Japanese, Thai…) is written as a word of
   its own, a space on either side. pg_trgm makes trigrams of words padded with spaces, so a
   two-character Chinese word, "挖矿", has trigrams to look up (" 挖 ", "  矿"…) where the
   unspaced "挖矿" had none inside a longer run (pg_trgm needs three characters between the
   wildcards). The search word is spaced alike ("挖 矿"), so LIKE still matches exactly the
   texts that hold it.
3. Whitespace runs become one space; each text is padded with one on either side, so the
   first character of a text is a word too.

Inserting spaces and collapsing runs both map a substring to a substring, so (1)-(3) never lose
a match; they only add the ones folding stands for (case, width, look-alikes).

pg_trgm keeps the characters its database's LC_CTYPE calls letters or digits: a Chinese character
is one under C.UTF-8 and the UTF-8 locales (``show_trgm('以太坊显卡挖矿')`` gives 8 trigrams on a
C.UTF-8 cluster), not under the plain C locale. There a Chinese word has no trigram to look up and
its search reads every open item's column: the same rows, more slowly. pg_trgm is a trusted
extension since PostgreSQL 13: a role with CREATE on the database may create it.

The three texts are bounded by what a merchant may send (``sellers.limits``): the column holds
at most about 10,500 characters (twice that for a text all in Chinese), one row's GIN entries
one per distinct trigram.
"""

from __future__ import annotations

import re

from moderation.detection.normalize import UNSPACED_RANGES, normalize_char

# A store name, a title and a description: each on its own line, so no word of a search (which
# holds no line break) runs from one into the next. The store name comes first: a renamed store
# rewrites its items' first line in one UPDATE (``search_text_with_store_name``).
LINE = "\n"

# Past these, a text is cut: the limits on what a merchant sends (store names 200 characters,
# titles 300 in the column, descriptions 10,000). A text stored before a limit keeps its length
# in its own table; its search text stops there.
STORE_NAME_MAX_LENGTH = 200
TITLE_MAX_LENGTH = 300
DESCRIPTION_MAX_LENGTH = 10_000

_UNSPACED = re.compile(f"[{UNSPACED_RANGES}]")
_WHITESPACE = re.compile(r"\s+")


class _FoldTable(dict):
    """``str.translate`` table filled on first sight of each character, then C speed."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = normalize_char(chr(code))
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """``text`` as the search column holds it (or a word of a search as it is looked for)."""
    folded = text.lower() if text.isascii() else _UNSPACED.sub(r" \g<0> ", text.translate(_FOLD))
    return _WHITESPACE.sub(" ", folded)


def search_line(text: str, *, limit: int) -> str:
    """One text of the column: folded, padded with a space on either side, on one line."""
    return fold(f" {text[:limit]} ")


def search_text(*, store_name: str, title: str, description: str) -> str:
    """What ``ReviewItem.search_text`` holds for these texts."""
    return LINE.join(
        (
            search_line(store_name, limit=STORE_NAME_MAX_LENGTH),
            search_line(title, limit=TITLE_MAX_LENGTH),
            search_line(description, limit=DESCRIPTION_MAX_LENGTH),
        )
    )


def search_pattern(word: str) -> str:
    """A word of a search as LIKE looks for it; empty when nothing of it is searchable (an emoji
    folds to a space, which every text holds)."""
    folded = fold(word)
    return folded if folded.strip() else ""


def with_store_name(store_name: str):
    """The column with its first line, the store name, replaced: one UPDATE for a renamed store's
    items, whatever their number (the listings' lines are left as they are)."""
    from django.db.models import F, Value
    from django.db.models.functions import Concat, StrIndex, Substr

    return Concat(
        Value(search_line(store_name, limit=STORE_NAME_MAX_LENGTH)),
        Substr(F("search_text"), StrIndex(F("search_text"), Value(LINE))),
    )
