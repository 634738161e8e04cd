"""A listing's content versions: recorded on each change, looked up when a decision needs them.

Decisions (detection, review items, violations, delistings) name the version they judged by
its number (``Listing.version`` at the time). The rows hold the content itself, so a moderator
sees what changed since an item was flagged and a granted appeal restores what was decided on.
"""

from __future__ import annotations

from django.utils import timezone

from sellers.models import Listing, ListingVersion


def content_of(listing: Listing) -> dict:
    return {
        "title": listing.title,
        "description": listing.description,
        "attributes": listing.attributes,
        "category": listing.category_id,
    }


def ensure_versions(listings: list[Listing], *, created_by: str = "") -> None:
    """Rows for the current versions of these listings, once (a version recorded already is
    left as it is): after a change, and for listings seeded in bulk without one."""
    now = timezone.now()
    ListingVersion.objects.bulk_create(
        [
            ListingVersion(
                listing=listing,
                number=listing.version,
                title=listing.title,
                description=listing.description,
                attributes=listing.attributes,
                category_id=listing.category_id,
                created_at=now,
                created_by=created_by[:150],
            )
            for listing in listings
        ],
        ignore_conflicts=True,
    )


def record_version(listing: Listing, *, created_by: str = "") -> None:
    """The listing's current content as its version ``listing.version`` (a second call changes nothing)."""
    ensure_versions([listing], created_by=created_by)


def version_content(listing: Listing, number: int | None) -> dict | None:
    """The content of version ``number`` of the listing; None when it was never recorded."""
    if number is None:
        return None
    if number == listing.version:
        return content_of(listing)
    found = ListingVersion.objects.filter(listing=listing, number=number).first()
    return found.content if found else None
