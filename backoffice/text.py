"""Text that people send and text that the project sends: one place for what is invisible and what is neutralised.

Two concerns, used across the apps:

- **Refusing invisible text where text is required.** A reason, an appeal's grounds or a listing's
  title made only of zero-width spaces, joiners, a byte-order mark, bidi controls or blanks passes
  ``str.strip()`` and every length check, and says nothing. ``has_visible_text`` is the one test;
  ``validate_visible_text`` is its validator (forms, serializers and model fields take it), and
  ``VisibleTextFormMixin`` puts it on every text field of a form.
- **Neutralising what we e-mail.** A subject is one line, whatever the merchant put in a listing's
  title (a line break there would end the subject and start the body, or be refused by the mail
  library); bidi override and isolate characters, which reorder what a reader sees ("‮gnp.exe"
  reads as "exe.png"), and control characters are taken out of subjects and bodies.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# --- invisible text ------------------------------------------------------------------------------

# Control and format characters (zero-width space, joiners, word joiner, BOM, bidi controls, soft
# hyphen, tags), surrogates, and every kind of space and line or paragraph separator.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
# Combining marks have nothing to sit on when nothing visible is there (variation selectors and the
# combining grapheme joiner are marks too): they count as visible only beside a visible character.
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
# Letters and symbols that render as blanks: the Hangul fillers and the braille blank, favourites
# for padding a text that must not look empty to a program.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")

INVISIBLE_ONLY_MESSAGE = _("This field cannot be only invisible characters.")


def _is_visible(character: str) -> bool:
    if character in _BLANK_LOOKING:
        return False
    category = unicodedata.category(character)
    return category not in _INVISIBLE_CATEGORIES and category not in _MARK_CATEGORIES


def has_visible_text(value: str) -> bool:
    """Whether ``value`` has at least one character a reader sees.

    Stops at the first visible character: an ordinary text costs a few lookups, a text of 10,000
    invisible characters one pass (about a millisecond).
    """
    return any(_is_visible(character) for character in value)


def validate_visible_text(value: Any) -> None:
    """Refuse a non-empty text without a visible character (an empty one is the ``required`` check's)."""
    if isinstance(value, str) and value and not has_visible_text(value):
        raise ValidationError(INVISIBLE_ONLY_MESSAGE, code="invisible")


class VisibleTextFormMixin:
    """A form whose every text field refuses text made only of invisible characters.

    Put first among the bases. Django's ``CharField`` strips ordinary whitespace only; zero-width
    spaces, joiners and bidi controls would pass its ``required`` and ``min_length`` checks. Fields
    added later (in a subclass's ``__init__``) are covered too: the validator is added at the end of
    ``__init__``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and validate_visible_text not in field.validators:
                field.validators.append(validate_visible_text)


# --- what we e-mail --------------------------------------------------------------------------------

# Bidi embeddings, overrides (U+202A–U+202E) and isolates (U+2066–U+2069): they reorder the text
# around them. The marks (LRM, RLM, ALM) only nudge neutral characters and are kept: right-to-left
# names need them.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Everything that ends a line somewhere: CR, LF, VT, FF, the C0 separators, NEL, and the Unicode line
# and paragraph separators (Python's str.splitlines() splits on each).
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"\r\n|[{_LINE_BREAKS}]")
# C0 and C1 control characters and DEL, but tab and the line breaks above; and the bidi controls.
_DROPPED = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f\x80-\x84\x86-\x9f\ud800-\udfff{BIDI_CONTROLS}]")
_BLANKS = re.compile(r"\s+")

# RFC 5322 advises lines of at most 78 characters; a subject is folded past that, which every
# client reads back. 200 keeps a long listing title readable in an inbox, and fits Notice.subject.
SUBJECT_MAX_LENGTH = 200


def neutralise_text(text: str) -> str:
    """A body as it may be e-mailed: line breaks as ``\\n``, no control or bidi override character.

    Tabs stay; every other control character and the bidi embeddings, overrides and isolates go.
    """
    return _DROPPED.sub("", _LINE_BREAK.sub("\n", text))


def one_line(text: str, *, max_length: int | None = None) -> str:
    """``text`` on one line: line breaks and blanks as single spaces, trimmed, controls dropped.

    Cut at ``max_length`` characters, the last of them "…", when it is longer.
    """
    line = _BLANKS.sub(" ", _DROPPED.sub("", _LINE_BREAK.sub(" ", text))).strip()
    if max_length is not None and len(line) > max_length:
        line = line[: max_length - 1].rstrip() + "…"
    return line


def email_subject(text: str) -> str:
    """A subject as it may be e-mailed: one line of at most ``SUBJECT_MAX_LENGTH`` characters."""
    return one_line(text, max_length=SUBJECT_MAX_LENGTH)
