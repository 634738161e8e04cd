"""Reads for the audit browser: where an event's target and merchant live in the back office."""

from __future__ import annotations

from django.urls import reverse

from moderation.models import AuditEvent

# Target types with a page of their own, and the URL name that shows one.
TARGET_PAGES = {
    "merchant": "backoffice:merchant-detail",
    "policy": "backoffice:policy-detail",
    "categoryremoval": "backoffice:removal-detail",
    "reviewitem": "backoffice:queue-item",
    "appeal": "backoffice:appeal-detail",
    "policyscan": "backoffice:scan-detail",
    "duplicategroup": "backoffice:queue-group",
}


def event_links(event: AuditEvent) -> dict[str, str | None]:
    """URLs for the event's target and merchant; targets without a page of their own
    (a listing, a violation, a sanction, a notice) are shown on their merchant's page."""
    model = event.target_type.model
    target = reverse(TARGET_PAGES[model], args=[event.target_id]) if model in TARGET_PAGES else None
    merchant = reverse("backoffice:merchant-detail", args=[event.merchant_id]) if event.merchant_id else None
    return {"target": target or merchant, "merchant": merchant}
