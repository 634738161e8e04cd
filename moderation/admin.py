"""Enforcement rows in the Django admin: read-only windows.

Policies and removals change only through the back-office pages and their services
(announcements notify merchants, removals run in Celery); the admin shows them for
support and audit, and never writes or deletes enforcement rows itself: no add, change
or delete page, and no actions (``backoffice.admin`` says the rules every admin keeps).
"""

from django.contrib import admin

from backoffice.admin import ReadOnlyAdmin, ReadOnlyMixin
from moderation.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditVerification,
    CategoryRemoval,
    EscalationStep,
    Notice,
    PointsRule,
    Policy,
    PolicyClause,
    RemovalChunk,
    ReviewItem,
    Sanction,
    Violation,
)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only for everyone, superusers included: the trail is append-only."""

    list_display = ["occurred_at", "actor_name", "verb", "target_type", "target_repr", "merchant", "reason"]
    list_filter = ["verb", "target_type", "occurred_at"]
    search_fields = ["actor_name", "target_repr", "reason"]
    list_select_related = ["target_type", "merchant"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    """The trail's seal: read-only like the events it covers (manage.py verify_audit checks it)."""

    list_display = ["sequence", "first_event_id", "last_event_id", "event_count", "sealed_at", "chain_hash"]
    show_full_result_count = False


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ["finished_at", "verified_by", "ok", "checkpoints_checked", "first_failed_sequence", "problem"]
    list_filter = ["ok"]


class ClauseInline(ReadOnlyMixin, admin.TabularInline):
    model = PolicyClause
    extra = 0


class PointsRuleInline(ClauseInline):
    model = PointsRule


class EscalationStepInline(ClauseInline):
    model = EscalationStep


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    list_display = ["title", "slug", "version", "status", "effective_at", "enforcement_starts_at"]
    list_filter = ["status", "marketplaces"]
    search_fields = ["title", "slug"]
    inlines = [ClauseInline, PointsRuleInline, EscalationStepInline]


class ChunkInline(ReadOnlyMixin, admin.TabularInline):
    model = RemovalChunk
    extra = 0
    fields = ["number", "first_id", "last_id", "status", "delisted", "attempts", "error", "finished_at"]


@admin.register(CategoryRemoval)
class CategoryRemovalAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "policy",
        "status",
        "scheduled_for",
        "listings_done",
        "listings_total",
        "finished_at",
    ]
    list_filter = ["status", "policy"]
    list_select_related = ["policy"]
    inlines = [ChunkInline]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "merchant", "kind", "subject", "restricts", "email_status", "sent_at"]
    list_filter = ["kind", "email_status", "restricts", "language"]
    search_fields = ["subject", "merchant__store_name", "puid"]
    list_select_related = ["merchant"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    """Read-only: moderators decide in the review queue, through its services."""

    list_display = ["id", "listing", "policy", "merchant", "score", "priority", "status", "tier", "due_at"]
    list_filter = ["status", "tier", "source", "policy", "marketplace"]
    search_fields = ["listing__title", "merchant__store_name"]
    list_select_related = ["listing", "policy", "merchant"]
    ordering = ["-priority", "id"]


@admin.register(Violation)
class ViolationAdmin(ReadOnlyAdmin):
    list_display = ["decided_at", "merchant", "policy", "kind", "points", "counts_toward_sanctions", "status"]
    list_filter = ["status", "kind", "counts_toward_sanctions", "policy"]
    search_fields = ["merchant__store_name", "listing__title"]
    list_select_related = ["merchant", "policy"]


@admin.register(Sanction)
class SanctionAdmin(ReadOnlyAdmin):
    """Read-only: the ladder issues sanctions, senior moderators issue and lift them on the merchant page."""

    list_display = ["starts_at", "merchant", "policy", "kind", "status", "ends_at", "points", "automated"]
    list_filter = ["status", "kind", "automated", "policy"]
    search_fields = ["merchant__store_name", "cause"]
    list_select_related = ["merchant", "policy"]
    raw_id_fields = ["violations", "previous"]
