"""Service accounts of the marketplaces' systems and their keys: created, issued and revoked by a
policy admin in the back office, each change audited.

A key is kept as the sellers' keys are (``sellers.tokens``, django-rest-knox): the database holds
its SHA-512 digest and a 15-character lookup prefix, the key exists in clear only in the answer
that issues it, and it expires ``SERVICE_KEY_DAYS`` after it is issued. Its prefix (``mk_``) tells
it apart from a seller's (``bo_``) at a glance and to secret scanners.

Each account has its own user, the actor the audit trail names for what the systems change. That
user cannot sign in anywhere: inactive, without a usable password, in no group.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from knox.models import get_digest_token
from knox.settings import CONSTANTS

from backoffice.roles import Role, has_role
from moderation.models import AuditVerb
from moderation.services.audit import record_event, snapshot
from sellers.models import Marketplace, MarketplaceServiceAccount, MarketplaceServiceKey

# A marketplace's systems run unattended: three months between key changes, which the page
# shows coming. The sellers' keys last API_TOKEN_DAYS (30 by default): a person renews those.
SERVICE_KEY_DAYS = 90
SERVICE_KEY_PREFIX = "mk_"
# Keys in force per account: the current one and the next, during a rollover, with room to spare.
SERVICE_KEYS_IN_FORCE = 3
# How stale ``last_used_at`` may be: a busy system writes its key's row once a minute, not per request.
LAST_USED_PRECISION = timedelta(minutes=1)
# Who may create and revoke them: the people who administer policies (a superuser holds every role).
SERVICE_ACCOUNT_ADMIN = Role.POLICY_ADMIN


def may_administer_service_accounts(user) -> bool:
    return has_role(user, SERVICE_ACCOUNT_ADMIN)


def _ensure_admin(actor) -> None:
    if not may_administer_service_accounts(actor):
        # The views refuse first (role_required); this keeps a shell or a task from going around them.
        raise ValidationError(_("Only a policy admin may create or revoke a marketplace's service accounts."))


def describe_key(key: MarketplaceServiceKey) -> dict:
    """What the audit trail keeps of a key: enough to recognise it, nothing to use it."""
    return {"key": str(key.public_id), "prefix": key.display_prefix, "expires_at": key.expiry}


def _account_username(marketplace: Marketplace, name: str) -> str:
    """``svc:<marketplace>:<name>``: the audit trail's actor name says at once what acted. Unique:
    a revoked account keeps its user, so a name used again gets a number."""
    base = f"svc:{marketplace.code}:{slugify(name)[:60] or 'account'}"
    username, number = base, 1
    existing = set(get_user_model().objects.filter(username__startswith=base).values_list("username", flat=True))
    while username in existing:
        number += 1
        username = f"{base}-{number}"
    return username


def _issue_key(account: MarketplaceServiceAccount) -> tuple[MarketplaceServiceKey, str]:
    digest, key = get_digest_token(SERVICE_KEY_PREFIX)
    row = MarketplaceServiceKey.objects.create(
        account=account,
        digest=digest,
        token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
        expiry=timezone.now() + timedelta(days=SERVICE_KEY_DAYS),
    )
    return row, key


def clean_account_name(name) -> str:
    """The name stripped; a ``ValidationError`` on ``name`` if blank, too long, or with control characters."""
    if not isinstance(name, str):
        raise ValidationError({"name": [_("The name must be text.")]})
    name = name.strip()
    try:
        MarketplaceServiceAccount._meta.get_field("name").clean(name, None)
    except ValidationError as error:
        raise ValidationError({"name": error.messages}) from None
    return name


@transaction.atomic
def create_service_account(
    *, actor: User, marketplace: Marketplace, name: str
) -> tuple[MarketplaceServiceAccount, MarketplaceServiceKey, str]:
    """A new account for the marketplace's systems, with its first key; returns the key in clear, once.

    1. Refuses a caller who is not a policy admin, and a name that is blank, too long, holds control
       or invisible characters, or names an account in force already (a ``ValidationError`` on ``name``).
    2. Creates the account's own user: inactive, no usable password, so it signs in nowhere.
    3. Creates the account and its first key, and writes ``SERVICE_ACCOUNT_CREATED`` (with the key's
       public id, prefix and expiry: never the key).
    """
    _ensure_admin(actor)
    name = clean_account_name(name)
    # Locked: two admins creating the same name at once get one account and one clear refusal.
    Marketplace.objects.select_for_update().filter(pk=marketplace.pk).values_list("pk").first()
    if MarketplaceServiceAccount.objects.filter(marketplace=marketplace, name=name, revoked_at__isnull=True).exists():
        raise ValidationError({"name": [_("This marketplace has a service account of that name already.")]})
    user = get_user_model()(username=_account_username(marketplace, name), is_active=False)
    user.set_unusable_password()
    user.save()
    account = MarketplaceServiceAccount.objects.create(
        marketplace=marketplace, name=name, user=user, created_by=actor, created_at=timezone.now()
    )
    key_row, key = _issue_key(account)
    record_event(
        actor=actor,
        verb=AuditVerb.SERVICE_ACCOUNT_CREATED,
        target=account,
        after={
            **snapshot(account, ["marketplace", "name", "user"]),
            "username": user.username,
            **describe_key(key_row),
        },
    )
    return account, key_row, key


@transaction.atomic
def issue_service_key(*, actor: User, account: MarketplaceServiceAccount) -> tuple[MarketplaceServiceKey, str]:
    """Another key for an account in force, to roll over before the current one expires; the key, once.

    The keys in force stay as they are: the systems switch to the new key, then an admin revokes
    the old one (``revoke_service_key``) or lets it expire. At most ``SERVICE_KEYS_IN_FORCE``.
    """
    _ensure_admin(actor)
    account = MarketplaceServiceAccount.objects.select_for_update().get(pk=account.pk)
    if account.is_revoked:
        raise ValidationError(_("This service account is revoked: create a new one."))
    in_force = MarketplaceServiceKey.objects.filter(account=account, expiry__gt=timezone.now()).count()
    if in_force >= SERVICE_KEYS_IN_FORCE:
        raise ValidationError(
            ngettext(
                "This account has %(limit)s key in force, the most it may have: let it expire or revoke the account.",
                "This account has %(limit)s keys in force, the most it may have: let one expire or revoke the account.",
                SERVICE_KEYS_IN_FORCE,
            )
            % {"limit": SERVICE_KEYS_IN_FORCE}
        )
    key_row, key = _issue_key(account)
    record_event(actor=actor, verb=AuditVerb.SERVICE_ACCOUNT_KEY_ISSUED, target=account, after=describe_key(key_row))
    return key_row, key


@transaction.atomic
def revoke_service_account(*, actor: User, account: MarketplaceServiceAccount, reason: str = "") -> bool:
    """Revoke the account: every key of it stops working at once (the rows go; the trail keeps
    their public ids). Returns False, writing nothing, when it was revoked already."""
    _ensure_admin(actor)
    reason = clean_reason(reason)
    account = MarketplaceServiceAccount.objects.select_for_update().get(pk=account.pk)
    if account.is_revoked:
        return False
    keys = [describe_key(key) for key in MarketplaceServiceKey.objects.filter(account=account).order_by("created")]
    MarketplaceServiceKey.objects.filter(account=account).delete()
    account.revoked_at = timezone.now()
    account.revoked_by = actor
    account.save(update_fields=["revoked_at", "revoked_by"])
    record_event(
        actor=actor,
        verb=AuditVerb.SERVICE_ACCOUNT_REVOKED,
        target=account,
        before={"keys": keys},
        after={"revoked_at": account.revoked_at},
        reason=reason,
    )
    return True


@transaction.atomic
def revoke_service_key(*, actor: User, account: MarketplaceServiceAccount, key_id: uuid.UUID | str) -> None:
    """Revoke one key of the account (it stops working at once); the account and its other keys stay.

    ``key_id`` is the key's public id; a key of another account is ``MarketplaceServiceKey.DoesNotExist``,
    as one that does not exist.
    """
    _ensure_admin(actor)
    # Locked: of two revocations at once, one deletes and writes the event; the other finds nothing.
    key = MarketplaceServiceKey.objects.select_for_update().get(account=account, public_id=key_id)
    described = describe_key(key)
    key.delete()
    record_event(actor=actor, verb=AuditVerb.SERVICE_ACCOUNT_KEY_REVOKED, target=account, before=described)


# What a reason may not hold: C0 controls but tab and line breaks (NUL cannot be stored), lone surrogates.
_REFUSED_IN_REASON = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
REASON_MAX_LENGTH = 2000


def clean_reason(reason) -> str:
    """A reason for the trail, stripped; a ``ValidationError`` on ``reason`` if it cannot be stored as sent."""
    if not isinstance(reason, str) or len(reason) > REASON_MAX_LENGTH or _REFUSED_IN_REASON.search(reason):
        raise ValidationError(
            {
                "reason": [
                    _("A reason is at most %(limit)s characters of text, without control characters.")
                    % {"limit": REASON_MAX_LENGTH}
                ]
            }
        )
    return reason.strip()


def note_service_key_used(*, key: MarketplaceServiceKey) -> None:
    """Stamp ``last_used_at``, at most once a minute per key: no query while the stamp read with the
    key is recent, else one conditional UPDATE (a concurrent request that stamped it first wins)."""
    now = timezone.now()
    if key.last_used_at is not None and key.last_used_at > now - LAST_USED_PRECISION:
        return
    MarketplaceServiceKey.objects.filter(digest=key.digest).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    key.last_used_at = now
