"""Reads for assignment: who may be handed an item, and what is handed to a moderator."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from backoffice.roles import IMPLIED_BY
from moderation.models import ReviewItem
from moderation.selectors.queue import queue_base
from moderation.tiers import role_for_tier


def eligible_assignees(item: ReviewItem) -> QuerySet:
    """Active people who may decide ``item``: its tier's role (or one implying it), or a superuser.

    The same answer as ``has_role`` (which ``assign_item`` asks), as one query for the form's select.
    """
    role = role_for_tier(item.tier)
    names = [implied.value for implied in IMPLIED_BY[role]]
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name__in=names), is_active=True)
        .distinct()
        .order_by("username")
    )


def assigned_to(user) -> QuerySet[ReviewItem]:
    """The open items assigned to ``user`` that they may work now ("Assigned to me").

    Scoped like the queue: an item escalated after it was assigned to a moderator leaves
    their list (the seniors decide it). Uses ``review_open_assigned_idx``.
    """
    return (
        queue_base(user)
        .filter(assigned_to=user, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED])
        .order_by("-priority", "id")
    )
