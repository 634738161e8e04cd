"""A seller's own page in the back office: its API token, shown once and rotated on demand."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from moderation.api.permissions import merchant_of
from sellers.services import rotate_api_token


@login_required
def api_token(request):
    """GET: whether a token exists; POST: a new one, shown on this response only."""
    merchant = merchant_of(request.user)
    if merchant is None:
        raise PermissionDenied("Only a merchant's account has an API token.")
    new_key = None
    if request.method == "POST":
        try:
            new_key = rotate_api_token(user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("backoffice:api-token")
    has_token = hasattr(request.user, "auth_token")
    return render(
        request, "backoffice/api_token.html", {"merchant": merchant, "new_key": new_key, "has_token": has_token}
    )
