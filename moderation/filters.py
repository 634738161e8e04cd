"""Queue filters (django-filter): what a moderator narrows the queue by."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from moderation.models import Appeal, AuditEvent, AuditVerb, Policy, ReviewItem
from sellers.models import Category, Marketplace, Merchant


class ReviewItemFilter(django_filters.FilterSet):
    STATUS_CHOICES = [
        ("open", _("To decide (unclaimed or claimed)")),
        ("claimed", _("Claimed")),
        ("decided", _("Decided")),
        ("all", _("All")),
    ]
    ASSIGNED_CHOICES = [("anyone", _("Anyone")), ("me", _("Claimed by me")), ("unassigned", _("Unclaimed"))]

    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.all(), label=_("Policy"))
    marketplace = django_filters.ModelChoiceFilter(queryset=Marketplace.objects.all(), label=_("Marketplace"))
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.order_by("path"), label=_("Category"))
    source = django_filters.ChoiceFilter(choices=ReviewItem.Source.choices, label=_("Source"))
    tier = django_filters.ChoiceFilter(choices=ReviewItem.Tier.choices, label=_("Queue"))
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label=None, label=_("Status")
    )
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte", label=_("Score from"))
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte", label=_("Score to"))
    assigned = django_filters.ChoiceFilter(
        choices=ASSIGNED_CHOICES, method="filter_assigned", empty_label=None, label=_("Assigned")
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Past due"))
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label=_("Created from"))
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label=_("Created to"))
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
        return queryset.order_by(*(queryset.query.order_by or ("-priority",)), "id")


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
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Past due"))
    filed_after = django_filters.DateFilter(field_name="filed_at", lookup_expr="date__gte", label=_("Filed from"))
    filed_before = django_filters.DateFilter(field_name="filed_at", lookup_expr="date__lte", label=_("Filed to"))
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
