"""Staff account security: the audit trail of every sign-in, two-factor authentication, the
user's language, and the page a locked-out user sees.

The back office can close a merchant's account, so who came in, when, and how is part of
the audit trail like any decision: every login, logout, failed login and lock-out is an
``AuditEvent``. Two-factor authentication uses TOTP authenticator apps (django-otp); a user
who has set it up must enter a code after the password before any page opens, and policy
admins must set it up first when ``TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS`` is on.
"""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Profile
from backoffice.roles import Role, has_role
from moderation.models import AuditEvent, AuditVerb
from moderation.services.audit import record_event

logger = logging.getLogger(__name__)

LANGUAGE_SESSION_KEY = "backoffice_language"
SESSION_RENEWED_KEY = "backoffice_renewed_at"
# Renewing the idle timer writes the session row; once a minute is precise enough for a
# 30-minute timeout and spares every other page that write.
RENEW_EVERY_SECONDS = 60
# Set at login when the user has a confirmed authenticator, so pages need no query to know.
TWO_FACTOR_SESSION_KEY = "backoffice_two_factor"
TWO_FACTOR_REQUIRED, TWO_FACTOR_SETUP_REQUIRED = "required", "setup required"


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def must_set_up_two_factor(user) -> bool:
    return settings.TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS and has_role(user, Role.POLICY_ADMIN)


# --- The audit trail of access ------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="backoffice.login_audit")
def on_login(sender, request, user, **kwargs):
    record_event(actor=user, verb=AuditVerb.LOGIN, target=user, reason=f"from {client_address(request)}")
    if request is None or not hasattr(request, "session"):
        return
    request.session[SESSION_RENEWED_KEY] = int(timezone.now().timestamp())
    profile_language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
    if profile_language:
        request.session[LANGUAGE_SESSION_KEY] = profile_language
    if confirmed_device(user) is not None:
        request.session[TWO_FACTOR_SESSION_KEY] = TWO_FACTOR_REQUIRED
    elif must_set_up_two_factor(user):
        request.session[TWO_FACTOR_SESSION_KEY] = TWO_FACTOR_SETUP_REQUIRED


@receiver(user_logged_out, dispatch_uid="backoffice.logout_audit")
def on_logout(sender, request, user, **kwargs):
    if user is not None:  # a logout without a session has no one to name
        record_event(actor=user, verb=AuditVerb.LOGOUT, target=user, reason=f"from {client_address(request)}")


@receiver(user_login_failed, dispatch_uid="backoffice.login_failed_audit")
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    _record_anonymous(
        verb=AuditVerb.LOGIN_FAILED, username=username, reason=f"wrong credentials from {client_address(request)}"
    )


@receiver(user_locked_out, dispatch_uid="backoffice.locked_out_audit")
def on_locked_out(sender, request, username, ip_address, **kwargs):
    _record_anonymous(
        verb=AuditVerb.LOCKED_OUT,
        username=str(username or "")[:150],
        reason=f"{settings.AXES_FAILURE_LIMIT} failed logins; locked out from {ip_address}",
    )


def _record_anonymous(*, verb: AuditVerb, username: str, reason: str) -> None:
    """An event whose actor is not signed in, named by the username typed.

    It targets the account tried when there is one; a username that names nobody is kept as
    the event's text (target id 0), because a burst of such attempts is what an auditor looks for.
    """
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    AuditEvent.objects.create(
        actor=None,
        actor_name=f"anonymous:{username}"[:150],
        verb=verb,
        target_type=ContentType.objects.get_for_model(User),
        target_id=user.pk if user is not None else 0,
        target_repr=(str(user) if user is not None else f"no such user: {username}")[:200],
        reason=reason,
    )


# --- Middleware ---------------------------------------------------------------------------

ALWAYS_OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz")


class TwoFactorMiddleware:
    """Sends a signed-in user who owes a second factor to the page that takes it.

    Only sessions carry the flag: API calls authenticated by token pass untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        pending = request.session.get(TWO_FACTOR_SESSION_KEY) if hasattr(request, "session") else None
        if pending and not request.path.startswith(ALWAYS_OPEN_PREFIXES):
            if pending == TWO_FACTOR_REQUIRED and not request.user.is_verified():
                return redirect(f"{reverse('two-factor-verify')}?next={request.get_full_path()}")
            if pending == TWO_FACTOR_SETUP_REQUIRED:
                return redirect("two-factor-setup")
        return self.get_response(request)


class IdleSessionMiddleware:
    """Keeps a signed-in session alive while it is used: it ends SESSION_COOKIE_AGE after the
    last request (give or take a minute), not after the login."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get("_auth_user_id"):
            now = int(timezone.now().timestamp())
            if now - session.get(SESSION_RENEWED_KEY, 0) >= RENEW_EVERY_SECONDS:
                session[SESSION_RENEWED_KEY] = now  # marks it modified: saved with a new expiry
        return self.get_response(request)


class UserLanguageMiddleware:
    """The language saved in the user's profile wins over the browser's (LocaleMiddleware's choice)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = request.session.get(LANGUAGE_SESSION_KEY) if hasattr(request, "session") else None
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


# --- The lock-out answer -------------------------------------------------------------------


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers once an account is locked: 429, the reason and when to retry.

    The API's token endpoint gets the same in JSON, as the API answers everything else.
    """
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed sign-ins: signing in is locked for %(minutes)d minute.",
        "Too many failed sign-ins: signing in is locked for %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes, "message": message}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
