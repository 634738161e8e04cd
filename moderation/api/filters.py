"""Filters of the sellers' API lists (django-filter): status, policy, kind, created between.

Each list's parameters are read as its OpenAPI schema declares them (the schemathesis run holds
the two together): a parameter is given once, an id is a whole number, a flag is ``true`` or
``false``, a moment is an ISO 8601 date-time; anything else is a 400 that names the parameter,
never a value quietly ignored. A value the schema allows is answered, even one no row can match
(an id past a bigint, the year 1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import BaseCSVField, IsoDateTimeField
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from moderation.models import Appeal, Notice, Sanction, SanctionKind
from sellers.models import Listing

# A bigint's range: an id outside it names no row.
_ID_RANGE = range(-(2**63), 2**63)
_WHOLE_NUMBER = re.compile(r"\s*([+-]?)0*([0-9]+)\s*")


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.

    A moment that is a valid date-time but not a Python one in UTC (the first hour of the year 1
    east of Greenwich, the last of 9999 west of it) is the earliest or latest moment there is:
    whatever it bounds, every row is on the same side of it.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class WholeNumberField(forms.Field):
    """A whole number of any length, as the schema's ``integer`` is: "0.5" and "1e3" are refused.

    One past a bigint is not written out (Python refuses to read 4,300 digits): it is read as the
    first number outside the range, which no row has.
    """

    default_error_messages = {"invalid": _("Enter a whole number.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        match = _WHOLE_NUMBER.fullmatch(str(value))
        if match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        sign, digits = match.groups()
        number = int(digits) if len(digits) <= 19 else _ID_RANGE.stop
        return -number if sign == "-" else number


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An object's id. One no row can have (past a bigint) finds nothing, rather than reaching the
    database: SQLite cannot even bind an integer past 64 bits."""

    field_class = WholeNumberField

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        if value not in _ID_RANGE:
            return qs.none()
        return super().filter(qs, value)


class AnyTextField(forms.CharField):
    """Any text, as the schema's ``string`` is: NUL included (the filter answers it, not the form)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, strip=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class TextFilter(django_filters.CharFilter):
    """Text compared as it is. A NUL matches no row (PostgreSQL cannot even be asked for one)."""

    field_class = AnyTextField

    def filter(self, qs, value):
        if value and "\x00" in value:
            return qs.none()
        return super().filter(qs, value)


class TrueOrFalseField(forms.NullBooleanField):
    """``true`` or ``false``, as the schema's ``boolean`` is written in a query (and 1 or 0)."""

    widget = forms.TextInput  # NullBooleanField's select reads anything it does not know as "unknown"
    default_error_messages = {"invalid": _("Enter true or false.")}
    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def validate(self, value):
        pass


class TrueOrFalseFilter(django_filters.BooleanFilter):
    field_class = TrueOrFalseField


# The page number is the paginator's to read (a number past the last page is its 404), but DRF reads
# ``?page=`` as the first page and ``?page=2&page=3`` as the third: the filters refuse those two.
PAGE_PARAMETER = "page"


class OneValueEachForm(forms.Form):
    """The form of a list's filters: each parameter once, and not empty unless it is free text.

    ``?policy=1&policy=2`` is not the last of them, and ``?created_before=`` is not "no bound": both
    are requests the schema does not describe, answered 400 on the parameter. Only a text filter may
    be empty; an ordering is a comma-separated list, none of whose items may be.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checked here, read by the paginator: a plain text field, so only the checks below apply.
        self.fields[PAGE_PARAMETER] = forms.CharField(required=False, strip=False)

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data.get(name)]
            if not values or values == [None]:
                continue
            if len(values) > 1:
                self.add_error(name, _("Give this parameter once."))
            elif isinstance(field, BaseCSVField) and "" in values[0].split(","):
                self.add_error(name, _("An item of this list is empty."))
            elif values == [""] and (name == PAGE_PARAMETER or not isinstance(field, forms.CharField)):
                self.add_error(name, _("This parameter cannot be empty."))
        cleaned.pop(PAGE_PARAMETER, None)  # no filter reads it
        return cleaned


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose parameters are read as the schema declares them (see the module's docstring)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": TrueOrFalseFilter},
    }

    def get_form_class(self):
        fields = {name: filter_.field for name, filter_ in self.filters.items()}
        return type(f"{type(self).__name__}Form", (OneValueEachForm,), fields)


class OrderingFilter(django_filters.OrderingFilter):
    """No ordering keeps the list's own order, so pages never skip or repeat rows.

    An empty one, ``?ordering=`` or ``?ordering=,``, is a list of empty items: the form refuses it,
    and the schema says an ordering has an item at least (``StrictFilterSchema``).
    """

    def filter(self, qs, value):
        if not any(value or []):
            return qs
        return super().filter(qs, value)


class StrictFilterSchema(DjangoFilterExtension):
    """drf-spectacular's reading of the filters, and the one thing it cannot say by itself.

    In a query, an empty list and a list of one empty item are both ``?ordering=``: the schema
    says ``minItems: 1``, so that what the form refuses is what the schema calls invalid.
    """

    priority = 1  # over drf-spectacular's own extension for the same backend

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        if isinstance(filter_field, OrderingFilter):
            for parameter in parameters:
                parameter["schema"]["minItems"] = 1
        return parameters


class NoticeFilter(StrictFilterSet):
    kind = django_filters.ChoiceFilter(choices=Notice.Kind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("created_at", "created_at"), ("id", "id")])

    class Meta:
        model = Notice
        fields = ["kind", "policy", "restricts"]


class SanctionFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Sanction.Status.choices)
    kind = django_filters.ChoiceFilter(choices=SanctionKind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("starts_at", "starts_at"), ("id", "id")])

    class Meta:
        model = Sanction
        fields = ["status", "kind", "policy"]


class ListingFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Listing.Status.choices)
    category = TextFilter(field_name="category__slug")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("created_at", "created_at"), ("id", "id"), ("price", "price")])

    class Meta:
        model = Listing
        fields = ["status", "category"]


class AppealFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Appeal.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices)
    policy = IdFilter(field_name="policy_id")
    created_after = IsoDateTimeFilter(field_name="filed_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="filed_at", lookup_expr="lt")
    ordering = OrderingFilter(fields=[("filed_at", "filed_at"), ("id", "id")])

    class Meta:
        model = Appeal
        fields = ["status", "kind", "policy"]


class DecisionFilter(StrictFilterSet):
    """Validates the decisions list's parameters; the union read applies them (it is not one model)."""

    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices)
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in ("active", "expired", "lifted", "overturned")],
        help_text="active, or for violations and sanctions what ended them.",
    )
    policy = IdFilter()
    created_after = IsoDateTimeFilter(help_text="Decided at or after this moment.")
    created_before = IsoDateTimeFilter(help_text="Decided before this moment.")
    ordering = django_filters.ChoiceFilter(
        choices=[("-decided_at", "newest first"), ("decided_at", "oldest first")], help_text="Newest first by default."
    )

    class Meta:
        model = Appeal  # not filtered through: see the view
        fields = []
