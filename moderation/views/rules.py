"""Policy admins edit a policy's detection rules; a test box shows what they match.

The rules list shows each rule's label, never its pattern (moderators read this page
too); the pattern is on the rule's own page, for policy admins.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.forms import DetectionRuleForm, add_service_errors
from moderation.models import DetectionRule, Policy
from moderation.selectors.detection import policy_detection_rules, policy_matcher, rule_performance
from moderation.services import detection as rule_services
from moderation.views.access import role_required
from sellers.limits import DESCRIPTION_MAX_LENGTH


@role_required(Role.POLICY_ADMIN, Role.MODERATOR)
def rule_index(request, policy_id: int):
    policy = get_object_or_404(Policy, pk=policy_id)
    # Staff input, but bounded like a listing's description: the box is not a way around the limits.
    sample = request.GET.get("text", "")[:DESCRIPTION_MAX_LENGTH]
    result = policy_matcher(policy).score(title=sample, description=sample) if sample else None
    performance = rule_performance(policy)
    rules = list(policy_detection_rules(policy))
    for rule in rules:
        rule.performance = performance.get(rule.pk)
    return render(
        request,
        "moderation/rules/index.html",
        {"policy": policy, "rules": rules, "sample": sample, "result": result},
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
            "label": rule.label,
            "clause": rule.clause.number if rule.clause_id else None,
            "is_active": rule.is_active,
            "is_shadow": rule.is_shadow,
        }
        if rule
        else None
    )
    form = DetectionRuleForm(request.POST or None, initial=initial, policy=policy)
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
    performance = rule_performance(policy).get(rule.pk) if rule else None
    return render(
        request,
        "moderation/rules/form.html",
        {"policy": policy, "rule": rule, "form": form, "performance": performance},
    )


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


@require_POST
@role_required(Role.POLICY_ADMIN)
def rule_shadow(request, policy_id: int, rule_id: int):
    """Switch a shadow rule on (it starts to flag and refuse), or put a rule back in shadow."""
    rule = get_object_or_404(DetectionRule, pk=rule_id, policy_id=policy_id)
    try:
        if rule.is_shadow:
            rule_services.switch_on_shadow_rule(actor=request.user, rule=rule)
            messages.success(request, _("“%(rule)s” now counts: it flags and refuses.") % {"rule": rule.display_label})
        else:
            rule_services.put_rule_in_shadow(actor=request.user, rule=rule)
            messages.success(
                request,
                _("“%(rule)s” is in shadow: matched and counted, it flags nothing.") % {"rule": rule.display_label},
            )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("backoffice:rule-index", policy_id)
