"""Reads about category removals: the dry run, the list, the live progress."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from moderation.models import CategoryRemoval, PolicyScan, RemovalChunk, ScanChunk
from sellers.models import Listing
from sellers.selectors import category_subtree

# A running removal with no finished chunk for this long is considered stuck: its pending
# chunks are queued again (harmless if they were only slow: a done chunk is skipped).
STALL_AFTER = timedelta(minutes=2)


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
    dry_run = {
        "categories": [c.name for c in scope],
        "per_marketplace": per_marketplace,
        "listings": sum(row["listings"] for row in per_marketplace),
        "merchants": live.values("merchant_id").distinct().count(),
        "outside_scope": [row["marketplace"] for row in per_marketplace if not row["in_scope"]],
    }
    if policy is not None:
        named = set(policy.categories.values_list("pk", flat=True))
        dry_run["not_named"] = [c.name for c in categories if c.pk not in named]
        dry_run.update(_rules_on_sample(live, policy))
    return dry_run


# Enough listings to tell a banned category (most flagged) from an innocent one (almost none),
# in one query and a few milliseconds of matching; the page shows the first ones.
RULES_SAMPLE_SIZE = 500
SAMPLE_SHOWN = 20
# Below this share of its listings flagged by the policy's rules, retiring a category needs a reason.
FLAGGED_SHARE_EXPECTED = 0.5


def _rules_on_sample(live, policy) -> dict:
    """What the policy's rules say of a sample of the listings a removal would take down."""
    from moderation.selectors.detection import policy_matcher

    matcher = policy_matcher(policy)
    rows = list(live.order_by("pk").values_list("pk", "title", "description", "attributes")[:RULES_SAMPLE_SIZE])
    sample: list[dict[str, Any]] = []
    flagged = 0
    for pk, title, description, attributes in rows:
        result = matcher.score(title=title, description=description, attributes=attributes)
        flagged += result.flagged
        if len(sample) < SAMPLE_SHOWN:
            sample.append({"id": pk, "title": title, "flagged": result.flagged, "words": result.words[:6]})
    share = flagged / len(rows) if rows else None
    return {
        "sampled": len(rows),
        "flagged_share": share,
        "flagged_percent": round(100 * share) if share is not None else None,
        "sample": sample,
        # A policy without rules has no opinion: the categories it names are its whole say.
        "rules_disagree": bool(matcher.rules) and share is not None and share < FLAGGED_SHARE_EXPECTED,
    }


def removal_list() -> QuerySet[CategoryRemoval]:
    return CategoryRemoval.objects.select_related("policy", "created_by").prefetch_related("categories")


def removal_detail(removal_id: int) -> CategoryRemoval:
    return (
        CategoryRemoval.objects.select_related("policy", "clause", "created_by")
        .prefetch_related("categories")
        .get(pk=removal_id)
    )


def chunked_job_progress(job, *, failed_chunks: int, stalled: bool, finished: bool) -> dict:
    """Done of total, rate and time left of a job that runs in chunks (a removal, a scan)."""
    now = timezone.now()
    rate = None
    eta_seconds = None
    if job.started_at and job.listings_done:
        elapsed = max(((job.finished_at or now) - job.started_at).total_seconds(), 0.001)
        rate = job.listings_done / elapsed
        if job.status == "running":
            eta_seconds = max(job.listings_total - job.listings_done, 0) / rate
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "listings_total": job.listings_total,
        "listings_done": job.listings_done,
        "percent": round(job.percent_done, 1),
        "chunks_total": job.chunks_total,
        "chunks_done": job.chunks_done,
        "chunks_failed": failed_chunks,
        "rate_per_second": round(rate, 1) if rate else None,
        "eta_seconds": round(eta_seconds) if eta_seconds is not None else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "stalled": stalled,
        "error": job.error,
        "finished": finished,
    }


def is_stalled(removal: CategoryRemoval, *, now: datetime | None = None) -> bool:
    """Running, and no chunk has finished for ``STALL_AFTER``."""
    now = now or timezone.now()
    return (
        removal.status == CategoryRemoval.Status.RUNNING
        and removal.last_progress_at is not None
        and now - removal.last_progress_at > STALL_AFTER
    )


def removal_progress(removal: CategoryRemoval) -> dict:
    """The figures the progress bar polls for: done of total, rate, time left, outcome."""
    progress = chunked_job_progress(
        removal,
        failed_chunks=RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.FAILED).count(),
        stalled=is_stalled(removal),
        finished=removal.status
        in {CategoryRemoval.Status.COMPLETED, CategoryRemoval.Status.CANCELLED, CategoryRemoval.Status.FAILED},
    )
    progress["merchants_notified"] = removal.merchants_notified
    progress["scheduled_for"] = removal.scheduled_for.isoformat()
    return progress


def scan_progress(scan: PolicyScan) -> dict:
    progress = chunked_job_progress(
        scan,
        failed_chunks=ScanChunk.objects.filter(scan=scan, status=ScanChunk.Status.FAILED).count(),
        stalled=False,
        finished=scan.status in {PolicyScan.Status.COMPLETED, PolicyScan.Status.FAILED},
    )
    # The page shows items opened where a removal shows merchants notified.
    progress["merchants_notified"] = scan.items_opened
    progress["items_opened"] = scan.items_opened
    # Looked at = read + skipped (listings_done): the page names the skipped ones.
    progress["listings_read"] = scan.listings_read
    progress["listings_skipped"] = scan.listings_skipped
    return progress


def stalled_removal_ids(*, now: datetime | None = None) -> list[int]:
    """Running removals with no chunk finished for STALL_AFTER: beat re-sends their chunks."""
    now = now or timezone.now()
    return list(
        CategoryRemoval.objects.filter(
            status=CategoryRemoval.Status.RUNNING, last_progress_at__lt=now - STALL_AFTER
        ).values_list("pk", flat=True)
    )
