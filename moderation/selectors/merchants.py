"""The Merchants page's list: what a moderator or a policy admin searches merchants by."""

from __future__ import annotations

from django.db.models import QuerySet

from moderation.filters import MerchantFilter
from sellers.models import Merchant


def merchant_list(params) -> tuple[MerchantFilter, QuerySet[Merchant]]:
    """The filter (for the form) and its merchants by store name.

    A value the form refuses (an unknown status) is left out of the filtering, and the form says why.
    """
    merchants = MerchantFilter(params or None, queryset=Merchant.objects.select_related("marketplace"))
    return merchants, merchants.qs.order_by("store_name", "pk")
