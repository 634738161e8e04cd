"""A user's own pages in the back office: a seller's API tokens (each key shown once, revoked on
demand), the language, and two-factor authentication (set up, the code at sign-in, turned off)."""

from __future__ import annotations

import base64
import io
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import verify_token

from backoffice.forms import LanguageForm, TokenForm
from backoffice.models import Profile
from backoffice.security import (
    LANGUAGE_SESSION_KEY,
    TWO_FACTOR_REQUIRED,
    TWO_FACTOR_SESSION_KEY,
    TWO_FACTOR_SETUP_REQUIRED,
    confirmed_device,
    must_set_up_two_factor,
)
from backoffice.services import disable_two_factor, enable_two_factor, pending_device, set_language
from moderation.api.permissions import merchant_of
from sellers.models import API_TOKEN_NAME_MAX_LENGTH, ApiToken
from sellers.tokens import IssuedVia, api_tokens_of, issue_api_token, revoke_api_token


@login_required
@never_cache
def api_token(request):
    """GET: the merchant's API tokens; POST: a new one with the name given, its key shown on this response only.

    The session has passed the second factor already (TwoFactorMiddleware), so the page asks
    for nothing more than the name. ``never_cache``: the answer that shows a key must not be
    kept by the browser or a proxy.
    """
    merchant = merchant_of(request.user)
    if merchant is None:
        raise PermissionDenied("Only a merchant's account has an API token.")
    new_key, new_token, name_errors = None, None, []
    if request.method == "POST":
        # A refused name is not written back into the form: it may hold the characters refused.
        try:
            new_token, new_key = issue_api_token(
                user=request.user, name=request.POST.get("name", ""), via=IssuedVia.BACKOFFICE
            )
        except ValidationError as error:
            name_errors = error.message_dict.get("name", []) if hasattr(error, "error_dict") else error.messages
    context = {
        "merchant": merchant,
        "tokens": api_tokens_of(user=request.user),
        "new_key": new_key,
        "new_token": new_token,
        "name_errors": name_errors,
        "name_max_length": API_TOKEN_NAME_MAX_LENGTH,
        "days": settings.API_TOKEN_DAYS,
    }
    return render(request, "backoffice/api_token.html", context)


@login_required
@require_POST
def api_token_revoke(request, token_id):
    """Revoke one of the merchant's tokens (another merchant's: 404), after the box is ticked."""
    if merchant_of(request.user) is None:
        raise PermissionDenied("Only a merchant's account has an API token.")
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm: a revoked token stops working at once."))
        return redirect("backoffice:api-token")
    try:
        token = revoke_api_token(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such API token.") from None
    messages.success(request, _("The token “%(name)s” is revoked: it no longer works.") % {"name": token.name})
    return redirect("backoffice:api-token")


# --- The user's own account: language and two-factor authentication ----------------------


@login_required
def profile(request):
    """Language (saved on the profile, used from the next page on) and two-factor status."""
    saved = Profile.objects.filter(user=request.user).values_list("language", flat=True).first() or ""
    form = LanguageForm(request.POST or None, initial={"language": saved})
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        set_language(user=request.user, language=language)
        if language:
            request.session[LANGUAGE_SESSION_KEY] = language
            translation.activate(language)
        else:
            request.session.pop(LANGUAGE_SESSION_KEY, None)
        messages.success(request, _("Your language is saved."))
        return redirect("backoffice:profile")
    context = {
        "form": form,
        "two_factor_on": confirmed_device(request.user) is not None,
        "two_factor_required": must_set_up_two_factor(request.user),
    }
    return render(request, "backoffice/profile.html", context)


@login_required
def two_factor_setup(request):
    """Scan a QR code (or type the key) into an authenticator app, then confirm with a code."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = enable_two_factor(user=request.user, token=form.cleaned_data["token"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            otp_login(request, device)
            request.session[TWO_FACTOR_SESSION_KEY] = TWO_FACTOR_REQUIRED
            messages.success(request, _("Two-factor authentication is on: each sign-in will ask for a code."))
            return redirect("backoffice:profile")
    device = pending_device(user=request.user)
    context = {
        "form": form,
        "qr_data_uri": _qr_data_uri(device.config_url),
        "secret": b32encode(device.bin_key).decode(),
        "required": request.session.get(TWO_FACTOR_SESSION_KEY) == TWO_FACTOR_SETUP_REQUIRED,
    }
    return render(request, "registration/two_factor_setup.html", context)


def _go_on(next_url: str):
    # A path, never a view name: redirect() would try to reverse "abc def" and fail.
    return HttpResponseRedirect(next_url) if next_url else redirect("backoffice:home")


@login_required
def two_factor_verify(request):
    """The second step of signing in for a user with an authenticator."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    device = confirmed_device(request.user)
    if device is None or request.user.is_verified():
        return _go_on(next_url)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        verified = verify_token(request.user, device.persistent_id, form.cleaned_data["token"].strip())
        if verified is not None:
            otp_login(request, verified)
            return _go_on(next_url)
        user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()}, request=request)
        form.add_error("token", _("That code is not right, or too many were tried: wait a moment and try again."))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": next_url})


@login_required
@require_POST
def two_factor_disable(request):
    if confirmed_device(request.user) is not None and not request.user.is_verified():
        return redirect("two-factor-verify")
    try:
        disable_two_factor(user=request.user, required=must_set_up_two_factor(request.user))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        request.session.pop(TWO_FACTOR_SESSION_KEY, None)
        messages.success(request, _("Two-factor authentication is off."))
    return redirect("backoffice:profile")


def _qr_data_uri(url: str) -> str:
    """The provisioning URL as an SVG QR code in a data: URI (an image: the CSP allows it, no script)."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
