"""Reads about category removals: the dry run, the list, the live progress."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from moderation.models import CategoryRemoval, RemovalChunk
from sellers.models import Listing
from sellers.selectors import category_subtree


def removal_dry_run(categories, *, policy=None) -> dict:
    """What retiring these categories would take down now: listings and merchants per marketplace.

    Categories are shared by the group's marketplaces, so a removal reaches every one of
    them; rows for marketplaces outside the policy's scope are flagged for the admin.
    Two aggregate queries over the partial index of live listings by category.
    """
    in_scope = {m.name for m in policy.marketplaces.all()} if policy is not None else None
    scope = list(category_subtree(categories))
    live = Listing.objects.filter(status=Listing.Status.LIVE, category__in=[c.pk for c in scope])
    per_marketplace = [
        {
            "marketplace": row["merchant__marketplace__name"],
            "listings": row["listings"],
            "merchants": row["merchants"],
            "in_scope": in_scope is None or row["merchant__marketplace__name"] in in_scope,
        }
        for row in live.values("merchant__marketplace__name")
        .annotate(listings=Count("id"), merchants=Count("merchant_id", distinct=True))
        .order_by("merchant__marketplace__name")
    ]
    return {
        "categories": [c.name for c in scope],
        "per_marketplace": per_marketplace,
        "listings": sum(row["listings"] for row in per_marketplace),
        "merchants": live.values("merchant_id").distinct().count(),
        "outside_scope": [row["marketplace"] for row in per_marketplace if not row["in_scope"]],
    }


def removal_list() -> QuerySet[CategoryRemoval]:
    return CategoryRemoval.objects.select_related("policy", "created_by").prefetch_related("categories")


def removal_detail(removal_id: int) -> CategoryRemoval:
    return (
        CategoryRemoval.objects.select_related("policy", "clause", "created_by")
        .prefetch_related("categories")
        .get(pk=removal_id)
    )


def removal_progress(removal: CategoryRemoval) -> dict:
    """The figures the progress bar polls for: done of total, rate, time left, outcome."""
    from moderation.services.removals import is_stalled

    now = timezone.now()
    rate = None
    eta_seconds = None
    if removal.started_at and removal.listings_done:
        end = removal.finished_at or now
        elapsed = max((end - removal.started_at).total_seconds(), 0.001)
        rate = removal.listings_done / elapsed
        if removal.status == CategoryRemoval.Status.RUNNING:
            eta_seconds = max(removal.listings_total - removal.listings_done, 0) / rate
    failed_chunks = RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.FAILED).count()
    return {
        "id": removal.pk,
        "status": removal.status,
        "status_label": removal.get_status_display(),
        "listings_total": removal.listings_total,
        "listings_done": removal.listings_done,
        "percent": round(removal.percent_done, 1),
        "chunks_total": removal.chunks_total,
        "chunks_done": removal.chunks_done,
        "chunks_failed": failed_chunks,
        "rate_per_second": round(rate, 1) if rate else None,
        "eta_seconds": round(eta_seconds) if eta_seconds is not None else None,
        "merchants_notified": removal.merchants_notified,
        "scheduled_for": removal.scheduled_for.isoformat(),
        "started_at": removal.started_at.isoformat() if removal.started_at else None,
        "finished_at": removal.finished_at.isoformat() if removal.finished_at else None,
        "stalled": is_stalled(removal, now=now),
        "error": removal.error,
        "finished": removal.status
        in {
            CategoryRemoval.Status.COMPLETED,
            CategoryRemoval.Status.CANCELLED,
            CategoryRemoval.Status.FAILED,
        },
    }
