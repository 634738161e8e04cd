"""Merchants' enforcement records: find a merchant, read its timeline, and (seniors) sanction or lift."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role, has_role
from moderation.forms import LiftSanctionForm, SanctionForm, add_service_errors
from moderation.models import Sanction
from moderation.selectors.merchants import merchant_list
from moderation.selectors.sanctions import (
    ladder_positions,
    merchant_sanctions,
    merchant_timeline,
    merchant_violations,
)
from moderation.services import sanctions as sanction_services
from moderation.views.access import role_required
from sellers.models import Merchant

READERS = (Role.MODERATOR, Role.POLICY_ADMIN)


@role_required(*READERS)
def merchant_index(request):
    """Every merchant by default (a first look should show the whole list), narrowed by the filter."""
    merchants_filter, merchants = merchant_list(request.GET)
    page = Paginator(merchants, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/merchants/index.html",
        {
            "filter": merchants_filter,
            "page": page,
            "query": query.urlencode(),
            "filtering": any(v for k, v in request.GET.items() if k != "page"),
        },
    )


def _merchant_context(request, merchant: Merchant, **forms) -> dict:
    senior = has_role(request.user, Role.SENIOR_MODERATOR)
    return {
        "merchant": merchant,
        "positions": ladder_positions(merchant),
        "sanctions": merchant_sanctions(merchant),
        "violations": merchant_violations(merchant)[:100],
        "timeline": merchant_timeline(merchant),
        "can_sanction": senior,
        "sanction_form": forms.get("sanction_form") or (SanctionForm(merchant=merchant) if senior else None),
        "lift_form": forms.get("lift_form") or LiftSanctionForm(),
        "lift_target": forms.get("lift_target"),
    }


@role_required(*READERS)
def merchant_show(request, merchant_id: int):
    merchant = get_object_or_404(Merchant.objects.select_related("marketplace", "user"), pk=merchant_id)
    return render(request, "moderation/merchants/show.html", _merchant_context(request, merchant))


@require_POST
@role_required(Role.SENIOR_MODERATOR)
def merchant_sanction(request, merchant_id: int):
    merchant = get_object_or_404(Merchant.objects.select_related("marketplace"), pk=merchant_id)
    form = SanctionForm(request.POST, merchant=merchant)
    if form.is_valid():
        data = form.cleaned_data
        try:
            sanction = sanction_services.issue_manual_sanction(
                actor=request.user,
                merchant=merchant,
                policy=data["policy"],
                kind=data["kind"],
                duration_days=data["duration_days"],
                reason=data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("%(sanction)s issued; the merchant is notified.") % {"sanction": sanction.get_kind_display()}
            )
            return redirect("backoffice:merchant-detail", merchant.pk)
    context = _merchant_context(request, merchant, sanction_form=form)
    return render(request, "moderation/merchants/show.html", context, status=400)


@require_POST
@role_required(Role.SENIOR_MODERATOR)
def sanction_lift(request, merchant_id: int, sanction_id: int):
    sanction = get_object_or_404(
        Sanction.objects.select_related("merchant__marketplace"), pk=sanction_id, merchant_id=merchant_id
    )
    form = LiftSanctionForm(request.POST)
    if form.is_valid():
        try:
            sanction_services.lift_sanction(actor=request.user, sanction=sanction, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("%(sanction)s lifted; the merchant is notified.") % {"sanction": sanction.get_kind_display()}
            )
            return redirect("backoffice:merchant-detail", merchant_id)
    context = _merchant_context(request, sanction.merchant, lift_form=form, lift_target=sanction.pk)
    return render(request, "moderation/merchants/show.html", context, status=400)
