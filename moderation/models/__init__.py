"""Enforcement models, one module per domain, re-exported here."""

from moderation.models.audit import AppendOnlyError, AuditEvent, AuditVerb
from moderation.models.notices import Notice
from moderation.models.policies import Policy, PolicyClause
from moderation.models.removals import CategoryRemoval, RemovalChunk

__all__ = [
    "AppendOnlyError",
    "AuditEvent",
    "AuditVerb",
    "CategoryRemoval",
    "Notice",
    "Policy",
    "PolicyClause",
    "RemovalChunk",
]
