"""Filters of the sellers' API lists (django-filter): status, policy, kind, created between."""

from __future__ import annotations

import django_filters

from moderation.models import Appeal, Notice, Sanction, SanctionKind
from sellers.models import Listing


class NoticeFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Notice.Kind.choices)
    policy = django_filters.NumberFilter(field_name="policy_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(fields=[("created_at", "created_at"), ("id", "id")])

    class Meta:
        model = Notice
        fields = ["kind", "policy", "restricts"]


class SanctionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Sanction.Status.choices)
    kind = django_filters.ChoiceFilter(choices=SanctionKind.choices)
    policy = django_filters.NumberFilter(field_name="policy_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(fields=[("starts_at", "starts_at"), ("id", "id")])

    class Meta:
        model = Sanction
        fields = ["status", "kind", "policy"]


class ListingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Listing.Status.choices)
    category = django_filters.CharFilter(field_name="category__slug")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(fields=[("created_at", "created_at"), ("id", "id"), ("price", "price")])

    class Meta:
        model = Listing
        fields = ["status", "category"]


class AppealFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Appeal.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices)
    policy = django_filters.NumberFilter(field_name="policy_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="filed_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="filed_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(fields=[("filed_at", "filed_at"), ("id", "id")])

    class Meta:
        model = Appeal
        fields = ["status", "kind", "policy"]


class DecisionFilter(django_filters.FilterSet):
    """Validates the decisions list's parameters; the union read applies them (it is not one model)."""

    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices)
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in ("active", "expired", "lifted", "overturned")],
        help_text="active, or for violations and sanctions what ended them.",
    )
    policy = django_filters.NumberFilter()
    created_after = django_filters.IsoDateTimeFilter(help_text="Decided at or after this moment.")
    created_before = django_filters.IsoDateTimeFilter(help_text="Decided before this moment.")
    ordering = django_filters.ChoiceFilter(
        choices=[("-decided_at", "newest first"), ("decided_at", "oldest first")], help_text="Newest first by default."
    )

    class Meta:
        model = Appeal  # not filtered through: see the view
        fields = []
