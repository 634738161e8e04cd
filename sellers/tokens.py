"""The sellers' API keys: issued (through the token endpoint or the back-office page), listed, revoked.

A key is a ``sellers.ApiToken`` (django-rest-knox's model, swapped in by ``KNOX_TOKEN_MODEL``):
the database holds its SHA-512 digest and a lookup prefix, so the key exists in clear only in
the one answer that issues it. Keys belong to a merchant's account (``Merchant.user``), expire
``settings.API_TOKEN_DAYS`` after they are issued, and an account holds at most
``REST_KNOX["TOKEN_LIMIT_PER_USER"]`` keys in force.

Issuing and revoking are access events (the 800s of ``AuditVerb``): they target the account,
as sign-ins do, name the merchant for its timeline, and identify the key by its public id,
name and prefix, never by the key or its digest.
"""

from __future__ import annotations

import enum
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from knox.settings import knox_settings

from moderation.models import AuditVerb
from moderation.services.audit import record_event
from sellers.models import ApiToken, Merchant

# How stale ``last_used_at`` may be: a busy integration writes its key's row once a minute,
# not once per request, and "last used" on the page is still right to the minute.
LAST_USED_PRECISION = timedelta(minutes=1)


class IssuedVia(enum.StrEnum):
    """Where a key was asked for: the token endpoint (password, and code with 2FA) or the page."""

    API = "api"
    BACKOFFICE = "backoffice"


def api_tokens_of(*, user) -> QuerySet[ApiToken]:
    """The account's keys, newest first, expired ones included (the page says they expired)."""
    return ApiToken.objects.filter(user=user).order_by("-created", "-public_id")


@transaction.atomic
def issue_api_token(*, user, name: str, via: IssuedVia | str, address: str = "") -> tuple[ApiToken, str]:
    """A new key for a merchant's account; returns the row and the key, which is never readable again.

    1. Refuses an account without a store, and a name that is blank, too long or holds control
       or invisible characters (a ``ValidationError`` on ``name``).
    2. Locks the account's row, so two requests at once cannot both take the last free place,
       and refuses a key past the limit of keys in force.
    3. Creates the row (knox: digest, lookup prefix, expiry) and writes ``API_TOKEN_ISSUED``;
       through the token endpoint also ``API_SIGNED_IN`` with the client's ``address``.
    """
    via = IssuedVia(via)
    merchant = Merchant.objects.filter(user=user).first()
    if merchant is None:
        raise ValidationError(_("Only a merchant's account has an API token."))
    name = clean_api_token_name(name)
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and api_tokens_of(user=user).filter(expiry__gt=timezone.now()).count() >= limit:
        raise ValidationError(
            ngettext(
                "This account has %(limit)s API token in force, the most it may have: revoke it first.",
                "This account has %(limit)s API tokens in force, the most it may have: revoke one first.",
                limit,
            )
            % {"limit": limit},
            code="too_many_tokens",
        )
    token, key = ApiToken.objects.create(
        user=user, name=name, expiry=knox_settings.TOKEN_TTL, prefix=knox_settings.TOKEN_PREFIX
    )
    described = _describe(token)
    record_event(
        actor=user,
        verb=AuditVerb.API_TOKEN_ISSUED,
        target=user,
        merchant=merchant,
        after={**described, "via": via.value},
    )
    if via is IssuedVia.API:
        record_event(
            actor=user,
            verb=AuditVerb.API_SIGNED_IN,
            target=user,
            merchant=merchant,
            reason=f"via API from {address}",
            after=described,
        )
    return token, key


@transaction.atomic
def revoke_api_token(*, user, token_id: uuid.UUID | str) -> ApiToken:
    """Delete one of the account's keys (it stops working at once) and write ``API_TOKEN_REVOKED``.

    ``token_id`` is the key's public id. Another account's key is ``ApiToken.DoesNotExist``,
    exactly as a key that does not exist: the caller answers both with a 404.
    """
    # Locked: of two revocations at once, one deletes and writes the event; the other finds nothing.
    token = ApiToken.objects.select_for_update().get(user=user, public_id=token_id)
    described = _describe(token)
    token.delete()
    record_event(
        actor=user,
        verb=AuditVerb.API_TOKEN_REVOKED,
        target=user,
        merchant=Merchant.objects.filter(user=user).first(),
        before=described,
    )
    return token


def note_api_token_used(*, token: ApiToken) -> None:
    """Stamp ``last_used_at``, at most once a minute per key.

    No query at all while the stamp read with the key is recent; otherwise one conditional
    UPDATE, which does nothing when a concurrent request stamped it first. Not audited: the
    sign-in that issued the key is, and a stamp per minute would bury the trail.
    """
    now = timezone.now()
    if token.last_used_at is not None and token.last_used_at > now - LAST_USED_PRECISION:
        return
    ApiToken.objects.filter(digest=token.digest).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    token.last_used_at = now


def clean_api_token_name(name) -> str:
    """The name stripped; a ``ValidationError`` on ``name`` if blank, too long, or with control characters."""
    if not isinstance(name, str):
        raise ValidationError({"name": [_("The name must be text.")]})
    name = name.strip()
    try:
        ApiToken._meta.get_field("name").clean(name, None)
    except ValidationError as error:
        raise ValidationError({"name": error.messages}) from None
    return name


def _describe(token: ApiToken) -> dict:
    """What the audit trail keeps of a key: enough to recognise it, nothing to use it."""
    return {
        "token": str(token.public_id),
        "name": token.name,
        "prefix": token.display_prefix,
        "expires_at": token.expiry,
    }
