"""Reads for the review queue: the page, its header figures, an item with its merchant's history."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from backoffice.roles import Role, has_role
from moderation.models import AuditEvent, Notice, ReviewItem, Violation


def queue_base(user) -> QuerySet[ReviewItem]:
    """What a user may see in the queue: moderators the moderators' tier, seniors both."""
    items = ReviewItem.objects.select_related("listing", "policy", "merchant", "marketplace", "category", "claimed_by")
    if not has_role(user, Role.SENIOR_MODERATOR):
        items = items.filter(tier=ReviewItem.Tier.MODERATOR)
    return items


def page_of(queryset: QuerySet, *, page: int, size: int) -> tuple[list, bool]:
    """One page and whether another follows, without counting the whole queue.

    Fetches ``size + 1`` rows: the extra one only says "there is a next page".
    """
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], len(rows) > size


# The header's counts read every open item: with a hundred thousand of them that is the
# page's largest cost, so they are shared by everyone for this many seconds.
QUEUE_HEADER_CACHE_SECONDS = 10


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

    figures = dict(
        cache.get_or_set(f"queue-header:{'senior' if senior else 'moderator'}", count, QUEUE_HEADER_CACHE_SECONDS)
    )
    figures["oldest_age"] = (timezone.now() - figures["oldest"]) if figures["oldest"] else None
    return figures


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
