"""Template helpers for the back office."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def highlight(text: str, spans) -> str:
    """The text, HTML-escaped, with the matched spans wrapped in <mark>.

    A listing's title is hostile input: every piece of it is escaped, and only our own
    <mark> tags are trusted. Spans are [start, end, term] offsets into the original text.
    """
    text = text or ""
    pieces = []
    position = 0
    for span in sorted(spans or [], key=lambda s: (s[0], -s[1])):
        start, end = int(span[0]), int(span[1])
        term = span[2] if len(span) > 2 else ""
        if start < position or start >= end or end > len(text):
            continue  # overlapping or stale span: the text stays plain there
        pieces.append(escape(text[position:start]))
        pieces.append(f'<mark title="{escape(term)}">{escape(text[start:end])}</mark>')
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))  # noqa: S308 - every piece above is escaped


@register.filter
def field_spans(spans, field: str):
    return (spans or {}).get(field, [])
