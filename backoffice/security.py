"""Staff account security: the audit trail of every sign-in, lock-outs, two-factor
authentication, the user's language, and the page a locked-out user sees.

The back office can close a merchant's account, so who came in, when, and how is part of
the audit trail like any decision: every login and logout is an ``AuditEvent``, and failed
sign-ins are too, a few rows per username, address and window with their count (a flood of
failures must not become a flood of rows that can never be deleted).

Failed sign-ins lock out the pair of username and client address (django-axes), so an
attacker elsewhere cannot lock the owner out; an address that fails for too many usernames
(password spraying) has every sign-in refused until its window ends (``SignInGuardBackend``).
Two-factor authentication uses TOTP authenticator apps (django-otp); a user who has set it up
must enter a code after the password before any page opens, and policy admins must set it up
first when ``TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS`` is on.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.models import Profile, SignInFailure
from backoffice.roles import Role, has_role
from moderation.models import AuditVerb
from moderation.services.audit import AnonymousActor, EventRow, record_event, record_events

logger = logging.getLogger(__name__)

LANGUAGE_SESSION_KEY = "backoffice_language"
SESSION_RENEWED_KEY = "backoffice_renewed_at"
# Renewing the idle timer writes the session row; once a minute is precise enough for a
# 30-minute timeout and spares every other page that write.
RENEW_EVERY_SECONDS = 60
# Set at login when the user has a confirmed authenticator, so pages need no query to know.
TWO_FACTOR_SESSION_KEY = "backoffice_two_factor"
TWO_FACTOR_REQUIRED, TWO_FACTOR_SETUP_REQUIRED = "required", "setup required"
# The longest username kept anywhere (axes's AccessAttempt, the counters, the trail): the
# user model's own limit, so no account is cut short.
USERNAME_MAX_LENGTH = 150


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def must_set_up_two_factor(user) -> bool:
    return settings.TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS and has_role(user, Role.POLICY_ADMIN)


# --- Who is signing in: the client's address and the username typed ------------------------


def client_address(request) -> str:
    """The client's IP address: the one reading used by the audit trail, the sign-in counters
    and django-axes (``AXES_CLIENT_IP_CALLABLE``).

    Behind our proxies (``BEHIND_PROXY``) it is the entry of X-Forwarded-For that the outermost
    of the ``TRUSTED_PROXY_HOPS`` proxies wrote, counted from the right: everything to its left
    was written by the client and is not believed. Always a valid address or "" (axes stores
    it in an address column, where anything else would fail the request).
    """
    if request is None:
        return ""
    meta = request.META
    if settings.BEHIND_PROXY:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            hops = settings.TRUSTED_PROXY_HOPS
            # Fewer entries than trusted proxies: all of them were written by our proxies.
            address = _ip_address(forwarded[-hops] if len(forwarded) >= hops else forwarded[0])
            if address:
                return address
    return _ip_address(meta.get("REMOTE_ADDR", ""))


def _ip_address(text: str) -> str:
    """The address in one X-Forwarded-For entry or REMOTE_ADDR, in its canonical form; "" if none.

    Some proxies add the port ("203.0.113.7:4711", "[2001:db8::1]:4711").
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)  # the same client whichever way the socket was opened
        if address.scope_id:
            return str(address).partition("%")[0]  # "fe80::1%eth0": no address column takes the zone
    return str(address)


def signin_username(value: Any) -> str:
    """A username as typed, fit to be stored and shown: control, format and surrogate
    characters removed (a NUL or a lone surrogate fails the database write; a right-to-left
    override would disguise the trail), cut at USERNAME_MAX_LENGTH."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    # Cut before the character loop: a field can hold megabytes, and this runs a few times
    # per request.
    text = text[: USERNAME_MAX_LENGTH * 4]
    text = "".join(char for char in text if not unicodedata.category(char).startswith("C"))
    return text[:USERNAME_MAX_LENGTH]


def axes_username(request, credentials: Mapping | None = None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: what django-axes keys its attempts on, cleaned like the trail's
    (a 300-character username used to fail axes's database write with a 500)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        raw = credentials.get(field)
    else:
        data = getattr(request, "data", None)
        data = data if isinstance(data, Mapping) else getattr(request, "POST", {})
        raw = data.get(field)
    return None if raw is None else signin_username(raw)


def _could_be_username(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= USERNAME_MAX_LENGTH and signin_username(value) == value


def _encodable(password: Any) -> bool:
    try:
        str(password).encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): no hasher can take it
        return False
    return True


# --- Failed sign-ins, counted per username, address and window -----------------------------


def sign_in_window(moment: datetime) -> datetime:
    """The start of the window ``moment`` falls in: windows are AXES_COOLOFF_TIME long and
    aligned on the epoch, so every process computes the same one without asking."""
    length = int(settings.AXES_COOLOFF_TIME.total_seconds())
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % length, tz=UTC)


@dataclass(frozen=True)
class FailureKey:
    """One SignInFailure row: a username (or ANY_USERNAME) from an address in a window."""

    username: str
    address: str
    window_start: datetime

    def rows(self):
        return SignInFailure.objects.filter(
            username=self.username, address=self.address, window_start=self.window_start
        )


def count_failure(*, username: str, address: str, at: datetime) -> tuple[FailureKey, bool]:
    """Adds one failed sign-in to its window's row; answers the row's key and whether this was
    the window's first. A conditional UPDATE, then an INSERT that the unique constraint lets
    only one request win: every process counts on the same row."""
    key = FailureKey(username=username, address=address, window_start=sign_in_window(at))
    if key.rows().update(count=F("count") + 1, last_at=at):
        return key, False
    try:
        with transaction.atomic():
            SignInFailure.objects.create(
                username=username, address=address, window_start=key.window_start, first_at=at, last_at=at
            )
        return key, True
    except IntegrityError:
        # Another request inserted it between our UPDATE and INSERT: count on theirs.
        key.rows().update(count=F("count") + 1, last_at=at)
        return key, False


def address_blocked_until(address: str, *, at: datetime) -> datetime | None:
    """When the block ends, if ``address`` has failed for LOGIN_ADDRESS_USERNAME_LIMIT usernames
    in the current window (password spraying); None while it has not."""
    window = sign_in_window(at)
    limit = settings.LOGIN_ADDRESS_USERNAME_LIMIT
    usernames = (
        SignInFailure.objects.filter(address=address, window_start=window)
        .exclude(username=SignInFailure.ANY_USERNAME)[:limit]
        .count()
    )
    return window + settings.AXES_COOLOFF_TIME if usernames >= limit else None


class SignInGuardBackend:
    """First of AUTHENTICATION_BACKENDS, before django-axes's: the form and the API's token
    endpoint both pass here, before any password is checked. It refuses

    1. every sign-in from an address blocked for password spraying (``address_blocked_until``),
       marked as axes marks its own lock-outs (``request.axes_locked_out``), so axes's
       middleware (the form) and the API's TokenView answer 429 through ``locked_out``;
    2. a username no account can have (too long, control characters) and a password no hasher
       can encode: a failed sign-in like a wrong password, and no other backend queries them.

    A refusal is a PermissionDenied: ``django.contrib.auth.authenticate`` stops there and sends
    ``user_login_failed``. axes then records no attempt for a marked request
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off) and only sends ``user_locked_out``;
    the receivers below count the request once whichever signals name it.

    It has no ``get_user``: it never signs anyone in, and a session (or the test client's
    ``force_login``) must not be attached to it.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None  # no address to judge: axes's backend, next, refuses such a call
        now = timezone.now()
        until = address_blocked_until(client_address(request), at=now)
        if until is not None:
            request.axes_locked_out = True
            request.signin_address_blocked = True
            request.signin_retry_after = max(1, math.ceil((until - now).total_seconds()))
            raise PermissionDenied("Too many usernames failed to sign in from this address.")
        if username is not None and not _could_be_username(username):
            raise PermissionDenied("No account has such a username.")
        if password is not None and not _encodable(password):
            raise PermissionDenied("No password has such characters.")
        return None


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
    """A failed sign-in is counted; the first of its window for this username and address is an
    event. A refused one (locked out) leaves the event to ``on_locked_out``, once per window."""
    key, first = _failure_of(request, credentials.get("username"))
    if first and not getattr(request, "axes_locked_out", False):
        _record_window_event(
            key, verb=AuditVerb.LOGIN_FAILED, reason=lambda row: f"{_failed(row.count)} from {_where(row)}"
        )


@receiver(user_locked_out, dispatch_uid="backoffice.locked_out_audit")
def on_locked_out(sender, request, username, ip_address, **kwargs):
    """axes locked the pair or refused a locked pair's try, or the address is blocked for
    spraying: one event per window, however many tries follow (the sweep sums them up)."""
    key, _first = _failure_of(request, username)
    if key.username == SignInFailure.ANY_USERNAME:
        until = key.window_start + settings.AXES_COOLOFF_TIME

        def reason(row):
            usernames = SignInFailure.objects.filter(address=key.address, window_start=key.window_start).exclude(
                username=SignInFailure.ANY_USERNAME
            )
            return (
                f"every sign-in from {_where(row)} refused until {_utc(until)}: failed sign-ins for "
                f"{usernames.count()} usernames since {_utc(key.window_start)}"
            )
    else:

        def reason(row):
            return f"locked out from {_where(row)}: {_failed(row.count)} {_between(row)}"

    _record_window_event(key, verb=AuditVerb.LOCKED_OUT, reason=reason, claim_lock=True)


def _failure_of(request, username: Any) -> tuple[FailureKey, bool]:
    """This request's failed sign-in, counted once however many signals name it (axes's
    ``user_locked_out`` and Django's ``user_login_failed``, in either order). A blocked
    address's tries are counted under ANY_USERNAME: its rows stay (limit + 1) a window."""
    counted = getattr(request, "signin_failure", None)
    if counted is not None:
        return counted
    blocked = getattr(request, "signin_address_blocked", False)
    counted = count_failure(
        username=SignInFailure.ANY_USERNAME if blocked else signin_username(username),
        address=client_address(request),
        at=timezone.now(),
    )
    if request is not None:
        request.signin_failure = counted
    return counted


def _record_window_event(key: FailureKey, *, verb: AuditVerb, reason, claim_lock: bool = False) -> bool:
    """Writes one event stating the window's count so far and remembers that count, so that
    the sweep summarizes only the failures that came after it.

    ``claim_lock``: only if this window has no lock-out event yet, claimed with a conditional
    UPDATE that a single request wins.
    """
    with transaction.atomic():
        rows = key.rows()
        if claim_lock and not rows.filter(locked_at__isnull=True).update(locked_at=timezone.now()):
            return False
        row = rows.first()
        if row is None:
            return False  # the sweep took it meanwhile: its summary says it
        _record_anonymous(verb=verb, username=key.username, reason=reason(row), after=_window_facts(row))
        rows.update(reported_count=Greatest("reported_count", Value(row.count)))
    return True


def _record_anonymous(*, verb: AuditVerb, username: str, reason: str, after: dict | None = None) -> None:
    """An event whose actor is not signed in, named by the username typed.

    It targets the account tried when there is one; a username that names nobody is kept as
    the event's text (target id 0), because a burst of such attempts is what an auditor looks for.
    """
    User = get_user_model()
    username = signin_username(username)
    if username == SignInFailure.ANY_USERNAME:
        user, target_repr = None, "any username (the address is blocked)"
    else:
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first() if username else None
        target_repr = str(user) if user is not None else f"no such user: {username}"
    record_events(
        actor=AnonymousActor(username),
        verb=verb,
        target_type=User,
        rows=[
            EventRow(target_id=user.pk if user is not None else 0, target_repr=target_repr, after=after, reason=reason)
        ],
    )


def _window_facts(row: SignInFailure) -> dict:
    return {
        "failures": row.count,
        "address": row.address,
        "window_start": row.window_start,
        "first_at": row.first_at,
        "last_at": row.last_at,
    }


def _failed(count: int) -> str:
    return f"{count} failed sign-in{'' if count == 1 else 's'}"


def _where(row: SignInFailure) -> str:
    return row.address or "an unknown address"


def _between(row: SignInFailure) -> str:
    return f"between {_utc(row.first_at)} and {_utc(row.last_at)}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# Closed windows per transaction: as many audit rows at most, a few hundred kB.
SWEEP_BATCH = 500
# A web process whose clock runs a little behind may still count into the window just closed.
SWEEP_GRACE = timedelta(minutes=1)


def summarize_sign_in_failures(*, time_budget: float = 60.0) -> int:
    """The sweep (beat, every minute): each window of failed sign-ins that has closed gets its
    summary in the audit trail, then its counter is deleted. Answers the summaries written.

    1. Claims up to SWEEP_BATCH closed rows, locked, skipping those another sweep holds.
    2. Writes one LOGIN_FAILED event per row whose count grew after the trail last stated it
       ("37 failed sign-ins from 10.0.0.9 between … and …"); the others are already told.
    3. Deletes the batch in the same transaction: a crash leaves both for the next run.
    Repeats while whole batches come back and the time budget lasts; the rest waits a minute.
    """
    closed_before = sign_in_window(timezone.now() - SWEEP_GRACE)
    deadline = time.monotonic() + time_budget
    written = 0
    while True:
        with transaction.atomic():
            batch = list(
                SignInFailure.objects.select_for_update(skip_locked=True)
                .filter(window_start__lt=closed_before)
                .order_by("id")[:SWEEP_BATCH]
            )
            for row in batch:
                if row.count > row.reported_count:
                    _record_anonymous(
                        verb=AuditVerb.LOGIN_FAILED,
                        username=row.username,
                        reason=_summary(row),
                        after=_window_facts(row),
                    )
                    written += 1
            SignInFailure.objects.filter(pk__in=[row.pk for row in batch]).delete()
        if len(batch) < SWEEP_BATCH or time.monotonic() > deadline:
            return written


def _summary(row: SignInFailure) -> str:
    if row.username == SignInFailure.ANY_USERNAME:
        return (
            f"{row.count} sign-ins for other usernames refused from {_where(row)} while it was blocked, {_between(row)}"
        )
    return f"{_failed(row.count)} from {_where(row)} {_between(row)}"


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
    """What django-axes answers once a sign-in is refused: 429, the reason and when to retry.

    Two refusals share it: the pair of username and address is locked (for the cool-off), or
    the address is blocked for spraying (until its window ends: ``SignInGuardBackend`` says
    when). The API's token endpoint gets the same in JSON, as the API answers everything else.
    """
    retry_after = getattr(request, "signin_retry_after", None) or int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, math.ceil(retry_after / 60))
    message = ngettext(
        "Too many failed sign-ins: signing in is locked for %(minutes)d minute.",
        "Too many failed sign-ins: signing in is locked for %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        context = {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "minutes": minutes,
            "message": message,
            "address_blocked": getattr(request, "signin_address_blocked", False),
        }
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
