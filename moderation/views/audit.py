"""The audit browser: every event, filtered, linking to what it touched. Read-only for everyone."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render

from backoffice.roles import Role
from moderation.filters import AuditEventFilter
from moderation.models import AuditEvent
from moderation.selectors.audit import event_links
from moderation.selectors.queue import page_of
from moderation.views.access import role_required


@role_required(Role.MODERATOR, Role.POLICY_ADMIN)
def audit_index(request):
    filterset = AuditEventFilter(
        request.GET or None,
        queryset=AuditEvent.objects.select_related("target_type", "policy").order_by("-occurred_at", "-id"),
    )
    try:
        page = min(max(int(request.GET.get("page", 1)), 1), 10_000)  # deeper: an OFFSET past bigint, a DataError
    except ValueError:
        page = 1
    # No COUNT(*): the trail holds millions of rows; "next" is known from one extra row.
    events, has_next = page_of(filterset.qs, page=page, size=settings.REVIEW_QUEUE_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/audit/index.html",
        {
            "filter": filterset,
            "rows": [(event, event_links(event)) for event in events],
            "page": page,
            "has_next": has_next,
            "query": query.urlencode(),
            "filtering": bool(request.GET),
        },
    )
