"""Enforcement models, one module per domain, re-exported here."""

from moderation.models.audit import AppendOnlyError, AuditEvent, AuditVerb
from moderation.models.detection import DetectionRule
from moderation.models.notices import Notice
from moderation.models.policies import Policy, PolicyClause
from moderation.models.queue import PolicyScan, ReviewItem, ReviewNote, ScanChunk
from moderation.models.removals import CategoryRemoval, RemovalChunk
from moderation.models.violations import Violation

__all__ = [
    "AppendOnlyError",
    "AuditEvent",
    "AuditVerb",
    "CategoryRemoval",
    "DetectionRule",
    "Notice",
    "Policy",
    "PolicyClause",
    "PolicyScan",
    "RemovalChunk",
    "ReviewItem",
    "ReviewNote",
    "ScanChunk",
    "Violation",
]
