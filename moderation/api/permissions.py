"""Who may call the sellers' API: merchant users, each seeing only its own merchant's objects."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from sellers.models import Merchant


def merchant_of(user) -> Merchant | None:
    if not user or not user.is_authenticated:
        return None
    try:
        return user.merchant
    except Merchant.DoesNotExist:
        return None


class IsMerchantUser(BasePermission):
    """A signed-in seller account linked to a merchant. Staff without a store have nothing to see here."""

    message = "This API is for merchant accounts: your account is not linked to a store."

    def has_permission(self, request, view) -> bool:
        merchant = merchant_of(request.user)
        if merchant is None:
            return False
        request.merchant = merchant
        return True
