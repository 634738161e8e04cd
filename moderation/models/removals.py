"""Scheduled category removals: retire categories at a time and delist what they hold."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CategoryRemoval(models.Model):
    """Retiring one or more categories (and their subcategories) under a policy.

    ``scheduled`` → ``running`` → ``completed`` | ``failed`` (resumable); ``cancelled``
    only before it starts. Each transition is a conditional UPDATE, so two beat ticks or
    two workers never run the same removal twice.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="removals")
    clause = models.ForeignKey(
        "moderation.PolicyClause", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    categories = models.ManyToManyField(
        "sellers.Category", related_name="removals", help_text="The chosen categories; subcategories follow."
    )
    scope_category_ids = models.JSONField(
        default=list, blank=True, help_text="Every category retired, fixed when the removal starts."
    )
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    dry_run = models.JSONField(default=dict, blank=True, help_text="The counts the admin confirmed.")
    chunk_size = models.PositiveIntegerField(default=20_000)
    listings_total = models.PositiveIntegerField(default=0)
    listings_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    merchants_notified = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a chunk last finished: a running removal idle for long is stuck.",
    )

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.CheckConstraint(
                name="removal_status_valid",
                condition=Q(status__in=["scheduled", "running", "completed", "failed", "cancelled"]),
            ),
            models.CheckConstraint(
                name="removal_started_has_time",
                condition=Q(status__in=["scheduled", "cancelled"]) | Q(started_at__isnull=False),
            ),
            models.CheckConstraint(name="removal_done_within_chunks", condition=Q(chunks_done__lte=F("chunks_total"))),
            models.CheckConstraint(name="removal_chunk_size_positive", condition=Q(chunk_size__gte=1)),
        ]
        indexes = [
            # Beat's due-removal sweep: scheduled ones whose time has come.
            models.Index(fields=["scheduled_for"], name="removal_due_idx", condition=Q(status="scheduled")),
        ]

    def __str__(self) -> str:
        return f"Removal #{self.pk} under {self.policy}"

    @property
    def percent_done(self) -> float:
        if self.status == self.Status.COMPLETED:
            return 100.0
        if not self.listings_total:
            return 0.0
        return min(100.0, 100.0 * self.listings_done / self.listings_total)


class RemovalChunk(models.Model):
    """One id range of the listings to delist. Done in one transaction, so it is all or nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    removal = models.ForeignKey(CategoryRemoval, on_delete=models.PROTECT, related_name="chunks")
    number = models.PositiveIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    delisted = models.PositiveIntegerField(default=0)
    merchant_counts = models.JSONField(
        default=dict, blank=True, help_text="Listings this chunk delisted per merchant id: the notices' tally."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["removal", "number"]
        constraints = [
            models.UniqueConstraint(fields=["removal", "number"], name="chunk_unique_number"),
            models.CheckConstraint(name="chunk_range_ordered", condition=Q(first_id__lte=F("last_id"))),
            models.CheckConstraint(name="chunk_status_valid", condition=Q(status__in=["pending", "done", "failed"])),
        ]

    def __str__(self) -> str:
        return f"chunk {self.number} [{self.first_id}..{self.last_id}] of removal #{self.removal_id}"
