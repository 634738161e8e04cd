"""Filters of the sellers' API lists (django-filter): status, policy, kind, created between."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import IsoDateTimeField

from moderation.models import Appeal, Notice, Sanction, SanctionKind
from sellers.models import Listing


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class IdFilter(django_filters.NumberFilter):
    """An object's id. A number no row can have (a fraction, beyond a bigint) finds nothing,
    rather than reaching the database: SQLite cannot even bind an integer past 64 bits."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        if value != value.to_integral_value() or not -(2**63) <= value < 2**63:
            return qs.none()
        return super().filter(qs, int(value))


class OrderingFilter(django_filters.OrderingFilter):
    """An empty ordering (``?ordering=,``) keeps the list's own order, so pages never skip or repeat rows."""

    def filter(self, qs, value):
        if not any(value or []):
            return qs
        return super().filter(qs, value)


class NoticeFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Notice.Kind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("created_at", "created_at"), ("id", "id")])

    class Meta:
        model = Notice
        fields = ["kind", "policy", "restricts"]


class SanctionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Sanction.Status.choices)
    kind = django_filters.ChoiceFilter(choices=SanctionKind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("starts_at", "starts_at"), ("id", "id")])

    class Meta:
        model = Sanction
        fields = ["status", "kind", "policy"]


class ListingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Listing.Status.choices)
    category = django_filters.CharFilter(field_name="category__slug")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("created_at", "created_at"), ("id", "id"), ("price", "price")])

    class Meta:
        model = Listing
        fields = ["status", "category"]


class AppealFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Appeal.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="filed_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="filed_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("filed_at", "filed_at"), ("id", "id")])

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
    created_after = IsoDateTimeFilter(help_text="Decided at or after this moment.")
    created_before = IsoDateTimeFilter(help_text="Decided before this moment.")
    ordering = django_filters.ChoiceFilter(
        choices=[("-decided_at", "newest first"), ("decided_at", "oldest first")], help_text="Newest first by default."
    )

    class Meta:
        model = Appeal  # not filtered through: see the view
        fields = []
