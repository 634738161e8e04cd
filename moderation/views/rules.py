"""Policy admins edit a policy's detection rules; a test box shows what they match."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.forms import DetectionRuleForm, add_service_errors
from moderation.models import DetectionRule, Policy
from moderation.selectors.detection import policy_detection_rules, policy_matcher
from moderation.services import detection as rule_services
from moderation.views.access import role_required


@role_required(Role.POLICY_ADMIN, Role.MODERATOR)
def rule_index(request, policy_id: int):
    policy = get_object_or_404(Policy, pk=policy_id)
    sample = request.GET.get("text", "")
    result = policy_matcher(policy).score(title=sample, description=sample) if sample else None
    return render(
        request,
        "moderation/rules/index.html",
        {"policy": policy, "rules": policy_detection_rules(policy), "sample": sample, "result": result},
    )


@role_required(Role.POLICY_ADMIN)
def rule_edit(request, policy_id: int, rule_id: int | None = None):
    policy = get_object_or_404(Policy, pk=policy_id)
    rule = get_object_or_404(DetectionRule, pk=rule_id, policy=policy) if rule_id else None
    initial = (
        {
            "kind": rule.kind,
            "pattern": rule.pattern,
            "weight": rule.weight,
            "fields": rule.fields,
            "exclusions": "\n".join(rule.exclusions),
            "note": rule.note,
            "is_active": rule.is_active,
        }
        if rule
        else None
    )
    form = DetectionRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if rule:
                rule_services.edit_detection_rule(actor=request.user, rule=rule, **form.cleaned_data)
            else:
                rule_services.create_detection_rule(actor=request.user, policy=policy, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rule saved; new and edited listings are matched with it from now on."))
            return redirect("backoffice:rule-index", policy.pk)
    return render(request, "moderation/rules/form.html", {"policy": policy, "rule": rule, "form": form})


@require_POST
@role_required(Role.POLICY_ADMIN)
def rule_toggle(request, policy_id: int, rule_id: int):
    rule = get_object_or_404(DetectionRule, pk=rule_id, policy_id=policy_id)
    try:
        if rule.is_active:
            rule_services.disable_detection_rule(actor=request.user, rule=rule)
        else:
            rule_services.enable_detection_rule(actor=request.user, rule=rule)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("backoffice:rule-index", policy_id)
