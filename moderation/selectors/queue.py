"""Reads for the review queue: the page, its header figures, an item with its merchant's history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import BooleanField, Case, Count, Min, Q, QuerySet, Value, When
from django.utils import timezone

from backoffice.roles import Role, has_role
from moderation.models import AuditEvent, Notice, ReviewItem, Violation
from moderation.tiers import may_work_tier


def queue_base(user) -> QuerySet[ReviewItem]:
    """What a user may see in the queue: moderators the moderators' tier, seniors both."""
    items = ReviewItem.objects.select_related("listing", "policy", "merchant", "marketplace", "category", "claimed_by")
    if not may_work_tier(user, ReviewItem.Tier.SENIOR):  # seniors see every tier: no condition at all
        items = items.filter(tier=ReviewItem.Tier.MODERATOR)
    return items


def page_of(queryset: QuerySet, *, page: int, size: int) -> tuple[list, bool]:
    """One page and whether another follows, without counting the whole queue.

    Fetches ``size + 1`` rows: the extra one only says "there is a next page".
    """
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], len(rows) > size


def page_by_ids(queryset: QuerySet, *, page: int, size: int) -> tuple[list, bool]:
    """``page_of`` for rows sorted after they are found (a search, ``ReviewItemFilter.qs``): the
    page's ids from the item table alone, then those rows with their joins.

    In one query PostgreSQL may join every matching item to five tables before it sorts them
    (a search that most items match: 100,000 rows joined for a page of 50); sorting ids first,
    it joins the page's rows only.
    """
    offset = (page - 1) * size
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + size + 1])
    rows = queryset.in_bulk(ids[:size])
    return [rows[pk] for pk in ids[:size] if pk in rows], len(ids) > size  # one decided meanwhile: gone


# The header's counts read every open item: with a hundred thousand of them that is the
# page's largest cost, so they are shared by everyone for this many seconds.
QUEUE_HEADER_CACHE_SECONDS = 10


def _header_key(senior: bool) -> str:
    return f"queue-header:{'senior' if senior else 'moderator'}"


def queue_header(user) -> dict:
    """Counts per status and the oldest open item: one query over the open items, cached briefly."""
    senior = has_role(user, Role.SENIOR_MODERATOR)

    def count() -> dict:
        now = timezone.now()
        items = ReviewItem.objects.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED])
        if not senior:
            items = items.filter(tier=ReviewItem.Tier.MODERATOR)
        return items.aggregate(
            open=Count("id", filter=Q(status=ReviewItem.Status.OPEN)),
            claimed=Count("id", filter=Q(status=ReviewItem.Status.CLAIMED)),
            overdue=Count("id", filter=Q(due_at__lt=now)),
            escalated=Count("id", filter=Q(tier=ReviewItem.Tier.SENIOR)),
            oldest=Min("created_at"),
        )

    cached = cache.get_or_set(_header_key(senior), count, QUEUE_HEADER_CACHE_SECONDS)
    assert cached is not None  # count() always answers a dict
    figures = dict(cached)
    figures["oldest_age"] = (timezone.now() - figures["oldest"]) if figures["oldest"] else None
    return figures


# Beside an option, a count says "about this many"; past this it says "1,000+".
OPTION_COUNT_CAP = 1000
# The option counts are a second view of the same open items as the header: as fresh, as cheap.
OPTION_COUNTS_CACHE_SECONDS = QUEUE_HEADER_CACHE_SECONDS
_GROUP_COLUMNS = ("status", "tier", "policy_id", "marketplace_id", "category_id", "source", "mine", "free", "late")


def _open_item_groups(user, narrowed: QuerySet) -> list[dict]:
    """The open items grouped by every facet's column at once: one GROUP BY, a few hundred rows.

    The rows are few (policies x marketplaces x categories x sources x the three flags), so each
    filter's option counts are then sums in Python: one query for all filters, not one per filter
    (nor one per option).
    """
    now = timezone.now()
    open_now = narrowed.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED])
    rows = (
        open_now.annotate(
            mine=Case(
                When(status=ReviewItem.Status.CLAIMED, claimed_by=user, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            # As the "Unclaimed" filter reads it: nobody holds it, or the claim has lapsed.
            free=Case(
                When(Q(status=ReviewItem.Status.OPEN) | Q(claimed_until__lt=now), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            late=Case(When(due_at__lt=now, then=Value(True)), default=Value(False), output_field=BooleanField()),
        )
        .order_by()  # an ordering column would join the GROUP BY
        .values(*_GROUP_COLUMNS)
        .annotate(rows=Count("id"), oldest=Min("created_at"))
    )
    return list(rows)


def _matches(group: dict, name: str, value) -> bool:
    """Whether a group of open items is among what filter ``name`` set to ``value`` shows."""
    if value is None or value in ("open", "anyone"):
        return True  # no choice, or a choice every open item meets
    if name == "status":
        return group["status"] == value
    if name == "assigned":
        return group["mine"] if value == "me" else group["free"]
    if name == "overdue":
        return group["late"] is value
    if name in ("policy", "marketplace", "category"):
        return group[f"{name}_id"] == value.pk
    return group[name] == value


def _option_value(group: dict, name: str) -> list:
    """The options of filter ``name`` that show this group (as the form's values)."""
    if name == "status":
        return ["open", "claimed"] if group["status"] == ReviewItem.Status.CLAIMED else ["open"]
    if name == "assigned":
        return ["anyone"] + (["me"] if group["mine"] else []) + (["unassigned"] if group["free"] else [])
    if name == "overdue":
        return ["true" if group["late"] else "false"]
    if name in ("policy", "marketplace", "category"):
        return [group[f"{name}_id"]]
    return [group[name]]


def queue_option_counts(user, filterset) -> dict[str, dict] | None:
    """How many rows each option of each queue filter would show, with the other filters as chosen.

    1. The open items the search, score and date filters select are grouped by every facet's
       column (one query), cached for a few seconds per user and narrowing.
    2. For each facet, the groups that meet every *other* facet's choice are summed per option:
       choosing that option shows that many rows.

    None while the status filter shows decided items: those are history, unbounded, and counting
    them on every page view is what the queue must not do. When nothing narrows the rows, the
    groups also give the header's figures, which are then not read a second time.
    """
    selected = filterset.selected()
    if selected["status"] not in ("open", ReviewItem.Status.CLAIMED):
        return None
    senior = has_role(user, Role.SENIOR_MODERATOR)
    narrowing = filterset.narrowing_key()
    digest = hashlib.sha256(narrowing.encode()).hexdigest()[:32]
    key = f"queue-options:{user.pk}:{'senior' if senior else 'moderator'}:{digest}"
    groups = cache.get(key)
    if groups is None:
        groups = _open_item_groups(user, filterset.narrowed())
        cache.set(key, groups, OPTION_COUNTS_CACHE_SECONDS)
        if not filterset.narrows():
            cache.add(_header_key(senior), _header_of(groups), QUEUE_HEADER_CACHE_SECONDS)
    counts: dict[str, dict] = {}
    for name in filterset.FACETS:
        others = {other: value for other, value in selected.items() if other != name}
        per_option: dict = {}
        for group in groups:
            if all(_matches(group, other, value) for other, value in others.items()):
                for option in _option_value(group, name):
                    per_option[option] = per_option.get(option, 0) + group["rows"]
        counts[name] = per_option
    return counts


def _header_of(groups: list[dict]) -> dict:
    """The header's figures, from the groups of every open item the user may see."""
    oldest = [group["oldest"] for group in groups]
    return {
        "open": sum(group["rows"] for group in groups if group["status"] == ReviewItem.Status.OPEN),
        "claimed": sum(group["rows"] for group in groups if group["status"] == ReviewItem.Status.CLAIMED),
        "overdue": sum(group["rows"] for group in groups if group["late"]),
        "escalated": sum(group["rows"] for group in groups if group["tier"] == ReviewItem.Tier.SENIOR),
        "oldest": min(oldest) if oldest else None,
    }


def item_detail(item_id: int) -> ReviewItem:
    return (
        ReviewItem.objects.select_related(
            "listing__category__parent",
            "policy",
            "merchant__marketplace",
            "claimed_by",
            "decided_by",
            "escalated_by",
            "clause",
        )
        .prefetch_related("notes__author", "policy__clauses", "rule_links__rule")
        .get(pk=item_id)
    )


def item_for_decision(item_id: int) -> ReviewItem:
    """An item as a decision needs it: its policy's clauses (the form's choices and the notice's
    text), listing and merchant; not the notes, rules and history its page shows."""
    return (
        ReviewItem.objects.select_related("listing", "policy", "merchant__marketplace", "clause")
        .prefetch_related("policy__clauses")
        .get(pk=item_id)
    )


def merchant_history(item: ReviewItem, *, limit: int = 20) -> dict:
    """What a moderator weighs: the merchant's earlier items, violations and notices."""
    merchant = item.merchant
    return {
        "items": ReviewItem.objects.filter(merchant=merchant)
        .exclude(pk=item.pk)
        .select_related("listing", "policy", "decided_by")
        .order_by("-created_at")[:limit],
        "violations": Violation.objects.filter(merchant=merchant).select_related("policy", "listing")[:limit],
        "notices": Notice.objects.filter(merchant=merchant).only("subject", "kind", "created_at")[:limit],
        "events": AuditEvent.objects.filter(target_id=item.pk, target_type__model="reviewitem").order_by("occurred_at"),
    }


@dataclass(frozen=True)
class ItemEvidence:
    """What a moderator decides on: the listing's current text scored now, and what changed.

    Highlights are always computed on the text shown (never positions stored for another
    version); when the listing changed since the item opened, the diff says how.
    """

    spans: dict
    words: list[str]
    labels: list[str]
    changed: bool
    flagged_version: int | None
    current_version: int
    diff: list[tuple[str, str]]  # (mark, line): "-" only in the flagged version, "+" only now, " " both


def item_evidence(item: ReviewItem) -> ItemEvidence:
    from moderation.selectors.detection import policy_matcher
    from sellers.versions import content_of, version_content

    listing = item.listing
    result = policy_matcher(item.policy).score(
        title=listing.title, description=listing.description, attributes=listing.attributes
    )
    changed = item.version is not None and item.version != listing.version
    diff: list[tuple[str, str]] = []
    if changed:
        flagged = version_content(listing, item.version)
        if flagged is not None:
            diff = content_diff(flagged, content_of(listing))
    return ItemEvidence(
        spans={name: [list(span) for span in spans] for name, spans in result.spans.items()},
        words=result.words,
        labels=result.labels,
        changed=changed,
        flagged_version=item.version,
        current_version=listing.version,
        diff=diff,
    )


def _content_lines(content: dict) -> list[str]:
    from sellers.models import Category

    category = Category.objects.filter(pk=content["category"]).values_list("name", flat=True).first()
    lines = [f"Title: {content['title']}", f"Category: {category}"]
    lines += [f"Description: {line}" for line in (content["description"] or "").splitlines() or [""]]
    attributes = content["attributes"] if isinstance(content["attributes"], dict) else {}
    lines += [f"Attribute {key}: {value}" for key, value in attributes.items()]
    return lines


def content_diff(flagged: dict, current: dict) -> list[tuple[str, str]]:
    """The two versions line by line (title, category, description lines, attributes), marked."""
    from difflib import ndiff

    return [
        (line[0], line[2:])
        for line in ndiff(_content_lines(flagged), _content_lines(current))
        if line[:1] in ("-", "+", " ")
    ]
