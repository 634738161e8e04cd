"""Policies: what is banned, where, from when, with what grace, and how long to appeal."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import overload

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from sellers.models import validate_timezone


class Policy(models.Model):
    """A ban, as data. One row per version: once announced, a change is a new version.

    The dates are stored in UTC and meant in ``timezone`` (the reference case's
    "2021-10-08" is midnight in Asia/Shanghai, 2021-10-07 16:00 UTC).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ANNOUNCED = "announced", _("Announced")
        IN_EFFECT = "in_effect", _("In effect")
        RETIRED = "retired", _("Retired")

    class FlaggedListings(models.TextChoices):
        """What becomes of a new or edited listing whose content the rules flag, once the policy applies."""

        REFUSE = "refuse", _("Refused at once")
        REVIEW = "review", _("Held until a moderator decides")

    slug = models.SlugField(max_length=100, help_text=_("Stable across versions, e.g. virtual-currency-mining."))
    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(help_text=_("The policy as published to merchants."))
    marketplaces = models.ManyToManyField("sellers.Marketplace", related_name="policies")
    categories = models.ManyToManyField(
        "sellers.Category",
        blank=True,
        related_name="policies",
        help_text=_("Categories the ban closes; their subcategories follow."),
    )
    timezone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_timezone])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    announced_at = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(help_text=_("The rules apply and the categories close."))
    enforcement_starts_at = models.DateTimeField(
        help_text=_("End of grace: violations from here on count toward sanctions.")
    )
    appeal_window_days = models.PositiveSmallIntegerField(
        default=180, help_text=_("Days a merchant has to appeal a decision (DSA Art. 20: at least six months).")
    )
    review_due_hours = models.PositiveSmallIntegerField(
        default=24, help_text=_("Service level: hours from detection to a moderator's decision.")
    )
    detection_threshold = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=10,
        help_text=_("A listing whose rule score reaches this goes to the review queue."),
    )
    # Refuse: the seller is told at once and the attempt is recorded (the rules are trusted). Review:
    # the listing is saved unpublished (Listing.Status.HELD) with a review item, and goes live only
    # if a moderator dismisses it (rules still being tuned, or a ban where false positives cost much).
    flagged_listings = models.CharField(
        max_length=8,
        choices=FlaggedListings.choices,
        default=FlaggedListings.REFUSE,
        help_text=_(
            "New or edited listings the rules flag: refused at once, or held unpublished until a moderator decides."
        ),
    )
    daily_points_cap = models.PositiveSmallIntegerField(
        default=6, help_text=_("Most points general violations confirmed on one day add up to (0: no cap).")
    )
    points_valid_days = models.PositiveSmallIntegerField(
        default=365,
        help_text=_("Days a violation's points count, and a sanction holds the merchant's place on the ladder."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["-effective_at", "slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="policy_unique_slug_version"),
            # One version in effect at a time, and at most one waiting to take over from it.
            models.UniqueConstraint(
                fields=["slug"], condition=Q(status="in_effect"), name="policy_one_version_in_effect"
            ),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(status="announced"), name="policy_one_version_announced"
            ),
            models.CheckConstraint(
                name="policy_status_valid",
                condition=Q(status__in=["draft", "announced", "in_effect", "retired"]),
            ),
            models.CheckConstraint(
                name="policy_grace_after_effect", condition=Q(enforcement_starts_at__gte=F("effective_at"))
            ),
            models.CheckConstraint(
                name="policy_announced_before_effect",
                condition=Q(announced_at__isnull=True) | Q(announced_at__lte=F("effective_at")),
            ),
            models.CheckConstraint(
                name="policy_announced_has_time",
                condition=Q(status="draft") | Q(announced_at__isnull=False),
            ),
            models.CheckConstraint(
                name="policy_flagged_listings_valid", condition=Q(flagged_listings__in=["refuse", "review"])
            ),
            models.CheckConstraint(name="policy_appeal_window_positive", condition=Q(appeal_window_days__gte=1)),
            models.CheckConstraint(name="policy_points_valid_positive", condition=Q(points_valid_days__gte=1)),
        ]

    def __str__(self) -> str:
        return self.title if self.version == 1 else f"{self.title} (v{self.version})"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @overload
    def local(self, moment: datetime) -> datetime: ...
    @overload
    def local(self, moment: None) -> None: ...
    @overload
    def local(self, moment: datetime | None) -> datetime | None: ...
    def local(self, moment: datetime | None) -> datetime | None:
        """A stored UTC time as the policy means it, in its own timezone."""
        return moment.astimezone(self.zone) if moment else None

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def holds_flagged_listings(self) -> bool:
        return self.flagged_listings == self.FlaggedListings.REVIEW

    def is_effective(self, at: datetime | None = None) -> bool:
        """The rules apply: announced (or in effect) and past the effective date."""
        at = at or timezone.now()
        return self.status in {self.Status.ANNOUNCED, self.Status.IN_EFFECT} and at >= self.effective_at

    def in_grace(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.is_effective(at) and at < self.enforcement_starts_at

    def counts_toward_sanctions(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.is_effective(at) and at >= self.enforcement_starts_at

    def appeal_deadline(self, decided_at: datetime) -> datetime:
        return decided_at + timedelta(days=self.appeal_window_days)

    def points_counted_since(self, at: datetime) -> datetime:
        """Violations decided from this moment on still count at ``at``."""
        return at - timedelta(days=self.points_valid_days)


class PolicyClause(models.Model):
    """A numbered clause of a policy: decisions cite the clause they apply."""

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="clauses")
    number = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    text = models.TextField()

    class Meta:
        ordering = ["policy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="clause_unique_number"),
            models.CheckConstraint(name="clause_number_positive", condition=Q(number__gte=1)),
        ]

    def __str__(self) -> str:
        return f"§{self.number} {self.title}"
