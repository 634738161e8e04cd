"""Reads about policies: what they hit, which policy retired a category."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count, Prefetch, QuerySet

from moderation.models import EscalationStep, PointsRule, Policy
from sellers.models import Category, Listing
from sellers.selectors import category_subtree


def policy_list() -> QuerySet[Policy]:
    return (
        Policy.objects.prefetch_related("marketplaces")
        .annotate(removal_count=Count("removals", distinct=True))
        .order_by("slug", "-version")
    )


def policy_detail(policy_id: int) -> Policy:
    return (
        Policy.objects.select_related("supersedes", "created_by")
        .prefetch_related(
            "marketplaces",
            "categories",
            "clauses",
            "removals",
            Prefetch("points_rules", queryset=PointsRule.objects.select_related("clause").order_by("kind", "clause")),
            Prefetch("escalation_steps", queryset=EscalationStep.objects.order_by("threshold")),
        )
        .get(pk=policy_id)
    )


def current_policy(slug: str) -> Policy | None:
    """The version of a policy that applies now, or the newest draft if none was announced."""
    versions = Policy.objects.filter(slug=slug)
    return (
        versions.filter(status=Policy.Status.IN_EFFECT).first()
        or versions.filter(status=Policy.Status.ANNOUNCED).first()
        or versions.order_by("-version").first()
    )


class MerchantHit(TypedDict):
    """A merchant a policy hits, and how many of its live listings."""

    merchant_id: int
    listings: int


def merchants_hit_by_policy(policy: Policy) -> list[MerchantHit]:
    """Merchants in the policy's marketplaces with live listings in its categories (and below)."""
    categories = list(policy.categories.all())
    if not categories:
        return []
    return list(
        Listing.objects.filter(
            status=Listing.Status.LIVE,
            category__in=category_subtree(categories),
            merchant__marketplace__in=policy.marketplaces.all(),
        )
        .values("merchant_id")
        .annotate(listings=Count("id"))
        .order_by("merchant_id")
    )


def retiring_policy_title(category: Category) -> str | None:
    """The policy under which a retired category (or its retired ancestor) was closed."""
    if category.retired_by_removal_id is None:
        return None
    removal = category.retired_by_removal
    return str(removal.policy) if removal else None
