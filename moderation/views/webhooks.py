"""The marketplaces' webhooks, under Operations: endpoints, their deliveries, replays; and the demo's receiver.

Policy admins (superusers too) only: an endpoint's secret is shown once, when made or rotated,
and never again (the page that shows it is not cached). Every change goes through
``moderation.services.webhooks``, which audits it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.demo import webhooks as demo_webhooks
from moderation.forms import add_service_errors
from moderation.forms_webhooks import (
    DeliveryFilterForm,
    DisableEndpointForm,
    EndpointForm,
    EndpointUrlForm,
    ReplayRangeForm,
)
from moderation.models import WebhookDelivery, WebhookEndpoint
from moderation.selectors.webhooks import (
    endpoint_deliveries,
    endpoint_overview,
    line_head,
    marketplaces_without_endpoint,
)
from moderation.services import webhooks as webhook_services
from moderation.views.access import role_required

ADMINS = (Role.POLICY_ADMIN,)
DELIVERIES_PER_PAGE = 50


@role_required(*ADMINS)
def webhook_index(request):
    context = {"endpoints": endpoint_overview(), "without_endpoint": marketplaces_without_endpoint()}
    return render(request, "moderation/webhooks/index.html", context)


def _show_secret(request, endpoint: WebhookEndpoint, secret: str, *, created: bool):
    return render(
        request, "moderation/webhooks/secret.html", {"endpoint": endpoint, "secret": secret, "created": created}
    )


@never_cache
@role_required(*ADMINS)
def endpoint_create(request):
    form = EndpointForm(request.POST or None, marketplaces=marketplaces_without_endpoint())
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhook_services.create_endpoint(
                actor=request.user, marketplace=form.cleaned_data["marketplace"], url=form.cleaned_data["url"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _show_secret(request, endpoint, secret, created=True)
    return render(request, "moderation/webhooks/form.html", {"form": form})


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint.objects.select_related("marketplace", "created_by"), pk=endpoint_id)


def _show(request, endpoint: WebhookEndpoint, *, status: int = 200, **forms):
    filters = DeliveryFilterForm(request.GET or None)
    wanted = filters.cleaned_data["status"] if filters.is_valid() else ""
    page = Paginator(endpoint_deliveries(endpoint, status=wanted), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "endpoint": endpoint,
        "page": page,
        "filters": filters,
        "head": line_head(endpoint),
        "url_form": forms.get("url_form") or EndpointUrlForm(initial={"url": endpoint.url}),
        "disable_form": forms.get("disable_form") or DisableEndpointForm(),
        "replay_form": forms.get("replay_form") or ReplayRangeForm(),
    }
    return render(request, "moderation/webhooks/detail.html", context, status=status)


@role_required(*ADMINS)
def endpoint_show(request, endpoint_id: int):
    return _show(request, _endpoint(endpoint_id))


@never_cache
@require_POST
@role_required(*ADMINS)
def endpoint_rotate(request, endpoint_id: int):
    endpoint, secret = webhook_services.rotate_secret(actor=request.user, endpoint=_endpoint(endpoint_id))
    return _show_secret(request, endpoint, secret, created=False)


@require_POST
@role_required(*ADMINS)
def endpoint_url(request, endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    form = EndpointUrlForm(request.POST)
    if form.is_valid():
        try:
            webhook_services.change_endpoint_url(actor=request.user, endpoint=endpoint, url=form.cleaned_data["url"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The address is changed: the next event goes there."))
            return redirect("backoffice:webhook-endpoint-detail", endpoint.pk)
    return _show(request, endpoint, status=400, url_form=form)


@require_POST
@role_required(*ADMINS)
def endpoint_disable(request, endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    form = DisableEndpointForm(request.POST)
    if form.is_valid():
        try:
            webhook_services.disable_endpoint(actor=request.user, endpoint=endpoint, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The endpoint is disabled: its events wait, in order, until it is enabled."))
            return redirect("backoffice:webhook-endpoint-detail", endpoint.pk)
    return _show(request, endpoint, status=400, disable_form=form)


@require_POST
@role_required(*ADMINS)
def endpoint_enable(request, endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    try:
        webhook_services.enable_endpoint(actor=request.user, endpoint=endpoint)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The endpoint is enabled: the events that waited are sent first, in order."))
    return redirect("backoffice:webhook-endpoint-detail", endpoint.pk)


@require_POST
@role_required(*ADMINS)
def delivery_replay(request, endpoint_id: int, delivery_id: int):
    # Another endpoint's delivery under this endpoint's address is a 404, like any other id.
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint_id=endpoint_id)
    try:
        webhook_services.replay_delivery(actor=request.user, delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Event #%(sequence)s will be sent again.") % {"sequence": delivery.event_id})
    return redirect("backoffice:webhook-endpoint-detail", endpoint_id)


@require_POST
@role_required(*ADMINS)
def endpoint_replay_range(request, endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    form = ReplayRangeForm(request.POST)
    if form.is_valid():
        try:
            count = webhook_services.replay_range(
                actor=request.user, endpoint=endpoint, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("%(count)s events will be sent again, in order.") % {"count": count})
            return redirect("backoffice:webhook-endpoint-detail", endpoint.pk)
    return _show(request, endpoint, status=400, replay_form=form)


# --- The demo's receiver ------------------------------------------------------------------------


@csrf_exempt  # a marketplace's server posts here, signed: the signature is the check, not a cookie
def demo_receiver(request, code: str):
    """POST: receive one event as the demo marketplace (checked, noted). GET: what it received."""
    if not demo_webhooks.demo_receiver_enabled():
        raise Http404("The demo's receiver runs only in the demo.")
    if request.method == "POST":
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isascii() or not declared.isdigit() or int(declared) > demo_webhooks.BODY_MAX_BYTES:
            return HttpResponse(status=413)  # before reading it: Django would refuse a big one with an error page
        status, _entry = demo_webhooks.receive(code=code, body=request.body, headers=dict(request.headers))
        return HttpResponse(status=status)
    return _demo_inbox(request, code)


@login_required
def _demo_inbox(request, code: str):
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("marketplace"), marketplace__code=code)
    context = {"endpoint": endpoint, "entries": demo_webhooks.received(code)}
    return render(request, "moderation/webhooks/demo_inbox.html", context)
