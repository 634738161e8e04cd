"""The DSA Transparency Database fields of a statement of reasons (Art. 24(5)).

Recorded on each restricting notice when it is written, so the export is a read of what
the merchant was told, never a reconstruction. No personal data goes in here.
"""

from __future__ import annotations

from datetime import date, datetime

from moderation.models import Policy, PolicyClause

# The marketplaces sell into the whole EEA.
EEA_COUNTRIES = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
    "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
]  # fmt: skip

VISIBILITY_REMOVED = "DECISION_VISIBILITY_CONTENT_REMOVED"
PROVISION_TOTAL_SUSPENSION = "DECISION_PROVISION_TOTAL_SUSPENSION"
PROVISION_TOTAL_TERMINATION = "DECISION_PROVISION_TOTAL_TERMINATION"
MONETARY_SUSPENSION = "DECISION_MONETARY_SUSPENSION"
ACCOUNT_SUSPENDED = "DECISION_ACCOUNT_SUSPENDED"
ACCOUNT_TERMINATED = "DECISION_ACCOUNT_TERMINATED"


def _day(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    return (moment.date() if isinstance(moment, datetime) else moment).isoformat()


def statement_fields(
    *,
    policy: Policy,
    clause: PolicyClause | None,
    facts: str,
    content_date: datetime | date,
    application_date: datetime | date,
    automated_detection: bool,
    automated_decision: str,
    source_type: str = "SOURCE_VOLUNTARY",
    visibility: list[str] | None = None,
    visibility_other: str | None = None,
    provision: str | None = None,
    provision_end: datetime | None = None,
    monetary: str | None = None,
    monetary_end: datetime | None = None,
    account: str | None = None,
    account_end: datetime | None = None,
) -> dict:
    """One statement's fields; the caller names at least one restriction."""
    ground = f"{policy.title}, clause {clause.number}: {clause.title}" if clause else policy.title
    explanation = (clause.text if clause else policy.body)[:2000]
    fields = {
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": ground[:500],
        "incompatible_content_explanation": explanation,
        "incompatible_content_illegal": "No",
        "category": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "category_specification": ["KEYWORD_PROHIBITED_PRODUCTS"],
        "content_type": ["CONTENT_TYPE_PRODUCT"],
        "content_date": _day(content_date),
        "application_date": _day(application_date),
        "decision_facts": facts[:5000],
        "source_type": source_type,
        "automated_detection": "Yes" if automated_detection else "No",
        "automated_decision": automated_decision,
        "territorial_scope": EEA_COUNTRIES,
        "account_type": "ACCOUNT_TYPE_BUSINESS",
    }
    if visibility:
        fields["decision_visibility"] = visibility
        fields["end_date_visibility_restriction"] = None
        if visibility_other:
            fields["decision_visibility_other"] = visibility_other[:500]
    if provision:
        fields["decision_provision"] = provision
        fields["end_date_service_restriction"] = _day(provision_end)
    if monetary:
        fields["decision_monetary"] = monetary
        fields["end_date_monetary_restriction"] = _day(monetary_end)
    if account:
        fields["decision_account"] = account
        fields["end_date_account_restriction"] = _day(account_end)
    return fields
