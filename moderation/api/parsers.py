"""The sellers' API's JSON parser: DRF's, answering JSON nested too deep to read with a 400."""

from __future__ import annotations

import io
import json
import re

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# A member named in an answer is one a serializer could have: never an arbitrary string (a lone
# surrogate in a name would break the answer itself).
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,49}")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 a body nested deeper than Python's json module reads.

    That module recurses once per level of nesting and raises RecursionError past the interpreter's
    limit (a thousand frames, less the stack already in use: about 900 levels in a request); DRF
    lets it through as a server error. When the body is an object, the answer names the member that
    is too deep, as a serializer would (``{"attributes": [...]}``); a member nested a little less
    deep is read, and its field refuses it (no field of this API takes more than two levels).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            pass  # the stack is unwound by now: answering is safe
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        member = _too_deep_member(body.decode(encoding))  # decoded once already: it decodes
        if member is None:
            raise ParseError(_("JSON parse error - the body is nested too deeply to be read."))
        raise ParseError({member: [_("This value is nested too deeply to be read.")]})


def _too_deep_member(text: str) -> str | None:
    """The name of the member of the body's top-level object that is too deep to decode, if there is one.

    The object is walked member by member (``raw_decode`` reads one value); any surprise in its
    syntax gives up with None, and the caller answers without a name.
    """
    decoder = json.JSONDecoder()
    skip = json.decoder.WHITESPACE.match
    index = skip(text, 0).end()
    if not text.startswith("{", index):
        return None
    index += 1
    try:
        while True:
            index = skip(text, index).end()
            if not text.startswith('"', index):  # a name is a string: nothing else is decoded here
                return None
            name, index = decoder.raw_decode(text, index)
            index = skip(text, index).end()
            if not text.startswith(":", index):
                return None
            try:
                _value, index = decoder.raw_decode(text, skip(text, index + 1).end())
            except RecursionError:
                return name if _FIELD_NAME.fullmatch(name) else None
            index = skip(text, index).end()
            if not text.startswith(",", index):
                return None
            index += 1
    except ValueError:  # a JSONDecodeError: not this walk's business
        return None
