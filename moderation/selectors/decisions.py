"""Every decision against one merchant, in one list: listings delisted by a category removal,
violations (a moderator's take-down, a refused re-listing) and sanctions.

One UNION ALL of three index-backed reads, ordered and sliced in the database, so a page
of the sellers' API costs the same few queries whatever the merchant's history.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import BooleanField, Case, CharField, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Concat

from moderation.models import Appeal, Sanction, Violation
from moderation.models.appeals import OPEN_STATUSES
from sellers.models import Listing

# The union's columns, the same names in each part (prefixed: models have fields of these names).
COLUMNS = {
    "d_key": "key",
    "d_kind": "kind",
    "d_object": "object_id",
    "d_measure": "measure",
    "d_status": "status",
    "d_policy": "policy_id",
    "d_policy_title": "policy_title",
    "d_window": "appeal_window_days",
    "d_clause": "clause_number",
    "d_listing": "listing_id",
    "d_summary": "summary",
    "d_at": "decided_at",
    "d_automated": "automated",
}


def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


def _key(prefix: str):
    return Concat(_text(f"{prefix}-"), Cast("pk", CharField()), output_field=CharField())


def _granted_appeal(prefix: str):
    return Appeal.objects.filter(
        decision_key=Concat(_text(f"{prefix}-"), Cast(OuterRef("pk"), CharField())), status="granted"
    )


def _delistings(merchant_id: int) -> QuerySet:
    return Listing.objects.filter(
        merchant_id=merchant_id, delisted_by_removal__isnull=False, status=Listing.Status.DELISTED
    ).annotate(
        d_key=_key("delisting"),
        d_kind=_text("delisting"),
        d_object=F("pk"),
        d_measure=_text("listing_delisted"),
        # A granted appeal that could not put it back (its category is closed) still ended the decision.
        d_status=Case(
            When(Exists(_granted_appeal("delisting")), then=_text("overturned")),
            default=_text("active"),
            output_field=CharField(),
        ),
        d_policy=F("delisted_by_removal__policy_id"),
        d_policy_title=F("delisted_by_removal__policy__title"),
        d_window=F("delisted_by_removal__policy__appeal_window_days"),
        d_clause=Value(None, output_field=IntegerField()),
        d_listing=F("pk"),
        d_summary=F("title"),
        d_at=F("delisted_at"),
        d_automated=Value(True, output_field=BooleanField()),
    )


def _violations(merchant_id: int) -> QuerySet:
    return Violation.objects.filter(merchant_id=merchant_id).annotate(
        d_key=_key("violation"),
        d_kind=_text("violation"),
        d_object=F("pk"),
        d_measure=F("kind"),
        d_status=F("status"),
        d_policy=F("policy_id"),
        d_policy_title=F("policy__title"),
        d_window=F("policy__appeal_window_days"),
        d_clause=F("clause__number"),
        d_listing=F("listing_id"),
        d_summary=KT("evidence__title"),
        d_at=F("decided_at"),
        d_automated=F("automated_decision"),
    )


def _sanctions(merchant_id: int) -> QuerySet:
    return Sanction.objects.filter(merchant_id=merchant_id).annotate(
        d_key=_key("sanction"),
        d_kind=_text("sanction"),
        d_object=F("pk"),
        d_measure=F("kind"),
        d_status=F("status"),
        d_policy=F("policy_id"),
        d_policy_title=F("policy__title"),
        d_window=F("policy__appeal_window_days"),
        d_clause=Value(None, output_field=IntegerField()),
        d_listing=Value(None, output_field=IntegerField()),
        d_summary=F("reason"),
        d_at=F("starts_at"),
        d_automated=F("automated"),
    )


PARTS = {"delisting": _delistings, "violation": _violations, "sanction": _sanctions}


def merchant_decisions(
    merchant_id: int,
    *,
    kind: str | None = None,
    policy_id: int | None = None,
    status: str | None = None,
    decided_after: datetime | None = None,
    decided_before: datetime | None = None,
    object_id: int | None = None,
    newest_first: bool = True,
) -> QuerySet:
    """Tuples in the order of ``COLUMNS``; slice it for a page, ``as_rows`` makes dicts of them."""
    condition = Q()
    if policy_id is not None:
        condition &= Q(d_policy=policy_id)
    if status:
        condition &= Q(d_status=status)
    if decided_after:
        condition &= Q(d_at__gte=decided_after)
    if decided_before:
        condition &= Q(d_at__lt=decided_before)
    if object_id is not None:
        condition &= Q(pk=object_id)
    parts = [
        build(merchant_id).filter(condition).order_by().values_list(*COLUMNS)
        for part_kind, build in PARTS.items()
        if not kind or kind == part_kind
    ]
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return union.order_by(*(["-d_at", "-d_key"] if newest_first else ["d_at", "d_key"]))


def as_rows(values) -> list[dict]:
    return [dict(zip(COLUMNS.values(), row, strict=True)) for row in values]


def open_appeals_for(keys: list[str]) -> dict[str, int]:
    """Decision key (``violation-12``) → id of its open appeal, for one page of decisions (one query)."""
    rows = Appeal.objects.filter(decision_key__in=keys, status__in=OPEN_STATUSES)
    return dict(rows.values_list("decision_key", "pk"))
