"""Statements of reasons owed to the EU DSA Transparency Database (Art. 24(5)), and what was sent.

``StatementSubmission`` is one row per restricting notice, queued once (its ``puid`` is the
database's key, so a statement is never submitted as two); ``StatementBatch`` is one row per
HTTP request the submitter made: when, to where, which puids, and what came back.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StatementBatch(models.Model):
    """One request to the Transparency Database: what was sent and how it was answered."""

    sent_at = models.DateTimeField(default=timezone.now, editable=False)
    endpoint = models.CharField(max_length=500, help_text="The URL posted to (never the token).")
    size = models.PositiveSmallIntegerField(help_text="Statements in the request (at most 100).")
    puids = models.JSONField(default=list, blank=True, help_text="The puids sent, in order.")
    http_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty when no answer came (timeout, connection refused)."
    )
    submitted = models.PositiveSmallIntegerField(default=0, help_text="Accepted (201).")
    duplicates = models.PositiveSmallIntegerField(default=0, help_text="Already in the database (422, duplicate puid).")
    invalid = models.PositiveSmallIntegerField(default=0, help_text="Refused for an invalid field (422): failed.")
    retry_later = models.PositiveSmallIntegerField(default=0, help_text="Backed off after an error or no answer.")
    gave_up = models.PositiveSmallIntegerField(default=0, help_text="Failed for good after their last attempt.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        answer = self.http_status or "no answer"
        return f"DSA statements batch #{self.pk}: {self.size} sent, {answer}"


class StatementSubmission(models.Model):
    """A notice's statement of reasons on its way to the Transparency Database.

    ``pending`` → ``sending`` (claimed by a worker until ``claimed_until``) → ``submitted``
    (accepted, or the database already had its puid: ``duplicate``) | ``failed`` (an invalid
    field, or no success after the last attempt). A failed attempt puts it back to
    ``pending`` with ``next_attempt_at`` further out each time.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUBMITTED = "submitted", _("Submitted")
        FAILED = "failed", _("Failed")

    notice = models.OneToOneField("moderation.Notice", on_delete=models.PROTECT, related_name="statement_submission")
    puid = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    duplicate = models.BooleanField(default=False, help_text="The database already had this puid (422 duplicate).")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The last HTTP status.")
    last_error = models.TextField(blank=True)
    batch = models.ForeignKey(
        StatementBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="submissions",
        help_text="The last request that carried it.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                name="statement_status_valid",
                condition=Q(status__in=["pending", "sending", "submitted", "failed"]),
            ),
            models.CheckConstraint(
                name="statement_submitted_has_time",
                condition=~Q(status="submitted") | Q(submitted_at__isnull=False),
            ),
        ]
        indexes = [
            # The submitter's claim: statements due, oldest due first.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="statement_due_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Statement {self.puid} ({self.status})"
