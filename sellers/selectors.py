"""Reads of the catalog shaped for pages and endpoints."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from sellers.models import Category, Listing, Marketplace, Merchant


def visible_listings() -> QuerySet[Listing]:
    """Listings a buyer can see: live, merchant active, category not retired (derived, never stored)."""
    return Listing.objects.filter(
        status=Listing.Status.LIVE,
        merchant__enforcement_status=Merchant.EnforcementStatus.ACTIVE,
        category__status=Category.Status.ACTIVE,
    )


def category_subtree(categories) -> QuerySet[Category]:
    """The given categories and everything under them, by prefix of their paths."""
    condition = Q(pk__in=[])
    for category in categories:
        condition |= Q(path__startswith=category.path)
    return Category.objects.filter(condition)


def catalog_overview() -> list[dict]:
    """Per marketplace: merchants and listings by status (one query each)."""
    listings = {
        row["merchant__marketplace"]: row
        for row in Listing.objects.values("merchant__marketplace").annotate(
            live=Count("id", filter=Q(status=Listing.Status.LIVE)),
            delisted=Count("id", filter=Q(status=Listing.Status.DELISTED)),
        )
    }
    rows = []
    for marketplace in Marketplace.objects.annotate(merchant_count=Count("merchants")):
        counts = listings.get(marketplace.pk)  # none for a marketplace without listings
        rows.append(
            {
                "marketplace": marketplace,
                "merchants": marketplace.merchant_count,
                "live": counts["live"] if counts else 0,
                "delisted": counts["delisted"] if counts else 0,
            }
        )
    return rows
