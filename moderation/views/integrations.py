"""The marketplaces' service accounts in the back office: list per marketplace, create (the key shown
once), a new key, revoke a key, revoke the account. Policy admins only (a superuser holds every role);
every change through ``sellers.integration.accounts``, which audits it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.views.access import role_required
from sellers.integration import accounts, selectors
from sellers.integration.events import MAX_EVENTS_PER_BATCH
from sellers.models import API_TOKEN_NAME_MAX_LENGTH, Marketplace, MarketplaceServiceAccount, MarketplaceServiceKey


def _marketplace_or_404(marketplace_id: int) -> Marketplace:
    try:
        return Marketplace.objects.get(pk=marketplace_id)
    except Marketplace.DoesNotExist:
        raise Http404("No such marketplace.") from None


def _account_or_404(marketplace: Marketplace, account_id: int) -> MarketplaceServiceAccount:
    try:
        return selectors.service_account_of(marketplace, account_id)
    except MarketplaceServiceAccount.DoesNotExist:  # another marketplace's, or none
        raise Http404("No such service account.") from None


def _errors(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [message for messages_ in error.message_dict.values() for message in messages_]
    return error.messages


@role_required(Role.POLICY_ADMIN)
def integration_index(request):
    """Every marketplace, with how many service accounts it has in force."""
    return render(
        request,
        "moderation/integrations/index.html",
        {"marketplaces": selectors.marketplaces_with_service_accounts()},
    )


def _page(request, marketplace: Marketplace, **extra):
    context = {
        "marketplace": marketplace,
        "accounts": selectors.service_accounts_of(marketplace),
        "name_max_length": API_TOKEN_NAME_MAX_LENGTH,
        "days": accounts.SERVICE_KEY_DAYS,
        "keys_in_force": accounts.SERVICE_KEYS_IN_FORCE,
        "batch_limit": MAX_EVENTS_PER_BATCH,
        "new_key": None,
        "new_key_row": None,
        "new_key_account": None,
        "name_errors": [],
        **extra,
    }
    return render(request, "moderation/integrations/marketplace.html", context)


@role_required(Role.POLICY_ADMIN)
@never_cache
def integration_marketplace(request, marketplace_id: int):
    """GET: the marketplace's service accounts. POST: a new one with the name given; its first key is
    shown on this answer only (``never_cache``: neither the browser nor a proxy may keep it)."""
    marketplace = _marketplace_or_404(marketplace_id)
    if request.method != "POST":
        return _page(request, marketplace)
    try:
        account, key_row, key = accounts.create_service_account(
            actor=request.user, marketplace=marketplace, name=request.POST.get("name", "")
        )
    except ValidationError as error:
        # The refused name is not written back into the form: it may hold the characters refused.
        return _page(request, marketplace, name_errors=_errors(error))
    return _page(request, marketplace, new_key=key, new_key_row=key_row, new_key_account=account)


@require_POST
@role_required(Role.POLICY_ADMIN)
@never_cache
def integration_key_issue(request, marketplace_id: int, account_id: int):
    """Another key for an account in force, shown on this answer only."""
    marketplace = _marketplace_or_404(marketplace_id)
    account = _account_or_404(marketplace, account_id)
    try:
        key_row, key = accounts.issue_service_key(actor=request.user, account=account)
    except ValidationError as error:
        for message in _errors(error):
            messages.error(request, message)
        return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)
    return _page(request, marketplace, new_key=key, new_key_row=key_row, new_key_account=account)


@require_POST
@role_required(Role.POLICY_ADMIN)
def integration_key_revoke(request, marketplace_id: int, account_id: int, key_id):
    marketplace = _marketplace_or_404(marketplace_id)
    account = _account_or_404(marketplace, account_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm the revocation."))
        return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)
    try:
        accounts.revoke_service_key(actor=request.user, account=account, key_id=key_id)
    except MarketplaceServiceKey.DoesNotExist:
        raise Http404("No such key.") from None
    messages.success(request, _("The key was revoked: it no longer works."))
    return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)


@require_POST
@role_required(Role.POLICY_ADMIN)
def integration_account_revoke(request, marketplace_id: int, account_id: int):
    marketplace = _marketplace_or_404(marketplace_id)
    account = _account_or_404(marketplace, account_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm the revocation."))
        return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)
    try:
        revoked = accounts.revoke_service_account(
            actor=request.user, account=account, reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        for message in _errors(error):
            messages.error(request, message)
        return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)
    if revoked:
        messages.success(
            request, _("“%(name)s” was revoked: none of its keys works any more.") % {"name": account.name}
        )
    else:
        messages.info(request, _("“%(name)s” was revoked already.") % {"name": account.name})
    return redirect("backoffice:integration-marketplace", marketplace_id=marketplace.pk)
