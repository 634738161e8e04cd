"""A listing's content versions: recorded on each change, looked up when a decision needs them.

Decisions (detection, review items, violations, delistings) name the version they judged by
its number (``Listing.version`` at the time). The rows hold the content itself, so a moderator
sees what changed since an item was flagged and a granted appeal restores what was decided on.
"""

from __future__ import annotations

from django.utils import timezone

from sellers.models import Listing, ListingVersion

CONTENT_FIELDS = ("title", "description", "attributes", "category")


def content_of(listing: Listing) -> dict:
    return {
        "title": listing.title,
        "description": listing.description,
        "attributes": listing.attributes,
        "category": listing.category_id,
    }


def record_version(listing: Listing, *, created_by: str = "") -> None:
    """The listing's current content as its version ``listing.version`` (once: a second call changes nothing)."""
    ListingVersion.objects.bulk_create(
        [
            ListingVersion(
                listing=listing,
                number=listing.version,
                title=listing.title,
                description=listing.description,
                attributes=listing.attributes,
                category_id=listing.category_id,
                created_at=timezone.now(),
                created_by=created_by[:150],
            )
        ],
        ignore_conflicts=True,
    )


def ensure_versions(listings: list[Listing]) -> None:
    """Rows for the current versions of these listings, for those seeded in bulk without one."""
    ListingVersion.objects.bulk_create(
        [
            ListingVersion(
                listing=listing,
                number=listing.version,
                title=listing.title,
                description=listing.description,
                attributes=listing.attributes,
                category_id=listing.category_id,
                created_at=listing.updated_at,
            )
            for listing in listings
        ],
        ignore_conflicts=True,
    )


def version_content(listing: Listing, number: int | None) -> dict | None:
    """The content of version ``number`` of the listing; None when it was never recorded."""
    if number is None:
        return None
    if number == listing.version:
        return content_of(listing)
    found = ListingVersion.objects.filter(listing=listing, number=number).first()
    return found.content if found else None
