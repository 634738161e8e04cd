"""Detection rules: the words, phrases and expressions that make a listing suspect under a policy.

Rules are data that policy admins tune while a policy runs (a new miner model, a
look-alike to exclude); ``moderation.services.detection`` changes them, each change
audited, and ``moderation.detection`` says how they match.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from moderation import detection


def default_rule_fields() -> list[str]:
    return list(detection.FIELDS)


def validate_rule_fields(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(gettext("Choose at least one of: %(fields)s.") % {"fields": ", ".join(detection.FIELDS)})
    unknown = [name for name in value if name not in detection.FIELDS]
    if unknown:
        raise ValidationError(
            gettext("Unknown field(s) %(unknown)s: choose among %(fields)s.")
            % {"unknown": ", ".join(map(str, unknown)), "fields": ", ".join(detection.FIELDS)}
        )
    if len(set(value)) != len(value):
        raise ValidationError(gettext("Name each field once."))


def validate_exclusions(value) -> None:
    if not isinstance(value, list):
        raise ValidationError(gettext("Exclusions are a list of words or phrases."))
    for exclusion in value:
        error = detection.exclusion_error(exclusion)
        if error:
            raise ValidationError(error)


def validate_weight(value) -> None:
    if value is not None and Decimal(value) <= 0:
        raise ValidationError(gettext("The weight must be more than zero."))


class DetectionRule(models.Model):
    """One thing to look for in listings under a policy, and how much it counts.

    A listing's score is the sum of the weights of the rules that match it (each rule
    once); at the policy's ``detection_threshold`` it goes to review (or is refused).
    Rules are never deleted: a rule that no longer applies is disabled, so the terms a
    past decision cites still name a rule. ``revision`` grows with every change, so the
    cached matchers know a rule changed even when the clock did not move.
    """

    class Kind(models.TextChoices):
        KEYWORD = detection.KEYWORD, _("Keyword")
        PHRASE = detection.PHRASE, _("Phrase")
        REGEX = detection.REGEX, _("Regular expression")

    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="detection_rules")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.KEYWORD)
    pattern = models.CharField(
        # Room for an alternation of a few dozen names; RE2 bounds what a pattern may cost.
        max_length=1000,
        help_text="A word, a phrase, or a regular expression run on the normalised text "
        "(lower case, half-width, no accents, single spaces).",
    )
    weight = models.DecimalField(max_digits=6, decimal_places=2, validators=[validate_weight])
    fields = models.JSONField(
        default=default_rule_fields,
        validators=[validate_rule_fields],
        help_text="Where to look: any of title, description, attributes.",
    )
    exclusions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_exclusions],
        help_text="Phrases that cancel this rule in a field where they occur (e.g. “data mining”).",
    )
    label = models.CharField(
        max_length=120,
        blank=True,
        help_text="What moderators see for this rule (e.g. “Hash rate with its unit”); they never see the pattern. "
        "Required for a regular expression; a keyword or phrase shows its word when left blank.",
    )
    clause = models.ForeignKey(
        "moderation.PolicyClause",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="detection_rules",
        help_text="The clause of the policy a match points to; decisions on flagged listings cite it.",
    )
    note = models.TextField(blank=True, help_text="Why this rule and this weight, for the next admin.")
    is_active = models.BooleanField(default=True)
    is_shadow = models.BooleanField(
        default=False,
        help_text="Shadow: matched and counted, shown to moderators as shadow, but it flags and refuses nothing "
        "until switched on.",
    )
    revision = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["policy", "-weight", "kind", "pattern"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "kind", "pattern"], name="detection_rule_unique_pattern"),
            models.CheckConstraint(name="detection_rule_weight_positive", condition=Q(weight__gt=0)),
            models.CheckConstraint(
                name="detection_rule_kind_valid", condition=Q(kind__in=["keyword", "phrase", "regex"])
            ),
        ]
        indexes = [
            # A policy's rules, last changed first (the rules page); the matcher's load filters on policy too.
            models.Index(fields=["policy", "updated_at"], name="detection_rule_policy_time_idx"),
        ]

    def __str__(self) -> str:
        state = "" if self.is_active else " (disabled)"
        state += " (shadow)" if self.is_shadow and self.is_active else ""
        return f"{self.get_kind_display().lower()} “{self.pattern}” ×{self.weight}{state}"

    @property
    def display_label(self) -> str:
        """What moderators see: the label; a keyword's or phrase's word without one; never an expression."""
        if self.label:
            return self.label
        return self.pattern if self.kind != self.Kind.REGEX else gettext("expression #%(id)s") % {"id": self.pk}

    @property
    def state(self) -> str:
        if not self.is_active:
            return "disabled"
        return "shadow" if self.is_shadow else "active"

    def clean(self) -> None:
        super().clean()
        if self.kind not in detection.KINDS:
            return  # The kind's own error says it; a pattern is judged by its kind.
        error = detection.pattern_error(self.kind, self.pattern or "")
        if error:
            raise ValidationError({"pattern": error})
        if self.kind == self.Kind.REGEX and not self.label.strip():
            raise ValidationError(
                {"label": gettext("Name what this expression finds (e.g. “Hash rate”): moderators see the label.")}
            )
        if self.clause_id is not None and self.clause.policy_id != self.policy_id:
            raise ValidationError({"clause": gettext("Choose a clause of this rule's own policy.")})

    def as_spec(self) -> detection.RuleSpec:
        """The rule as the matcher takes it."""
        return detection.RuleSpec(
            id=self.pk,
            kind=self.kind,
            pattern=self.pattern,
            weight=self.weight,
            fields=tuple(self.fields),
            exclusions=tuple(self.exclusions),
            note=self.note,
            label=self.label,
            clause=self.clause.number if self.clause_id else None,
            shadow=self.is_shadow,
        )
