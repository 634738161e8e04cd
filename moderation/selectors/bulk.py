"""Reads for bulk decisions: the items a selection names, and "every item these filters select"."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict

from moderation.filters import ReviewItemFilter
from moderation.models import ReviewItem
from moderation.selectors.queue import queue_base

# Only these can be decided; "select all matching" never takes a decided item, whatever the status filter.
DECIDABLE = (ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED)


@dataclass(frozen=True)
class MatchingCount:
    """How many decidable items the filters select, counted up to ``limit`` (``more``: past it)."""

    count: int
    more: bool


def matching_count(filterset, option_counts: dict | None, *, limit: int) -> MatchingCount:
    """The decidable items the queue page's filters select, for its "Select all N matching items".

    While the queue shows open items the page's option counts already hold the figure (the
    status filter's chosen option counts every other filter as chosen): no query. Otherwise
    (all statuses) one count bounded by ``limit``; decided items alone have nothing to decide.
    """
    status = filterset.selected()["status"]
    if option_counts is not None and status in ("open", ReviewItem.Status.CLAIMED):
        count = option_counts["status"].get(status, 0)
    elif status == ReviewItem.Status.DECIDED:
        count = 0
    else:
        count = filterset.qs.filter(status__in=DECIDABLE).order_by().values("pk")[: limit + 1].count()
    return MatchingCount(count=min(count, limit), more=count > limit)


@dataclass(frozen=True)
class Resolved:
    """The ids "select all matching" stands for, in the queue's order; ``more``: the limit cut some off."""

    ids: list[int]
    more: bool


def matching_item_ids(user, query: str, *, limit: int) -> Resolved:
    """The decidable items ``query`` (a cleaned queue query string) selects, as the queue shows them.

    The same FilterSet and the same visibility as the queue page (``queue_base``): a moderator's
    "all" never reaches an item escalated to the seniors. The first ``limit`` in the queue's order.
    """
    filterset = ReviewItemFilter(QueryDict(query), queryset=queue_base(user), user=user)
    rows = list(filterset.qs.filter(status__in=DECIDABLE).values_list("pk", flat=True)[: limit + 1])
    return Resolved(ids=rows[:limit], more=len(rows) > limit)


def visible_items(user, ids: list[int], *, decidable_only: bool) -> list[ReviewItem]:
    """The items among ``ids`` the user may see in the queue, in the queue's default order."""
    items = queue_base(user).filter(pk__in=ids)
    if decidable_only:
        items = items.filter(status__in=DECIDABLE)
    return list(items.order_by("-priority", "id"))
