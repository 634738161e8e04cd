"""Notices to merchants: the statement of reasons for every restriction, and what else they are told."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from moderation.models.audit import AppendOnlyError

# Columns a notice may change after it is written: only its e-mail delivery.
DELIVERY_FIELDS = ["email_status", "email_attempts", "email_claimed_until", "sent_at", "last_error"]


class NoticeQuerySet(models.QuerySet):
    def update(self, **kwargs):
        frozen = set(kwargs) - set(DELIVERY_FIELDS)
        if frozen:
            raise AppendOnlyError(f"A notice's content cannot change ({', '.join(sorted(frozen))}).")
        return super().update(**kwargs)

    def delete(self):
        raise AppendOnlyError("Notices are append-only: they cannot be deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class Notice(models.Model):
    """What a merchant was told, frozen when written (a trigger refuses content changes).

    ``dedupe_key`` names the cause (``removal:7:merchant:42``) so a task delivered twice
    writes one notice; ``transparency`` holds the DSA Transparency Database fields of a
    restriction (``puid`` is its unique id there).
    """

    class Kind(models.TextChoices):
        POLICY_ANNOUNCED = "policy_announced", _("Policy announced")
        LISTINGS_DELISTED = "listings_delisted", _("Listings delisted by a category removal")
        LISTING_TAKEN_DOWN = "listing_taken_down", _("Listing taken down")
        LISTING_REFUSED = "listing_refused", _("Listing refused")
        LISTING_HELD = "listing_held", _("Listing held for review")
        LISTING_PUBLISHED = "listing_published", _("Listing published after review")
        WARNING = "warning", _("Warning")
        SANCTION = "sanction", _("Sanction")
        SANCTION_ENDED = "sanction_ended", _("Sanction ended")
        APPEAL_RECEIVED = "appeal_received", _("Appeal received")
        APPEAL_IN_REVIEW = "appeal_in_review", _("Appeal in review")
        APPEAL_WITHDRAWN = "appeal_withdrawn", _("Appeal withdrawn")
        APPEAL_DECIDED = "appeal_decided", _("Appeal decided")
        DECISION_WITHDRAWN = "decision_withdrawn", _("Decision withdrawn")

    class EmailStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    merchant = models.ForeignKey("sellers.Merchant", on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    policy = models.ForeignKey(
        "moderation.Policy", null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    clause = models.ForeignKey(
        "moderation.PolicyClause", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    language = models.CharField(max_length=8, default="en")
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="The statement of reasons as the merchant reads it.")
    restricts = models.BooleanField(default=False, help_text="Carries a restriction (a statement of reasons).")
    appeal_deadline = models.DateTimeField(null=True, blank=True)
    transparency = models.JSONField(default=dict, blank=True, help_text="DSA Transparency Database fields.")
    puid = models.CharField(max_length=100, unique=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    email_status = models.CharField(max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = NoticeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="notice_email_status_valid",
                condition=Q(email_status__in=["pending", "sending", "sent", "failed"]),
            ),
            models.CheckConstraint(
                name="notice_sent_has_time", condition=~Q(email_status="sent") | Q(sent_at__isnull=False)
            ),
        ]
        indexes = [
            # A merchant's notices, newest first (sellers' API, merchant page).
            models.Index(fields=["merchant", "-created_at"], name="notice_merchant_time_idx"),
            # The mailer's sweep for notices still to send.
            models.Index(fields=["id"], name="notice_unsent_idx", condition=Q(email_status__in=["pending", "sending"])),
        ]

    def __str__(self) -> str:
        return self.subject

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("A notice cannot change once written; only its delivery is updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Notices are append-only: they cannot be deleted.")
