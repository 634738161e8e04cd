"""The limits on what a merchant sends in a listing: the figures, and the one check of them.

The merchant is the adversary (DESIGN.md §3.9): every text has a length limit, and characters
that PostgreSQL cannot store (NUL, a lone UTF-16 surrogate) or that only serve to hide text (the
other C0 control characters) are refused, in attribute names as in values; so is a required text
(the title, an attribute's name) made only of invisible characters (zero-width spaces, bidi
controls: ``backoffice.text.has_visible_text``). ``sellers.services`` checks a listing here before
anything else runs, content detection included; the model's validators hold ``full_clean()`` and
the Django admin to the same figures; the sellers' API declares them in its schema.

Each check costs at most one pass over what was sent and stops at the first problem of a text
(a 2 MB description costs one length comparison). Attributes are looked at two levels deep and
no further, without recursion: whatever is nested below is refused, not walked.
"""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.deconstruct import deconstructible
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text

# Amazon's limit for most categories; Alibaba.com and AliExpress stop at 128. The larger figure, so
# that a title a seller already uses on another marketplace fits. The column holds 300 characters:
# titles stored before this limit keep their length.
TITLE_MAX_LENGTH = 200

# Amazon takes 2,000 characters of product description; a wholesale listing carries its
# specifications, packing and trade terms there too, so five times that. The figure also bounds the
# cost of content detection, which is linear in the length of the text it reads.
DESCRIPTION_MAX_LENGTH = 10_000

# eBay accepts at most 45 item specifics on a listing; a little room above that.
ATTRIBUTES_MAX_COUNT = 50

# eBay's item specific names are at most 65 characters; room for a name given in two languages
# ("颜色 / Colour").
ATTRIBUTE_NAME_MAX_LENGTH = 100

# eBay's item specific values are at most 65 characters; a value here may be a short free text (the
# models a spare part fits), so more room, still far below a description. A number is held to as
# many digits.
ATTRIBUTE_VALUE_MAX_LENGTH = 500

# A value may be a list of scalars (the sizes, colours or voltages on offer), as an eBay item
# specific may take several values; twenty covers a size chart.
ATTRIBUTE_LIST_MAX_ITEMS = 20

# All attributes together, written as compact JSON: no bigger than the description. Without it, 50
# names with 20 values of 500 characters would be half a megabyte.
ATTRIBUTES_MAX_JSON_LENGTH = 10_000

# The C0 control characters but tab, line feed and carriage return (NUL cannot be stored in
# PostgreSQL; the others hide or reorder text), and the UTF-16 surrogates: a surrogate left in a
# Python string is a lone one (JSON's "\ud83d\ude00" decodes to one character), which PostgreSQL
# refuses and no UTF-8 encoder writes.
_REFUSED_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_FIRST_SURROGATE = "\ud800"

# An integer of more bits than this has more than ATTRIBUTE_VALUE_MAX_LENGTH digits: refused without
# writing it out (which Python refuses past 4,300 digits, and does in quadratic time).
_NUMBER_MAX_BITS = math.ceil(ATTRIBUTE_VALUE_MAX_LENGTH * math.log2(10)) + 1


class _NotGiven(enum.Enum):
    NOT_GIVEN = enum.auto()


NOT_GIVEN = _NotGiven.NOT_GIVEN
"""A field ``validate_listing_content`` is not asked to check (``None`` is a value: no title, no attributes)."""


# --- the checks ----------------------------------------------------------------------------------


def _text_problem(value: Any, *, what: str, limit: int, required: bool = False) -> str | None:
    """What is wrong with one text (``what`` names it, e.g. "the title"), or None.

    The length is compared before a character is read, so an over-long text costs nothing more.
    """
    if not isinstance(value, str):
        return _("%(what)s is not text.") % {"what": capfirst(what)}
    if len(value) > limit:
        return _("%(what)s is %(length)s characters long; at most %(limit)s are allowed.") % {
            "what": capfirst(what),
            "length": len(value),
            "limit": limit,
        }
    if required and not value.strip():
        return _("%(what)s cannot be blank.") % {"what": capfirst(what)}
    refused = _REFUSED_CHARACTER.search(value)
    if refused is None:
        # Zero-width spaces, joiners, bidi controls pass strip(): a required text must show something.
        if required and not has_visible_text(value):
            return _("%(what)s cannot be only invisible characters.") % {"what": capfirst(what)}
        return None
    character = refused.group()
    # The character is named by its code point, never echoed: a NUL or a lone surrogate in an
    # answer would break the answer too.
    values = {"what": capfirst(what), "code": f"U+{ord(character):04X}", "position": refused.start() + 1}
    if character < _FIRST_SURROGATE:
        return (
            _(
                "%(what)s contains the control character %(code)s at character %(position)s: "
                "only tab, line feed and carriage return are allowed."
            )
            % values
        )
    return (
        _("%(what)s contains %(code)s at character %(position)s, a lone UTF-16 surrogate, which is not valid text.")
        % values
    )


def _scalar_problem(value: Any, *, what: str) -> str | None:
    """What is wrong with an attribute's value, or an item of its list, taken as a scalar; or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _text_problem(value, what=what, limit=ATTRIBUTE_VALUE_MAX_LENGTH)
    if isinstance(value, int):
        if value.bit_length() > _NUMBER_MAX_BITS or len(str(value)) > ATTRIBUTE_VALUE_MAX_LENGTH:
            return _("%(what)s is a number of more than %(limit)s digits.") % {
                "what": capfirst(what),
                "limit": ATTRIBUTE_VALUE_MAX_LENGTH,
            }
        return None
    if isinstance(value, float):
        # NaN and infinities are not JSON: PostgreSQL's jsonb refuses them.
        return None if math.isfinite(value) else _("%(what)s is not a finite number.") % {"what": capfirst(what)}
    return _("%(what)s is not text, a number, true or false, or null.") % {"what": capfirst(what)}


def _value_problem(value: Any, *, name: str) -> str | None:
    """What is wrong with the value of the attribute ``name``, or None: a scalar, or a flat list of them."""
    what = _("the value of “%(name)s”") % {"name": name}
    if isinstance(value, dict):
        return _("%(what)s is an object: a value is text, a number, true or false, null, or a list of those.") % {
            "what": capfirst(what)
        }
    if not isinstance(value, list):
        return _scalar_problem(value, what=what)
    if len(value) > ATTRIBUTE_LIST_MAX_ITEMS:
        return _("%(what)s lists %(count)s items; at most %(limit)s are allowed.") % {
            "what": capfirst(what),
            "count": len(value),
            "limit": ATTRIBUTE_LIST_MAX_ITEMS,
        }
    for number, item in enumerate(value, start=1):
        item_what = _("item %(number)s of the value of “%(name)s”") % {"number": number, "name": name}
        if isinstance(item, list | dict):
            # The second level is the last: what is nested below it is refused here, never walked.
            return _("%(what)s is a list or an object: a list holds only text, numbers, true or false, and null.") % {
                "what": capfirst(item_what)
            }
        problem = _scalar_problem(item, what=item_what)
        if problem:
            return problem
    return None


def title_problems(value: Any) -> list[str]:
    problem = _text_problem(value, what=_("the title"), limit=TITLE_MAX_LENGTH, required=True)
    return [problem] if problem else []


def description_problems(value: Any) -> list[str]:
    problem = _text_problem(value, what=_("the description"), limit=DESCRIPTION_MAX_LENGTH)
    return [problem] if problem else []


def attributes_problems(value: Any) -> list[str]:
    """Everything wrong with a listing's attributes (one message per attribute at most), or []."""
    if not isinstance(value, dict):
        return [_("The attributes must be an object of names to values.")]
    if len(value) > ATTRIBUTES_MAX_COUNT:
        return [
            _("There are %(count)s attributes; at most %(limit)s are allowed.")
            % {"count": len(value), "limit": ATTRIBUTES_MAX_COUNT}
        ]
    problems = []
    for number, (name, item) in enumerate(value.items(), start=1):
        # Named by position: the name itself is what is wrong, and may not be printable.
        problem = _text_problem(
            name,
            what=_("attribute name %(number)s") % {"number": number},
            limit=ATTRIBUTE_NAME_MAX_LENGTH,
            required=True,
        ) or _value_problem(item, name=name)
        if problem:
            problems.append(problem)
    if problems:
        return problems
    # Every part is within its limits by now, so this is at most a few hundred kilobytes to write.
    length = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if length > ATTRIBUTES_MAX_JSON_LENGTH:
        return [
            _("The attributes take %(length)s characters written as JSON; at most %(limit)s are allowed.")
            % {"length": length, "limit": ATTRIBUTES_MAX_JSON_LENGTH}
        ]
    return []


_PROBLEMS = {"title": title_problems, "description": description_problems, "attributes": attributes_problems}


def validate_listing_content(
    *, title: Any = NOT_GIVEN, description: Any = NOT_GIVEN, attributes: Any = NOT_GIVEN
) -> None:
    """Refuse a listing's title, description or attributes past the limits, with a message per field.

    Only the fields given are checked. ``attributes=None`` is no attributes, as the services take it.
    Raises ``ValidationError`` with a dict of field → messages.
    """
    given = {"title": title, "description": description, "attributes": {} if attributes is None else attributes}
    errors = {
        field: problems
        for field, value in given.items()
        if value is not NOT_GIVEN and (problems := _PROBLEMS[field](value))
    }
    if errors:
        raise ValidationError(errors)


# --- validators for model and serializer fields ------------------------------------------------------


@deconstructible(path="sellers.limits.ListingTextValidator")
class ListingTextValidator(MaxLengthValidator):
    """The limits of a listing's ``title`` or ``description`` as a field validator.

    A ``MaxLengthValidator``, so that the OpenAPI schema shows its limit as ``maxLength``; it checks
    the characters (and that a title is not blank) as well, in the words the services use. The
    figure is read from this module, not stored in migrations.
    """

    def __init__(self, field: str) -> None:
        if field not in {"title", "description"}:
            raise ValueError(f"no text limits for the listing field {field!r}")
        self.field = field
        super().__init__(TITLE_MAX_LENGTH if field == "title" else DESCRIPTION_MAX_LENGTH)

    def __call__(self, value: Any) -> None:
        problems = _PROBLEMS[self.field](value)
        if problems:
            raise ValidationError(problems)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListingTextValidator) and other.field == self.field

    def __hash__(self) -> int:
        return hash((ListingTextValidator, self.field))


validate_title = ListingTextValidator("title")
validate_description = ListingTextValidator("description")


def validate_attributes(value: Any) -> None:
    """The limits of a listing's ``attributes`` as a field validator."""
    problems = attributes_problems(value)
    if problems:
        raise ValidationError(problems)
