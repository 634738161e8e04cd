"""Points, the escalation ladder and sanctions: what a confirmed violation costs a merchant."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from moderation.models.violations import Violation


class SanctionKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    LISTING_RESTRICTION = "listing_restriction", _("Listing restriction")
    STORE_BLOCK = "store_block", _("Store blocked")
    ACCOUNT_FREEZE = "account_freeze", _("Account frozen")
    ACCOUNT_CLOSURE = "account_closure", _("Account closed")


# Kinds that suspend the merchant's service: DSA Art. 23 asks for a prior warning.
SUSPENSION_KINDS = frozenset({SanctionKind.STORE_BLOCK, SanctionKind.ACCOUNT_FREEZE, SanctionKind.ACCOUNT_CLOSURE})
# The merchant's status follows its most severe active sanction, in this order. Looked up with
# a sanction's ``kind`` as its column reads back: a plain str, equal to its SanctionKind member.
SEVERITY: dict[str, int] = {
    SanctionKind.WARNING: 0,
    SanctionKind.LISTING_RESTRICTION: 1,
    SanctionKind.STORE_BLOCK: 2,
    SanctionKind.ACCOUNT_FREEZE: 3,
    SanctionKind.ACCOUNT_CLOSURE: 4,
}


class PointsRule(models.Model):
    """What one violation of a kind (under one clause, or any) costs, as policy data.

    ``daily_cap_applies``: general violations confirmed on the same day share the
    policy's daily cap; evasion (keyword distortion, a misplaced category) is counted
    per infringement, uncapped.
    """

    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="points_rules")
    kind = models.CharField(max_length=24, choices=Violation.Kind.choices)
    clause = models.ForeignKey(
        "moderation.PolicyClause",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="points_rules",
        help_text="Empty: every clause without a rule of its own.",
    )
    points = models.PositiveSmallIntegerField()
    daily_cap_applies = models.BooleanField(default=True)

    class Meta:
        ordering = ["policy", "kind", "clause"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "kind", "clause"], name="points_rule_unique", condition=Q(clause__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["policy", "kind"], name="points_rule_unique_default", condition=Q(clause__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        where = f" (clause {self.clause.number})" if self.clause_id else ""
        return f"{self.get_kind_display()}{where}: {self.points} points"


class EscalationStep(models.Model):
    """One rung of a policy's ladder: reaching ``threshold`` points applies this sanction.

    ``compliance_days``: the merchant has this long to remove what breaks the policy; a
    merchant still non-compliant at the deadline moves one step up.
    """

    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="escalation_steps")
    threshold = models.PositiveSmallIntegerField(help_text="Points within the counting period.")
    kind = models.CharField(max_length=24, choices=SanctionKind.choices)
    duration_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="How long the sanction lasts; empty for a warning or a closure."
    )
    compliance_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days to comply before the next step; empty at the top of the ladder."
    )
    delists_all = models.BooleanField(default=False, help_text="All the merchant's live listings are delisted.")

    class Meta:
        ordering = ["policy", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "threshold"], name="escalation_step_unique_threshold"),
            models.CheckConstraint(name="escalation_step_threshold_positive", condition=Q(threshold__gte=1)),
            models.CheckConstraint(
                name="escalation_step_kind_valid", condition=Q(kind__in=[k.value for k in SanctionKind])
            ),
        ]

    def __str__(self) -> str:
        duration = f" {self.duration_days} days" if self.duration_days else ""
        return f"{self.threshold} points: {self.get_kind_display()}{duration}"

    @property
    def is_suspension(self) -> bool:
        return self.kind in SUSPENSION_KINDS


class Sanction(models.Model):
    """A measure against a merchant: issued by the ladder, or by a senior moderator.

    ``cause`` names why it exists (``ladder:<policy>:<merchant>:<threshold>:after:<id>``
    or ``manual:<uuid>``) and is unique, so two sweeps, or one run twice, issue it once.
    Ended sanctions keep their row: expired at their end, lifted by a senior moderator,
    or overturned by a granted appeal.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        LIFTED = "lifted", _("Lifted")
        OVERTURNED = "overturned", _("Overturned")

    Kind = SanctionKind

    merchant = models.ForeignKey("sellers.Merchant", on_delete=models.PROTECT, related_name="sanctions")
    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="sanctions")
    step = models.ForeignKey(EscalationStep, null=True, blank=True, on_delete=models.PROTECT, related_name="sanctions")
    kind = models.CharField(max_length=24, choices=SanctionKind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    starts_at = models.DateTimeField(default=now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted or overturned.")
    compliance_deadline = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    points = models.PositiveSmallIntegerField(default=0, help_text="The merchant's points when it was issued.")
    delists_all = models.BooleanField(default=False)
    violations = models.ManyToManyField(Violation, blank=True, related_name="sanctions")
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The sanction this one escalated from.",
    )  # fmt: skip
    cause = models.CharField(max_length=200, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_by_name = models.CharField(max_length=150)
    automated = models.BooleanField(default=True, help_text="Applied by the ladder without a person deciding.")
    reason = models.TextField(blank=True)
    ended_by_name = models.CharField(max_length=150, blank=True)
    end_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="sanction_status_valid", condition=Q(status__in=["active", "expired", "lifted", "overturned"])
            ),
            models.CheckConstraint(name="sanction_kind_valid", condition=Q(kind__in=[k.value for k in SanctionKind])),
            models.CheckConstraint(
                name="sanction_ends_after_start",
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
            ),
            models.CheckConstraint(
                name="sanction_ended_has_time", condition=Q(status="active") | Q(ended_at__isnull=False)
            ),
        ]
        indexes = [
            # The sweep's expiry: active sanctions whose end has come.
            models.Index(fields=["ends_at"], name="sanction_active_end_idx", condition=Q(status="active")),
            # A merchant's sanctions (ladder position, status, merchant page).
            models.Index(fields=["merchant", "-starts_at"], name="sanction_merchant_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of merchant #{self.merchant_id}"

    @property
    def is_suspension(self) -> bool:
        return self.kind in SUSPENSION_KINDS

    @property
    def duration(self) -> timedelta | None:
        return self.ends_at - self.starts_at if self.ends_at else None
