"""The append-only audit trail: who or what changed which row, when, why, before and after.

Append-only three times over: the ORM refuses updates and deletes (model and queryset),
the admin shows the rows read-only, and on PostgreSQL a trigger refuses UPDATE and DELETE
even from raw SQL (migration 0002).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row that is append-only."""


class AuditVerb(models.IntegerChoices):
    """What happened. Numbers are stored, so they never change; each domain has a range."""

    # 100-199: the catalog
    MARKETPLACE_CREATED = 101, _("marketplace created")
    MARKETPLACE_EDITED = 102, _("marketplace edited")
    CATEGORY_CREATED = 111, _("category created")
    CATEGORY_RETIRED = 112, _("category retired")
    MERCHANT_REGISTERED = 121, _("merchant registered")
    MERCHANT_EDITED = 122, _("merchant edited")
    LISTING_CREATED = 131, _("listing created")
    LISTING_EDITED = 132, _("listing edited")
    LISTING_REMOVED_BY_SELLER = 133, _("listing removed by seller")
    LISTING_REFUSED = 134, _("listing refused")
    LISTINGS_IMPORTED = 135, _("listings imported")
    LISTING_HELD = 136, _("listing held for review")
    LISTING_PUBLISHED = 137, _("listing published after review")
    # 200-299: policies and their detection rules
    POLICY_CREATED = 201, _("policy created")
    POLICY_EDITED = 202, _("policy edited")
    POLICY_ANNOUNCED = 203, _("policy announced")
    POLICY_VERSIONED = 204, _("policy new version")
    POLICY_TOOK_EFFECT = 205, _("policy took effect")
    POLICY_RETIRED = 206, _("policy retired")
    DETECTION_RULE_CHANGED = 211, _("detection rule changed")
    # 300-399: scheduled category removals
    REMOVAL_SCHEDULED = 301, _("removal scheduled")
    REMOVAL_CANCELLED = 302, _("removal cancelled")
    REMOVAL_STARTED = 303, _("removal started")
    REMOVAL_COMPLETED = 304, _("removal completed")
    REMOVAL_FAILED = 305, _("removal failed")
    REMOVAL_RESUMED = 306, _("removal resumed")
    LISTING_DELISTED_BY_REMOVAL = 311, _("listing delisted by removal")
    # 400-499: detection and the review queue
    REVIEW_ITEM_OPENED = 401, _("review item opened")
    REVIEW_ITEM_CLAIMED = 402, _("review item claimed")
    REVIEW_ITEM_RELEASED = 403, _("review item released")
    LISTING_TAKEN_DOWN = 404, _("listing taken down")
    REVIEW_ITEM_DISMISSED = 405, _("review item dismissed")
    REVIEW_ITEM_ESCALATED = 406, _("review item escalated")
    REVIEW_NOTE_ADDED = 407, _("review note added")
    REVIEW_DECISION_UNDONE = 408, _("review decision undone")
    REVIEW_ITEM_ASSIGNED = 409, _("review item assignment changed")  # assigned, reassigned or unassigned
    SCAN_STARTED = 411, _("scan started")
    SCAN_COMPLETED = 412, _("scan completed")
    SCAN_FAILED = 413, _("scan failed")
    SAVED_VIEW_SAVED = 414, _("saved queue view saved")  # created, renamed or its sharing changed
    SAVED_VIEW_DELETED = 415, _("saved queue view deleted")
    DUPLICATE_GROUP_FORMED = 416, _("similar listings grouped")  # a second item joined a group of one
    DUPLICATE_GROUP_JOINED = 417, _("similar listing joined a group")
    # 420-429: the marketplaces' own systems (sellers.integration); what they change is audited
    # under the catalog's verbs, with the service account as the actor.
    SERVICE_ACCOUNT_CREATED = 420, _("service account created")
    SERVICE_ACCOUNT_KEY_ISSUED = 421, _("service account key issued")
    SERVICE_ACCOUNT_REVOKED = 422, _("service account revoked")
    SERVICE_ACCOUNT_KEY_REVOKED = 423, _("service account key revoked")
    # 430-439: the marketplaces' webhook endpoints (the outbox of enforcement events)
    WEBHOOK_ENDPOINT_CREATED = 430, _("webhook endpoint created")
    WEBHOOK_SECRET_ROTATED = 431, _("webhook secret rotated")
    WEBHOOK_ENDPOINT_DISABLED = 432, _("webhook endpoint disabled")
    WEBHOOK_ENDPOINT_ENABLED = 433, _("webhook endpoint re-enabled")
    WEBHOOK_REPLAY_REQUESTED = 434, _("webhook replay requested")
    WEBHOOK_ENDPOINT_EDITED = 435, _("webhook endpoint address changed")
    # 500-599: violations and sanctions
    VIOLATION_RECORDED = 501, _("violation recorded")
    VIOLATION_OVERTURNED = 502, _("violation overturned")
    SANCTION_ISSUED = 511, _("sanction issued")
    SANCTION_EXPIRED = 512, _("sanction expired")
    SANCTION_LIFTED = 513, _("sanction lifted")
    SANCTION_OVERTURNED = 514, _("sanction overturned")
    ENFORCEMENT_STATUS_CHANGED = 521, _("enforcement status changed")
    # 600-699: appeals
    APPEAL_FILED = 601, _("appeal filed")
    APPEAL_WITHDRAWN = 602, _("appeal withdrawn")
    APPEAL_CLAIMED = 603, _("appeal claimed")
    APPEAL_GRANTED = 604, _("appeal granted")
    APPEAL_REJECTED = 605, _("appeal rejected")
    APPEAL_RELEASED = 606, _("appeal claim released")
    LISTING_RESTORED = 611, _("listing restored")
    # 700-799: notices to merchants
    NOTICE_CREATED = 701, _("notice created")
    NOTICE_DELIVERED = 702, _("notice delivered")
    NOTICE_DELIVERY_FAILED = 703, _("notice delivery failed")
    NOTICE_DELIVERY_RETRIED = 704, _("notice delivery retried")
    # 800-899: access to the back office
    LOGIN = 801, _("login")
    LOGOUT = 802, _("logout")
    LOGIN_FAILED = 803, _("login failed")
    API_TOKEN_ROTATED = 804, _("API token rotated")
    TWO_FACTOR_ENABLED = 805, _("two-factor authentication enabled")
    TWO_FACTOR_DISABLED = 806, _("two-factor authentication disabled")
    LOCKED_OUT = 807, _("locked out after failed logins")
    PREFERENCES_CHANGED = 808, _("preferences changed")
    API_TOKEN_ISSUED = 821, _("API token issued")
    API_TOKEN_REVOKED = 822, _("API token revoked")
    API_SIGNED_IN = 823, _("signed in to the API")
    USER_CREATED = 841, _("user account created")
    USER_CHANGED = 842, _("user account changed")
    USER_PASSWORD_SET = 843, _("user password set by an administrator")
    # 900-999: transparency reporting
    STATEMENTS_SUBMITTED = 901, _("statements submitted")
    STATEMENT_RETRIED = 902, _("statement submission retried")


# Sign-ins and account settings: about a person's access, not about any merchant or listing.
ACCESS_VERBS = frozenset(verb for verb in AuditVerb if 800 <= verb < 900)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class AuditEvent(models.Model):
    """One thing that happened. ``actor`` is the person; for a system task it is empty and
    ``actor_name`` names the task (``task:run_due_removals``)."""

    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Username, or 'task:<name>' for the system.")
    verb = models.PositiveSmallIntegerField(choices=AuditVerb.choices)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.BigIntegerField()
    target_repr = models.CharField(max_length=200, blank=True)
    # No database constraint on these two: an FK check would take a share lock on the
    # merchant's (or policy's) row for every event written, and a removal writes a million.
    # The rows they name are never deleted (PROTECT in the ORM, no delete path anywhere).
    merchant = models.ForeignKey(
        "sellers.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_constraint=False,
    )
    policy = models.ForeignKey(
        "moderation.Policy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_constraint=False,
    )
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The history of one object (item page, listing page, appeal evidence).
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            # A merchant's enforcement timeline, newest first.
            models.Index(fields=["merchant", "-occurred_at"], name="audit_merchant_time_idx"),
            # The dashboard and the audit browser for one policy.
            models.Index(fields=["policy", "verb", "-occurred_at"], name="audit_policy_verb_time_idx"),
            # The audit browser and the dashboard: by verb over a period.
            models.Index(fields=["verb", "-occurred_at"], name="audit_verb_time_idx"),
        ]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.actor_name} {self.get_verb_display()} {self.target_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: they cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


# --- The seal: chained checkpoints over the trail, and their verification -------------------

# The previous hash of the first checkpoint: no checkpoint comes before it.
# Every column of AuditEvent, in one order: the order the seal hashes them in
# (moderation.services.sealing) and, without the id the sequence draws, the order set-based
# writers SELECT them in (moderation.services.audit.events_insert_sql). A column added to the
# model is added here; a test compares this with the model's fields.
EVENT_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "verb",
    "target_type_id",
    "target_id",
    "target_repr",
    "merchant_id",
    "policy_id",
    "before",
    "after",
    "reason",
)

GENESIS_HASH = "0" * 64


class SealRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only: they cannot be deleted.")

    update.queryset_only = True
    delete.queryset_only = True


class AppendOnlyModel(models.Model):
    """Rows written once and never changed: the ORM refuses, and so does PostgreSQL (a trigger)."""

    objects = SealRecordQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only: they cannot be deleted.")


class AuditCheckpoint(AppendOnlyModel):
    """A sealed batch of the trail: the events with ids after the previous checkpoint's
    ``last_event_id`` up to this one's, hashed in id order (``batch_hash``), chained to the
    checkpoint before (``chain_hash`` covers this row's fields and ``previous_hash``).

    Written by ``moderation.services.sealing.seal_audit_events`` (beat, every minute);
    recomputed by ``manage.py verify_audit``. A rewritten, deleted or inserted event changes a
    batch's hash or count; a rewritten or removed checkpoint breaks the chain after it.
    """

    # Unique: two sealers at once both try the next number and one insert fails, so the
    # chain cannot fork. Its unique index also finds the last checkpoint.
    sequence = models.PositiveIntegerField(unique=True)
    first_event_id = models.BigIntegerField()
    last_event_id = models.BigIntegerField(help_text="The next checkpoint covers the events after this id.")
    event_count = models.PositiveIntegerField()
    batch_hash = models.CharField(max_length=64, help_text="SHA-256 of the batch's events in canonical form.")
    previous_hash = models.CharField(max_length=64, help_text="The previous checkpoint's chain hash.")
    chain_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of this row's fields.")
    # The round that wrote it: the bound it fixed under the seal lock (every event up to that id
    # had committed) and when. An event above a round's bound was written after its sealed_at,
    # which is how verification tells a back-dated insert from a backlog sealed late.
    bound_event_id = models.BigIntegerField(help_text="max(id) when sealed_at was fixed.")
    sealed_at = models.DateTimeField(
        help_text="Database time when the upper bound was fixed: every event up to it had committed."
    )
    # The batch is in id order, not in time order: its earliest and latest times.
    earliest_occurred_at = models.DateTimeField()
    latest_occurred_at = models.DateTimeField()
    sealed_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.CheckConstraint(
                name="audit_checkpoint_range_valid",
                condition=Q(first_event_id__lte=F("last_event_id"))
                & Q(last_event_id__lte=F("bound_event_id"))
                & Q(event_count__gte=1)
                & Q(event_count__lte=F("last_event_id") - F("first_event_id") + 1)
                & Q(earliest_occurred_at__lte=F("latest_occurred_at")),
            ),
        ]

    def __str__(self) -> str:
        return f"Audit checkpoint #{self.sequence}: events {self.first_event_id}–{self.last_event_id}"


class AuditVerification(AppendOnlyModel):
    """One recomputation of the whole chain (``manage.py verify_audit`` or the daily task) and
    what it found. Kept apart from the checkpoints, which never change."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(default=timezone.now)
    verified_by = models.CharField(max_length=150, help_text="Username, or 'task:<name>' for the system.")
    ok = models.BooleanField()
    checkpoints_checked = models.PositiveIntegerField()
    events_checked = models.PositiveBigIntegerField()
    # The last checkpoint up to which everything matched (empty: none did, or none existed).
    verified_through = models.ForeignKey(
        AuditCheckpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The first checkpoint that did not match (a sequence number: the row itself may be what is gone).
    first_failed_sequence = models.PositiveIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True, help_text="The first mismatch, in words.")
    problems = models.JSONField(default=list, blank=True, help_text="Every mismatch found (capped).")
    events_unsealed = models.PositiveBigIntegerField(help_text="Events past the last checkpoint, not sealed yet.")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Audit verification #{self.pk}: {'ok' if self.ok else 'MISMATCH'} at {self.finished_at:%Y-%m-%d %H:%M}"
