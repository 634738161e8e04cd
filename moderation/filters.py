"""Queue filters (django-filter): what a moderator narrows the queue by."""

from __future__ import annotations

import unicodedata

import django_filters
from django import forms
from django.db.models import F, OrderBy, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from moderation.models import Appeal, AuditEvent, AuditVerb, Policy, ReviewItem
from moderation.search import search_pattern
from sellers.models import Category, Marketplace, Merchant


# Dates are picked, not typed: the browser's own date picker, which sends ISO yyyy-mm-dd whatever the
# user's locale (a text box showed mm/dd/yyyy to some and refused it from others). The format is
# fixed because Django would render the date in the locale's input format ("2021/10/10" in
# Chinese), which an <input type="date"> does not show.
def date_picker() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


# A boolean filter is a choice of three, named for what they do: NullBooleanSelect's "Unknown"
# meant "any" to nobody. NullBooleanField reads "true"/"false" and takes anything else as None.
def yes_no_any() -> forms.Select:
    return forms.Select(choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))])


SEARCH_MAX_LENGTH = 200
SEARCH_MAX_TERMS = 8


class SearchField(forms.CharField):
    """A search box's text, made safe to search with rather than refused.

    Control and format characters (NUL, which PostgreSQL refuses in a text, bidi controls,
    zero-width spaces) are taken out, blanks collapsed, and the text cut at 200 characters:
    a search never fails, it finds less.
    """

    def to_python(self, value):
        text = super().to_python(value)
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
        text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cs"))
        return " ".join(text.split())[:SEARCH_MAX_LENGTH].strip()


class SearchFilter(django_filters.CharFilter):
    field_class = SearchField


def search_terms(text: str) -> list[str]:
    """The words of a search, each to be found somewhere: the first few, duplicates once."""
    return list(dict.fromkeys(text.split()))[:SEARCH_MAX_TERMS]


def search_patterns(text: str) -> list[str]:
    """The words of a search as the search column is searched for them (``moderation.search``)."""
    patterns = dict.fromkeys(search_pattern(term) for term in search_terms(text))  # "S19 s19": once
    return [pattern for pattern in patterns if pattern]


def sorted_after_reading(field: str) -> OrderBy:
    """A sort key the planner cannot read in order from an index: the rows are found, then sorted.

    With a search, PostgreSQL would otherwise walk the queue's priority index from the top and
    read every item's text until a page is full: cheap when the matches sit near the top, a read
    of most of the queue when they sit further down (measured: 23,000 items read, 100 ms, for a
    word 2 % of the items hold). Found through the search index, then sorted, a search costs what
    its matches cost, wherever they are in the queue; the page reads the item table alone for
    that, then its rows' joins (``page_by_ids``). COALESCE of a column with itself is the column
    (never null here), hidden from the indexes.
    """
    name = field.removeprefix("-")
    return OrderBy(Coalesce(F(name), F(name)), descending=field.startswith("-"))


def with_count(label, count: int | None) -> str:
    """An option's label with how many rows it would show, "1,000+" past the cap."""
    from moderation.selectors.queue import OPTION_COUNT_CAP

    if count is None:
        return str(label)
    shown = number_format(min(count, OPTION_COUNT_CAP), force_grouping=True)
    return f"{label} ({shown}{'+' if count > OPTION_COUNT_CAP else ''})"


class ReviewItemFilter(django_filters.FilterSet):
    STATUS_CHOICES = [
        ("open", _("To decide (unclaimed or claimed)")),
        ("claimed", _("Claimed")),
        ("decided", _("Decided")),
        ("all", _("All")),
    ]
    ASSIGNED_CHOICES = [("anyone", _("Anyone")), ("me", _("Claimed by me")), ("unassigned", _("Unclaimed"))]
    # The filters whose options show a count: each is a column of the queue's grouped count
    # (moderation.selectors.queue.queue_option_counts). The others narrow the rows counted.
    FACETS = ("status", "tier", "policy", "marketplace", "category", "source", "assigned", "overdue")

    q = SearchFilter(
        method="filter_search",
        widget=forms.TextInput(attrs={"type": "search", "maxlength": SEARCH_MAX_LENGTH}),
        label=_("Search title, description or store"),
    )
    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.all(), label=_("Policy"), empty_label=_("Any"))
    marketplace = django_filters.ModelChoiceFilter(
        queryset=Marketplace.objects.all(), label=_("Marketplace"), empty_label=_("Any")
    )
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.order_by("path"), label=_("Category"), empty_label=_("Any")
    )
    source = django_filters.ChoiceFilter(choices=ReviewItem.Source.choices, label=_("Source"), empty_label=_("Any"))
    tier = django_filters.ChoiceFilter(choices=ReviewItem.Tier.choices, label=_("Queue"), empty_label=_("Any"))
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label=None, label=_("Status")
    )
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte", label=_("Score from"))
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte", label=_("Score to"))
    assigned = django_filters.ChoiceFilter(
        choices=ASSIGNED_CHOICES, method="filter_assigned", empty_label=None, label=_("Assigned")
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", widget=yes_no_any(), label=_("Past due"))
    created_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", widget=date_picker(), label=_("Created from")
    )
    created_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", widget=date_picker(), label=_("Created to")
    )
    sort = django_filters.OrderingFilter(
        fields=[("priority", "priority"), ("created_at", "age"), ("due_at", "due")],
        field_labels={"priority": _("Priority"), "created_at": _("Age"), "due_at": _("Due time")},
        label=_("Sort by"),
    )

    class Meta:
        model = ReviewItem
        fields = []

    def __init__(self, data=None, *args, user=None, **kwargs):
        data = data.copy() if data is not None else {}
        data.setdefault("status", "open")
        data.setdefault("assigned", "anyone")
        super().__init__(data, *args, **kwargs)
        self.user = user

    def filter_search(self, queryset, name, value):
        """Every word found in the listing's title or description or the merchant's store name.

        Substrings, not words: Chinese has no spaces ("挖矿" is inside "以太坊显卡挖矿实战课") and a
        moderator types the start of a model name ("antmin"). Each word is looked for, folded, in
        the item's own search column (``moderation.search``): on PostgreSQL a GIN trigram index
        over the open items answers it, so a search reads the items that hold the word, not every
        open item's texts; without the index (no pg_trgm, SQLite) the same condition reads the
        one column of the open items. A word with nothing searchable in it (an emoji) narrows nothing.
        """
        for pattern in search_patterns(value):
            queryset = queryset.filter(search_text__contains=pattern)
        return queryset

    def narrowed(self):
        """The rows the non-facet filters (search, score, dates) select: what the option counts count."""
        queryset = self.queryset.all()
        for name, value in self._narrowing().items():
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    def _narrowing(self) -> dict:
        self.errors  # noqa: B018
        data = self.form.cleaned_data
        return {name: value for name, value in data.items() if name not in self.FACETS and name != "sort"}

    def narrowing_key(self) -> str:
        """What ``narrowed`` depends on, as text for a cache key."""
        return repr(sorted((name, str(value)) for name, value in self._narrowing().items()))

    def narrows(self) -> bool:
        """Whether a search, score or date filter leaves out some open items."""
        return any(value not in (None, "") for value in self._narrowing().values())

    def selected(self) -> dict:
        """The facets' chosen values (cleaned), None for "any"."""
        self.errors  # noqa: B018
        data = self.form.cleaned_data
        return {name: data.get(name) or None for name in self.FACETS if name != "overdue"} | {
            "overdue": data.get("overdue")
        }

    def show_counts(self, counts: dict[str, dict]) -> None:
        """Put each option's count beside its label (``counts``: facet -> value -> rows)."""
        for name, per_value in counts.items():
            field = self.form.fields[name]
            if isinstance(field, forms.ModelChoiceField):
                field.label_from_instance = lambda obj, per_value=per_value: with_count(obj, per_value.get(obj.pk, 0))
            else:
                field.widget.choices = field.choices = [
                    (value, label if value in ("", None) else with_count(label, per_value.get(value, 0)))
                    for value, label in field.widget.choices
                ]

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED])
        if value in {ReviewItem.Status.CLAIMED, ReviewItem.Status.DECIDED}:
            return queryset.filter(status=value)
        return queryset

    def filter_assigned(self, queryset, name, value):
        if value == "me":
            return queryset.filter(status=ReviewItem.Status.CLAIMED, claimed_by=self.user)
        if value == "unassigned":
            now = timezone.now()
            return queryset.filter(
                Q(status=ReviewItem.Status.OPEN) | Q(status=ReviewItem.Status.CLAIMED, claimed_until__lt=now)
            )
        return queryset

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(due_at__lt=now) if value else queryset.filter(due_at__gte=now)

    @property
    def qs(self):
        queryset = super().qs  # the sort filter has ordered it already, when one was chosen
        # Highest priority first by default; the id breaks ties so pages never overlap.
        order = [*(queryset.query.order_by or ("-priority",)), "id"]
        if self.searching():
            order[0] = sorted_after_reading(order[0])
        return queryset.order_by(*order)

    def searching(self) -> bool:
        """Whether a search narrows the rows (its page is best read by ids first: ``page_by_ids``)."""
        self.errors  # noqa: B018
        return bool(search_patterns(self.form.cleaned_data.get("q") or ""))


class AppealQueueFilter(django_filters.FilterSet):
    """What a moderator narrows the appeal queue by."""

    STATUS_CHOICES = [
        ("open", _("To decide")),
        ("granted", _("Granted")),
        ("rejected", _("Rejected")),
        ("withdrawn", _("Withdrawn")),
        ("all", _("All")),
    ]

    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label=None, label=_("Status")
    )
    kind = django_filters.ChoiceFilter(choices=Appeal.Kind.choices, label=_("Against"))
    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.all(), label=_("Policy"))
    tier = django_filters.ChoiceFilter(choices=Appeal.Tier.choices, label=_("Queue"))
    overdue = django_filters.BooleanFilter(method="filter_overdue", widget=yes_no_any(), label=_("Past due"))
    filed_after = django_filters.DateFilter(
        field_name="filed_at", lookup_expr="date__gte", widget=date_picker(), label=_("Filed from")
    )
    filed_before = django_filters.DateFilter(
        field_name="filed_at", lookup_expr="date__lte", widget=date_picker(), label=_("Filed to")
    )
    sort = django_filters.OrderingFilter(
        fields=[("due_at", "due"), ("filed_at", "filed")],
        field_labels={"due_at": _("Due time"), "filed_at": _("Filed")},
        label=_("Sort by"),
    )

    class Meta:
        model = Appeal
        fields = []

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        data.setdefault("status", "open")
        super().__init__(data, *args, **kwargs)

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=["submitted", "in_review"])
        return queryset if value == "all" else queryset.filter(status=value)

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        late = Q(due_at__lt=timezone.now(), status__in=["submitted", "in_review"])
        return queryset.filter(late) if value else queryset.exclude(late)


class AuditEventFilter(django_filters.FilterSet):
    """The audit browser's filters; each one an index can serve together with the time order."""

    TARGET_TYPES = [
        ("listing", _("Listing")),
        ("merchant", _("Merchant")),
        ("policy", _("Policy")),
        ("categoryremoval", _("Category removal")),
        ("reviewitem", _("Review item")),
        ("violation", _("Violation")),
        ("sanction", _("Sanction")),
        ("appeal", _("Appeal")),
        ("notice", _("Notice")),
        ("category", _("Category")),
        ("detectionrule", _("Detection rule")),
    ]

    actor = django_filters.CharFilter(field_name="actor_name", label=_("Actor (username or task:name)"))
    verb = django_filters.MultipleChoiceFilter(choices=AuditVerb.choices, label=_("Verb"))
    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.order_by("slug", "-version"), label=_("Policy"))
    merchant = django_filters.NumberFilter(field_name="merchant_id", label=_("Merchant #"), min_value=1)
    target_type = django_filters.ChoiceFilter(
        choices=TARGET_TYPES, field_name="target_type__model", label=_("Target type")
    )
    target_id = django_filters.NumberFilter(label=_("Target #"), min_value=1)
    after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte", label=_("From (UTC)"))
    before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt", label=_("Until (UTC)"))

    class Meta:
        model = AuditEvent
        fields = []


class MerchantFilter(django_filters.FilterSet):
    """The Merchants page: every merchant by default, narrowed by a search, a status or a marketplace."""

    RESTRICTED = "restricted"

    q = django_filters.CharFilter(method="filter_search", label=_("Store, company, contact e-mail or #id"))
    status = django_filters.ChoiceFilter(
        choices=[(RESTRICTED, _("Restricted (any)")), *Merchant.EnforcementStatus.choices],
        method="filter_status",
        empty_label=_("All merchants"),
        label=_("Status"),
    )
    marketplace = django_filters.ModelChoiceFilter(
        queryset=Marketplace.objects.all(), empty_label=_("All marketplaces"), label=_("Marketplace")
    )

    class Meta:
        model = Merchant
        fields = []

    def filter_search(self, queryset, name, value):
        query = value.strip()  # never holds NUL: the form field refuses it, as PostgreSQL would
        if not query:
            return queryset
        # A plain scan with icontains: merchants number in the thousands, not millions, and
        # a store's name is searched by any part of it ("hashpower" finds "Shenzhen Hashpower").
        condition = Q(store_name__icontains=query) | Q(company_name__icontains=query)
        condition |= Q(contact_email__icontains=query)
        number = query.removeprefix("#")
        if number.isascii() and number.isdigit() and len(number) < 19:  # beyond: past bigint
            condition |= Q(pk=int(number))
        return queryset.filter(condition)

    def filter_status(self, queryset, name, value):
        if value == self.RESTRICTED:
            return queryset.exclude(enforcement_status=Merchant.EnforcementStatus.ACTIVE)
        return queryset.filter(enforcement_status=value)
