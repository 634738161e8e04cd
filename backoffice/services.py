"""A back-office user's own account: language and two-factor authentication, audited."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Profile
from moderation.models import AuditVerb
from moderation.services.audit import record_event

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
