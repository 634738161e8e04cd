"""Reads for duplicate groups: the "3 similar" figures and the group page.

Everything goes through ``queue_base(user)``: a moderator never sees, counts or decides a member
escalated to the senior moderators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import IntegerField, OuterRef, Subquery

from moderation.models import DuplicateGroup, ReviewItem
from moderation.selectors.queue import queue_base

OPEN = [ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED]
# Counted up to this many, then "100+": a wave of copies may put thousands in one group, and the
# queue page counts the groups of every row it shows.
COUNT_CAP = 100
# The group page shows this many open members at most (the first by priority), and this many of
# the decided ones (the latest): a moderator decides what they see, then the next ones appear.
OPEN_SHOWN = 60
DECIDED_SHOWN = 12
# A card shows the start of the description.
EXCERPT_LENGTH = 280


class _CappedCount(Subquery):
    """``(SELECT COUNT(*) FROM (<subquery with LIMIT>))``: a count that stops at the cap."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS capped)"
    output_field = IntegerField()


def _capped_counts(user, group_ids: Iterable[int], **member_filters) -> dict[int, int]:
    """Members of each group the user may see, up to ``COUNT_CAP``: one query for all the groups.

    Each count reads at most ``COUNT_CAP`` index entries of its group (review_open_group_idx for
    open members), so a group of ten thousand copies costs what a group of a hundred does.
    """
    ids = sorted({group_id for group_id in group_ids if group_id is not None})
    if not ids:
        return {}
    members = (
        queue_base(user).filter(duplicate_group=OuterRef("pk"), **member_filters).order_by().values("pk")[:COUNT_CAP]
    )
    rows = DuplicateGroup.objects.filter(pk__in=ids).annotate(members=_CappedCount(members))
    return dict(rows.values_list("pk", "members"))


def open_member_counts(user, items: Iterable[ReviewItem]) -> dict[int, int]:
    """For the queue page: the open members the user may see of each row's group, by group id."""
    groups = (item.duplicate_group_id for item in items if item.duplicate_group_id is not None)
    return _capped_counts(user, groups, status__in=OPEN)


def visible_member_count(user, item: ReviewItem) -> int:
    """For the item page: how many members of the item's group the user may see, any status, this one included."""
    if item.duplicate_group_id is None:
        return 0
    return _capped_counts(user, [item.duplicate_group_id]).get(item.duplicate_group_id, 0)


@dataclass(frozen=True)
class MemberCard:
    """One member as its card shows it: the matched words highlighted where the spans still fit."""

    item: ReviewItem
    title_spans: list
    excerpt: str
    excerpt_spans: list
    truncated: bool


@dataclass(frozen=True)
class GroupPage:
    group: DuplicateGroup
    open_members: list[MemberCard]
    decided_members: list[MemberCard]
    more_open: bool  # more open members than shown

    @property
    def policies(self) -> list:
        """The policies of the open members shown, each once (the clause choice needs exactly one)."""
        return list({card.item.policy_id: card.item.policy for card in self.open_members}.values())


def _card(item: ReviewItem) -> MemberCard:
    listing = item.listing
    # Spans point into the version the item judged: on a listing edited since, they would mark
    # the wrong words, so its card shows the text plain (the item page scores it again).
    current = item.version is None or item.version == listing.version
    spans = (item.spans or {}) if current else {}
    description = listing.description or ""
    excerpt = description[:EXCERPT_LENGTH]
    return MemberCard(
        item=item,
        title_spans=spans.get("title", []),
        excerpt=excerpt,
        excerpt_spans=[span for span in spans.get("description", []) if int(span[1]) <= len(excerpt)],
        truncated=len(description) > EXCERPT_LENGTH,
    )


def group_page(user, group_id: int) -> GroupPage | None:
    """The group and the members the user may see; None when it does not exist or shows nobody."""
    group = DuplicateGroup.objects.filter(pk=group_id).first()
    if group is None:
        return None
    members = queue_base(user).filter(duplicate_group=group).select_related("clause", "decided_by")
    open_rows = list(members.filter(status__in=OPEN).order_by("-priority", "id")[: OPEN_SHOWN + 1])
    decided_rows = list(members.filter(status=ReviewItem.Status.DECIDED).order_by("-decided_at", "-id")[:DECIDED_SHOWN])
    if not open_rows and not decided_rows:
        return None
    return GroupPage(
        group=group,
        open_members=[_card(item) for item in open_rows[:OPEN_SHOWN]],
        decided_members=[_card(item) for item in decided_rows],
        more_open=len(open_rows) > OPEN_SHOWN,
    )
