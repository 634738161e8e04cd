"""Reads about detection rules, and each policy's compiled matcher, cached per process."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, QuerySet
from django.utils import timezone

from moderation.detection import PolicyMatcher, RuleSpec
from moderation.models import DetectionRule, Policy, PolicyScan, ReviewItem, ReviewItemRule, ScanChunk

logger = logging.getLogger(__name__)

# policy id → (freshness key, matcher). Per process: each web worker and Celery worker
# compiles a policy's rules once, then reuses them until a rule or the threshold changes.
# A handful of policies, each a few compiled expressions: no eviction needed.
# policy id → (the rules' content and the threshold, the matcher, the fingerprint it was last asked with)
_matchers: dict[int, tuple[tuple, PolicyMatcher, tuple[str, str] | None]] = {}
_lock = threading.Lock()


def policy_detection_rules(policy: Policy) -> QuerySet[DetectionRule]:
    """A policy's rules for its page, disabled ones included: by clause, then by signal, strongest first."""
    return (
        DetectionRule.objects.filter(policy=policy)
        .select_related("created_by", "clause")
        .order_by(F("clause__number").asc(nulls_last=True), "-weight", "label", "pk")
    )


# How far back the rules page looks: long enough for rare rules to have decisions, short
# enough that a rule's old wording does not hide what it does now.
PERFORMANCE_WINDOW = timedelta(days=90)
RECENT_SCANS = 3


@dataclass(frozen=True)
class RulePerformance:
    """What moderators decided on the items a rule flagged, and how often it matched in scans."""

    taken_down: int = 0
    dismissed: int = 0
    scan_hits: int = 0

    @property
    def decided(self) -> int:
        return self.taken_down + self.dismissed

    @property
    def precision(self) -> float | None:
        """Share of its decided items that were taken down; None before any decision."""
        return self.taken_down / self.decided if self.decided else None


def rule_performance(policy: Policy, *, window: timedelta = PERFORMANCE_WINDOW) -> dict[int, RulePerformance]:
    """Per rule of the policy: decisions in the window on the items it flagged (shadow links
    included: what a shadow rule *would* have flagged is judged by the same decisions), and
    its hits in the policy's last completed scans. Two grouped queries and one small read."""
    since = timezone.now() - window
    decisions = (
        ReviewItemRule.objects.filter(
            rule__policy=policy, item__status=ReviewItem.Status.DECIDED, item__decided_at__gte=since
        )
        .values("rule_id", "item__decision")
        .annotate(n=Count("id"))
    )
    counts: dict[int, dict[str, int]] = {}
    for row in decisions:
        counts.setdefault(row["rule_id"], {})[row["item__decision"]] = row["n"]
    scans = PolicyScan.objects.filter(policy=policy, status=PolicyScan.Status.COMPLETED).order_by("-started_at")
    hits: dict[int, int] = {}
    chunk_hits = ScanChunk.objects.filter(scan__in=scans[:RECENT_SCANS]).values_list("rule_hits", flat=True)
    for rule_hits in chunk_hits:
        for rule_id, n in (rule_hits or {}).items():
            hits[int(rule_id)] = hits.get(int(rule_id), 0) + n
    return {
        rule_id: RulePerformance(
            taken_down=counts.get(rule_id, {}).get(ReviewItem.Decision.TAKEN_DOWN, 0),
            dismissed=counts.get(rule_id, {}).get(ReviewItem.Decision.DISMISSED, 0),
            scan_hits=hits.get(rule_id, 0),
        )
        for rule_id in set(counts) | set(hits)
    }


# What the matcher is built from: the cache compares these, so any change to an active
# rule, a rule enabled or disabled, or a new threshold builds a new matcher.
_SPEC_COLUMNS = (
    "pk",
    "kind",
    "pattern",
    "weight",
    "fields",
    "exclusions",
    "label",
    "clause__number",
    "is_shadow",
)


def _active_rule_rows(policy: Policy) -> tuple[tuple, ...]:
    rows = DetectionRule.objects.filter(policy=policy, is_active=True).order_by("pk").values_list(*_SPEC_COLUMNS)
    return tuple(rows)


def _specs(policy: Policy, rows: tuple[tuple, ...]) -> list[RuleSpec]:
    specs = []
    for pk, kind, pattern, weight, fields, exclusions, label, clause, shadow in rows:
        try:
            specs.append(
                RuleSpec(
                    id=pk,
                    kind=kind,
                    pattern=pattern,
                    weight=weight,
                    fields=fields,
                    exclusions=exclusions,
                    label=label,
                    clause=clause,
                    shadow=shadow,
                )
            )
        except (TypeError, ValueError):
            # Only a row written around the service can be invalid: skip it rather than
            # stop every listing creation and scan; the log says which.
            logger.exception("Detection rule #%s of policy #%s is invalid and ignored", pk, policy.pk)
    return specs


def policy_matcher(policy: Policy, *, rules_fingerprint: str | None = None) -> PolicyMatcher:
    """The policy's active rules, compiled, with its threshold. One query; compiled only on change.

    The cache is keyed on the policy and compared on the rules' content rather than on
    their ``updated_at``: a few dozen short rows cost about what an aggregate does, and
    content cannot collide where timestamps can (a frozen clock in tests, ids reused
    after a rollback on SQLite).

    ``rules_fingerprint``: the active rules' ids and revisions, as a caller read them with its own
    reads (the pre-publication check, a few milliseconds a call where this query would be most of
    them). When the matcher cached was last asked with the same fingerprint and threshold, it is
    returned without a query; any other is compared on content as above. Every change to a rule goes
    through ``moderation.services.detection``, which moves its revision.
    """
    threshold = str(policy.detection_threshold)
    asked = (rules_fingerprint, threshold) if rules_fingerprint is not None else None
    cached = _matchers.get(policy.pk)
    if asked is not None and cached is not None and cached[2] == asked:
        return cached[1]
    key = (_active_rule_rows(policy), threshold)
    if cached is not None and cached[0] == key:
        matcher = cached[1]
    else:
        matcher = PolicyMatcher(_specs(policy, key[0]), threshold=policy.detection_threshold)
    with _lock:
        _matchers[policy.pk] = (key, matcher, asked)
    return matcher


def clear_matcher_cache() -> None:
    with _lock:
        _matchers.clear()
