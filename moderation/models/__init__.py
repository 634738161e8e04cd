"""Enforcement models, one module per domain, re-exported here."""

from moderation.models.audit import AppendOnlyError, AuditEvent, AuditVerb

__all__ = ["AppendOnlyError", "AuditEvent", "AuditVerb"]
