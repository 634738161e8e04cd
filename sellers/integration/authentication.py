"""How the integration API knows its caller: a service account's key, read with its account,
the account's user and marketplace in one query.

The same checks as the sellers' keys (``moderation.api.authentication``): the key's shape before
any query, the row found by its 15-character prefix, accepted only when the SHA-512 digest of the
whole key matches (compared in constant time, every candidate), refused once expired; and, of a
service account, refused once the account is revoked (its keys are deleted then, so this is a
second lock, against a row restored from a backup). Only this class authenticates the
integration views: no session, and no seller's key (those live in another table: "Invalid token").
"""

from __future__ import annotations

import binascii
import hmac
import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import BasePermission

from sellers.integration.accounts import note_service_key_used
from sellers.models import MarketplaceServiceKey

# What a key can look like: knox's hex after a short prefix; anything else is refused before a query.
_KEY_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{1,{CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH + 128}}}")


class ServiceKeyAuthentication(TokenAuthentication):
    """``Authorization: Token mk_…``: DRF's token header, errors and 401 with ``WWW-Authenticate``."""

    keyword = "Token"
    model = MarketplaceServiceKey

    def authenticate_credentials(self, key):
        if not _KEY_SHAPE.fullmatch(key):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            digest = hash_token(key)
        except (TypeError, ValueError, binascii.Error):
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        candidates = MarketplaceServiceKey.objects.select_related("account__marketplace", "account__user").filter(
            token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH]
        )
        # Every candidate is compared, so the time taken does not tell which one matched.
        matches = [row for row in candidates if hmac.compare_digest(row.digest, digest)]
        if not matches:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        row = matches[0]
        if row.expiry <= timezone.now():
            raise exceptions.AuthenticationFailed(
                _("This key has expired: ask the marketplace's policy admin for a new one.")
            )
        if row.account.is_revoked:
            raise exceptions.AuthenticationFailed(_("This service account is revoked."))
        note_service_key_used(key=row)
        return (row.account.user, row)


class IsMarketplaceService(BasePermission):
    """A request authenticated by a service account's key; ``request.service_account`` and
    ``request.marketplace`` are its account and the one marketplace it may touch."""

    message = "This API is for a marketplace's service accounts."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, MarketplaceServiceKey):
            return False
        request.service_account = key.account
        request.marketplace = key.account.marketplace
        return True
