"""Appeals: a merchant's complaint against one decision (DSA Art. 20), and its outcome."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

OPEN_STATUSES = ["submitted", "in_review"]


class Appeal(models.Model):
    """One appeal against one decision: a listing delisted by a category removal, a violation
    (a take-down, a refused re-listing) or a sanction.

    ``decision_key`` names the decision (``delisting-<listing>``, ``violation-<id>``,
    ``sanction-<id>``, as the sellers' API names it); a partial unique index allows one open appeal per decision.
    ``tier`` is ``senior`` when the decision was a senior moderator's or suspends the
    account: another senior decides it. Claims are leases, like the review queue's.
    """

    class Kind(models.TextChoices):
        DELISTING = "delisting", _("Listing delisted by a category removal")
        VIOLATION = "violation", _("Violation (listing taken down or refused)")
        SANCTION = "sanction", _("Sanction")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        IN_REVIEW = "in_review", _("In review")
        GRANTED = "granted", _("Granted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Tier(models.TextChoices):
        MODERATOR = "moderator", _("Moderators")
        SENIOR = "senior", _("Senior moderators")

    merchant = models.ForeignKey("sellers.Merchant", on_delete=models.PROTECT, related_name="appeals")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    decision_key = models.CharField(max_length=64)
    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="appeals")
    listing = models.ForeignKey(
        "sellers.Listing", null=True, blank=True, on_delete=models.PROTECT, related_name="appeals"
    )
    removal = models.ForeignKey(
        "moderation.CategoryRemoval", null=True, blank=True, on_delete=models.PROTECT, related_name="appeals"
    )
    violation = models.ForeignKey(
        "moderation.Violation", null=True, blank=True, on_delete=models.PROTECT, related_name="appeals"
    )
    sanction = models.ForeignKey(
        "moderation.Sanction", null=True, blank=True, on_delete=models.PROTECT, related_name="appeals"
    )
    decided_originally_at = models.DateTimeField(help_text="When the appealed decision was taken.")
    original_decider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who took the appealed decision: they may not decide its appeal.",
    )
    grounds = models.TextField()
    plan_root_cause = models.TextField(blank=True)
    plan_corrections = models.TextField(blank=True)
    plan_prevention = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.MODERATOR)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField(default=now)
    due_at = models.DateTimeField()
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="The moderator's reason, sent to the merchant.")
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-filed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["decision_key"], condition=Q(status__in=OPEN_STATUSES), name="appeal_one_open_per_decision"
            ),
            models.CheckConstraint(
                name="appeal_status_valid",
                condition=Q(status__in=["submitted", "in_review", "granted", "rejected", "withdrawn"]),
            ),
            models.CheckConstraint(
                name="appeal_kind_valid", condition=Q(kind__in=["delisting", "violation", "sanction"])
            ),
            models.CheckConstraint(
                name="appeal_decided_has_decider",
                condition=~Q(status__in=["granted", "rejected"])
                | (Q(decided_by__isnull=False) & Q(decided_at__isnull=False) & ~Q(decision_note="")),
            ),
            models.CheckConstraint(
                name="appeal_withdrawn_has_time", condition=~Q(status="withdrawn") | Q(withdrawn_at__isnull=False)
            ),
            models.CheckConstraint(
                name="appeal_names_its_decision",
                condition=(Q(kind="delisting") & Q(listing__isnull=False))
                | (Q(kind="violation") & Q(violation__isnull=False))
                | (Q(kind="sanction") & Q(sanction__isnull=False)),
            ),
        ]
        indexes = [
            # The appeal queue: open appeals by tier, oldest due first.
            models.Index(fields=["tier", "due_at"], name="appeal_queue_idx", condition=Q(status__in=OPEN_STATUSES)),
            # A merchant's appeals (sellers' API), newest first.
            models.Index(fields=["merchant", "-filed_at"], name="appeal_merchant_idx"),
        ]

    def __str__(self) -> str:
        return f"Appeal #{self.pk} against {self.decision_key}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
