"""The "3 similar" badges of the queue and the item page.

Template tags rather than view context so that the queue's views stay as they are: each tag is one
query (``moderation.selectors.duplicates``), the queue page's for all its rows at once.
"""

from __future__ import annotations

from django import template

from moderation.selectors.duplicates import COUNT_CAP, open_member_counts, visible_member_count

register = template.Library()


@register.simple_tag
def similar_counts(items, user) -> dict[int, int]:
    """``{% similar_counts items request.user as similar %}``: open members per group, one query for the page."""
    return open_member_counts(user, items)


@register.filter
def similar_for(counts: dict[int, int], item) -> int:
    """The open members of the item's group, itself included (0 when it has no group)."""
    return counts.get(item.duplicate_group_id, 0) if item.duplicate_group_id else 0


@register.simple_tag
def similar_listings(item, user) -> int:
    """``{% similar_listings item request.user as similar %}``: the members of the item's group the user may see."""
    return visible_member_count(user, item)


@register.filter
def similar_figure(count: int) -> str:
    """A capped count as shown: "100+" once it reaches the cap."""
    return f"{COUNT_CAP}+" if count >= COUNT_CAP else str(count)
