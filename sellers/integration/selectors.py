"""Reads of the integration API and the back-office pages, each shaped for one answer or page."""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, Q, QuerySet

from sellers.models import Category, Listing, Marketplace, MarketplaceServiceAccount, Merchant


def retired_categories() -> QuerySet[Category]:
    """Every retired category (the tree is shared by the marketplaces), with the policy that closed it."""
    return (
        Category.objects.filter(status=Category.Status.RETIRED)
        .select_related("retired_by_removal__policy")
        .order_by("path")
    )


def live_policies(marketplace: Marketplace) -> QuerySet:
    """The marketplace's policies announced or in effect, newest effective date first, with their
    clauses and closed categories (never their detection rules)."""
    from moderation.models import Policy, PolicyClause

    return (
        Policy.objects.filter(marketplaces=marketplace, status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT])
        .prefetch_related(
            Prefetch("clauses", queryset=PolicyClause.objects.order_by("number")),
            Prefetch("categories", queryset=Category.objects.order_by("path")),
        )
        .order_by("-effective_at", "slug", "-version")
    )


def synced_listing(marketplace: Marketplace, external_id: str) -> Listing:
    """One of the marketplace's synced listings by its id there; another marketplace's is ``DoesNotExist``."""
    return Listing.objects.select_related("merchant", "category").get(
        external_marketplace=marketplace, external_id=external_id
    )


def synced_merchant(marketplace: Marketplace, external_id: str) -> Merchant:
    """One of the marketplace's synced merchants by its id there; another marketplace's is ``DoesNotExist``."""
    return Merchant.objects.get(marketplace=marketplace, external_id=external_id)


def marketplaces_with_service_accounts() -> list[Marketplace]:
    """Every marketplace, with ``accounts_in_force`` counted (the back office's index)."""

    return list(
        Marketplace.objects.annotate(
            accounts_in_force=Count("service_accounts", filter=Q(service_accounts__revoked_at__isnull=True))
        ).order_by("name")
    )


def service_accounts_of(marketplace: Marketplace) -> QuerySet[MarketplaceServiceAccount]:
    """The marketplace's accounts, those in force first, newest first, with their keys and people."""
    return (
        MarketplaceServiceAccount.objects.filter(marketplace=marketplace)
        .select_related("user", "created_by", "revoked_by")
        .prefetch_related("keys")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at", "-id")
    )


def service_account_of(marketplace: Marketplace, account_id: int) -> MarketplaceServiceAccount:
    """One account of the marketplace; another marketplace's is ``DoesNotExist``, as one that is not."""
    return MarketplaceServiceAccount.objects.select_related("marketplace").get(marketplace=marketplace, pk=account_id)
