"""Reads for the queue's saved views, and the one cleaning of a queue query string that views and bulk share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.http import QueryDict

from moderation.filters import SEARCH_MAX_LENGTH, ReviewItemFilter
from moderation.models import ReviewItem, SavedQueueView

# The keys a saved view (or a "select all matching" bulk decision) may carry: the queue's filters,
# search and ordering, in the order they are declared. Never ``page``, never anything else.
QUERY_KEYS = tuple(ReviewItemFilter.base_filters)
# Ids, choices, dates, scores and orderings are a few characters; a value past this is not one of them.
VALUE_MAX_LENGTH = 64
# A search is cut to SEARCH_MAX_LENGTH once cleaned; what arrives is read up to this many characters.
SEARCH_INPUT_MAX_LENGTH = 4 * SEARCH_MAX_LENGTH


def _last_values(data: Mapping | str) -> dict[str, str]:
    """The last value of each known key (as the filters read a repeated key), the rest dropped."""
    if isinstance(data, str):
        # Read by hand, not QueryDict: a long "&&&…" would raise TooManyFieldsSent there.
        pairs = parse_qsl(data[: SavedQueueView.QUERY_MAX_LENGTH * 2], keep_blank_values=False)
        data = dict(pairs)
    values = {}
    for key in QUERY_KEYS:
        value = data.get(key)
        if isinstance(value, str) and (value := value.strip()):
            values[key] = value
    return values


def queue_query_of(data: Mapping | str, form=None) -> str:
    """The queue's filters in ``data`` as a query string that holds nothing else.

    Only the filter keys are kept, each once; a value is kept only when the queue's own filter
    form accepts it (an unknown policy id, a made-up ordering, a date that is no date are
    dropped) and it is short; the search is kept as the filter cleans it (controls out, 200
    characters). ``form`` is the queue page's filter form when it has been validated already.
    """
    values = _last_values(data)
    if "q" in values:
        values["q"] = values["q"][:SEARCH_INPUT_MAX_LENGTH]  # a long search finds less, as on the queue page
    values = {key: value for key, value in values.items() if key == "q" or len(value) <= VALUE_MAX_LENGTH}
    if form is None:
        query = QueryDict(mutable=True)
        query.update(values)
        form = ReviewItemFilter(query, queryset=ReviewItem.objects.none()).form
    form.is_valid()
    kept = []
    for key, value in values.items():
        if key in form.errors:
            continue
        if key == "q":
            value = form.cleaned_data.get("q") or ""
            if not value:
                continue
        kept.append((key, value))
    return urlencode(kept)


def clean_queue_query(data: Mapping | str) -> str:
    """``queue_query_of`` for a query that no filter form has read yet."""
    return queue_query_of(data)


@dataclass
class QueueViews:
    """What the queue page lists: the user's own views, and those others share."""

    mine: list[SavedQueueView] = field(default_factory=list)
    shared: list[SavedQueueView] = field(default_factory=list)


# A user has at most SavedQueueView.MAX_PER_OWNER views of their own; shared ones past this are not listed.
SHARED_VIEWS_SHOWN = 100


def _visible_to(user) -> QuerySet[SavedQueueView]:
    return SavedQueueView.objects.filter(Q(owner=user) | Q(shared=True))


def queue_views_for(user) -> QueueViews:
    """The user's views and the others' shared ones, by name: one query, mine first."""
    rows = (
        _visible_to(user)
        .select_related("owner")
        .annotate(theirs=Case(When(owner=user, then=Value(0)), default=Value(1)))
        .order_by("theirs", Lower("name"), "id")[: SavedQueueView.MAX_PER_OWNER + SHARED_VIEWS_SHOWN]
    )
    views = QueueViews()
    for view in rows:
        (views.mine if view.owner_id == user.pk else views.shared).append(view)
    return views


def visible_view(user, view_id: int) -> SavedQueueView:
    """One view the user may see (their own, or shared); ``SavedQueueView.DoesNotExist`` otherwise."""
    return _visible_to(user).select_related("owner").get(pk=view_id)


def views_owned_by(user) -> list[SavedQueueView]:
    """The user's own views, by name (the page where they are renamed)."""
    return list(SavedQueueView.objects.filter(owner=user).order_by(Lower("name"), "id"))
