"""Policy admins' pages: list, create, edit a draft, announce, make a new version."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.forms import ClauseFormSet, PolicyForm, add_service_errors
from moderation.models import AuditEvent, AuditVerb, Policy, PolicyScan
from moderation.selectors.policies import merchants_hit_by_policy, policy_detail, policy_list
from moderation.selectors.removals import scan_progress
from moderation.services import policies as policy_services
from moderation.services import scanning
from moderation.views.access import role_required

STAFF = (Role.POLICY_ADMIN, Role.MODERATOR)


def _clauses(formset) -> list[policy_services.ClauseText]:
    return [
        policy_services.ClauseText(f.cleaned_data["number"], f.cleaned_data["title"], f.cleaned_data["text"])
        for f in formset.forms
        if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]


def _policy_fields(form: PolicyForm) -> dict:
    data = form.cleaned_data
    return {
        "title": data["title"],
        "body": data["body"],
        "effective_at": data["effective_at"],
        "enforcement_starts_at": data["enforcement_starts_at"],
        "appeal_window_days": data["appeal_window_days"],
        "review_due_hours": data["review_due_hours"],
        "detection_threshold": data["detection_threshold"],
        "flagged_listings": data["flagged_listings"],
    }


@role_required(*STAFF)
def policy_index(request):
    return render(request, "moderation/policies/index.html", {"policies": policy_list()})


@role_required(Role.POLICY_ADMIN)
def policy_create(request):
    form = PolicyForm(request.POST or None)
    formset = ClauseFormSet(request.POST or None, instance=Policy(), prefix="clauses")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            policy = policy_services.create_policy(
                actor=request.user,
                slug=form.cleaned_data["slug"],
                timezone_name=form.cleaned_data["timezone"],
                marketplaces=form.cleaned_data["marketplaces"],
                categories=form.cleaned_data["categories"],
                clauses=_clauses(formset),
                **_policy_fields(form),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Draft “%(policy)s” saved. Announce it when it is ready.") % {"policy": policy})
            return redirect("backoffice:policy-detail", policy.pk)
    return render(request, "moderation/policies/form.html", {"form": form, "formset": formset, "policy": None})


@role_required(Role.POLICY_ADMIN)
def policy_edit(request, policy_id: int):
    policy = get_object_or_404(Policy, pk=policy_id)
    if not policy.is_editable:
        messages.warning(request, _("An announced policy is not edited in place: make a new version."))
        return redirect("backoffice:policy-detail", policy.pk)
    form = PolicyForm(request.POST or None, instance=policy)
    formset = ClauseFormSet(request.POST or None, instance=policy, prefix="clauses")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            policy_services.edit_policy(
                actor=request.user,
                policy=policy,
                timezone=form.cleaned_data["timezone"],
                marketplaces=form.cleaned_data["marketplaces"],
                categories=form.cleaned_data["categories"],
                clauses=_clauses(formset),
                **_policy_fields(form),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("backoffice:policy-detail", policy.pk)
    return render(request, "moderation/policies/form.html", {"form": form, "formset": formset, "policy": policy})


@role_required(*STAFF)
def policy_show(request, policy_id: int):
    try:
        policy = policy_detail(policy_id)
    except Policy.DoesNotExist:
        raise Http404("No such policy.") from None
    context = {
        "policy": policy,
        "versions": Policy.objects.filter(slug=policy.slug).order_by("-version"),
        "events": AuditEvent.objects.filter(policy=policy)
        .exclude(verb__in=[AuditVerb.NOTICE_CREATED, AuditVerb.NOTICE_DELIVERED])
        .select_related("target_type")[:25],
    }
    return render(request, "moderation/policies/detail.html", context)


@role_required(Role.POLICY_ADMIN)
def policy_announce(request, policy_id: int):
    """GET: what announcing will do (who is told); POST: announce."""
    policy = get_object_or_404(Policy, pk=policy_id)
    if request.method == "POST":
        try:
            policy_services.announce_policy(actor=request.user, policy=policy)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("“%(policy)s” announced; merchants are being notified.") % {"policy": policy})
        return redirect("backoffice:policy-detail", policy.pk)
    hits = merchants_hit_by_policy(policy)
    return render(
        request,
        "moderation/policies/announce.html",
        {"policy": policy, "merchants": len(hits), "listings": sum(row["listings"] for row in hits)},
    )


@require_POST
@role_required(Role.POLICY_ADMIN)
def policy_new_version(request, policy_id: int):
    policy = get_object_or_404(Policy, pk=policy_id)
    try:
        draft = policy_services.new_policy_version(actor=request.user, policy=policy)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("backoffice:policy-detail", policy.pk)
    messages.success(
        request,
        _("Version %(version)s created as a draft; the announced version still applies.") % {"version": draft.version},
    )
    return redirect("backoffice:policy-edit", draft.pk)


@require_POST
@role_required(Role.POLICY_ADMIN)
def policy_scan(request, policy_id: int):
    """Scan every live listing in the policy's marketplaces now (it also runs when the policy takes effect)."""
    policy = get_object_or_404(Policy, pk=policy_id)
    if not policy.is_effective():
        messages.error(request, _("The policy is not in effect yet: its rules apply from the effective date."))
        return redirect("backoffice:policy-detail", policy.pk)
    scan = scanning.start_policy_scan(policy=policy, actor=request.user)
    if scan is None:
        messages.warning(request, _("A scan of this policy is already running."))
        scan = policy.scans.filter(status=PolicyScan.Status.RUNNING).first()
        if scan is None:  # it finished in the meantime
            return redirect("backoffice:policy-detail", policy.pk)
    return redirect("backoffice:scan-detail", scan.pk)


@role_required(*STAFF)
def scan_show(request, scan_id: int):
    scan = get_object_or_404(PolicyScan.objects.select_related("policy"), pk=scan_id)
    return render(request, "moderation/policies/scan.html", {"scan": scan, "progress": scan_progress(scan)})


@role_required(*STAFF)
def scan_progress_json(request, scan_id: int):
    return JsonResponse(scan_progress(get_object_or_404(PolicyScan, pk=scan_id)))


@require_POST
@role_required(Role.POLICY_ADMIN)
def scan_resume(request, scan_id: int):
    scan = get_object_or_404(PolicyScan, pk=scan_id)
    try:
        scanning.resume_policy_scan(actor=request.user, scan=scan)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("backoffice:scan-detail", scan.pk)
