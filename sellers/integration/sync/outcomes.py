"""What becomes of each event of a batch, and the small helpers every step shares."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation

from sellers.integration.events import (
    LISTING_DELETED,
    LISTING_UPSERTED,
    MERCHANT_UPSERTED,
    Event,
    ListingDeletion,
    ListingUpsert,
)
from sellers.models import Listing, Merchant

APPLIED, IGNORED, REFUSED = "applied", "ignored", "refused"
STALE, SUPERSEDED, UNKNOWN = "stale", "superseded", "unknown"


@dataclass(slots=True)
class Outcome:
    """What became of one event, in the answer's words."""

    index: int
    type: str | None
    id: str | None
    result: str
    reason: str = ""
    errors: dict[str, list[str]] | None = None
    review: dict[str, Any] | None = None  # applied, but held for a moderator: why (``held_for_review``)

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"index": self.index, "type": self.type, "id": self.id, "result": self.result}
        if self.reason:
            answer["reason"] = self.reason
        if self.errors is not None:
            answer["errors"] = self.errors
        if self.review is not None:
            answer["review"] = self.review
        return answer


def held_for_review(hold) -> dict[str, Any]:
    """What an applied event's answer says of a listing held for review (a ``ContentHold``): the policy,
    its clause and the field, as a refusal names them; never the words or rules that matched."""
    from moderation.services.holds import held_message
    from moderation.services.violations import clause_that_applies

    policy = hold.policy
    clause = clause_that_applies(policy, hold.result.clause)
    message = held_message(policy, clause, hold.field)
    return {
        "status": Listing.Status.HELD.value,
        "policy": {"slug": policy.slug, "version": policy.version, "title": policy.title},
        "clause": {"number": clause.number, "title": clause.title} if clause else None,
        "field": hold.field,
        "message": message,
    }


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(outcome.result for outcome in self.outcomes)
        return {APPLIED: found[APPLIED], IGNORED: found[IGNORED], REFUSED: found[REFUSED]}


def event_type(event: Event) -> str:
    if isinstance(event, ListingUpsert):
        return LISTING_UPSERTED
    if isinstance(event, ListingDeletion):
        return LISTING_DELETED
    return MERCHANT_UPSERTED


def errors_of(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if name == "__all__" else name): [str(message) for message in messages]
            for name, messages in error.message_dict.items()
        }
    return {"non_field_errors": [str(message) for message in error.messages]}


def stored_version(row: Listing | Merchant) -> int:
    """The version of a synced row (never empty on one: a constraint); -1, older than any, if it were."""
    return row.external_version if row.external_version is not None else -1


def trail_repr(instance) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(instance)[:200]
