"""Accounts, audited: a back-office user's own (language, two-factor authentication), and the
accounts an administrator manages in the Django admin (creation, access, password, two-factor reset).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Profile
from moderation.models import AuditVerb
from moderation.services.audit import Actor, record_event

# What an administrator may change on an account. Not ``password`` (``set_user_password``: never
# through a form field that would store what it is given) nor the dates Django keeps.
USER_EDITABLE_FIELDS = [
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
]
USER_AUDITED_FIELDS = ["username", "email", "is_active", "is_staff", "is_superuser"]

DEVICE_NAME = "authenticator app"


def set_language(*, user: AbstractBaseUser, language: str) -> Profile:
    with transaction.atomic():
        profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
        before = profile.language
        profile.language = language
        profile.full_clean()
        profile.save(update_fields=["language"])
        record_event(
            actor=user,
            verb=AuditVerb.PREFERENCES_CHANGED,
            target=user,
            before={"language": before},
            after={"language": language},
        )
    return profile


def pending_device(*, user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator being set up: one unconfirmed device, kept across page loads so the
    QR code a user scanned stays the one that will be checked."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def enable_two_factor(*, user: AbstractBaseUser, token: str) -> TOTPDevice:
    """Confirms the pending authenticator with a code it shows; refuses a wrong code."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            raise ValidationError({"token": _("Open this page again to get a new code to scan.")})
        if not device.verify_token(token.strip()):
            raise ValidationError({"token": _("That code is not right. Enter the six digits your app shows now.")})
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One authenticator per user: a new one replaces any older one.
        TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        record_event(actor=user, verb=AuditVerb.TWO_FACTOR_ENABLED, target=user)
    return device


def disable_two_factor(*, user: AbstractBaseUser, required: bool) -> None:
    if required:
        raise ValidationError(_("Policy admins must keep two-factor authentication on."))
    with transaction.atomic():
        deleted, _rows = TOTPDevice.objects.filter(user=user).delete()
        if not deleted:
            raise ValidationError(_("Two-factor authentication is not on."))
        record_event(actor=user, verb=AuditVerb.TWO_FACTOR_DISABLED, target=user)


# --- Accounts an administrator manages ------------------------------------------------------------
#
# An account that has acted is named by the audit trail (AuditEvent.actor is PROTECT): accounts are
# never deleted, they are deactivated (``update_user(is_active=False)``), which ends their sessions
# and API access at the next request.


def _access_names(name: str, rows) -> list[str]:
    """Groups or permissions as sorted names: what an auditor reads (ids mean nothing a year later)."""
    if name == "groups":
        return sorted(rows.values_list("name", flat=True))
    return sorted(f"{app}.{codename}" for app, codename in rows.values_list("content_type__app_label", "codename"))


def _validate_password(password: str | None, user: AbstractBaseUser) -> None:
    if password is None:
        return
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None


@transaction.atomic
def create_user(*, actor: Actor, username: str, password: str | None, email: str = "") -> AbstractBaseUser:
    """A new account with no role and no staff access (both are given afterwards, each audited).
    ``password=None`` makes an account that cannot sign in with a password."""
    user = get_user_model()(username=username, email=email)
    _validate_password(password, user)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    record_event(
        actor=actor,
        verb=AuditVerb.USER_CREATED,
        target=user,
        after={**{name: getattr(user, name) for name in USER_AUDITED_FIELDS}, "password_usable": password is not None},
    )
    return user


def _differs(user: AbstractBaseUser, name: str, value: Any) -> bool:
    if name in {"groups", "user_permissions"}:
        return {row.pk for row in getattr(user, name).all()} != {row.pk for row in value}
    return getattr(user, name) != value


def _ensure_not_a_service_account(user: AbstractBaseUser) -> None:
    """A marketplace's service account acts through its keys only: its user stays as the service made it
    (inactive, no password, no roles, named ``svc:<marketplace>:<account>`` in the trail), whoever edits
    accounts: a superuser could otherwise open it to sign-in, or rename what the trail calls it."""
    from django.apps import apps

    service_accounts = apps.get_model("sellers", "MarketplaceServiceAccount").objects
    if service_accounts.filter(user_id=user.pk).exists():
        raise ValidationError(
            _("This account belongs to a marketplace's service account: its access is managed under Integrations.")
        )


@transaction.atomic
def update_user(*, actor: Actor, user: AbstractBaseUser, **changes: Any) -> AbstractBaseUser:
    """Change an account's names, e-mail, access (active, staff, superuser) or roles (groups) and
    permissions. One ``USER_CHANGED`` event holds the before and after of what changed (groups and
    permissions as sorted names); nothing changed, nothing written."""
    unknown = set(changes) - set(USER_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("This field cannot be edited.")))
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if any(_differs(user, name, value) for name, value in changes.items()):
        _ensure_not_a_service_account(user)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    relations = {}
    for name, value in changes.items():
        if name in {"groups", "user_permissions"}:
            # A form gives a queryset, a caller may give a list: read both the same way.
            related_model = user._meta.get_field(name).related_model
            value = related_model.objects.filter(pk__in=[row.pk for row in value])
            old, new = _access_names(name, getattr(user, name).all()), _access_names(name, value)
            if old != new:
                before[name], after[name], relations[name] = old, new, value
        elif getattr(user, name) != value:
            before[name], after[name] = getattr(user, name), value
            setattr(user, name, value)
    if not after:
        return user
    user.full_clean()
    if fields := [name for name in after if name not in relations]:
        user.save(update_fields=fields)
    for name, value in relations.items():
        getattr(user, name).set(value)
    record_event(actor=actor, verb=AuditVerb.USER_CHANGED, target=user, before=before, after=after)
    return user


@transaction.atomic
def set_user_password(*, actor: Actor, user: AbstractBaseUser, password: str | None) -> AbstractBaseUser:
    """An administrator sets someone's password (``None``: password sign-in disabled). The event says
    that it happened and whether a password is usable; never the password or its hash."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    _ensure_not_a_service_account(user)
    _validate_password(password, user)
    was_usable = user.has_usable_password()
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])
    record_event(
        actor=actor,
        verb=AuditVerb.USER_PASSWORD_SET,
        target=user,
        before={"password_usable": was_usable},
        after={"password_usable": password is not None},
    )
    return user


@transaction.atomic
def reset_two_factor(*, actor: Actor, user: AbstractBaseUser) -> int:
    """An administrator removes a user's authenticators (a lost phone): the user sets up a new one at
    the next sign-in where it is required. Returns the number of devices removed."""
    deleted, _rows = TOTPDevice.objects.filter(user=user).delete()
    if deleted:
        record_event(
            actor=actor,
            verb=AuditVerb.TWO_FACTOR_DISABLED,
            target=user,
            reason="reset by an administrator",
            before={"devices": deleted},
        )
    return deleted
