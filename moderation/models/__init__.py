"""Enforcement models, one module per domain, re-exported here."""

from moderation.models.appeals import Appeal
from moderation.models.audit import (
    ACCESS_VERBS,
    AppendOnlyError,
    AuditCheckpoint,
    AuditEvent,
    AuditVerb,
    AuditVerification,
)
from moderation.models.detection import DetectionRule
from moderation.models.notices import Notice
from moderation.models.outbox import OutboxEvent, WebhookDelivery, WebhookEndpoint
from moderation.models.policies import Policy, PolicyClause
from moderation.models.queue import (
    DuplicateGroup,
    DuplicateSignatureBand,
    PolicyScan,
    ReviewItem,
    ReviewItemRule,
    ReviewNote,
    ScanChunk,
)
from moderation.models.removals import CategoryRemoval, RemovalChunk
from moderation.models.sanctions import SUSPENSION_KINDS, EscalationStep, PointsRule, Sanction, SanctionKind
from moderation.models.saved_views import SavedQueueView
from moderation.models.statements import StatementBatch, StatementSubmission
from moderation.models.violations import Violation

__all__ = [
    "ACCESS_VERBS",
    "Appeal",
    "AppendOnlyError",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditVerb",
    "AuditVerification",
    "CategoryRemoval",
    "DetectionRule",
    "DuplicateGroup",
    "DuplicateSignatureBand",
    "EscalationStep",
    "Notice",
    "OutboxEvent",
    "Policy",
    "PolicyClause",
    "PointsRule",
    "PolicyScan",
    "RemovalChunk",
    "ReviewItem",
    "ReviewItemRule",
    "ReviewNote",
    "SUSPENSION_KINDS",
    "SavedQueueView",
    "Sanction",
    "SanctionKind",
    "ScanChunk",
    "StatementBatch",
    "StatementSubmission",
    "Violation",
    "WebhookDelivery",
    "WebhookEndpoint",
]
