"""Category removals: schedule with a dry run, watch the progress, cancel, resume."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.forms import (
    CancelRemovalForm,
    RemovalForm,
    add_service_errors,
    as_local_input,
    removal_preview_matches,
    removal_preview_token,
)
from moderation.models import CategoryRemoval, Policy, RemovalChunk
from moderation.selectors.removals import removal_detail, removal_dry_run, removal_list, removal_progress
from moderation.services import removals as removal_services
from moderation.views.access import role_required

STAFF = (Role.POLICY_ADMIN, Role.MODERATOR)


@role_required(*STAFF)
def removal_index(request):
    return render(request, "moderation/removals/index.html", {"removals": removal_list()[:200]})


@role_required(Role.POLICY_ADMIN)
def removal_create(request):
    """Two steps on one URL: ``preview`` shows the dry run, ``confirm`` schedules."""
    initial = {}
    policy_id = request.GET.get("policy")
    if policy_id and policy_id.isascii() and policy_id.isdigit():  # isdigit() alone takes "²", which int() refuses
        policy = Policy.objects.filter(pk=policy_id).first()
        if policy:
            initial = {
                "policy": policy,
                "categories": policy.categories.filter(status="active"),
                "scheduled_for": as_local_input(policy.effective_at, policy.zone),
            }
    form = RemovalForm(request.POST or None, initial=initial)
    dry_run = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        confirming = request.POST.get("step") == "confirm"
        if confirming and not removal_preview_matches(request.POST, request.POST.get("preview_token", "")):
            # The choices changed after the dry run: show the dry run of what would now be scheduled.
            messages.warning(request, _("The choices changed since the dry run: check this one, then confirm."))
            confirming = False
        if confirming:
            try:
                removal = removal_services.schedule_removal(
                    actor=request.user,
                    policy=data["policy"],
                    categories=list(data["categories"]),
                    scheduled_for=data["scheduled_for"],
                    clause=data["clause"],
                    override_reason=data["override_reason"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Removal #%(number)s scheduled.") % {"number": removal.pk})
                return redirect("backoffice:removal-detail", removal.pk)
        else:
            dry_run = removal_dry_run(list(data["categories"]), policy=data["policy"])
    token = removal_preview_token(request.POST) if dry_run is not None else ""
    return render(request, "moderation/removals/form.html", {"form": form, "dry_run": dry_run, "preview_token": token})


@role_required(*STAFF)
def removal_show(request, removal_id: int):
    try:
        removal = removal_detail(removal_id)
    except CategoryRemoval.DoesNotExist:
        raise Http404("No such removal.") from None
    context = {
        "removal": removal,
        "progress": removal_progress(removal),
        "failed_chunks": RemovalChunk.objects.filter(removal=removal, status=RemovalChunk.Status.FAILED),
        "cancel_form": CancelRemovalForm(),
    }
    return render(request, "moderation/removals/detail.html", context)


@role_required(*STAFF)
def removal_progress_json(request, removal_id: int):
    removal = get_object_or_404(CategoryRemoval, pk=removal_id)
    return JsonResponse(removal_progress(removal))


@require_POST
@role_required(Role.POLICY_ADMIN)
def removal_cancel(request, removal_id: int):
    removal = get_object_or_404(CategoryRemoval, pk=removal_id)
    form = CancelRemovalForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("To cancel, give a reason and tick the confirmation."))
        return redirect("backoffice:removal-detail", removal.pk)
    reason = form.cleaned_data["reason"]
    try:
        removal_services.cancel_removal(actor=request.user, removal=removal, reason=reason)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Removal #%(number)s cancelled; nothing was changed.") % {"number": removal.pk})
    return redirect("backoffice:removal-detail", removal.pk)


@require_POST
@role_required(Role.POLICY_ADMIN)
def removal_resume(request, removal_id: int):
    removal = get_object_or_404(CategoryRemoval, pk=removal_id)
    try:
        removal_services.resume_removal(actor=request.user, removal=removal)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Removal #%(number)s resumed from where it stopped.") % {"number": removal.pk})
    return redirect("backoffice:removal-detail", removal.pk)
