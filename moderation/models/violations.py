"""Violations: confirmed breaches of a policy by a merchant, the ground for points and sanctions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Violation(models.Model):
    """A breach a person (or the system, for a refused re-listing) confirmed.

    ``counts_toward_sanctions`` is false while the policy is in grace: the listing still
    comes down and the merchant is warned, but no points are given. Overturning (a
    granted appeal) keeps the row, marked ``overturned``: nothing enforcement-related is
    ever deleted.
    """

    class Kind(models.TextChoices):
        PROHIBITED_LISTING = "prohibited_listing", _("Prohibited product listed")
        KEYWORD_EVASION = "keyword_evasion", _("Evasion by keyword distortion")
        CATEGORY_EVASION = "category_evasion", _("Evasion by a misplaced category")
        RELIST_ATTEMPT = "relist_attempt", _("Attempt to re-list a banned product")

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("violation status", "Active")
        OVERTURNED = "overturned", _("Overturned")

    merchant = models.ForeignKey("sellers.Merchant", on_delete=models.PROTECT, related_name="violations")
    listing = models.ForeignKey(
        "sellers.Listing", null=True, blank=True, on_delete=models.PROTECT, related_name="violations"
    )
    # The listing's content version the decision judged (None for a refused listing never saved).
    listing_version = models.PositiveIntegerField(null=True, blank=True)
    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="violations")
    clause = models.ForeignKey(
        "moderation.PolicyClause", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_item = models.ForeignKey(
        "moderation.ReviewItem", null=True, blank=True, on_delete=models.PROTECT, related_name="violations"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.PROHIBITED_LISTING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150, help_text="Who or which task decided.")
    decided_at = models.DateTimeField(default=now)
    automated_detection = models.BooleanField(default=False)
    automated_decision = models.BooleanField(default=False)
    points = models.PositiveSmallIntegerField(default=0)
    points_capped = models.BooleanField(
        default=False, help_text="A general violation: its points share the policy's daily cap."
    )
    counts_toward_sanctions = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    overturned_at = models.DateTimeField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="What was seen: title, matched terms.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(name="violation_status_valid", condition=Q(status__in=["active", "overturned"])),
            models.CheckConstraint(
                name="violation_no_points_in_grace", condition=Q(counts_toward_sanctions=True) | Q(points=0)
            ),
            models.CheckConstraint(
                name="violation_overturned_has_time",
                condition=~Q(status="overturned") | Q(overturned_at__isnull=False),
            ),
        ]
        indexes = [
            # The merchant's record: points within the counting period, newest first.
            models.Index(
                fields=["merchant", "-decided_at"], name="violation_merchant_idx", condition=Q(status="active")
            ),
            models.Index(fields=["policy", "-decided_at"], name="violation_policy_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by merchant #{self.merchant_id} under policy #{self.policy_id}"
