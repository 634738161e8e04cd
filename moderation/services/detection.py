"""Changing a policy's detection rules: create, edit, disable, enable, copy to a new version.

Every change is one audited transaction (``DETECTION_RULE_CHANGED`` with the rule before
and after). Rules are tuned while a policy runs, so they stay editable after it is
announced (unlike the policy's text); only a retired policy's rules are frozen. Rules are
never deleted: disabling keeps the row that past review items cite.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation import detection
from moderation.models import AuditVerb, DetectionRule, Policy, PolicyClause
from moderation.services.audit import Actor, actor_user, record_event, snapshot

RULE_AUDITED_FIELDS = [
    "kind",
    "pattern",
    "label",
    "clause",
    "weight",
    "fields",
    "exclusions",
    "note",
    "is_active",
    "is_shadow",
    "revision",
]
RULE_EDITABLE_FIELDS = set(RULE_AUDITED_FIELDS) - {"revision"}


def rule_snapshot(rule: DetectionRule) -> dict:
    data = snapshot(rule, RULE_AUDITED_FIELDS)
    # As stored (two decimals), whether the caller passed 3, "3" or Decimal("3.00").
    data["weight"] = f"{Decimal(rule.weight):.2f}"
    return data


def _check_policy_open(policy: Policy) -> None:
    if policy.status == Policy.Status.RETIRED:
        raise ValidationError(
            _("“%(policy)s” is retired: its detection rules can no longer change.") % {"policy": policy}
        )


def _clean_lists(values: Iterable[str] | str | None) -> list[str]:
    # Admin forms send tuples, strings with stray spaces, duplicates: store a tidy list.
    if isinstance(values, str):
        values = [values]
    cleaned: list[str] = []
    for value in values or ():
        value = value.strip() if isinstance(value, str) else value
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _validate(rule: DetectionRule) -> None:
    """Field-level errors before anything is written; the database checks the same again."""
    rule.full_clean()
    if rule.kind == DetectionRule.Kind.REGEX:
        return
    # "Antminer" and "antminer" are different rows to the unique constraint but the same
    # rule to the matcher: refuse the second one with a message instead of a double score.
    normalized = detection.normalize(rule.pattern)
    siblings = DetectionRule.objects.filter(policy_id=rule.policy_id, kind=rule.kind).exclude(pk=rule.pk)
    for other in siblings.only("pattern"):
        if detection.normalize(other.pattern) == normalized:
            if rule.kind == DetectionRule.Kind.KEYWORD:
                already = _("This policy already has the keyword “%(pattern)s”.")
            else:
                already = _("This policy already has the phrase “%(pattern)s”.")
            raise ValidationError({"pattern": already % {"pattern": other.pattern}})


@transaction.atomic
def create_detection_rule(
    *,
    actor: Actor,
    policy: Policy,
    kind: str,
    pattern: str,
    weight: Decimal | int | str,
    fields: Iterable[str] = detection.FIELDS,
    exclusions: Iterable[str] = (),
    note: str = "",
    label: str = "",
    clause: PolicyClause | None = None,
    is_active: bool = True,
    is_shadow: bool = False,
) -> DetectionRule:
    """A new rule. ``is_shadow``: matched and counted but flagging nothing until switched on."""
    _check_policy_open(policy)
    now = timezone.now()
    rule = DetectionRule(
        policy=policy,
        kind=kind,
        pattern=pattern.strip() if isinstance(pattern, str) else pattern,
        weight=weight,
        fields=_clean_lists(fields),
        exclusions=_clean_lists(exclusions),
        note=note,
        label=label.strip(),
        clause=clause,
        is_active=is_active,
        is_shadow=is_shadow,
        created_by=actor_user(actor),
        created_at=now,
        updated_at=now,
    )
    _validate(rule)
    rule.save()
    record_event(
        actor=actor,
        verb=AuditVerb.DETECTION_RULE_CHANGED,
        target=rule,
        policy=policy,
        after=rule_snapshot(rule),
        reason="Rule created.",
    )
    return rule


@transaction.atomic
def edit_detection_rule(*, actor: Actor, rule: DetectionRule, reason: str = "", **changes) -> DetectionRule:
    """Change any of kind, pattern, weight, fields, exclusions, note, is_active."""
    unknown = set(changes) - RULE_EDITABLE_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("This field cannot be edited.")))
    rule = DetectionRule.objects.select_for_update().select_related("policy").get(pk=rule.pk)
    _check_policy_open(rule.policy)
    before = rule_snapshot(rule)
    if "pattern" in changes and isinstance(changes["pattern"], str):
        changes["pattern"] = changes["pattern"].strip()
    for name in ("fields", "exclusions"):
        if name in changes:
            changes[name] = _clean_lists(changes[name])
    for name, value in changes.items():
        setattr(rule, name, value)
    _validate(rule)
    if rule_snapshot(rule) == before:
        return rule  # Nothing changed: no revision, no event, the cached matchers stay.
    rule.revision += 1
    rule.updated_at = timezone.now()
    rule.save()
    record_event(
        actor=actor,
        verb=AuditVerb.DETECTION_RULE_CHANGED,
        target=rule,
        policy=rule.policy,
        before=before,
        after=rule_snapshot(rule),
        reason=reason or "Rule edited.",
    )
    return rule


def disable_detection_rule(*, actor: Actor, rule: DetectionRule, reason: str = "") -> DetectionRule:
    """Stop a rule counting; the row stays, for the decisions that cite it."""
    return edit_detection_rule(actor=actor, rule=rule, is_active=False, reason=reason or "Rule disabled.")


def switch_on_shadow_rule(*, actor: Actor, rule: DetectionRule, reason: str = "") -> DetectionRule:
    """A shadow rule starts to count: it flags and refuses from now on."""
    return edit_detection_rule(actor=actor, rule=rule, is_shadow=False, reason=reason or "Shadow rule switched on.")


def put_rule_in_shadow(*, actor: Actor, rule: DetectionRule, reason: str = "") -> DetectionRule:
    """A rule stops counting but is still matched and reported: to watch it before trusting it again."""
    return edit_detection_rule(actor=actor, rule=rule, is_shadow=True, reason=reason or "Rule put in shadow mode.")


def enable_detection_rule(*, actor: Actor, rule: DetectionRule, reason: str = "") -> DetectionRule:
    return edit_detection_rule(actor=actor, rule=rule, is_active=True, reason=reason or "Rule enabled.")


@transaction.atomic
def create_rules_like(
    *, actor: Actor, policy: Policy, specs: Iterable[detection.RuleSpec], inactive: Container[int | None] = ()
) -> list[DetectionRule]:
    """A rule on ``policy`` like each of ``specs``, through ``create_detection_rule`` (each audited).

    A spec names its clause by number: the rule cites ``policy``'s clause of that number, as a
    new version numbers its clauses alike. Specs whose ``id`` is in ``inactive`` are created
    switched off. The reference rules (the demo) and a superseded version's rules are copied so.
    """
    clauses = {clause.number: clause for clause in policy.clauses.all()}
    return [
        create_detection_rule(
            actor=actor,
            policy=policy,
            kind=spec.kind,
            pattern=spec.pattern,
            weight=spec.weight,
            fields=spec.fields,
            exclusions=spec.exclusions,
            note=spec.note,
            label=spec.label,
            clause=clauses.get(spec.clause) if spec.clause is not None else None,
            is_active=spec.id not in inactive,
            is_shadow=spec.shadow,
        )
        for spec in specs
    ]


def copy_detection_rules(*, actor: Actor, source: Policy, target: Policy) -> list[DetectionRule]:
    """Give a new version of a policy the rules of the one it supersedes (active and disabled)."""
    if DetectionRule.objects.filter(policy=target).exists():
        raise ValidationError(_("“%(policy)s” has detection rules already.") % {"policy": target})
    rules = list(DetectionRule.objects.filter(policy=source).select_related("clause").order_by("pk"))
    return create_rules_like(
        actor=actor,
        policy=target,
        specs=[rule.as_spec() for rule in rules],
        inactive={rule.pk for rule in rules if not rule.is_active},
    )
