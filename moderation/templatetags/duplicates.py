"""The "3 similar" badges of the queue and the item page: how a count is shown.

The counts themselves are read by the views (``moderation.selectors.duplicates``): one query for
the queue page's rows, one for an item.
"""

from __future__ import annotations

from django import template

from moderation.selectors.duplicates import COUNT_CAP

register = template.Library()


@register.filter
def similar_for(counts: dict[int, int], item) -> int:
    """The open members of the item's group, itself included (0 when it has no group)."""
    return counts.get(item.duplicate_group_id, 0) if item.duplicate_group_id else 0


@register.filter
def similar_figure(count: int) -> str:
    """A capped count as shown: "100+" once it reaches the cap."""
    return f"{COUNT_CAP}+" if count >= COUNT_CAP else str(count)
