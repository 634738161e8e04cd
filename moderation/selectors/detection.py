"""Reads about detection rules, and each policy's compiled matcher, cached per process."""

from __future__ import annotations

import logging
import threading

from django.db.models import QuerySet

from moderation.detection import PolicyMatcher, RuleSpec
from moderation.models import DetectionRule, Policy

logger = logging.getLogger(__name__)

# policy id → (freshness key, matcher). Per process: each web worker and Celery worker
# compiles a policy's rules once, then reuses them until a rule or the threshold changes.
# A handful of policies, each a few compiled expressions: no eviction needed.
_matchers: dict[int, tuple[tuple, PolicyMatcher]] = {}
_lock = threading.Lock()


def policy_detection_rules(policy: Policy) -> QuerySet[DetectionRule]:
    """A policy's rules for its page, last changed first, disabled ones included."""
    return DetectionRule.objects.filter(policy=policy).select_related("created_by").order_by("-updated_at", "-pk")


# What the matcher is built from: the cache compares these, so any change to an active
# rule, a rule enabled or disabled, or a new threshold builds a new matcher.
_SPEC_COLUMNS = ("pk", "kind", "pattern", "weight", "fields", "exclusions")


def _active_rule_rows(policy: Policy) -> tuple[tuple, ...]:
    rows = DetectionRule.objects.filter(policy=policy, is_active=True).order_by("pk").values_list(*_SPEC_COLUMNS)
    return tuple(rows)


def _specs(policy: Policy, rows: tuple[tuple, ...]) -> list[RuleSpec]:
    specs = []
    for pk, kind, pattern, weight, fields, exclusions in rows:
        try:
            specs.append(
                RuleSpec(id=pk, kind=kind, pattern=pattern, weight=weight, fields=fields, exclusions=exclusions)
            )
        except (TypeError, ValueError):
            # Only a row written around the service can be invalid: skip it rather than
            # stop every listing creation and scan; the log says which.
            logger.exception("Detection rule #%s of policy #%s is invalid and ignored", pk, policy.pk)
    return specs


def policy_matcher(policy: Policy) -> PolicyMatcher:
    """The policy's active rules, compiled, with its threshold. One query; compiled only on change.

    The cache is keyed on the policy and compared on the rules' content rather than on
    their ``updated_at``: a few dozen short rows cost about what an aggregate does, and
    content cannot collide where timestamps can (a frozen clock in tests, ids reused
    after a rollback on SQLite).
    """
    key = (_active_rule_rows(policy), str(policy.detection_threshold))
    cached = _matchers.get(policy.pk)
    if cached is not None and cached[0] == key:
        return cached[1]
    matcher = PolicyMatcher(_specs(policy, key[0]), threshold=policy.detection_threshold)
    with _lock:
        _matchers[policy.pk] = (key, matcher)
    return matcher


def clear_matcher_cache() -> None:
    with _lock:
        _matchers.clear()
